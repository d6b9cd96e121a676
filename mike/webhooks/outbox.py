"""`emit`: the outbox row and its deliveries, in the caller's transaction, sent after commit.

Cost on the services' paths: one query (the client's active subscriptions, read by an index on
(client, is_active)) when nobody subscribed, which is the common case; with subscribers, one
insert for the event and one for its deliveries. Nothing is posted here: the sends are queued
after commit (`transaction.on_commit`), so a rolled-back change sends nothing and a slow or dead
endpoint never holds up the change."""

import logging

from django.db import transaction
from django.utils import timezone

from .catalogue import TEST_EVENT, WebhookEventType
from .models import (
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEvent,
    WebhookSubscription,
)
from .timing import give_up_at

logger = logging.getLogger(__name__)


def _client_id(client):
    return getattr(client, "pk", client)


def _subscribers(client_id, event_type: str, is_test: bool) -> list[WebhookSubscription]:
    # Filtered in Python: a client has a handful of subscriptions, and a JSON "contains" lookup
    # is not portable to SQLite (the embedded demo).
    subscriptions = WebhookSubscription.objects.filter(
        client_id=client_id, is_active=True, is_test=is_test
    ).only("pk", "events")
    return [subscription for subscription in subscriptions if subscription.wants(event_type)]


def emit(event_type: str, *, client, payload, is_test: bool = False) -> WebhookEvent | None:
    """Record that `event_type` happened at `client`, for every active subscription of the same
    kind (test or live) that wants it: one `WebhookEvent` and one pending `WebhookDelivery` per
    subscription, in the current transaction, and their sends queued after commit.

    `payload` is the event's `data`, or a function returning it, called only when somebody
    subscribed (so a payload that needs a query costs nothing when nobody did).

    Returns the event, or None when nobody subscribed (nothing is written). Raises ValueError for
    an event type outside the catalogue (a programming error, never a user's)."""
    if event_type not in WebhookEventType.values:
        raise ValueError(f"Unknown webhook event type {event_type!r}.")
    client_id = _client_id(client)
    if client_id is None:
        return None
    subscribers = _subscribers(client_id, event_type, is_test)
    if not subscribers:
        return None
    if callable(payload):
        payload = payload()
    events = _write(event_type, client_id, [payload], is_test, subscribers)
    return events[0]


def emit_many(event_type: str, *, client, payloads, is_test: bool = False) -> list[WebhookEvent]:
    """`emit` for a batch of events of one type (recipients pushed or imported): one query for
    the subscriptions and one insert each for the events and their deliveries, whatever the
    batch's size. `payloads` is a list, or a function returning one (called only when somebody
    subscribed)."""
    if event_type not in WebhookEventType.values:
        raise ValueError(f"Unknown webhook event type {event_type!r}.")
    client_id = _client_id(client)
    if client_id is None or (not callable(payloads) and not payloads):
        return []
    subscribers = _subscribers(client_id, event_type, is_test)
    if not subscribers:
        return []
    if callable(payloads):
        payloads = payloads()
        if not payloads:
            return []
    return _write(event_type, client_id, payloads, is_test, subscribers)


def emit_test_event(*, subscription: WebhookSubscription, by=None) -> WebhookDelivery:
    """A `webhook.test` event for one subscription (its "Send test event" button), delivered and
    retried like any other, whatever the events it subscribed to."""
    with transaction.atomic():
        event = WebhookEvent.objects.create(
            client_id=subscription.client_id,
            event_type=TEST_EVENT,
            is_test=subscription.is_test,
            payload={
                "message": "A test event from Mike: your endpoint is reachable.",
                "subscription": str(subscription.pk),
                "sent_by": getattr(by, "email", None),
            },
        )
        deliveries = _deliver(event_ids=[event.pk], subscribers=[subscription])
    return deliveries[0]


def _write(event_type, client_id, payloads, is_test, subscribers) -> list[WebhookEvent]:
    events = WebhookEvent.objects.bulk_create(
        [
            WebhookEvent(
                client_id=client_id, event_type=event_type, is_test=is_test, payload=payload
            )
            for payload in payloads
        ]
    )
    _deliver(event_ids=[event.pk for event in events], subscribers=subscribers)
    return events


def _deliver(*, event_ids, subscribers, resent_from=None, by=None) -> list[WebhookDelivery]:
    now = timezone.now()
    deliveries = WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                subscription_id=subscription.pk,
                event_id=event_id,
                status=WebhookDeliveryStatus.PENDING,
                next_attempt_at=now,
                enqueued_at=now,
                give_up_at=give_up_at(now),
                resent_from=resent_from,
                resent_by=by,
            )
            for event_id in event_ids
            for subscription in subscribers
        ]
    )
    queue_after_commit([delivery.pk for delivery in deliveries])
    return deliveries


def queue_after_commit(delivery_ids) -> None:
    """Queue the sends once the transaction commits. A broker that is down loses nothing: the
    rows are pending and the sweep (mike.webhooks.sending.sweep) queues them again."""
    ids = [str(pk) for pk in delivery_ids]
    if not ids:
        return

    def queue():
        from .tasks import send_webhook_delivery

        for delivery_id in ids:
            try:
                send_webhook_delivery.delay(delivery_id)
            except Exception:
                logger.exception(
                    "Could not queue webhook delivery %s; the sweep will send it.", delivery_id
                )

    transaction.on_commit(queue, robust=True)
