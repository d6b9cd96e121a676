"""Every write of a subscription: create, change, enable, rotate the secret, delete, resend a
delivery, send a test event. The dashboard and the API call these; the admin's actions too.
And the webhooks' part of a recipient's erasure (`erase_person`)."""

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.db.models import Q

from mike.core import redaction
from mike.core.errors import DomainError

from .catalogue import WebhookEventType
from .models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEvent,
    WebhookSubscription,
)
from .outbox import _deliver, emit_test_event
from .signing import generate_secret
from .urls_check import UnsafeUrl, check_url

MAX_SUBSCRIPTIONS_PER_CLIENT = 20
CHANGEABLE = frozenset({"url", "events", "description", "is_active"})


class SubscriptionInvalid(DomainError, ValidationError):
    """Field errors of a subscription: `message_dict` maps each field to its messages."""

    def __init__(self, errors: dict[str, list[str]]):
        ValidationError.__init__(self, errors)
        self.errors = errors

    def __str__(self):
        return " ".join(message for messages in self.errors.values() for message in messages)


class ResendRefused(DomainError):
    """The delivery cannot be resent now; the message says why."""


def clean_url(url) -> str:
    url = str(url or "").strip()
    if not url:
        raise SubscriptionInvalid({"url": ["Give the URL Mike posts events to."]})
    if len(url) > 2000:
        raise SubscriptionInvalid({"url": ["The URL is longer than 2,000 characters."]})
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise SubscriptionInvalid(
            {"url": ["Enter a full URL, such as https://example.com/hooks/mike."]}
        ) from None
    try:
        check_url(url)
    except UnsafeUrl as error:
        raise SubscriptionInvalid({"url": [str(error)]}) from None
    return url


def clean_events(events) -> list[str]:
    if not isinstance(events, list | tuple) or not events:
        raise SubscriptionInvalid({"events": ["Choose at least one event."]})
    unknown = [str(event) for event in events if event not in WebhookEventType.values]
    if unknown:
        raise SubscriptionInvalid(
            {"events": [f"Unknown event type: {', '.join(sorted(set(unknown)))[:200]}."]}
        )
    wanted = set(events)
    return [event for event in WebhookEventType.values if event in wanted]


def create_subscription(
    *,
    client,
    url: str,
    events: list[str],
    description: str = "",
    by=None,
    api_key=None,
    is_test: bool = False,
) -> tuple[WebhookSubscription, str]:
    """A new active subscription of `client`; returns it and its secret (shown to the owner now
    and on demand in the dashboard; the API returns it on creation only). Raises
    SubscriptionInvalid with field errors."""
    url = clean_url(url)
    events = clean_events(events)
    description = str(description or "").strip()[:200]
    with transaction.atomic():
        count = WebhookSubscription.objects.filter(client=client).count()
        if count >= MAX_SUBSCRIPTIONS_PER_CLIENT:
            raise SubscriptionInvalid(
                {
                    "non_field_errors": [
                        f"A client may have {MAX_SUBSCRIPTIONS_PER_CLIENT} webhooks; delete one first."
                    ]
                }
            )
        secret = generate_secret()
        subscription = WebhookSubscription(
            client=client,
            url=url,
            events=events,
            description=description,
            created_by=by,
            created_by_key=api_key,
            is_test=is_test,
        )
        subscription.set_secret(secret)
        subscription.save()
    return subscription, secret


@transaction.atomic
def update_subscription(*, subscription: WebhookSubscription, **changes) -> WebhookSubscription:
    """Change the URL, events, description or active flag. Switching it on again clears the
    disabling and the failure clock (the next failure starts a new day's count)."""
    unknown = set(changes) - CHANGEABLE
    if unknown:
        raise TypeError(f"update_subscription got unknown fields {sorted(unknown)}")
    locked = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
    fields = set()
    if "url" in changes:
        locked.url = clean_url(changes["url"])
        fields.add("url")
    if "events" in changes:
        locked.events = clean_events(changes["events"])
        fields.add("events")
    if "description" in changes:
        locked.description = str(changes["description"] or "").strip()[:200]
        fields.add("description")
    if "is_active" in changes and bool(changes["is_active"]) != locked.is_active:
        locked.is_active = bool(changes["is_active"])
        if locked.is_active:
            locked.disabled_at = None
            locked.disabled_reason = ""
            locked.failing_since = None
        fields |= {"is_active", "disabled_at", "disabled_reason", "failing_since"}
    if fields:
        locked.save(update_fields=[*fields, "updated_at"])
    return locked


