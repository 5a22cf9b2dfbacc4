"""Zapier's OpenAPI additions: the https targets the document promises are accepted."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from connector.delivery import outbound
from tests.support.properties import PATTERN_EXAMPLES, no_dns
from zapier_app.schemas import ExtractBrandInput, HookInput
from zapier_app.spec import PUBLIC_HTTPS_TARGET


@PATTERN_EXAMPLES
@given(st.from_regex(PUBLIC_HTTPS_TARGET, fullmatch=True).filter(lambda s: len(s) <= 2048))
def test_every_promised_target_is_accepted_where_private_targets_are_refused(url):
    assert HookInput().load({"target_url": url, "event": "job.completed"})["target_url"] == url
    body = ExtractBrandInput().load({"url": "https://acme.com", "callback_url": url})
    assert body["callback_url"] == url
    # What zapier_app.views.check_target asks when private targets are refused.
    assert url.lower().startswith("https://")
    outbound.screen_target_url(url, allow_private=False, resolver=no_dns)


def test_the_promise_leaves_out_ip_literals_and_plain_http():
    for url in ("https://93.184.216.34/h", "http://hooks.zapier.com/h", "https://localhost/h"):
        assert not PUBLIC_HTTPS_TARGET.match(url), url
