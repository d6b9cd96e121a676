"""The events the real flows emit, received signed by a subscriber: a recipient pushed through
the API, the call, the condition met, the approval, the YES, the card claimed and texted, the
redemption; and the campaign's own events."""

from decimal import Decimal

import pytest
from django.urls import reverse

from campaigns.models import CampaignStatus, TriggerType
from campaigns.services import change_campaign_status, create_campaign, duplicate_campaign
from giftcards.services import add_cards_to_pool, allocate_credit
from mike.rewards.conditions import mark_condition_met
from recipients.services.push import push_recipients
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(client_org):
    allocate_credit(client_org, Decimal("100.00"))
    campaign = factories.CampaignFactory(client=client_org, status=CampaignStatus.MAILED)
    condition = factories.CampaignConditionFactory(
        campaign=campaign,
        condition_number=1,
        trigger_type=TriggerType.CALL_COMPLETED,
        min_call_duration_seconds=60,
        card_value=Decimal("25.00"),
    )
    pool = factories.GiftCardPoolFactory(
        client=client_org, brand=condition.brand, card_value=condition.card_value
    )
    add_cards_to_pool(pool, ["HOOK-CARD-0001", "HOOK-CARD-0002"])
    factories.TrackedPhoneNumberFactory(campaign=campaign, phone_number="+18005551234")
    return {"campaign": campaign, "condition": condition}


def test_the_reward_flow_emits_each_event_once_in_order(
    world,
    subscribe,
    receiver,
    twilio_post,
    admin_client,
    client,
    django_capture_on_commit_callbacks,
):
    subscribe()
    campaign = world["campaign"]
    run = django_capture_on_commit_callbacks
    with run(execute=True):
        [pushed] = push_recipients(
            audience=campaign.audience,
            rows=[{"external_id": "crm-9", "first_name": "Ada", "phone": "555-234-5678"}],
            campaign=campaign,
        )
    recipient = pushed.recipient
    with run(execute=True):
        twilio_post(
            reverse("twilio-voice"),
            {
                "CallSid": "CAhook1",
                "From": "+15552345678",
                "To": "+18005551234",
                "CallStatus": "ringing",
            },
        )
    with run(execute=True):
        twilio_post(
            reverse("twilio-voice-status"),
            {"CallSid": "CAhook1", "CallStatus": "completed", "CallDuration": "90"},
        )
    with run(execute=True):
        admin_client.post(
            reverse("admin:recipients_recipient_changelist"),
            {"action": "approve_selected", "_selected_action": [str(recipient.pk)]},
        )
    with run(execute=True):
        twilio_post(
            reverse("twilio-sms"),
            {"MessageSid": "SMhook1", "From": "+15552345678", "To": "+18005551234", "Body": "YES"},
        )
    with run(execute=True):
        client.post(reverse("redeem"), {"code": recipient.redemption_code})

    assert receiver.types == [
        "recipient.created",
        "call.completed",
        "condition.met",
        "recipient.approved",
        "sms.opt_in",
        "gift_card.provisioned",
        "gift_card.delivered",
        "recipient.redeemed",
    ]
    assert all(item.signature_ok for item in receiver.received)
    data = {item.type: item.json["data"] for item in receiver.received}
    assert data["recipient.created"]["external_id"] == "crm-9"
    assert data["recipient.created"]["id"] == str(recipient.pk)
    assert data["call.completed"]["duration_seconds"] == 90
    assert data["call.completed"]["recipient"] == str(recipient.pk)
    assert data["condition.met"]["condition"]["number"] == 1
    assert data["condition.met"]["source"] == "call_completed"
    assert data["gift_card.provisioned"]["value"] == "25.00"
    assert data["gift_card.delivered"]["delivery"]["method"] == "sms"
    # Card codes are bearer money: never in a webhook.
    assert not any("HOOK-CARD" in item.body.decode() for item in receiver.received)


