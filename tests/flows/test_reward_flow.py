"""The whole reward flow through its public doors: Twilio's voice and SMS webhooks (signed), the
admin's approve action, and the redemption page — call → condition → approval → opt-in → claim →
delivery → redemption, with every funnel event written once."""

from decimal import Decimal

import pytest
from django.urls import reverse

from calls.models import CallConditionMet, CallSession, MatchStatus
from campaigns.models import Event, EventType, TriggerType
from giftcards.models import DeliveryStatus, GiftCardDelivery, GiftCardStatus, RewardStatus
from giftcards.services import add_cards_to_pool, allocate_credit, credit_account_for
from recipients.models import ApprovalStatus, SmsOptInStatus
from tests import factories


@pytest.fixture
def campaign_world(db):
    client = factories.ClientFactory()
    allocate_credit(client, Decimal("100.00"))
    campaign = factories.CampaignFactory(client=client)
    condition = factories.CampaignConditionFactory(
        campaign=campaign,
        condition_number=1,
        trigger_type=TriggerType.CALL_COMPLETED,
        min_call_duration_seconds=60,
        card_value=Decimal("25.00"),
    )
    pool = factories.GiftCardPoolFactory(
        client=client, brand=condition.brand, card_value=condition.card_value
    )
    add_cards_to_pool(pool, ["FLOW-CARD-0001", "FLOW-CARD-0002"])
    tracked = factories.TrackedPhoneNumberFactory(campaign=campaign, phone_number="+18005551234")
    recipient = factories.RecipientFactory(campaign=campaign, phone="+15552345678")
    return {
        "client": client,
        "condition": condition,
        "pool": pool,
        "tracked": tracked,
        "recipient": recipient,
    }


def test_call_to_redemption(
    campaign_world,
    twilio_post,
    admin_client,
    client,
    sms_outbox,
    django_capture_on_commit_callbacks,
):
    w = campaign_world
    recipient = w["recipient"]
    run = django_capture_on_commit_callbacks

    # 1. The recipient calls the tracked number (caller ID formatted as carriers send it).
    with run(execute=True):
        answer = twilio_post(
            reverse("twilio-voice"),
            {
                "CallSid": "CAflow1",
                "From": "+1 (555) 234-5678",
                "To": "+18005551234",
                "CallStatus": "ringing",
            },
        )
    assert answer.status_code == 200 and b"<Dial" in answer.content
    session = CallSession.objects.get(twilio_call_sid="CAflow1")
    assert session.match_status == MatchStatus.MATCHED and session.recipient == recipient

    # 2. The call ends after 90 s: the call-completed condition is met, a reward waits.
    with run(execute=True):
        status = twilio_post(
            reverse("twilio-voice-status"),
            {"CallSid": "CAflow1", "CallStatus": "completed", "CallDuration": "90"},
        )
    assert status.status_code == 200
    assert CallConditionMet.objects.filter(recipient=recipient).count() == 1
    reward = recipient.rewards.get()
    assert reward.status == RewardStatus.PENDING

    # 3. Staff approve in the admin: the opt-in text goes out.
    with run(execute=True):
        admin_client.post(
            reverse("admin:recipients_recipient_changelist"),
            {"action": "approve_selected", "_selected_action": [str(recipient.pk)]},
        )
    recipient.refresh_from_db()
    assert recipient.approval_status == ApprovalStatus.APPROVED
    assert [m.to for m in sms_outbox] == ["+15552345678"] and "YES" in sms_outbox[0].body

    # 4. The recipient replies "yes": opted in, the card is claimed and texted.
    with run(execute=True):
        reply = twilio_post(
            reverse("twilio-sms"),
            {
                "MessageSid": "SMflowin1",
                "From": "+15552345678",
                "To": "+18005551234",
                "Body": " yes ",
            },
        )
    assert reply.status_code == 200
    recipient.refresh_from_db()
    assert recipient.sms_opt_in_status == SmsOptInStatus.OPTED_IN
    reward.refresh_from_db()
    assert reward.status == RewardStatus.DELIVERED
    card_text = sms_outbox[-1].body
    assert reward.gift_card.code in card_text
    delivery = GiftCardDelivery.objects.get(reward=reward)
    assert delivery.status == DeliveryStatus.SENT
    w["pool"].refresh_from_db()
    assert (w["pool"].available_cards, w["pool"].delivered_cards) == (1, 1)
    assert credit_account_for(w["client"]).balance == Decimal("75.00")

    # 5. Twilio confirms the text arrived (twice: harmless).
    for _ in range(2):
        twilio_post(
            reverse("twilio-sms-status"),
            {"MessageSid": delivery.twilio_message_sid, "MessageStatus": "delivered"},
        )
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED

    # 6. The recipient opens the redemption page and sees the card.
    page = client.post(reverse("redeem"), {"code": recipient.redemption_code.lower()})
    assert reward.gift_card.code in page.content.decode()
    recipient.refresh_from_db()
    assert recipient.approval_status == ApprovalStatus.REDEEMED
    assert reward.gift_card.status in (GiftCardStatus.DELIVERED,)

    funnel = [
        EventType.CALLED,
        EventType.MATCHED,
        EventType.CONDITION_MET,
        EventType.APPROVED,
        EventType.OPTED_IN,
        EventType.CLAIMED,
        EventType.DELIVERED,
        EventType.REDEEMED,
    ]
    for event_type in funnel:
        assert Event.objects.filter(recipient=recipient, event_type=event_type).count() == 1, (
            event_type
        )


def test_forged_webhooks_change_nothing(campaign_world, twilio_post):
    before = (CallSession.objects.count(), Event.objects.count())
    for name, params in (
        ("twilio-voice", {"CallSid": "CAforged", "From": "+15552345678", "To": "+18005551234"}),
        ("twilio-voice-status", {"CallSid": "CAforged", "CallStatus": "completed"}),
        ("twilio-sms", {"MessageSid": "SMforged", "From": "+15552345678", "Body": "YES"}),
        ("twilio-sms-status", {"MessageSid": "SMforged", "MessageStatus": "delivered"}),
    ):
        assert twilio_post(reverse(name), params, signature="forged").status_code == 403
        assert twilio_post(reverse(name), params, signature="").status_code == 403
    assert (CallSession.objects.count(), Event.objects.count()) == before
    w = campaign_world
    w["recipient"].refresh_from_db()
    assert w["recipient"].sms_opt_in_status == SmsOptInStatus.NOT_SENT