def enable_subscription(*, subscription: WebhookSubscription) -> WebhookSubscription:
    return update_subscription(subscription=subscription, is_active=True)


@transaction.atomic
def rotate_secret(*, subscription: WebhookSubscription) -> str:
    """A new secret, in force for every attempt from now on; returns it."""
    locked = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
    secret = generate_secret()
    locked.set_secret(secret)
    locked.save(update_fields=["secret_encrypted", "secret_last4", "updated_at"])
    return secret


@transaction.atomic
def delete_subscription(*, subscription: WebhookSubscription) -> None:
    """Delete the subscription with its deliveries and attempts. A send already under way ends
    with its attempt and records nothing."""
    WebhookSubscription.objects.filter(pk=subscription.pk).delete()


def resend_delivery(
    *, delivery: WebhookDelivery, by=None, key: str | None = None
) -> WebhookDelivery:
    """A new delivery of the same event to the same subscription, sent at once and retried like
    the first. `key` (the button's one-time key) makes a double submit resend once: the second
    gets the first's new delivery. Refuses (ResendRefused) while the subscription is disabled or
    while the delivery itself is still being tried."""
    key = (key or "")[:64] or None
    if key is not None:
        earlier = WebhookDelivery.objects.filter(resend_key=key).first()
        if earlier is not None:
            return earlier
    subscription = delivery.subscription
    if not subscription.is_active:
        raise ResendRefused("Enable the webhook before resending to it.")
    if delivery.status in (WebhookDeliveryStatus.PENDING, WebhookDeliveryStatus.SENDING):
        raise ResendRefused("This delivery is being sent now; wait for its answer.")
    try:
        with transaction.atomic():
            created = _deliver(
                event_ids=[delivery.event_id],
                subscribers=[subscription],
                resent_from=delivery,
                by=by,
            )[0]
            if key is not None:
                WebhookDelivery.objects.filter(pk=created.pk).update(resend_key=key)
                created.resend_key = key
    except IntegrityError:
        # The same key's other submit committed first: answer with its delivery.
        return WebhookDelivery.objects.get(resend_key=key)
    return created


def send_test_event(*, subscription: WebhookSubscription, by=None) -> WebhookDelivery:
    if not subscription.is_active:
        raise ResendRefused("Enable the webhook before sending it a test event.")
    return emit_test_event(subscription=subscription, by=by)


def erase_person(*, client_id, recipient_id) -> int:
    """The webhooks' part of a recipient's erasure: the stored payload of every event of the
    client about them (a `recipient.*` event is theirs, another event names them as its
    `recipient`) keeps its ids, statuses, times and amounts and loses their name, phone, email,
    address, custom fields, replies, form answers, caller number and recording
    (mike.core.redaction.about_person); what the receivers answered to those deliveries (which
    can echo the payload) is blanked. A delivery still to be sent, or resent later, sends the
    redacted payload. How many rows were changed."""
    person = str(recipient_id)
    about = (
        Q(payload__recipient=person)
        | Q(payload__recipient__id=person)
        | Q(event_type__startswith="recipient.", payload__id=person)
    )
    changed = 0
    events = []
    for event in WebhookEvent.objects.filter(client_id=client_id).filter(about).only("payload"):
        redacted = redaction.about_person(event.payload, person_id=person)
        if redacted != event.payload:
            WebhookEvent.objects.filter(pk=event.pk).update(payload=redacted)
            changed += 1
        events.append(event.pk)
    changed += (
        WebhookAttempt.objects.filter(delivery__event_id__in=events)
        .exclude(response_excerpt="")
        .update(response_excerpt="")
    )
    return changed
