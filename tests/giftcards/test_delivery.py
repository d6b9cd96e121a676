"""Card delivery: sent once, recorded everywhere, retried with backoff up to a limit, moved only
forward by status callbacks, re-queued by the sweep, and retried from the admin."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from giftcards.models import (
    DeliveryFailureReason,
    DeliveryStatus,
    GiftCardDelivery,
    GiftCardStatus,
    RewardDeliveryStatus,
    RewardStatus,
    SmsDeliveryLog,
)
from giftcards.services.delivery import DeliveryOutcome
from mike.rewards.delivery import send_delivery, update_delivery_status
from mike.rewards.tasks import deliver_gift_card, sweep_stuck_work
from recipients.models import (
    RecipientAuditAction,
    RecipientAuditLog,
    SmsDirection,
    SmsOptInLog,
    SmsOptInStatus,
    SmsStatus,
)
from tests import factories
from tests.fakes import twilio as fake_twilio


def fresh(obj):
    obj.refresh_from_db()
    return obj


@pytest.fixture
def delivery(db):
    d = factories.GiftCardDeliveryFactory()
    card = d.gift_card
    card.set_code("DELIVER-ME-0042")
    card.save()
    return d


def test_a_delivery_texts_the_card_and_records_it(delivery, sms_outbox, mailoutbox):
    pool = delivery.gift_card.pool
    claimed_before = fresh(pool).claimed_cards

    assert send_delivery(delivery.pk) == DeliveryOutcome.SENT

    [message] = sms_outbox
    assert message.to == delivery.delivery_address
    assert "DELIVER-ME-0042" in message.body and "/redeem/" in message.body
    delivery = fresh(delivery)
    assert delivery.status == DeliveryStatus.SENT and delivery.twilio_message_sid == message.sid
    assert "DELIVER-ME-0042" not in delivery.sms_message and "0042" in delivery.sms_message
    log = SmsDeliveryLog.objects.get(delivery=delivery)
    assert log.twilio_message_sid == message.sid and "DELIVER-ME" not in log.message_body
    assert fresh(delivery.reward).status == RewardStatus.DELIVERED
    assert fresh(delivery.gift_card).status == GiftCardStatus.DELIVERED
    pool = fresh(pool)
    assert pool.claimed_cards == claimed_before - 1 and pool.delivered_cards >= 1
    if delivery.recipient.email:
        assert len(mailoutbox) == 1 and "DELIVER-ME-0042" in mailoutbox[0].body


def test_running_the_task_again_after_success_sends_nothing(delivery, sms_outbox):
    deliver_gift_card(str(delivery.pk))
    deliver_gift_card(str(delivery.pk))
    send_delivery(delivery.pk)
    assert len(sms_outbox) == 1
    assert SmsDeliveryLog.objects.filter(delivery=delivery).count() == 1


def test_twilio_500_is_retried_with_backoff_then_succeeds(delivery, twilio_server):
    twilio_server.fail(500, times=1)
    assert send_delivery(delivery.pk) == DeliveryOutcome.RETRY
    failed = fresh(delivery)
    assert failed.status == DeliveryStatus.FAILED and failed.retry_count == 1
    assert failed.next_attempt_at > timezone.now()
    assert twilio_server.messages == []
    # Not due yet for anyone but the retry the failed attempt scheduled.
    assert send_delivery(delivery.pk) == DeliveryOutcome.NOT_DUE

    assert send_delivery(delivery.pk, early=True) == DeliveryOutcome.SENT
    assert len(twilio_server.messages) == 1
    assert fresh(delivery).twilio_message_sid == twilio_server.messages[0]["sid"]
    statuses = list(
        SmsDeliveryLog.objects.filter(delivery=delivery)
        .order_by("created_at")
        .values_list("delivery_status", flat=True)
    )
    assert statuses == [DeliveryStatus.FAILED, DeliveryStatus.SENT]


def test_retries_stop_at_the_limit_and_the_admin_can_retry(
    delivery, twilio_server, admin_client, django_capture_on_commit_callbacks
):
    twilio_server.fail(500, times=50)
    deliver_gift_card(str(delivery.pk))  # eager: re-queues itself until the limit
    delivery = fresh(delivery)
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.retry_count == delivery.max_retries
    assert delivery.next_attempt_at is None
    assert delivery.failure_reason == DeliveryFailureReason.SEND_ERROR
    assert fresh(delivery.reward).delivery_status == RewardDeliveryStatus.FAILED
    assert send_delivery(delivery.pk) == DeliveryOutcome.GAVE_UP

    twilio_server.fail_next.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:giftcards_giftcarddelivery_changelist"),
            {"action": "retry_deliveries", "_selected_action": [str(delivery.pk)]},
            follow=True,
        )
    assert response.status_code == 200
    delivery = fresh(delivery)
    assert delivery.status == DeliveryStatus.SENT and delivery.failure_reason == ""
    assert len(twilio_server.messages) == 1


def test_a_rejected_number_fails_at_once(delivery, twilio_server):
    twilio_server.fail(400)
    assert send_delivery(delivery.pk) == DeliveryOutcome.GAVE_UP
    assert fresh(delivery).retry_count == delivery.max_retries


def test_status_callbacks_only_move_forward_and_duplicates_are_harmless(delivery):
    send_delivery(delivery.pk)
    sid = fresh(delivery).twilio_message_sid
    assert update_delivery_status(message_sid=sid, status="delivered")
    assert update_delivery_status(message_sid=sid, status="delivered")
    assert update_delivery_status(message_sid=sid, status="sent")
    delivery = fresh(delivery)
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.delivered_at
    assert fresh(delivery.reward).delivery_status == RewardDeliveryStatus.DELIVERED
    assert not update_delivery_status(message_sid="SMunknown", status="delivered")


def test_the_sweep_requeues_stuck_deliveries(delivery, sms_outbox):
    # A worker died after marking it sending: the row sits there until the sweep.
    long_ago = timezone.now() - timedelta(hours=1)
    GiftCardDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.SENDING, updated_at=long_ago
    )
    recent = factories.GiftCardDeliveryFactory()
    summary = sweep_stuck_work()
    assert summary["deliveries"] == 1
    assert fresh(delivery).status == DeliveryStatus.SENT
    assert fresh(recent).status == DeliveryStatus.QUEUED
    assert len(sms_outbox) == 1


# --- Numbers that opted out (Twilio error 21610) --------------------------------------------------


def carrier_opt_outs(recipient):
    return RecipientAuditLog.objects.filter(
        recipient=recipient,
        action=RecipientAuditAction.OPTED_OUT,
        metadata__reason="carrier_opt_out",
    )


def test_a_number_unsubscribed_at_the_carrier_fails_for_good_and_is_opted_out(
    delivery, twilio_server
):
    twilio_server.unsubscribe(delivery.delivery_address)

    assert deliver_gift_card(str(delivery.pk)) == DeliveryOutcome.GAVE_UP

    delivery = fresh(delivery)
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.retry_count == delivery.max_retries and delivery.next_attempt_at is None
    assert "21610" in delivery.error_message and "opted out" in delivery.error_message
    assert delivery.failure_reason == DeliveryFailureReason.CARRIER_OPT_OUT
    assert fresh(delivery.reward).delivery_status == RewardDeliveryStatus.FAILED
    assert len(twilio_server.refused) == 1 and twilio_server.messages == []
    recipient = fresh(delivery.recipient)
    assert recipient.sms_opt_in_status == SmsOptInStatus.OPTED_OUT
    [audit] = carrier_opt_outs(recipient)
    assert audit.metadata["refused"] == "gift card"
    [note] = SmsOptInLog.objects.filter(recipient=recipient)
    assert note.direction == SmsDirection.OUTBOUND and note.status == SmsStatus.FAILED
    assert "21610" in note.error_message and note.message_sid == ""

    # Long after, the sweep leaves it alone and Twilio hears nothing more.
    GiftCardDelivery.objects.filter(pk=delivery.pk).update(
        updated_at=timezone.now() - timedelta(days=1)
    )
    assert sweep_stuck_work()["deliveries"] == 0
    assert len(twilio_server.refused) == 1


def test_a_delivery_to_an_opted_out_recipient_is_not_sent(delivery, sms_outbox):
    type(delivery.recipient).objects.filter(pk=delivery.recipient_id).update(
        sms_opt_in_status=SmsOptInStatus.OPTED_OUT
    )

    assert send_delivery(delivery.pk) == DeliveryOutcome.GAVE_UP

    assert sms_outbox == []
    delivery = fresh(delivery)
    assert delivery.status == DeliveryStatus.FAILED and "opted out" in delivery.error_message
    assert delivery.failure_reason == DeliveryFailureReason.OPTED_OUT
    assert delivery.retry_count == delivery.max_retries
    assert fresh(delivery.gift_card).status == GiftCardStatus.CLAIMED


def post_status(twilio_post, delivery, status, error_code=""):
    params = {
        "MessageSid": delivery.twilio_message_sid,
        "SmsSid": delivery.twilio_message_sid,
        "AccountSid": fake_twilio.ACCOUNT_SID,
        "From": fake_twilio.FROM_NUMBER,
        "To": delivery.delivery_address,
        "MessageStatus": status,
        "SmsStatus": status,
        "ErrorCode": error_code,
    }
    return twilio_post("/hooks/twilio/sms/status/", params)


@pytest.mark.parametrize("status", ["failed", "undelivered"])
def test_status_callback_21610_fails_the_delivery_and_opts_the_number_out(
    delivery, twilio_post, status
):
    send_delivery(delivery.pk)
    delivery = fresh(delivery)

    response = post_status(twilio_post, delivery, status, "21610")
    post_status(twilio_post, delivery, status, "21610")  # Twilio may post it twice
    post_status(twilio_post, delivery, "delivered")

    assert response.status_code == 204
    delivery = fresh(delivery)
    assert delivery.status == DeliveryStatus.UNDELIVERED
    assert "21610" in delivery.error_message and "opted out" in delivery.error_message
    assert delivery.failure_reason == DeliveryFailureReason.CARRIER_OPT_OUT
    assert fresh(delivery.reward).delivery_status == RewardDeliveryStatus.FAILED
    recipient = fresh(delivery.recipient)
    assert recipient.sms_opt_in_status == SmsOptInStatus.OPTED_OUT
    assert carrier_opt_outs(recipient).count() == 1
    [note] = SmsOptInLog.objects.filter(recipient=recipient)
    assert delivery.twilio_message_sid in note.error_message
    # The note does not take the delivery's SID, so its callbacks keep reaching the delivery.
    assert note.message_sid == ""
    assert sweep_stuck_work()["deliveries"] == 0


def test_an_undelivered_callback_with_another_code_does_not_opt_out(delivery, twilio_post):
    send_delivery(delivery.pk)

    post_status(twilio_post, fresh(delivery), "undelivered", "30003")

    delivery = fresh(delivery)
    assert delivery.status == DeliveryStatus.UNDELIVERED
    assert delivery.failure_reason == DeliveryFailureReason.UNDELIVERED
    assert fresh(delivery.recipient).sms_opt_in_status != SmsOptInStatus.OPTED_OUT
    assert not carrier_opt_outs(delivery.recipient).exists()


def refuse_then_reply(delivery, twilio_server, twilio_post, capture, body):
    """The carrier refuses the card's text, then the number texts `body` (START or YES)."""
    phone = delivery.delivery_address
    twilio_server.unsubscribe(phone)
    send_delivery(delivery.pk)
    refused = fresh(delivery)
    assert refused.status == DeliveryStatus.FAILED
    assert refused.failure_reason == DeliveryFailureReason.CARRIER_OPT_OUT
    twilio_server.resubscribe(phone)
    reply = {
        "MessageSid": "SM" + "5" * 32,
        "AccountSid": fake_twilio.ACCOUNT_SID,
        "From": phone,
        "To": fake_twilio.FROM_NUMBER,
        "Body": body,
    }
    with capture(execute=True):
        assert twilio_post("/hooks/twilio/sms/", reply).status_code == 200


