"""Delivery references: one type for "which delivery of a job", stored in a stable form."""

from __future__ import annotations

import pytest

from connector.delivery.subscriptions import DeliveryRef


def test_a_subscriber_delivery_round_trips_through_its_stored_form():
    ref = DeliveryRef.to_subscriber("3f2a9c")
    assert str(ref) == "sub:3f2a9c"
    assert DeliveryRef.parse("sub:3f2a9c") == ref


def test_a_hook_delivery_keeps_its_event():
    ref = DeliveryRef.parse("hook:hk_12ab:brand.extracted")
    assert (ref.hook_id, ref.event, ref.subscriber_id) == ("hk_12ab", "brand.extracted", None)
    assert str(ref) == "hook:hk_12ab:brand.extracted"


@pytest.mark.parametrize("text", ["", "sub:", "hook:hk_1", "hook::job.failed", "webhook:x"])
def test_anything_else_is_not_a_delivery_reference(text):
    with pytest.raises(ValueError, match="not a delivery reference"):
        DeliveryRef.parse(text)
