"""TCPA recency: an SMS opt-in older than OPT_IN_MAX_AGE_DAYS is stale. A new reward for a
recipient with a stale opt-in is not claimed or texted; the recipient is asked to opt in again,
and the reward goes out when they reply YES."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from calls.models import ConditionMetSource
from campaigns.models import Event, EventType
from giftcards.models import DeliveryStatus, GiftCardDelivery, RecipientGiftCard, RewardStatus
from giftcards.services import allocate_credit
from mike.rewards import approval, opt_in
from mike.rewards.claims import claim_pending_rewards
from mike.rewards.conditions import mark_condition_met
from mike.rewards.tasks import send_opt_in_sms, sweep_stuck_work
from recipients.models import (
    ApprovalStatus,
    Recipient,
    RecipientAuditAction,
    RecipientAuditLog,
    SmsDirection,
    SmsOptInLog,
    SmsOptInStatus,
)
from tests.factories import (
    CampaignConditionFactory,
    CampaignFactory,
    ClientFactory,
    GiftCardFactory,
    GiftCardPoolFactory,
    RecipientFactory,
    RecipientGiftCardFactory,
)
from tests.fakes import twilio as fake_twilio
from tests.rewards.concurrency import at_once

pytestmark = pytest.mark.django_db

PHONE = "+15557654321"
VALUE = Decimal("25.00")
_sids = iter(range(1, 10_000))


@pytest.fixture
def reply(twilio_post, django_capture_on_commit_callbacks):
    """The recipient texts the Twilio inbound webhook."""

    def send(body):
        params = {
            "MessageSid": f"SM{next(_sids):032x}",
            "AccountSid": fake_twilio.ACCOUNT_SID,
            "From": PHONE,
            "To": fake_twilio.FROM_NUMBER,
            "Body": body,
        }
        with django_capture_on_commit_callbacks(execute=True):
            response = twilio_post("/hooks/twilio/sms/", params)
        assert response.status_code == 200
        return response

    return send


@pytest.fixture
def world(reply, django_capture_on_commit_callbacks, sms_outbox):
    """A recipient who was approved, replied YES and got the card of condition 1 delivered by
    text; condition 2 (not met yet) earns a second card from the same pool."""
    client = ClientFactory(name="Acme Roofing")
    allocate_credit(client, Decimal("100.00"))
    campaign = CampaignFactory(client=client)
    first = CampaignConditionFactory(campaign=campaign, card_value=VALUE)
    second = CampaignConditionFactory(
        campaign=campaign, condition_number=2, brand=first.brand, card_value=VALUE
    )
    pool = GiftCardPoolFactory(client=client, brand=first.brand, card_value=VALUE)
    for _ in range(3):
        GiftCardFactory(pool=pool)
    recipient = RecipientFactory(campaign=campaign, phone=PHONE)
    meet(recipient, first, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        approval.approve_recipient(recipient=recipient)
    reply("YES")
    recipient.refresh_from_db()
    assert recipient.sms_opt_in_status == SmsOptInStatus.OPTED_IN
    delivered = RecipientGiftCard.objects.get(recipient=recipient, condition=first)
    assert delivered.status == RewardStatus.DELIVERED
    sms_outbox.clear()
    return {"recipient": recipient, "second": second, "delivered": delivered}


def meet(recipient, condition, capture):
    """Meet a condition the way an agent does; on_condition_met runs after commit."""
    with capture(execute=True):
        mark_condition_met(
            recipient=recipient, condition=condition, source=ConditionMetSource.ADMIN
        )
    return RecipientGiftCard.objects.get(recipient=recipient, condition=condition)


def opted_in_days_ago(recipient, days):
    """Move the recipient's YES, and the texts before it, `days` into the past."""
    opted_in_at = timezone.now() - timedelta(days=days)
    Recipient.objects.filter(pk=recipient.pk).update(
        sms_opt_in_sent_at=opted_in_at - timedelta(minutes=5),
        sms_opt_in_response_at=opted_in_at,
    )
    SmsOptInLog.objects.filter(recipient=recipient).update(
        created_at=opted_in_at - timedelta(minutes=5)
    )


