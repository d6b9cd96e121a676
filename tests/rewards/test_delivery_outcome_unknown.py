"""A delivery attempt whose outcome is unknown (its worker died after Twilio took the text, or
Twilio's answer never came) is settled by asking Twilio's message list before texting again:
a card is texted exactly once, never blind, and never lost."""

from datetime import timedelta

import pytest
from django.utils import timezone

from giftcards.models import DeliveryFailureReason, DeliveryStatus, GiftCardDelivery, SmsDeliveryLog
from giftcards.services.delivery import DeliveryOutcome, card_message
from mike.core import sms
from mike.rewards.delivery import retry_delivery, send_delivery
from mike.rewards.sweeps import sweep_stuck_work
from tests import factories


def _lose_the_worker(delivery, *, texted: bool, fake) -> None:
    """What a worker SIGKILLed mid-send leaves: the row `sending` under a lease that lapsed and,
    when `texted`, the card's text at Twilio with nothing recorded of it."""
    if texted:
        body = card_message(delivery, delivery.gift_card, masked=False)
        sms.send_sms(delivery.delivery_address, body)
        assert len(fake.messages) == 1
    GiftCardDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.SENDING, lease_expires_at=timezone.now() - timedelta(seconds=1)
    )


@pytest.mark.django_db
def test_a_lost_attempt_whose_text_left_is_recorded_not_texted_again(
    twilio_server, django_capture_on_commit_callbacks
):
    delivery = factories.GiftCardDeliveryFactory()
    _lose_the_worker(delivery, texted=True, fake=twilio_server)

    with django_capture_on_commit_callbacks(execute=True):
        assert sweep_stuck_work()["deliveries"] == 1

    delivery.refresh_from_db()
    assert len(twilio_server.messages) == 1  # not texted twice
    assert twilio_server.list_requests == 1
    assert delivery.status == DeliveryStatus.SENT
    assert delivery.twilio_message_sid == twilio_server.messages[0]["sid"]
    logs = SmsDeliveryLog.objects.filter(delivery=delivery)
    assert sorted(logs.values_list("delivery_status", flat=True)) == ["failed", "sent"]
    assert delivery.reward.status == "delivered"


@pytest.mark.django_db
def test_a_lost_attempt_whose_text_never_left_is_sent_once(
    twilio_server, django_capture_on_commit_callbacks
):
    delivery = factories.GiftCardDeliveryFactory()
    _lose_the_worker(delivery, texted=False, fake=twilio_server)

    with django_capture_on_commit_callbacks(execute=True):
        sweep_stuck_work()

    delivery.refresh_from_db()
    assert twilio_server.list_requests == 1
    assert len(twilio_server.messages) == 1
    assert delivery.status == DeliveryStatus.SENT
    assert delivery.twilio_message_sid == twilio_server.messages[0]["sid"]


@pytest.mark.django_db
def test_a_text_twilio_reports_failed_is_not_taken_for_a_sent_one(twilio_server):
    delivery = factories.GiftCardDeliveryFactory()
    _lose_the_worker(delivery, texted=True, fake=twilio_server)
    twilio_server.messages[0]["status"] = "undelivered"

    sweep_stuck_work()  # counts the lost attempt and runs the next (tasks are eager here)

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT
    assert len(twilio_server.messages) == 2
    assert delivery.twilio_message_sid == twilio_server.messages[1]["sid"]


@pytest.mark.django_db
def test_when_twilio_cannot_be_asked_nothing_is_texted_blind(twilio_server):
    delivery = factories.GiftCardDeliveryFactory()
    _lose_the_worker(delivery, texted=True, fake=twilio_server)
    twilio_server.fail_lists = 1

    # The sweep counts the lost attempt and runs the next, which cannot ask Twilio and so sends
    # nothing; the retry it schedules (at once: tasks are eager here) asks again and finds it.
    sweep_stuck_work()

    failures = SmsDeliveryLog.objects.filter(delivery=delivery, delivery_status="failed")
    assert [log.error_message for log in failures if "could not be asked" in log.error_message]
    delivery.refresh_from_db()
    assert twilio_server.list_requests == 2
    assert len(twilio_server.messages) == 1
    assert delivery.status == DeliveryStatus.SENT
    assert delivery.twilio_message_sid == twilio_server.messages[0]["sid"]


@pytest.mark.django_db(transaction=True)
def test_a_send_that_timed_out_is_checked_before_the_retry(late_twilio):
    delivery = factories.GiftCardDeliveryFactory()

    assert send_delivery(delivery.pk) == DeliveryOutcome.RETRY
    delivery.refresh_from_db()
    assert delivery.failure_reason == DeliveryFailureReason.OUTCOME_UNKNOWN
    assert late_twilio.answered.wait(timeout=5)

    assert send_delivery(delivery.pk, early=True) == DeliveryOutcome.SENT
    delivery.refresh_from_db()
    assert len(late_twilio.messages) == 1
    assert late_twilio.list_requests == 1
    assert delivery.twilio_message_sid == late_twilio.messages[0]["sid"]


@pytest.mark.django_db
def test_a_staff_retry_after_an_unknown_outcome_still_asks_first(twilio_server, settings):
    delivery = factories.GiftCardDeliveryFactory(max_retries=1)
    _lose_the_worker(delivery, texted=True, fake=twilio_server)
    sweep_stuck_work()  # the only attempt is spent: the delivery gave up
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED and not delivery.can_retry

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("mike.rewards.claims.queue_delivery", lambda pk: None)
        assert retry_delivery(delivery, by=factories.UserFactory(is_staff=True))
    delivery.refresh_from_db()
    assert delivery.failure_reason == DeliveryFailureReason.OUTCOME_UNKNOWN

    assert send_delivery(delivery.pk) == DeliveryOutcome.SENT
    assert len(twilio_server.messages) == 1
    assert twilio_server.list_requests == 1


@pytest.mark.django_db
def test_an_ordinary_send_does_not_ask_twilio(twilio_server):
    delivery = factories.GiftCardDeliveryFactory()
    assert send_delivery(delivery.pk) == DeliveryOutcome.SENT
    assert twilio_server.list_requests == 0
    assert len(twilio_server.messages) == 1