def test_a_condition_met_by_an_agent_is_emitted(
    world, subscribe, receiver, django_capture_on_commit_callbacks
):
    subscribe(["condition.met"])
    recipient = factories.RecipientFactory(campaign=world["campaign"])
    with django_capture_on_commit_callbacks(execute=True):
        mark_condition_met(recipient=recipient, condition=world["condition"], source="agent")
    assert receiver.types == ["condition.met"]
    assert receiver.received[0].json["data"]["recipient"]["id"] == str(recipient.pk)


def test_campaign_events(client_org, subscribe, receiver, django_capture_on_commit_callbacks):
    subscribe(["campaign.created", "campaign.status_changed"])
    with django_capture_on_commit_callbacks(execute=True):
        campaign = create_campaign(client=client_org, by=None, name="Fall")
    with django_capture_on_commit_callbacks(execute=True):
        change_campaign_status(campaign=campaign, to=CampaignStatus.CANCELLED, by=None)
    with django_capture_on_commit_callbacks(execute=True):
        copy = duplicate_campaign(campaign=campaign, by=None)
    assert receiver.types == ["campaign.created", "campaign.status_changed", "campaign.created"]
    assert receiver.received[2].json["data"]["duplicated_from"] == str(campaign.pk)
    assert receiver.received[2].json["data"]["id"] == str(copy.pk)


def test_a_test_recipient_is_sent_to_the_test_subscription_only(
    client_org, subscribe, receiver, django_capture_on_commit_callbacks
):
    live = subscribe(["recipient.created"])
    audience = factories.AudienceFactory(client=client_org, is_test=True)
    with django_capture_on_commit_callbacks(execute=True):
        push_recipients(audience=audience, rows=[{"external_id": "t-1", "phone": "555-234-0001"}])
    assert receiver.types == []
    assert not live.deliveries.exists()
    sandbox = subscribe(["recipient.created"], is_test=True)
    with django_capture_on_commit_callbacks(execute=True):
        push_recipients(audience=audience, rows=[{"external_id": "t-2", "phone": "555-234-0002"}])
    assert receiver.types == ["recipient.created"]
    assert receiver.received[0].json["data"]["is_test"] is True
    assert sandbox.deliveries.count() == 1


def test_an_import_emits_one_event_per_new_recipient(
    client_org, subscribe, receiver, tmp_path, django_capture_on_commit_callbacks
):
    from recipients.services.imports import import_recipients

    subscribe(["recipient.created"])
    audience = factories.AudienceFactory(client=client_org)
    path = tmp_path / "people.csv"
    path.write_text("first_name,phone\nAda,555-234-1001\nBob,555-234-1002\nBob,555-234-1002\n")
    with django_capture_on_commit_callbacks(execute=True):
        import_recipients(audience=audience, source=path)
    assert receiver.types == ["recipient.created", "recipient.created"]
    names = sorted(item.json["data"]["first_name"] for item in receiver.received)
    assert names == ["Ada", "Bob"]
    assert {item.json["data"]["source"] for item in receiver.received} == {"import"}


def test_without_subscribers_each_change_costs_one_read_of_the_subscriptions(
    world, client_org, django_capture_on_commit_callbacks
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    campaign = world["campaign"]
    with CaptureQueriesContext(connection) as queries:
        with django_capture_on_commit_callbacks(execute=True):
            [pushed] = push_recipients(
                audience=campaign.audience, rows=[{"phone": "555-234-7777"}], campaign=campaign
            )
        with django_capture_on_commit_callbacks(execute=True):
            mark_condition_met(
                recipient=pushed.recipient, condition=world["condition"], source="agent"
            )
    touching = [q["sql"] for q in queries.captured_queries if "webhooks_" in q["sql"]]
    # recipient.created and condition.met: one SELECT each, nothing written.
    assert len(touching) == 2
    assert all(sql.startswith("SELECT") for sql in touching)
