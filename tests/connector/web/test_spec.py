"""The core's OpenAPI additions: the callback URLs the document promises are accepted."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from connector.delivery import outbound
from connector.web.api_v1 import JobCreateSchema
from connector.web.spec import PUBLIC_CALLBACK
from tests.support.properties import PATTERN_EXAMPLES, no_dns


@PATTERN_EXAMPLES
@given(st.from_regex(PUBLIC_CALLBACK, fullmatch=True))
def test_every_promised_callback_url_is_accepted_where_private_targets_are_refused(url):
    body = JobCreateSchema().load({"kind": "brand_extraction", "input": {}, "callback_url": url})
    assert body["callback_url"] == url
    outbound.screen_target_url(url, allow_private=False, resolver=no_dns)


def test_the_promise_leaves_out_what_the_url_field_refuses():
    for url in ("https://a.example?", "https://" + "a" * 64, "https://10.0.0.1/cb"):
        assert not PUBLIC_CALLBACK.match(url), url