def expiry_audits(recipient):
    return RecipientAuditLog.objects.filter(
        recipient=recipient,
        action=RecipientAuditAction.UPDATED,
        metadata__reason="opt_in_expired",
    )


def assert_asked_again_once(recipient, reward, sms_outbox):
    """The recipient was texted the opt-in question once more, and the reward still waits."""
    [question] = sms_outbox
    assert question.to == PHONE
    assert question.body.startswith("Acme Roofing: you've earned a reward! Reply YES")
    recipient.refresh_from_db()
    assert recipient.sms_opt_in_status == SmsOptInStatus.PENDING
    log = SmsOptInLog.objects.get(message_sid=question.sid, direction=SmsDirection.OUTBOUND)
    assert log.recipient == recipient
    assert RecipientAuditLog.objects.filter(
        recipient=recipient,
        action=RecipientAuditAction.SMS_SENT,
        metadata__message_sid=question.sid,
        metadata__reask=True,
    ).exists()
    assert expiry_audits(recipient).count() == 1
    reward.refresh_from_db()
    assert reward.status == RewardStatus.PENDING
    assert reward.gift_card_id is None
    assert not GiftCardDelivery.objects.filter(reward=reward).exists()


# --- Recent opt-ins claim as before ---------------------------------------------------------------


def test_opt_in_younger_than_the_limit_claims_and_texts_the_new_reward(
    world, django_capture_on_commit_callbacks, sms_outbox
):
    recipient = world["recipient"]
    opted_in_days_ago(recipient, 179)

    reward = meet(recipient, world["second"], django_capture_on_commit_callbacks)

    reward.refresh_from_db()
    assert reward.status == RewardStatus.DELIVERED
    [card_text] = sms_outbox
    assert reward.gift_card.code in card_text.body
    assert Recipient.objects.get(pk=recipient.pk).sms_opt_in_status == SmsOptInStatus.OPTED_IN
    assert not expiry_audits(recipient).exists()


# --- Stale opt-ins are asked again ----------------------------------------------------------------


def test_stale_opt_in_asks_again_instead_of_claiming(
    world, django_capture_on_commit_callbacks, sms_outbox
):
    recipient = world["recipient"]
    opted_in_days_ago(recipient, 181)

    reward = meet(recipient, world["second"], django_capture_on_commit_callbacks)

    assert_asked_again_once(recipient, reward, sms_outbox)
    [audit] = expiry_audits(recipient)
    assert audit.metadata["previous_status"] == SmsOptInStatus.OPTED_IN
    assert audit.metadata["status"] == SmsOptInStatus.PENDING
    assert audit.metadata["max_age_days"] == 180
    assert Event.objects.filter(
        recipient=recipient, event_type=EventType.SMS_SENT, event_data__reask=True
    ).exists()
    # The card already delivered on the old opt-in is not touched.
    delivered = world["delivered"]
    before = (delivered.status, delivered.gift_card_id)
    delivered.refresh_from_db()
    assert (delivered.status, delivered.gift_card_id) == before


def test_yes_after_the_new_question_claims_and_delivers_the_waiting_reward(
    world, django_capture_on_commit_callbacks, sms_outbox, reply
):
    recipient = world["recipient"]
    opted_in_days_ago(recipient, 200)
    reward = meet(recipient, world["second"], django_capture_on_commit_callbacks)
    sms_outbox.clear()
    asked_at = timezone.now()

    reply("yes")

    recipient.refresh_from_db()
    assert recipient.sms_opt_in_status == SmsOptInStatus.OPTED_IN
    assert recipient.sms_opt_in_response_at >= asked_at
    assert recipient.opt_in_is_current()
    reward.refresh_from_db()
    assert reward.status == RewardStatus.DELIVERED
    assert GiftCardDelivery.objects.get(reward=reward).status == DeliveryStatus.SENT
    [card_text] = sms_outbox
    assert reward.gift_card.code in card_text.body


