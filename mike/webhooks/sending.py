"""Posting a delivery, recording the attempt, and the sweep that owns every waiting state.

An attempt:
1. `claim` takes the delivery from pending (or failed and due) to sending with one conditional
   UPDATE that also counts the attempt and sets a lease (WEBHOOK_LEASE_SECONDS): of two workers
   given the same delivery, the database lets one through; the other finds it taken and posts
   nothing.
2. `post` sends the JSON, signed, with short timeouts and no redirects, outside any transaction.
3. `record` writes the `WebhookAttempt` and moves the delivery on: succeeded, failed with the
   next attempt due after a backoff, or given up once WEBHOOK_RETRY_HOURS have passed; the
   subscription's `failing_since` follows, and a subscription failing for
   WEBHOOK_DISABLE_AFTER_HOURS is disabled and its owner told.

`sweep` (beat, every WEBHOOK_SWEEP_SECONDS) queues what is due and whose task is not queued
(a failed delivery's next attempt, or a pending one whose message was lost), counts as a lost
attempt a delivery whose worker died mid-send (lease lapsed), and disables subscriptions that
have failed for too long. Delivery is at least once: a receiver that got a POST whose answer was
lost gets it again, with the same `X-Mike-Delivery`, and should ignore the repeat.
"""

import json
import logging
import time
from dataclasses import dataclass
from datetime import timedelta

import requests
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from mike.core.signing import signature_header

from .alerts import alert_subscription_disabled
from .models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookSubscription,
)
from .outbox import queue_after_commit
from .timing import backoff
from .urls_check import UnsafeUrl, check_url

logger = logging.getLogger(__name__)

OPEN = (WebhookDeliveryStatus.PENDING, WebhookDeliveryStatus.FAILED)
LOST_ERROR = "No answer recorded: the worker stopped while sending (lease expired)."
USER_AGENT = "Mike-Webhooks/1"
EXCERPT = 500


@dataclass
class Answer:
    status_code: int | None
    error: str
    excerpt: str
    duration_ms: int

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def body_of(delivery: WebhookDelivery) -> bytes:
    """The JSON posted: the event's id, type, time and data (the same for every delivery and
    resend of one event)."""
    event = delivery.event
    return json.dumps(
        {
            "id": str(event.pk),
            "type": event.event_type,
            "created_at": event.created_at.isoformat(),
            "data": event.payload,
        },
        cls=DjangoJSONEncoder,
        separators=(",", ":"),
    ).encode()


def claim(delivery_id, *, now=None) -> WebhookDelivery | None:
    """Take the delivery for one attempt, or None when it is not due or someone else has it."""
    now = now or timezone.now()
    lease = now + timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS)
    taken = WebhookDelivery.objects.filter(
        pk=delivery_id, status__in=OPEN, next_attempt_at__lte=now
    ).update(
        status=WebhookDeliveryStatus.SENDING,
        lease_expires_at=lease,
        attempts=F("attempts") + 1,
        updated_at=now,
    )
    if not taken:
        return None
    # None if the subscription was deleted (with its deliveries) since.
    return (
        WebhookDelivery.objects.select_related("event", "subscription")
        .filter(pk=delivery_id)
        .first()
    )


def post(delivery: WebhookDelivery) -> Answer:
    subscription = delivery.subscription
    body = body_of(delivery)
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Mike-Event-Type": delivery.event.event_type,
        "X-Mike-Delivery": str(delivery.pk),
        "X-Mike-Timestamp": str(timestamp),
        "X-Mike-Signature": signature_header(subscription.secret, body, timestamp),
    }
    started = time.monotonic()

    def took() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        check_url(subscription.url, resolve=True)
        response = requests.post(
            subscription.url,
            data=body,
            headers=headers,
            timeout=(
                settings.WEBHOOK_CONNECT_TIMEOUT_SECONDS,
                settings.WEBHOOK_READ_TIMEOUT_SECONDS,
            ),
            allow_redirects=False,
            stream=True,
        )
    except UnsafeUrl as error:
        return Answer(None, str(error), "", took())
    except requests.Timeout:
        return Answer(None, "Timed out waiting for the endpoint.", "", took())
    except requests.RequestException as error:
        return Answer(None, f"Could not connect: {type(error).__name__}.", "", took())
    try:
        # Only the start of the answer is kept: a receiver's page is not Mike's to store.
        excerpt = response.raw.read(EXCERPT, decode_content=True) or b""
    except Exception:
        excerpt = b""
    finally:
        response.close()
    error = ""
    if not 200 <= response.status_code < 300:
        error = f"The endpoint answered HTTP {response.status_code}."
        if 300 <= response.status_code < 400:
            error += " Redirects are not followed: give the final URL."
    return Answer(response.status_code, error, excerpt.decode("utf-8", "replace")[:EXCERPT], took())


