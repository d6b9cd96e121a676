"""Posting to a subscriber's endpoint (a local server): signed, retried with backoff after a 500
or a timeout, every attempt recorded, given up after the retry window, and the subscription
disabled (its owner emailed) once it has failed for a day. Time passes by moving timestamps."""

import time
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from mike import webhooks
from mike.accounts.models import Role
from mike.accounts.services import grant_role
from mike.core.signing import compute_signature
from mike.webhooks import sending
from mike.webhooks.catalogue import WebhookEventType
from mike.webhooks.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookSubscription,
)
from tests import factories

pytestmark = pytest.mark.django_db


def emit_one(client_org, run, payload=None):
    with run(execute=True):
        event = webhooks.emit(
            WebhookEventType.CONDITION_MET, client=client_org, payload=payload or {"n": 1}
        )
    return WebhookDelivery.objects.get(event=event)


def due_now(delivery):
    """Time travel: the delivery's next attempt is due."""
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


def test_a_delivery_is_posted_signed_and_recorded(
    subscribe, receiver, client_org, django_capture_on_commit_callbacks
):
    subscribe()
    delivery = emit_one(client_org, django_capture_on_commit_callbacks, {"recipient": "r-1"})
    [got] = receiver.received
    assert got.signature_ok
    assert got.json == {
        "id": str(delivery.event_id),
        "type": "condition.met",
        "created_at": delivery.event.created_at.isoformat(),
        "data": {"recipient": "r-1"},
    }
    assert got.headers["X-Mike-Event-Type"] == "condition.met"
    assert got.headers["X-Mike-Delivery"] == str(delivery.pk)
    timestamp = got.headers["X-Mike-Timestamp"]
    assert got.headers["X-Mike-Signature"] == (
        f"t={timestamp},v1={compute_signature(receiver.secret, int(timestamp), got.body)}"
    )
    delivery.refresh_from_db()
    assert delivery.status == WebhookDeliveryStatus.SUCCEEDED
    assert delivery.attempts == 1
    [attempt] = delivery.attempts_made.all()
    assert (attempt.number, attempt.status_code, attempt.succeeded) == (1, 200, True)


def test_a_signature_made_with_another_secret_does_not_verify(
    subscribe, receiver, client_org, django_capture_on_commit_callbacks
):
    subscribe()
    right = receiver.secret
    receiver.secret = "whsec_someone-else"
    emit_one(client_org, django_capture_on_commit_callbacks)
    assert receiver.received[0].signature_ok is False
    receiver.secret = right


def test_a_500_is_retried_with_backoff_until_it_succeeds(
    subscribe, receiver, client_org, django_capture_on_commit_callbacks
):
    subscribe()
    receiver.answers = [500]
    before = timezone.now()
    delivery = emit_one(client_org, django_capture_on_commit_callbacks)
    delivery.refresh_from_db()
    assert delivery.status == WebhookDeliveryStatus.FAILED
    assert delivery.last_status_code == 500
    # 30 s ± 20 % after the first failure.
    assert before + timedelta(seconds=23) < delivery.next_attempt_at
    assert delivery.next_attempt_at < timezone.now() + timedelta(seconds=37)
    subscription = delivery.subscription
    subscription.refresh_from_db()
    assert subscription.failing_since is not None

    # Not due yet: the sweep leaves it.
    with django_capture_on_commit_callbacks(execute=True):
        assert sending.sweep()["queued"] == 0
    assert len(receiver.received) == 1

    due_now(delivery)
    with django_capture_on_commit_callbacks(execute=True):
        assert sending.sweep()["queued"] == 1
    delivery.refresh_from_db()
    assert delivery.status == WebhookDeliveryStatus.SUCCEEDED
    assert [(a.number, a.status_code) for a in delivery.attempts_made.all()] == [
        (1, 500),
        (2, 200),
    ]
    assert len(receiver.received) == 2
    assert receiver.received[0].json == receiver.received[1].json
    subscription.refresh_from_db()
    assert subscription.failing_since is None and subscription.last_success_at is not None


