"""Texts tell the truth of the rewards that exist: nobody is asked to opt in to a reward they
have not earned, and a YES is answered with what its claim did ("on its way" only when a card
is). And the carrier's opt-out reported on an opt-in text locks in the usual order."""

from decimal import Decimal

import pytest
from django.db import connections

from giftcards.services import add_cards_to_pool, allocate_credit
from mike.rewards.approval import approve_recipient
from mike.rewards.inbound import apply_sms_status, handle_inbound_sms
from recipients.models import (
    ApprovalStatus,
    Recipient,
    SmsDirection,
    SmsOptInLog,
    SmsOptInStatus,
    SmsStatus,
)
from tests import factories
from tests.rewards.concurrency import another_backend_waits_for_a_lock, in_thread

PHONE = "+15557770001"


def yes(sid="SM" + "1" * 32):
    return handle_inbound_sms(from_number=PHONE, body="YES", message_sid=sid)


@pytest.fixture
def asked(db):
    """A recipient who was sent the opt-in question (approved, awaiting the reply)."""
    return factories.RecipientFactory(
        phone=PHONE,
        approval_status=ApprovalStatus.APPROVED,
        sms_opt_in_status=SmsOptInStatus.PENDING,
        audience__client__name="Summit Roofing",
    )


@pytest.mark.django_db
def test_approving_a_recipient_who_met_no_condition_texts_nothing(
    django_capture_on_commit_callbacks, sms_outbox
):
    recipient = factories.RecipientFactory(phone=PHONE)

    with django_capture_on_commit_callbacks(execute=True):
        approve_recipient(recipient=recipient)

    assert sms_outbox == []
    recipient.refresh_from_db()
    assert recipient.sms_opt_in_status == SmsOptInStatus.NOT_SENT


@pytest.mark.django_db
def test_a_yes_with_no_reward_earned_says_so(asked):
    assert yes() == (
        "Summit Roofing: thanks, you're opted in! We'll text you as soon as you've earned a reward."
    )
    answer = SmsOptInLog.objects.get(recipient=asked, direction=SmsDirection.OUTBOUND)
    assert answer.message_text == yes()  # a repeat of the same message gets the same answer
    assert SmsOptInLog.objects.filter(recipient=asked, direction=SmsDirection.OUTBOUND).count() == 1


@pytest.mark.django_db
def test_a_yes_whose_card_is_not_in_stock_says_it_is_being_got_ready(asked):
    factories.RecipientGiftCardFactory(
        recipient=asked,
        condition=factories.CampaignConditionFactory(campaign__client=asked.audience.client),
    )
    Recipient.objects.filter(pk=asked.pk).update(campaign=asked.rewards.get().campaign)

    assert "We're getting your gift card ready" in yes()


@pytest.mark.django_db
def test_a_yes_whose_card_was_claimed_says_which_card_is_on_its_way(
    asked, django_capture_on_commit_callbacks
):
    condition = factories.CampaignConditionFactory(
        campaign__client=asked.audience.client,
        card_value=Decimal("15.00"),
        brand__brand_name="Tool Barn",
    )
    Recipient.objects.filter(pk=asked.pk).update(campaign=condition.campaign)
    factories.RecipientGiftCardFactory(recipient=asked, condition=condition)
    pool = factories.GiftCardPoolFactory(
        client=asked.audience.client, brand=condition.brand, card_value=Decimal("15.00")
    )
    add_cards_to_pool(pool, ["TRUTH-0001"])
    allocate_credit(asked.audience.client, Decimal("50.00"))

    with django_capture_on_commit_callbacks(execute=True):
        reply = yes()

    assert reply == (
        "Summit Roofing: thanks, you're opted in! Your $15.00 Tool Barn gift card is on its way "
        "by text."
    )


@pytest.mark.django_db
def test_a_yes_before_approval_with_nothing_earned_promises_no_card(db):
    factories.RecipientFactory(
        phone=PHONE, sms_opt_in_status=SmsOptInStatus.PENDING, audience__client__name="Acme"
    )

    assert (
        yes() == "Acme: thanks, you're opted in! We'll text you as soon as you've earned a reward."
    )


@pytest.mark.django_db(transaction=True)
def test_a_carrier_opt_out_on_an_opt_in_text_locks_the_recipient_before_the_log_row():
    recipient = factories.RecipientFactory(
        phone=PHONE,
        approval_status=ApprovalStatus.APPROVED,
        sms_opt_in_status=SmsOptInStatus.PENDING,
    )
    log = SmsOptInLog.objects.create(
        recipient=recipient,
        phone=PHONE,
        message_sid="SM" + "2" * 32,
        direction=SmsDirection.OUTBOUND,
        status=SmsStatus.SENT,
    )
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute(
                f"SELECT 1 FROM {Recipient._meta.db_table} WHERE id = %s FOR UPDATE",
                [recipient.pk],
            )
            run = in_thread(
                lambda: apply_sms_status(
                    message_sid=log.message_sid, status="undelivered", error_code="21610"
                )
            )
            assert another_backend_waits_for_a_lock(cursor), (
                f"the callback did not wait: {run.errors}"
            )
            # While it waits for the recipient, it holds no lock on the log row.
            cursor.execute(
                f"SELECT 1 FROM {SmsOptInLog._meta.db_table} WHERE id = %s FOR UPDATE NOWAIT",
                [log.pk],
            )
            cursor.execute("ROLLBACK")
        run.join()
    finally:
        other.close()
    assert run.errors == []
    recipient.refresh_from_db()
    assert recipient.sms_opt_in_status == SmsOptInStatus.OPTED_OUT


@pytest.mark.django_db(transaction=True)
def test_a_yes_whose_card_was_claimed_and_already_texted_in_process_still_says_so():
    """With tasks run in-process (the demo), the card is texted before the reply is written."""
    recipient = factories.RecipientFactory(
        phone=PHONE,
        approval_status=ApprovalStatus.APPROVED,
        sms_opt_in_status=SmsOptInStatus.PENDING,
        audience__client__name="Summit Roofing",
        with_reward=True,
    )
    reward = recipient.rewards.get()
    pool = factories.GiftCardPoolFactory(
        client=recipient.audience.client, brand=reward.brand, card_value=reward.card_value
    )
    add_cards_to_pool(pool, ["TRUTH-0002"])
    allocate_credit(recipient.audience.client, Decimal("100.00"))

    reply = yes()

    reward.refresh_from_db()
    assert reward.status == "delivered"
    assert (
        f"Your ${reward.card_value:.2f} {reward.brand.brand_name} gift card is on its way" in reply
    )