def send(delivery_id) -> str:
    """One attempt of the delivery, if it is due and nobody else is at it. Returns the delivery's
    status afterwards ("busy" when it was not taken). Never raises for the endpoint's faults."""
    delivery = claim(delivery_id)
    if delivery is None:
        return "busy"
    if not delivery.subscription.is_active:
        _give_up_inactive(delivery)
        return WebhookDeliveryStatus.GIVEN_UP
    answer = post(delivery)
    return record(delivery, answer)


def _give_up_inactive(delivery: WebhookDelivery) -> None:
    WebhookDelivery.objects.filter(pk=delivery.pk, status=WebhookDeliveryStatus.SENDING).update(
        status=WebhookDeliveryStatus.GIVEN_UP,
        attempts=F("attempts") - 1,  # nothing was posted
        lease_expires_at=None,
        last_error="The subscription is disabled.",
        updated_at=timezone.now(),
    )


@transaction.atomic
def record(delivery: WebhookDelivery, answer: Answer, *, now=None) -> str:
    """Write the attempt and move the delivery on, while it still holds this attempt's lease (a
    lapsed lease means the sweep already counted the attempt as lost and moved it on: the answer
    is kept as an attempt row, the delivery is left as the sweep set it)."""
    now = now or timezone.now()
    WebhookAttempt.objects.bulk_create(
        [
            WebhookAttempt(
                delivery_id=delivery.pk,
                number=delivery.attempts,
                attempted_at=now,
                status_code=answer.status_code,
                succeeded=answer.succeeded,
                error=answer.error[:500],
                response_excerpt=answer.excerpt,
                duration_ms=answer.duration_ms,
            )
        ],
        ignore_conflicts=True,  # the sweep's "lost" row for this number came first
    )
    held = WebhookDelivery.objects.filter(
        pk=delivery.pk,
        status=WebhookDeliveryStatus.SENDING,
        lease_expires_at=delivery.lease_expires_at,
    )
    if answer.succeeded:
        changed = held.update(
            status=WebhookDeliveryStatus.SUCCEEDED,
            succeeded_at=now,
            last_status_code=answer.status_code,
            last_error="",
            lease_expires_at=None,
            next_attempt_at=None,
            updated_at=now,
        )
        if changed:
            # Written when it says something new, not on every success of a busy endpoint.
            WebhookSubscription.objects.filter(pk=delivery.subscription_id).filter(
                Q(failing_since__isnull=False)
                | Q(last_success_at__isnull=True)
                | Q(last_success_at__lt=now - timedelta(minutes=1))
            ).update(failing_since=None, last_success_at=now, updated_at=now)
        return WebhookDeliveryStatus.SUCCEEDED if changed else "late"
    status = _fail(held, delivery, answer.status_code, answer.error, now=now)
    return status or "late"


def _fail(rows, delivery, status_code, error, *, now) -> str | None:
    wait = backoff(delivery.attempts)
    gave_up = now + wait > delivery.give_up_at
    status = WebhookDeliveryStatus.GIVEN_UP if gave_up else WebhookDeliveryStatus.FAILED
    changed = rows.update(
        status=status,
        last_status_code=status_code,
        last_error=error[:500],
        lease_expires_at=None,
        next_attempt_at=None if gave_up else now + wait,
        enqueued_at=None,  # no task is queued for the next attempt: the sweep's to queue
        updated_at=now,
    )
    if not changed:
        return None
    WebhookSubscription.objects.filter(
        pk=delivery.subscription_id, failing_since__isnull=True
    ).update(failing_since=now, updated_at=now)
    disable_if_failing(delivery.subscription_id, now=now)
    return status