@pytest.mark.parametrize(
    ("max_age_days", "age_days", "asked_again"),
    [(30, 31, True), (30, 29, False), (365, 181, False), (365, 366, True)],
)
def test_the_setting_sets_the_age_limit(
    world,
    settings,
    django_capture_on_commit_callbacks,
    sms_outbox,
    max_age_days,
    age_days,
    asked_again,
):
    settings.OPT_IN_MAX_AGE_DAYS = max_age_days
    recipient = world["recipient"]
    opted_in_days_ago(recipient, age_days)

    reward = meet(recipient, world["second"], django_capture_on_commit_callbacks)

    reward.refresh_from_db()
    if asked_again:
        assert_asked_again_once(recipient, reward, sms_outbox)
        assert expiry_audits(recipient).get().metadata["max_age_days"] == max_age_days
    else:
        assert reward.status == RewardStatus.DELIVERED
        assert not expiry_audits(recipient).exists()


def test_approval_of_a_recipient_with_a_stale_opt_in_asks_again(
    django_capture_on_commit_callbacks, sms_outbox
):
    campaign = CampaignFactory(client=ClientFactory(name="Acme Roofing"))
    recipient = RecipientFactory(
        campaign=campaign,
        phone=PHONE,
        sms_opt_in_status=SmsOptInStatus.OPTED_IN,
        sms_opt_in_response_at=timezone.now() - timedelta(days=400),
    )
    reward = RecipientGiftCardFactory(
        recipient=recipient, condition=CampaignConditionFactory(campaign=campaign)
    )

    with django_capture_on_commit_callbacks(execute=True):
        approval.approve_recipient(recipient=recipient)

    assert_asked_again_once(recipient, reward, sms_outbox)


def test_sweep_asks_again_instead_of_claiming_stock_that_arrived(
    world, django_capture_on_commit_callbacks, sms_outbox
):
    recipient = world["recipient"]
    reward = RecipientGiftCardFactory(
        recipient=recipient, condition=world["second"], status=RewardStatus.AWAITING_STOCK
    )
    opted_in_days_ago(recipient, 181)

    with django_capture_on_commit_callbacks(execute=True):
        sweep_stuck_work()

    [question] = sms_outbox
    assert "Reply YES" in question.body
    reward.refresh_from_db()
    assert reward.status == RewardStatus.AWAITING_STOCK and reward.gift_card_id is None
    assert Recipient.objects.get(pk=recipient.pk).sms_opt_in_status == SmsOptInStatus.PENDING


def test_yes_on_a_stale_opt_in_renews_it_and_claims(world, reply, sms_outbox):
    recipient = world["recipient"]
    reward = RecipientGiftCardFactory(recipient=recipient, condition=world["second"])
    opted_in_days_ago(recipient, 181)

    reply("YES")

    recipient.refresh_from_db()
    assert recipient.opt_in_is_current()
    assert (
        RecipientAuditLog.objects.filter(
            recipient=recipient, action=RecipientAuditAction.OPTED_IN
        ).count()
        == 2
    )
    reward.refresh_from_db()
    assert reward.status == RewardStatus.DELIVERED
    assert not expiry_audits(recipient).exists()


# --- Once, however often it is triggered ----------------------------------------------------------


def test_second_trigger_while_the_new_question_is_pending_texts_nothing_more(
    world, django_capture_on_commit_callbacks, sms_outbox
):
    recipient = world["recipient"]
    opted_in_days_ago(recipient, 181)
    reward = meet(recipient, world["second"], django_capture_on_commit_callbacks)
    assert len(sms_outbox) == 1

    with django_capture_on_commit_callbacks(execute=True):
        assert claim_pending_rewards(recipient=recipient) == []
        approval.advance_recipient(recipient.pk)
        approval.approve_recipient(recipient=recipient)
        assert opt_in.reask_expired_opt_in(recipient=recipient) is False
    # The task running twice (a redelivered message) does not text twice either.
    send_opt_in_sms.delay(str(recipient.pk), reask=True)

    assert_asked_again_once(recipient, reward, sms_outbox)


