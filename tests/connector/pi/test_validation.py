"""Tests for input validation against Pi's limits and the brand URL helpers."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.pi.exceptions import PiInputError
from connector.pi.validation import (
    ASPECT_RATIOS,
    HTTP_URL_RE,
    MAX_CLIENT_REFERENCE_ID_CHARS,
    MAX_METADATA_KEYS,
    MAX_METADATA_VALUE_CHARS,
    MAX_PROMPT_CHARS,
    MAX_REFERENCE_IMAGES,
    REFERENCE_IMAGE_RE,
    RESOLUTIONS,
    SPACE,
    THINKING_INTENSITIES,
    brand_domain,
    normalize_brand_url,
    validate_brand_input,
    validate_generation_input,
)
from tests.support.properties import PATTERN_EXAMPLES

BRAND_ID = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
IMAGE = "https://cdn.example.com/a.png"


def rejects(field: str, fn, **kwargs) -> PiInputError:
    with pytest.raises(PiInputError) as info:
        fn(**kwargs)
    assert info.value.field == field
    return info.value


def test_constants_match_pi_contract():
    assert ASPECT_RATIOS[0] == "auto" and len(ASPECT_RATIOS) == 15
    assert RESOLUTIONS == ("512", "1K", "2K", "4K")
    assert THINKING_INTENSITIES == ("minimal", "high")
    assert (MAX_PROMPT_CHARS, MAX_REFERENCE_IMAGES, MAX_METADATA_KEYS) == (5000, 6, 16)
    assert (MAX_METADATA_VALUE_CHARS, MAX_CLIENT_REFERENCE_ID_CHARS) == (500, 200)


# -- brand extraction ---------------------------------------------------------------------


def test_brand_body_uses_pi_field_names():
    body = validate_brand_input(
        url=" https://acme.com ",
        logo_base64="iVBORw0KGgo=",
        images_base64=["data:image/png;base64,AAAA"],
        location={"country": "FR", "languages": ["fr", "en"]},
    )
    assert body == {
        "url": "https://acme.com",
        "logoBase64": "iVBORw0KGgo=",
        "imagesBase64": ["data:image/png;base64,AAAA"],
        "location": {"country": "FR", "languages": ["fr", "en"]},
    }


@pytest.mark.parametrize("url", ["https://acme.com", "http://shop.acme.co.uk/about?x=1"])
def test_brand_accepts_http_and_https_urls(url):
    assert validate_brand_input(url=url) == {"url": url}


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "ftp://acme.com",
        "file:///etc/passwd",
        "https://",
        "https:///path",
        "acme.com",
        "",
        "https://acme .com",
        "http://acme.com:abc",
        42,
    ],
)
def test_brand_rejects_bad_urls(url):
    rejects("url", validate_brand_input, url=url)


def test_brand_needs_url_logo_or_images():
    rejects("url", validate_brand_input)
    rejects("url", validate_brand_input, images_base64=[])
    assert validate_brand_input(logo_base64="AAAA") == {"logoBase64": "AAAA"}
    assert validate_brand_input(images_base64=["AAAA"]) == {"imagesBase64": ["AAAA"]}


def test_brand_rejects_empty_logo_and_bad_images():
    rejects("logo_base64", validate_brand_input, logo_base64="  ")
    rejects("images_base64", validate_brand_input, images_base64="AAAA")
    rejects("images_base64[1]", validate_brand_input, images_base64=["AAAA", ""])


@pytest.mark.parametrize(
    ("location", "field"),
    [
        ({"country": "FRA", "languages": ["fr"]}, "location.country"),
        ({"country": "F", "languages": ["fr"]}, "location.country"),
        ({"country": "1A", "languages": ["fr"]}, "location.country"),
        ({"languages": ["fr"]}, "location.country"),
        ({"country": "FR", "languages": ["f"]}, "location.languages[0]"),
        ({"country": "FR", "languages": "fr"}, "location.languages"),
        ("FR", "location"),
    ],
)
def test_brand_rejects_bad_locations(location, field):
    rejects(field, validate_brand_input, url="https://acme.com", location=location)


# -- generation ---------------------------------------------------------------------------


def test_generation_body_is_exactly_what_pi_expects():
    body = validate_generation_input(
        prompt="  a red shoe  ",
        reference_images=[IMAGE, "data:image/png;base64,AAAA", "iVBORw0KGgo="],
        brand_id=BRAND_ID,
        brand_identity_json={"tone": "bold"},
        aspect_ratio="16:9",
        resolution="2K",
        thinking_intensity="high",
        client_reference_id="  order-1 ",
        metadata={"order": "1"},
    )
    assert body == {
        "prompt": "a red shoe",
        "reference_images": [IMAGE, "data:image/png;base64,AAAA", "iVBORw0KGgo="],
        "brand_id": BRAND_ID,
        "brand_identity_json": {"tone": "bold"},
        "output": {"aspect_ratio": "16:9", "resolution": "2K", "thinking_intensity": "high"},
        "client_reference_id": "order-1",
        "metadata": {"order": "1"},
    }


def test_generation_sends_output_only_when_given():
    assert validate_generation_input(prompt="x") == {"prompt": "x"}
    assert validate_generation_input(prompt="x", resolution="4K") == {
        "prompt": "x",
        "output": {"resolution": "4K"},
    }


def test_prompt_is_required_and_trimmed_to_1_to_5000_chars():
    rejects("prompt", validate_generation_input)
    rejects("prompt", validate_generation_input, prompt="   ")
    rejects("prompt", validate_generation_input, prompt=3)
    assert validate_generation_input(prompt="p" * 5000)["prompt"] == "p" * 5000
    assert validate_generation_input(prompt=" " + "p" * 5000 + " ")["prompt"] == "p" * 5000
    rejects("prompt", validate_generation_input, prompt="p" * 5001)


def test_reference_images_limit_is_6():
    assert (
        len(validate_generation_input(prompt="x", reference_images=[IMAGE] * 6)["reference_images"])
        == 6
    )
    rejects("reference_images", validate_generation_input, prompt="x", reference_images=[IMAGE] * 7)


@pytest.mark.parametrize(
    "image",
    ["http://cdn.example.com/a.png", "javascript:alert(1)", "ftp://x/y", "not base64!", "https://"],
)
def test_reference_images_must_be_https_data_or_base64(image):
    rejects("reference_images[0]", validate_generation_input, prompt="x", reference_images=[image])


def test_reference_images_must_be_a_list_of_strings():
    rejects("reference_images", validate_generation_input, prompt="x", reference_images=IMAGE)
    rejects("reference_images[0]", validate_generation_input, prompt="x", reference_images=[1])


@pytest.mark.parametrize("brand_id", ["acme", "", BRAND_ID + "0", 123])
def test_brand_id_must_be_a_uuid(brand_id):
    rejects("brand_id", validate_generation_input, prompt="x", brand_id=brand_id)


def test_brand_identity_json_must_be_an_object():
    rejects("brand_identity_json", validate_generation_input, prompt="x", brand_identity_json="{}")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("aspect_ratio", "7:3"),
        ("aspect_ratio", "16/9"),
        ("resolution", "8K"),
        ("resolution", "1k"),
        ("thinking_intensity", "low"),
        ("thinking_intensity", 1),
    ],
)
def test_output_options_must_be_pi_values(field, value):
    rejects(field, validate_generation_input, prompt="x", **{field: value})


@pytest.mark.parametrize("ratio", ASPECT_RATIOS)
def test_every_aspect_ratio_is_accepted(ratio):
    assert validate_generation_input(prompt="x", aspect_ratio=ratio)["output"] == {
        "aspect_ratio": ratio
    }


def test_metadata_allows_16_keys_not_17():
    sixteen = {f"k{i}": "v" for i in range(16)}
    assert validate_generation_input(prompt="x", metadata=sixteen)["metadata"] == sixteen
    seventeen = {f"k{i}": "v" for i in range(17)}
    rejects("metadata", validate_generation_input, prompt="x", metadata=seventeen)


def test_metadata_values_allow_500_chars_not_501():
    ok = {"k": "v" * 500}
    assert validate_generation_input(prompt="x", metadata=ok)["metadata"] == ok
    rejects("metadata.k", validate_generation_input, prompt="x", metadata={"k": "v" * 501})


def test_metadata_must_map_strings_to_strings():
    rejects("metadata.k", validate_generation_input, prompt="x", metadata={"k": 1})
    rejects("metadata", validate_generation_input, prompt="x", metadata={1: "v"})
    rejects("metadata", validate_generation_input, prompt="x", metadata=["k"])


def test_client_reference_id_is_trimmed_to_1_to_200_chars():
    assert validate_generation_input(prompt="x", client_reference_id="r" * 200)[
        "client_reference_id"
    ]
    rejects(
        "client_reference_id", validate_generation_input, prompt="x", client_reference_id="r" * 201
    )
    rejects("client_reference_id", validate_generation_input, prompt="x", client_reference_id="  ")


# -- brand URL helpers --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTPS://WWW.Acme.COM/", "https://acme.com"),
        ("https://acme.com/About/#team", "https://acme.com/About"),
        ("https://www.acme.com:443/shop/?q=1", "https://acme.com/shop?q=1"),
        ("http://acme.com:8080", "http://acme.com:8080"),
        ("https://user:pw@acme.com/x", "https://acme.com/x"),
    ],
)
def test_normalize_brand_url(url, expected):
    assert normalize_brand_url(url) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://WWW.Acme.com/about", "acme.com"),
        ("http://shop.acme.com", "shop.acme.com"),
        ("https://www2.acme.com", "www2.acme.com"),
        ("https://bücher.de", "xn--bcher-kva.de"),
        ("https://www.BÜCHER.de.", "xn--bcher-kva.de"),
        ("https://a..b.com", "a..b.com"),  # the codec refuses it: kept as written
        (f"https://{'x' * 70}.com", f"{'x' * 70}.com"),
    ],
)
def test_brand_domain_follows_pi_rule(url, expected):
    assert brand_domain(url) == expected
    assert brand_domain(url) == expected  # remembered: the same answer


def test_brand_domain_remembers_answers_not_refusals():
    for _ in range(2):
        rejects("url", brand_domain, url="javascript:alert(2)")


def test_url_helpers_reject_bad_urls():
    rejects("url", normalize_brand_url, url="ftp://acme.com")
    rejects("url", brand_domain, url="javascript:alert(1)")


# -- the regexes the checks apply first (and the OpenAPI document quotes) ------------------


def test_space_is_what_str_strip_removes():
    blank = re.compile(f"^[{SPACE}]*$")
    assert all(bool(blank.match(chr(c))) == chr(c).isspace() for c in range(0x110000))


@PATTERN_EXAMPLES
@given(st.from_regex(HTTP_URL_RE, fullmatch=True))
def test_every_url_the_brand_url_regex_admits_is_accepted(url):
    assert validate_brand_input(url=f" {url} ") == {"url": url.strip()}
    brand_domain(url)
    normalize_brand_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://bücher.de/über",
        "http://acme.com:65535",
        "http://acme.com:0080/x",
        "https://user:pw@acme.com/x",
        "HTTPS://ACME.COM?x=[1]",
    ],
)
def test_brand_urls_python_reads_stay_accepted(url):
    assert validate_brand_input(url=url) == {"url": url}


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://acme.com", "must be an http or https URL"),
        ("https://acme .com", "must not contain whitespace"),
        ("https:///path", "must include a host"),
        ("http://acme.com:65536", "is not a valid URL"),
        ("http://[::1]/", "is not a valid URL"),  # not a brand's website
        ("http://\uff0fx.com", "is not a valid URL"),  # NFKC makes it a "/"
    ],
)
def test_the_brand_url_regex_refuses_with_the_reason(url, message):
    assert rejects("url", validate_brand_input, url=url).message == message


@PATTERN_EXAMPLES
@given(st.from_regex(REFERENCE_IMAGE_RE, fullmatch=True).filter(str.strip))
def test_every_image_the_reference_image_regex_admits_is_accepted(image):
    body = validate_generation_input(prompt="x", reference_images=[image])
    assert body["reference_images"] == [image]


@pytest.mark.parametrize("image", ["HTTPS://cdn.example.com/a.png", "data:text/plain,hi"])
def test_reference_images_pi_refuses_are_refused_here_first(image):
    rejects("reference_images[0]", validate_generation_input, prompt="x", reference_images=[image])


def test_a_uuid_or_country_with_a_trailing_newline_is_refused():
    rejects("brand_id", validate_generation_input, prompt="x", brand_id=BRAND_ID + "\n")
    location = {"country": "FR\n", "languages": ["fr"]}
    rejects("location.country", validate_brand_input, url="https://a.fr", location=location)


def test_a_language_needs_two_characters_once_trimmed():
    location = {"country": "FR", "languages": ["f\nr", " e "]}
    rejects("location.languages[1]", validate_brand_input, url="https://a.fr", location=location)