def test_the_backoff_doubles_and_is_capped(settings):
    from mike.webhooks.timing import backoff

    settings.WEBHOOK_RETRY_MAX_MINUTES = 60
    assert 24 <= backoff(1).total_seconds() <= 36
    assert 48 <= backoff(2).total_seconds() <= 72
    assert 0.8 * 3600 <= backoff(20).total_seconds() <= 1.2 * 3600


def test_an_endpoint_that_hangs_past_the_timeout_is_a_failed_attempt(
    subscribe, receiver, client_org, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_READ_TIMEOUT_SECONDS = 0.3
    subscribe()
    receiver.delay = 1.0
    started = time.monotonic()
    delivery = emit_one(client_org, django_capture_on_commit_callbacks)
    assert time.monotonic() - started < 1.0  # the timeout, not the endpoint, decided
    delivery.refresh_from_db()
    assert delivery.status == WebhookDeliveryStatus.FAILED
    [attempt] = delivery.attempts_made.all()
    assert attempt.status_code is None
    assert "Timed out" in attempt.error
    assert attempt.duration_ms >= 300
    time.sleep(0.8)  # let the local server finish its slow answer before it is stopped


def test_a_redirect_is_not_followed(
    subscribe, httpserver, client_org, django_capture_on_commit_callbacks
):
    httpserver.expect_request("/moved", method="POST").respond_with_data(
        "", status=301, headers={"Location": "http://169.254.169.254/"}
    )
    subscribe(url=httpserver.url_for("/moved"))
    delivery = emit_one(client_org, django_capture_on_commit_callbacks)
    delivery.refresh_from_db()
    assert delivery.status == WebhookDeliveryStatus.FAILED
    assert "Redirects are not followed" in delivery.last_error


def test_retries_end_after_the_retry_window(
    subscribe, receiver, client_org, django_capture_on_commit_callbacks
):
    subscribe()
    receiver.answers = [500, 500]
    delivery = emit_one(client_org, django_capture_on_commit_callbacks)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        give_up_at=timezone.now() + timedelta(seconds=5),
        next_attempt_at=timezone.now() - timedelta(seconds=1),
    )
    with django_capture_on_commit_callbacks(execute=True):
        sending.sweep()
    delivery.refresh_from_db()
    assert delivery.status == WebhookDeliveryStatus.GIVEN_UP
    assert delivery.next_attempt_at is None
    assert delivery.attempts == 2
    with django_capture_on_commit_callbacks(execute=True):
        assert sending.sweep()["queued"] == 0


def test_a_subscription_failing_for_a_day_is_disabled_and_its_admins_told(
    subscribe, receiver, client_org, django_capture_on_commit_callbacks
):
    admin = factories.UserFactory(email="owner@summit.test")
    grant_role(user=admin, role=Role.CLIENT_ADMIN, organization=client_org)
    subscription = subscribe()
    receiver.answers = [500, 500]
    first = emit_one(client_org, django_capture_on_commit_callbacks)
    waiting = emit_one(client_org, django_capture_on_commit_callbacks)
    waiting.refresh_from_db()
    assert waiting.status == WebhookDeliveryStatus.FAILED
    # A day later, still failing: the next failure disables it.
    WebhookSubscription.objects.filter(pk=subscription.pk).update(
        failing_since=timezone.now() - timedelta(hours=24, minutes=1)
    )
    receiver.answers = [500]
    due_now(first)
    with django_capture_on_commit_callbacks(execute=True):
        sending.sweep()
    subscription.refresh_from_db()
    assert subscription.is_active is False
    assert subscription.disabled_at is not None
    assert "failed for 24 hours" in subscription.disabled_reason
    waiting.refresh_from_db()
    assert waiting.status == WebhookDeliveryStatus.GIVEN_UP
    [email] = mail.outbox
    assert email.to == ["owner@summit.test"]
    assert subscription.url in email.body
    assert f"/app/settings/webhooks/{subscription.pk}/" in email.body

    # Disabled: new events are not written for it.
    with django_capture_on_commit_callbacks(execute=True):
        assert webhooks.emit(WebhookEventType.CONDITION_MET, client=client_org, payload={}) is None


