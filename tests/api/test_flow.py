"""A client drives a campaign through the API: push a recipient, mark the condition met, read
the statuses as the pipeline moves them (approval, opt-in, card, delivery)."""

from decimal import Decimal

import pytest
from django.urls import reverse

from calls.models import CallConditionMet
from campaigns.models import CampaignStatus, TriggerType
from giftcards.services import add_cards_to_pool, allocate_credit
from tests import factories
from tests.api.conftest import api_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    client = factories.ClientFactory(auto_approve_recipients=True)
    allocate_credit(client, Decimal("100.00"))
    campaign = factories.CampaignFactory(client=client, status=CampaignStatus.MAILED)
    first = factories.CampaignConditionFactory(
        campaign=campaign, condition_number=1, card_value=Decimal("25.00")
    )
    factories.CampaignConditionFactory(
        campaign=campaign,
        condition_number=2,
        trigger_type=TriggerType.CRM_WEBHOOK,
        crm_event_name="appointment_kept",
        brand=first.brand,
        card_value=Decimal("25.00"),
    )
    factories.CampaignConditionFactory(
        campaign=campaign,
        condition_number=3,
        trigger_type=TriggerType.TIME_DELAY,
        time_delay_hours=24,
        brand=first.brand,
        card_value=Decimal("25.00"),
    )
    pool = factories.GiftCardPoolFactory(
        client=client, brand=first.brand, card_value=Decimal("25.00")
    )
    add_cards_to_pool(pool, ["API-CARD-0001", "API-CARD-0002"])
    factories.TrackedPhoneNumberFactory(campaign=campaign, phone_number="+18005550100")
    return {"client": client, "campaign": campaign, "api": api_for(client)}


def test_push_meet_and_follow_the_reward(
    world, twilio_post, sms_outbox, django_capture_on_commit_callbacks
):
    api, campaign = world["api"], world["campaign"]
    run = django_capture_on_commit_callbacks
    pushed = api.post(
        f"audiences/{campaign.audience_id}/recipients/",
        {"recipients": [{"external_id": "lead-7", "first_name": "Dee", "phone": "555-234-0007"}]},
    ).json()
    recipient_id = pushed["results"][0]["id"]

    with run(execute=True):
        met = api.post(f"recipients/{recipient_id}/conditions/", {"condition_number": 1})
    assert met.status_code == 201 and met.json()["created"] is True
    again = api.post(f"recipients/{recipient_id}/conditions/", {"condition_number": 1})
    assert again.status_code == 200 and again.json()["created"] is False
    assert CallConditionMet.objects.filter(recipient_id=recipient_id).count() == 1

    status = api.get(f"recipients/{recipient_id}/").json()
    assert status["approval_status"] == "approved"
    assert status["sms_opt_in_status"] == "pending"
    assert [r["status"] for r in status["rewards"]] == ["pending"]
    assert [m.to for m in sms_outbox] == ["+15552340007"]

    with run(execute=True):
        twilio_post(
            reverse("twilio-sms"),
            {"MessageSid": "SMapi1", "From": "+15552340007", "To": "+18005550100", "Body": "YES"},
        )
    status = api.get(f"recipients/{recipient_id}/").json()
    reward = status["rewards"][0]
    assert status["sms_opt_in_status"] == "opted_in" and reward["status"] == "delivered"
    assert "API-CARD" not in str(status) and reward["card_code"].endswith(("0001", "0002"))

    deliveries = api.get("deliveries/", {"recipient": recipient_id}).json()["results"]
    assert len(deliveries) == 1 and deliveries[0]["status"] == "sent"
    assert "API-CARD" not in deliveries[0]["message"]
    assert api.get(f"rewards/{reward['id']}/").json()["status"] == "delivered"
    funnel = api.get(f"campaigns/{campaign.pk}/").json()["funnel"]
    assert funnel["recipients"] == 1 and funnel["rewards_delivered"] == 1
    assert funnel["conditions_met"] == 1 and funnel["opted_in"] == 1


def test_conditions_are_met_in_order_and_only_by_request_triggers(world):
    api, campaign = world["api"], world["campaign"]
    recipient = api.post(
        f"audiences/{campaign.audience_id}/recipients/",
        {"recipients": [{"email": "eve@example.com"}]},
    ).json()["results"][0]["id"]
    out_of_order = api.post(f"recipients/{recipient}/conditions/", {"condition_number": 2})
    assert out_of_order.status_code == 409
    assert "after" in out_of_order.json()["error"]["message"]
    timer = api.post(f"recipients/{recipient}/conditions/", {"condition_number": 3})
    assert timer.status_code == 409 and "time delay" in timer.json()["error"]["message"]
    missing = api.post(f"recipients/{recipient}/conditions/", {"condition_number": 9})
    assert missing.status_code == 409
    bad = api.post(f"recipients/{recipient}/conditions/", {"condition_number": "one"})
    assert bad.status_code == 400 and "condition_number" in bad.json()["error"]["fields"]
    assert not CallConditionMet.objects.filter(recipient_id=recipient).exists()


def test_a_paused_campaigns_conditions_are_not_met(world):
    api, campaign = world["api"], world["campaign"]
    recipient = factories.RecipientFactory(campaign=campaign)
    campaign.status = CampaignStatus.PAUSED
    campaign.save(update_fields=["status"])
    refused = api.post(f"recipients/{recipient.pk}/conditions/", {"condition_number": 1})
    assert refused.status_code == 409 and "paused" in refused.json()["error"]["message"]


def test_rate_limit_answers_429_with_retry_after(world, settings):
    settings.API_READ_RATE = "3/m"
    api = world["api"]
    codes = [api.get("campaigns/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = api.get("campaigns/")
    assert limited["Retry-After"] == "60" and limited.json()["error"]["type"] == "rate_limited"
    # Another key has its own window.
    assert api_for(world["client"]).get("campaigns/").status_code == 200
