"""A card is texted at most once per attempt: two workers on one delivery, a staff retry while a
send is in flight, and sweep after sweep over a queued delivery all send it once. Status
callbacks move the SMS log only forward. Email deliveries leave by email. Countdowns stay below
the broker's visibility timeout."""

import threading
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone
from werkzeug import Request

from giftcards.models import (
    CardDeliveryMethod,
    DeliveryStatus,
    GiftCardDelivery,
    RewardStatus,
    SmsDeliveryLog,
)
from giftcards.services.delivery import DeliveryOutcome, backoff
from mike.rewards import tasks
from mike.rewards.checks import check_countdowns_below_visibility_timeout, longest_countdowns
from mike.rewards.delivery import retry_delivery, send_delivery, update_delivery_status
from mike.rewards.sweeps import sweep_stuck_work
from tests import factories
from tests.fakes import twilio as fake_twilio
from tests.rewards.concurrency import in_thread


@pytest.fixture
def slow_twilio(httpserver, settings):
    """The Twilio fake, answering only when the test lets it (`go`); `arrived` is set when a
    message request comes in."""
    fake = fake_twilio.FakeTwilio(url=httpserver.url_for("/"))
    fake.arrived, fake.go = threading.Event(), threading.Event()

    def handler(request: Request):
        fake.arrived.set()
        fake.go.wait(timeout=20)
        return fake.handle(request)

    fake.register(httpserver, send_handler=handler)
    settings.SMS_BACKEND = "twilio"
    settings.TWILIO_API_BASE_URL = httpserver.url_for("/").rstrip("/")
    settings.TWILIO_TIMEOUT_SECONDS = 20
    return fake


@pytest.mark.django_db(transaction=True)
def test_two_workers_on_one_delivery_send_it_once(slow_twilio):
    delivery = factories.GiftCardDeliveryFactory()
    first = in_thread(lambda: send_delivery(delivery.pk))
    assert slow_twilio.arrived.wait(timeout=20)

    second = send_delivery(delivery.pk)  # the second worker, while the first is sending

    slow_twilio.go.set()
    first.join()
    assert second == DeliveryOutcome.BUSY
    assert first.results == [DeliveryOutcome.SENT]
    assert len(slow_twilio.messages) == 1
    assert SmsDeliveryLog.objects.filter(delivery=delivery).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_staff_retry_while_the_send_is_in_flight_sends_nothing_more(slow_twilio):
    delivery = factories.GiftCardDeliveryFactory()
    staff = factories.UserFactory(is_staff=True)
    worker = in_thread(lambda: send_delivery(delivery.pk))
    assert slow_twilio.arrived.wait(timeout=20)

    assert retry_delivery(delivery, by=staff) is False

    slow_twilio.go.set()
    worker.join()
    assert worker.results == [DeliveryOutcome.SENT]
    assert len(slow_twilio.messages) == 1
    assert GiftCardDelivery.objects.get(pk=delivery.pk).status == DeliveryStatus.SENT


@pytest.mark.django_db(transaction=True)
def test_a_sweep_while_the_send_is_in_flight_leaves_it_to_its_worker(slow_twilio, settings):
    settings.DELIVERY_STUCK_MINUTES = 0  # everything counts as stuck at once
    delivery = factories.GiftCardDeliveryFactory()
    worker = in_thread(lambda: send_delivery(delivery.pk))
    assert slow_twilio.arrived.wait(timeout=20)

    assert sweep_stuck_work()["deliveries"] == 0  # the lease holds

    slow_twilio.go.set()
    worker.join()
    assert worker.errors == []
    assert len(slow_twilio.messages) == 1


@pytest.mark.django_db
def test_sweep_after_sweep_queues_a_waiting_delivery_once(settings, monkeypatch):
    """The broker is backed up: the delivery's task is queued and waits. Each sweep must not add
    another task for it before DELIVERY_STUCK_MINUTES have passed since it was queued."""
    delivery = factories.GiftCardDeliveryFactory()
    GiftCardDelivery.objects.filter(pk=delivery.pk).update(
        enqueued_at=timezone.now() - timedelta(hours=1)
    )
    queued = []
    monkeypatch.setattr(tasks.deliver_gift_card, "delay", lambda pk: queued.append(pk))

    for _ in range(3):
        sweep_stuck_work()

    assert queued == [str(delivery.pk)]