def disable_if_failing(subscription_id, *, now=None) -> bool:
    """Disable the subscription when it has failed, with no success since, for
    WEBHOOK_DISABLE_AFTER_HOURS; its open deliveries are given up and its owner is emailed after
    commit. True when this call disabled it."""
    now = now or timezone.now()
    cutoff = now - timedelta(hours=settings.WEBHOOK_DISABLE_AFTER_HOURS)
    with transaction.atomic():
        subscription = (
            WebhookSubscription.objects.select_for_update()
            .filter(pk=subscription_id, is_active=True, failing_since__lte=cutoff)
            .first()
        )
        if subscription is None:
            return False
        hours = settings.WEBHOOK_DISABLE_AFTER_HOURS
        subscription.is_active = False
        subscription.disabled_at = now
        subscription.disabled_reason = f"Every delivery failed for {hours} hours."
        subscription.save(
            update_fields=["is_active", "disabled_at", "disabled_reason", "updated_at"]
        )
        WebhookDelivery.objects.filter(subscription=subscription, status__in=OPEN).update(
            status=WebhookDeliveryStatus.GIVEN_UP,
            next_attempt_at=None,
            last_error="The subscription was disabled.",
            updated_at=now,
        )
        subscription_pk = subscription.pk
        transaction.on_commit(lambda: alert_subscription_disabled(subscription_pk), robust=True)
    logger.warning(
        "Webhook subscription %s disabled: %s", subscription_pk, subscription.disabled_reason
    )
    return True


# --- The sweep ---------------------------------------------------------------------------------


def sweep(*, now=None, limit: int = 500) -> dict:
    """Move on every delivery that waits for something that may not come, each step on its own
    (a failure of one does not stop the others). Idempotent; safe beside another sweep (rows are
    taken with SKIP LOCKED)."""
    now = now or timezone.now()
    return {
        "lost": _recover_lost(now=now, limit=limit),
        "queued": _queue_due(now=now, limit=limit),
        "disabled": _disable_failing(now=now),
    }


def _recover_lost(*, now, limit: int) -> int:
    """Deliveries still `sending` after their lease: the worker died (or the answer never came
    back to it). The attempt is recorded as lost and the delivery fails like any attempt."""
    count = 0
    with transaction.atomic():
        lost = list(
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .filter(status=WebhookDeliveryStatus.SENDING, lease_expires_at__lt=now)
            .order_by("lease_expires_at")[:limit]
        )
        for delivery in lost:
            WebhookAttempt.objects.bulk_create(
                [
                    WebhookAttempt(
                        delivery_id=delivery.pk,
                        number=delivery.attempts,
                        attempted_at=now,
                        error=LOST_ERROR,
                    )
                ],
                ignore_conflicts=True,
            )
            rows = WebhookDelivery.objects.filter(
                pk=delivery.pk,
                status=WebhookDeliveryStatus.SENDING,
                lease_expires_at=delivery.lease_expires_at,
            )
            if _fail(rows, delivery, None, LOST_ERROR, now=now):
                count += 1
    return count


def _queue_due(*, now, limit: int) -> int:
    """Queue every open delivery that is due and has no task queued for it within
    WEBHOOK_REQUEUE_SECONDS (a failed one's next attempt, or a pending one whose message was
    lost). A task queued twice is harmless: the claim lets one through."""
    requeue = now - timedelta(seconds=settings.WEBHOOK_REQUEUE_SECONDS)
    with transaction.atomic():
        due = list(
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .filter(status__in=OPEN, next_attempt_at__lte=now)
            .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=requeue))
            .order_by("next_attempt_at")
            .values_list("pk", flat=True)[:limit]
        )
        WebhookDelivery.objects.filter(pk__in=due).update(enqueued_at=now)
        queue_after_commit(due)
    return len(due)


def _disable_failing(*, now) -> int:
    cutoff = now - timedelta(hours=settings.WEBHOOK_DISABLE_AFTER_HOURS)
    failing = WebhookSubscription.objects.filter(
        is_active=True, failing_since__lte=cutoff
    ).values_list("pk", flat=True)
    return sum(1 for pk in list(failing) if disable_if_failing(pk, now=now))
