"""The payload builders: one shape per event type, whichever service emits it."""

import pytest

from mike.webhooks import payloads
from tests.factories import GiftCardDeliveryFactory

pytestmark = pytest.mark.django_db


def test_a_provisioned_sandbox_card_has_the_live_cards_fields_marked():
    delivery = GiftCardDeliveryFactory()
    reward = delivery.reward

    live = payloads.provisioned(reward, delivery=delivery, source="call_center")
    sandbox = payloads.provisioned(reward, delivery=delivery, source="api", sandbox=True)

    assert live["id"] == str(reward.pk) and live["recipient"] == str(reward.recipient_id)
    assert live["status"] == "claimed" and live["source"] == "call_center"
    assert live["brand"] == reward.brand.brand_name and live["value"] == str(reward.card_value)
    assert live["delivery"] == {"id": str(delivery.pk), "method": delivery.delivery_method}
    assert "sandbox" not in live
    assert sandbox.pop("sandbox") is True
    assert set(sandbox) == set(live) and sandbox["source"] == "api"