@pytest.mark.parametrize("body", ["START", "yes"])
def test_a_card_refused_while_opted_out_goes_out_again_when_the_number_opts_back_in(
    delivery, twilio_server, twilio_post, django_capture_on_commit_callbacks, body
):
    refuse_then_reply(
        delivery, twilio_server, twilio_post, django_capture_on_commit_callbacks, body
    )

    assert fresh(delivery.recipient).sms_opt_in_status != SmsOptInStatus.OPTED_OUT
    delivery = fresh(delivery)
    assert delivery.status == DeliveryStatus.SENT and delivery.failure_reason == ""
    card_texts = [m for m in twilio_server.messages if "DELIVER-ME-0042" in m["body"]]
    assert [m["to"] for m in card_texts] == [delivery.delivery_address]


def test_a_refused_card_of_a_revoked_reward_stays_unsent_after_start(
    delivery, twilio_server, twilio_post, django_capture_on_commit_callbacks
):
    type(delivery.reward).objects.filter(pk=delivery.reward_id).update(status=RewardStatus.REVOKED)

    refuse_then_reply(
        delivery, twilio_server, twilio_post, django_capture_on_commit_callbacks, "START"
    )

    assert fresh(delivery).status == DeliveryStatus.FAILED
    assert not [m for m in twilio_server.messages if "DELIVER-ME-0042" in m["body"]]