def test_recipient_who_cannot_be_texted_is_not_claimed_nor_moved(
    world, django_capture_on_commit_callbacks, sms_outbox
):
    recipient = world["recipient"]
    Recipient.objects.filter(pk=recipient.pk).update(phone="", email="")
    opted_in_days_ago(recipient, 181)
    reward = RecipientGiftCardFactory(recipient=recipient, condition=world["second"])

    with django_capture_on_commit_callbacks(execute=True):
        assert claim_pending_rewards(recipient=recipient) == []

    assert sms_outbox == []
    assert Recipient.objects.get(pk=recipient.pk).sms_opt_in_status == SmsOptInStatus.OPTED_IN
    reward.refresh_from_db()
    assert reward.status == RewardStatus.PENDING and reward.gift_card_id is None


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_of_a_stale_recipient_ask_again_once(sms_outbox):
    campaign = CampaignFactory(client=ClientFactory(name="Acme Roofing"))
    condition = CampaignConditionFactory(campaign=campaign, card_value=VALUE)
    allocate_credit(campaign.client, Decimal("100.00"))
    pool = GiftCardPoolFactory(client=campaign.client, brand=condition.brand, card_value=VALUE)
    GiftCardFactory(pool=pool)
    recipient = RecipientFactory(
        campaign=campaign,
        phone=PHONE,
        approval_status=ApprovalStatus.APPROVED,
        sms_opt_in_status=SmsOptInStatus.OPTED_IN,
        sms_opt_in_response_at=timezone.now() - timedelta(days=181),
    )
    reward = RecipientGiftCardFactory(recipient=recipient, condition=condition)
    results, errors = at_once(lambda: claim_pending_rewards(recipient=recipient))

    assert errors == []
    assert results == [[]] * 4
    assert_asked_again_once(recipient, reward, sms_outbox)


# --- The age check --------------------------------------------------------------------------------


def test_opt_in_age_is_measured_from_the_reply():
    now = timezone.now()
    recipient = RecipientFactory(
        sms_opt_in_status=SmsOptInStatus.OPTED_IN,
        sms_opt_in_response_at=now - timedelta(days=180),
    )

    assert recipient.opt_in_is_current(now)
    assert not recipient.opt_in_is_current(now + timedelta(seconds=1))


def test_opt_in_without_a_reply_time_counts_as_current_and_other_statuses_never_do():
    assert RecipientFactory(sms_opt_in_status=SmsOptInStatus.OPTED_IN).opt_in_is_current()
    for status in (SmsOptInStatus.PENDING, SmsOptInStatus.OPTED_OUT, SmsOptInStatus.NOT_SENT):
        recipient = RecipientFactory(
            sms_opt_in_status=status, sms_opt_in_response_at=timezone.now()
        )
        assert not recipient.opt_in_is_current()


def test_sweep_sends_a_reask_whose_text_never_left_and_only_once(
    world, django_capture_on_commit_callbacks, sms_outbox
):
    recipient = world["recipient"]
    opted_in_days_ago(recipient, 181)
    with django_capture_on_commit_callbacks(execute=False):  # the broker lost the task
        opt_in.reask_expired_opt_in(recipient=recipient)
    assert sms_outbox == []
    Recipient.objects.filter(pk=recipient.pk).update(updated_at=timezone.now() - timedelta(hours=1))
    assert Recipient.objects.get(pk=recipient.pk).sms_opt_in_status == SmsOptInStatus.PENDING

    with django_capture_on_commit_callbacks(execute=True):
        assert sweep_stuck_work()["reasks"] == 1

    [question] = sms_outbox
    assert question.to == PHONE and "Reply YES" in question.body
    Recipient.objects.filter(pk=recipient.pk).update(updated_at=timezone.now() - timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep_stuck_work()["reasks"] == 0  # asked and not answered yet: left alone
    assert len(sms_outbox) == 1