@pytest.mark.django_db
def test_a_worker_that_died_mid_send_leaves_a_lease_the_sweep_counts_as_a_lost_attempt(
    sms_outbox, django_capture_on_commit_callbacks
):
    delivery = factories.GiftCardDeliveryFactory()
    GiftCardDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.SENDING, lease_expires_at=timezone.now() + timedelta(minutes=1)
    )
    assert sweep_stuck_work()["deliveries"] == 0
    assert sms_outbox == []

    GiftCardDelivery.objects.filter(pk=delivery.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep_stuck_work()["deliveries"] == 1

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT and delivery.retry_count == 1
    assert len(sms_outbox) == 1


@pytest.mark.django_db
def test_a_late_or_repeated_callback_never_moves_the_sms_log_back(sms_outbox):
    delivery = factories.GiftCardDeliveryFactory()
    assert send_delivery(delivery.pk) == DeliveryOutcome.SENT
    sid = GiftCardDelivery.objects.get(pk=delivery.pk).twilio_message_sid

    update_delivery_status(message_sid=sid, status="delivered")
    log = SmsDeliveryLog.objects.get(twilio_message_sid=sid)
    delivered_at = log.delivered_at
    assert log.delivery_status == DeliveryStatus.DELIVERED and delivered_at is not None

    update_delivery_status(message_sid=sid, status="sent")  # late
    update_delivery_status(message_sid=sid, status="delivered")  # repeated

    log.refresh_from_db()
    assert log.delivery_status == DeliveryStatus.DELIVERED
    assert log.delivered_at == delivered_at


@pytest.mark.django_db
def test_a_failure_callback_keeps_its_error_on_the_log_when_a_late_sent_arrives(sms_outbox):
    delivery = factories.GiftCardDeliveryFactory()
    send_delivery(delivery.pk)
    sid = GiftCardDelivery.objects.get(pk=delivery.pk).twilio_message_sid

    update_delivery_status(message_sid=sid, status="undelivered", error_code="30003")
    update_delivery_status(message_sid=sid, status="sent")

    log = SmsDeliveryLog.objects.get(twilio_message_sid=sid)
    assert log.delivery_status == DeliveryStatus.UNDELIVERED
    assert "30003" in log.error_message


# --- Email -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_email_delivery_sends_the_card_by_email(mailoutbox, sms_outbox):
    reward = factories.RecipientGiftCardFactory(claimed=True, recipient__phone="")
    card = reward.gift_card
    card.set_code("EMAIL-CARD-0042")
    card.save()
    delivery = factories.GiftCardDeliveryFactory(
        reward=reward,
        delivery_method=CardDeliveryMethod.EMAIL,
        delivery_address=reward.recipient.email,
    )

    assert send_delivery(delivery.pk) == DeliveryOutcome.SENT

    assert sms_outbox == []
    [email] = mailoutbox
    assert email.to == [reward.recipient.email]
    assert "EMAIL-CARD-0042" in email.body
    [(html, _)] = email.alternatives
    assert "EMAIL-CARD-0042" in html and reward.brand.brand_name in html
    delivery.refresh_from_db()
    reward.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT
    assert reward.status == RewardStatus.DELIVERED
    assert "EMAIL-CARD-0042" not in delivery.sms_message  # the stored copy is masked


@pytest.mark.django_db
def test_an_email_that_cannot_be_sent_is_retried(settings, mailoutbox):
    reward = factories.RecipientGiftCardFactory(claimed=True, recipient__phone="")
    delivery = factories.GiftCardDeliveryFactory(
        reward=reward,
        delivery_method=CardDeliveryMethod.EMAIL,
        delivery_address=reward.recipient.email,
    )
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 2

    assert send_delivery(delivery.pk) == DeliveryOutcome.RETRY
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED and delivery.next_attempt_at is not None


@pytest.mark.django_db
def test_a_recipient_with_only_an_email_is_claimed_and_emailed_without_an_sms_opt_in(
    mailoutbox, sms_outbox, django_capture_on_commit_callbacks
):
    from decimal import Decimal

    from giftcards.services import add_cards_to_pool, allocate_credit
    from mike.rewards.approval import approve_recipient

    recipient = factories.RecipientFactory(phone="", email="ann@example.com", with_reward=True)
    reward = recipient.rewards.get()
    pool = factories.GiftCardPoolFactory(
        client=recipient.audience.client, brand=reward.brand, card_value=reward.card_value
    )
    add_cards_to_pool(pool, ["ONLY-EMAIL-0001"])
    allocate_credit(recipient.audience.client, Decimal("100.00"))

    with django_capture_on_commit_callbacks(execute=True):
        approve_recipient(recipient=recipient)

    reward.refresh_from_db()
    assert reward.status == RewardStatus.DELIVERED and reward.delivery_method == "email"
    assert sms_outbox == []
    [email] = mailoutbox
    assert "ONLY-EMAIL-0001" in email.body


# --- Countdowns ----------------------------------------------------------------------------------


def test_every_countdown_stays_below_the_brokers_visibility_timeout():
    timeout = django_settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    longest = longest_countdowns()
    assert longest["card delivery retry"] == max(backoff(n).total_seconds() for n in range(1, 100))
    assert max(longest.values()) < timeout
    assert check_countdowns_below_visibility_timeout(None) == []


def test_a_countdown_that_reaches_the_timeout_is_a_system_check_error(settings):
    settings.DELIVERY_RETRY_MAX_MINUTES = 60
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
    [error] = check_countdowns_below_visibility_timeout(None)
    assert error.id == "mike.E101" and "card delivery retry" in error.msg