def test_the_sweep_disables_a_subscription_failing_for_a_day_without_new_attempts(
    subscribe, client_org, django_capture_on_commit_callbacks
):
    subscription = subscribe()
    WebhookSubscription.objects.filter(pk=subscription.pk).update(
        failing_since=timezone.now() - timedelta(hours=25)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert sending.sweep()["disabled"] == 1
    subscription.refresh_from_db()
    assert subscription.is_active is False


def test_a_success_within_the_day_keeps_the_subscription(
    subscribe, receiver, client_org, django_capture_on_commit_callbacks
):
    subscription = subscribe()
    WebhookSubscription.objects.filter(pk=subscription.pk).update(
        failing_since=timezone.now() - timedelta(hours=23)
    )
    emit_one(client_org, django_capture_on_commit_callbacks)
    subscription.refresh_from_db()
    assert subscription.is_active and subscription.failing_since is None


def test_a_worker_that_died_mid_send_is_recovered_by_the_sweep(
    subscribe, receiver, client_org, django_capture_on_commit_callbacks
):
    subscribe()
    with django_capture_on_commit_callbacks(execute=False):
        event = webhooks.emit(WebhookEventType.CONDITION_MET, client=client_org, payload={})
    delivery = WebhookDelivery.objects.get(event=event)
    # A worker took it and died before recording an answer.
    assert sending.claim(delivery.pk) is not None
    assert sending.claim(delivery.pk) is None  # nobody else may take it meanwhile
    with django_capture_on_commit_callbacks(execute=True):
        assert sending.sweep()["lost"] == 0  # the lease still holds
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert sending.sweep()["lost"] == 1
    delivery.refresh_from_db()
    assert delivery.status == WebhookDeliveryStatus.FAILED
    [lost] = delivery.attempts_made.all()
    assert lost.error == sending.LOST_ERROR and lost.status_code is None
    due_now(delivery)
    with django_capture_on_commit_callbacks(execute=True):
        sending.sweep()
    delivery.refresh_from_db()
    assert delivery.status == WebhookDeliveryStatus.SUCCEEDED
    assert delivery.attempts == 2
    assert len(receiver.received) == 1


def test_a_pending_delivery_whose_task_was_lost_is_queued_by_the_sweep(
    subscribe, receiver, client_org, settings, django_capture_on_commit_callbacks
):
    subscribe()
    with django_capture_on_commit_callbacks(execute=False):  # the broker never got the task
        event = webhooks.emit(WebhookEventType.CONDITION_MET, client=client_org, payload={})
    with django_capture_on_commit_callbacks(execute=True):
        assert sending.sweep()["queued"] == 0  # queued a moment ago: its task may still come
    WebhookDelivery.objects.filter(event=event).update(
        enqueued_at=timezone.now() - timedelta(seconds=settings.WEBHOOK_REQUEUE_SECONDS + 1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert sending.sweep()["queued"] == 1
    assert receiver.types == ["condition.met"]
    assert WebhookAttempt.objects.count() == 1


def test_a_private_address_is_refused_outside_development(settings):
    from mike.webhooks.urls_check import UnsafeUrl, check_url

    settings.WEBHOOK_ALLOW_LOCAL_URLS = False
    for url in (
        "http://example.com/hook",
        "https://127.0.0.1/hook",
        "https://10.0.0.8/hook",
        "https://169.254.169.254/latest",
        "https://localhost/hook",
        "https://user:pw@example.com/hook",
    ):
        with pytest.raises(UnsafeUrl):
            check_url(url, resolve=True)
    check_url("https://93.184.215.14/hook", resolve=True)


def test_a_client_without_admins_has_its_agency_admins_told(client_org):
    from mike.webhooks.alerts import owner_emails

    agency_admin = factories.UserFactory(email="agency@a.test")
    grant_role(user=agency_admin, role=Role.AGENCY_ADMIN, organization=client_org.parent)
    assert owner_emails(client_org) == ["agency@a.test"]
    client_admin = factories.UserFactory(email="admin@summit.test")
    grant_role(user=client_admin, role=Role.CLIENT_ADMIN, organization=client_org)
    assert owner_emails(client_org) == ["admin@summit.test"]
