"""Subscriptions, the outbox of events, and each subscription's deliveries and their attempts.

A change writes one `WebhookEvent` (the outbox row) and one `WebhookDelivery` per subscription
that wants it, in the change's own transaction; the rows are the truth and the Celery task only
their trigger. A delivery moves pending → sending → succeeded, or → failed (a retry is due at
`next_attempt_at`) → sending … until it succeeds or is `given_up` after WEBHOOK_RETRY_HOURS.
Every POST is one `WebhookAttempt`.
"""

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q

from mike.accounts.querysets import TenantQuerySet
from mike.core.crypto import decrypt, encrypt
from mike.core.models import CLIENT_ONLY, BaseModel, TimeOrderedModel, choices_constraint

from .catalogue import TEST_EVENT, WebhookEventType


class WebhookSubscriptionQuerySet(TenantQuerySet):
    def active(self):
        return self.filter(is_active=True)


class WebhookSubscription(BaseModel):
    """A URL of a client's that receives the events named in `events`, signed with `secret`.

    A test subscription (made with a test API key) receives the events of test data only, a live
    one those of live data only. Disabled by Mike (`disabled_at`, `disabled_reason`) once every
    delivery has failed for WEBHOOK_DISABLE_AFTER_HOURS; the owner enables it again."""

    client = models.ForeignKey(
        "accounts.Organization",
        on_delete=models.CASCADE,
        related_name="webhook_subscriptions",
        limit_choices_to=CLIENT_ONLY,
    )
    url = models.URLField("URL", max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    events = models.JSONField(default=list, help_text="The event types this URL receives.")
    secret_encrypted = models.TextField(editable=False)
    secret_last4 = models.CharField(max_length=4, editable=False)
    is_active = models.BooleanField(default=True)
    is_test = models.BooleanField(
        default=False, help_text="Made with a test API key: receives events of test data only."
    )
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    failing_since = models.DateTimeField(
        null=True, blank=True, help_text="The first failure since the last success."
    )
    last_success_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_by_key = models.ForeignKey(
        "accounts.ApiKey",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="webhook_subscriptions",
    )

    objects = WebhookSubscriptionQuerySet.as_manager()
    client_lookup = "client"

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["client", "is_active"], name="webhooksub_client_active")]
        constraints = [
            models.CheckConstraint(
                condition=Q(disabled_at__isnull=True) | Q(is_active=False),
                name="webhooksub_disabled_is_inactive",
            )
        ]

    def __str__(self):
        return self.url

    @property
    def secret(self) -> str:
        return decrypt(self.secret_encrypted)

    def set_secret(self, raw: str) -> None:
        self.secret_encrypted = encrypt(raw)
        self.secret_last4 = raw[-4:]

    def wants(self, event_type: str) -> bool:
        return event_type in (self.events or [])

    @property
    def event_labels(self) -> list[str]:
        return [event for event in WebhookEventType.values if event in (self.events or [])]


class WebhookEvent(TimeOrderedModel):
    """The outbox: one event of a client's, written in the transaction of the change it reports
    (so a rolled-back change leaves none) and only when a subscription wants it."""

    client = models.ForeignKey(
        "accounts.Organization",
        on_delete=models.CASCADE,
        related_name="webhook_events",
        limit_choices_to=CLIENT_ONLY,
    )
    event_type = models.CharField(max_length=60)
    is_test = models.BooleanField(default=False)
    payload = models.JSONField(encoder=DjangoJSONEncoder)

    objects = TenantQuerySet.as_manager()
    client_lookup = "client"

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(event_type__in=[*WebhookEventType.values, TEST_EVENT]),
                name="webhookevent_type_valid",
            )
        ]

    def __str__(self):
        return f"{self.event_type} {self.pk}"


class WebhookDeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed, will retry"
    GIVEN_UP = "given_up", "Given up"


class WebhookDelivery(TimeOrderedModel):
    """One event for one subscription. `X-Mike-Delivery` is this row's id; a resend is a new row
    (`resent_from`), so the receiver can tell a resend from a retry of the same delivery."""

    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(
        max_length=20, choices=WebhookDeliveryStatus.choices, default=WebhookDeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, help_text="When the next attempt is due (pending and failed)."
    )
    lease_expires_at = models.DateTimeField(
        null=True, blank=True, help_text="While sending: when the worker's hold lapses."
    )
    enqueued_at = models.DateTimeField(
        null=True, blank=True, help_text="When a send task was last queued (the sweep's marker)."
    )
    give_up_at = models.DateTimeField(
        help_text="No attempt starts after this (WEBHOOK_RETRY_HOURS after the first)."
    )
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)
    resent_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="resends"
    )
    resend_key = models.CharField(
        max_length=64,
        null=True,
        blank=True,
        unique=True,
        editable=False,
        help_text="The resend button's one-time key: a second submit of it resends nothing.",
    )
    resent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    objects = TenantQuerySet.as_manager()
    client_lookup = "subscription__client"

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            # The sweep: what is due, and what a dead worker left sending.
            models.Index(
                fields=["status", "next_attempt_at"],
                name="webhookdelivery_due",
                condition=Q(status__in=["pending", "sending", "failed"]),
            ),
            models.Index(fields=["subscription", "-created_at"], name="webhookdelivery_sub_recent"),
        ]
        constraints = [
            choices_constraint(
                "status", WebhookDeliveryStatus, name="webhookdelivery_status_valid"
            ),
            # One delivery of an event per subscription; resends are their own rows.
            models.UniqueConstraint(
                fields=["subscription", "event"],
                condition=Q(resent_from__isnull=True),
                name="webhookdelivery_once_per_subscription",
            ),
        ]

    def __str__(self):
        return f"{self.event.event_type} → {self.subscription.url}"

    @property
    def is_over(self) -> bool:
        return self.status in (WebhookDeliveryStatus.SUCCEEDED, WebhookDeliveryStatus.GIVEN_UP)


class WebhookAttempt(TimeOrderedModel):
    """One POST of a delivery: the answer's status code (None when there was no answer), the
    error, and how long it took."""

    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempts_made"
    )
    number = models.PositiveIntegerField()
    attempted_at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    succeeded = models.BooleanField(default=False)
    error = models.CharField(max_length=500, blank=True)
    response_excerpt = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    objects = TenantQuerySet.as_manager()
    client_lookup = "delivery__subscription__client"

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="webhookattempt_unique")
        ]

    def __str__(self):
        return f"attempt {self.number}: {self.status_code or self.error}"