def test_a_card_that_failed_for_another_reason_is_not_resent_by_start(
    delivery, twilio_server, twilio_post, django_capture_on_commit_callbacks
):
    # The reason is what counts, not the wording: this message reads like an opt-out's.
    GiftCardDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.FAILED,
        error_message="Not sent: the recipient opted out of texts. (Twilio error 30003)",
        failure_reason=DeliveryFailureReason.SEND_ERROR,
    )
    type(delivery.recipient).objects.filter(pk=delivery.recipient_id).update(
        sms_opt_in_status=SmsOptInStatus.OPTED_OUT
    )
    reply = {
        "MessageSid": "SM" + "6" * 32,
        "AccountSid": fake_twilio.ACCOUNT_SID,
        "From": delivery.delivery_address,
        "To": fake_twilio.FROM_NUMBER,
        "Body": "START",
    }
    with django_capture_on_commit_callbacks(execute=True):
        twilio_post("/hooks/twilio/sms/", reply)

    assert fresh(delivery).status == DeliveryStatus.FAILED


def test_deliveries_failed_before_the_reason_was_recorded_get_it_from_their_message(delivery):
    """The migration that added failure_reason reads it from the messages the delivery code
    wrote before, so deliveries already refused for an opt-out are still resent on START."""
    import importlib

    from django.apps import apps

    from giftcards.services import delivery as delivery_module

    migration = importlib.import_module("giftcards.migrations.0005_delivery_failure_reason")
    messages = {
        "opted_out": delivery_module.OPTED_OUT_ERROR,
        "carrier_opt_out": delivery_module.CARRIER_OPT_OUT_MESSAGE.format(code="21610"),
        "undelivered": "Twilio reported undelivered (error 30003)",
        "send_error": "Twilio error 30006: landline",
        "": "",
    }
    rows = {}
    for reason, message in messages.items():
        rows[reason] = factories.GiftCardDeliveryFactory(
            status=DeliveryStatus.UNDELIVERED if reason == "undelivered" else DeliveryStatus.FAILED,
            error_message=message,
        )
    sent = factories.GiftCardDeliveryFactory(status=DeliveryStatus.SENT, error_message="")

    migration.backfill_failure_reasons(apps, None)

    for reason, row in rows.items():
        assert fresh(row).failure_reason == reason, reason
    assert fresh(sent).failure_reason == ""


def test_a_late_delivered_callback_clears_the_failure_of_a_later_attempt(delivery, twilio_post):
    """The text went out, a retry of it then failed, and only now does Twilio report the first
    text delivered: the delivery is delivered, with no failure left on it."""
    send_delivery(delivery.pk)
    sent = fresh(delivery)
    GiftCardDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.FAILED,
        error_message="Twilio error 30006: landline",
        failure_reason=DeliveryFailureReason.SEND_ERROR,
    )

    post_status(twilio_post, sent, "delivered")

    delivery = fresh(delivery)
    assert delivery.status == DeliveryStatus.DELIVERED
    assert (delivery.failure_reason, delivery.error_message) == ("", "")
