"""Staff alerts: what staff were told is wrong, kept apart from the audit log (which records what
happened to cards and money, not who was emailed about it)."""

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from mike.accounts.querysets import TenantQuerySet
from mike.core.models import CLIENT_ONLY, BaseModel, choices_constraint


class AlertKind(models.TextChoices):
    LOW_STOCK = "low_stock", "Low stock"
    LOW_CREDIT = "low_credit", "Low credit"
    PURCHASE_FAILED = "purchase_failed", "Provider purchase refused"
    PURCHASE_UNSETTLED = "purchase_unsettled", "Provider purchase unsettled"
    DELIVERY_FAILED = "delivery_failed", "Delivery failed"


class StaffAlertQuerySet(TenantQuerySet):
    def open(self):
        return self.filter(cleared_at__isnull=True)


class StaffAlert(BaseModel):
    """One problem staff were alerted about (giftcards.alerts), one row per problem `key` (what
    "the same problem" is: a pool, a credit account, a reward, a delivery).

    The monitor alerts a problem when it is new, again after ALERT_REPEAT_HOURS while it lasts, at
    once when it came back after clearing, got worse (`severity`) or failed anew (`occurrence`),
    and marks it cleared when it is no longer true. A dismissed problem is not repeated until it
    clears or gets worse.
    """

    key = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=20, choices=AlertKind.choices)
    client = models.ForeignKey(
        "accounts.Organization",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="staff_alerts",
        limit_choices_to=CLIENT_ONLY,
    )
    organization = models.CharField(max_length=200, help_text="Who the problem is about.")
    entity_type = models.CharField(max_length=50)
    entity_id = models.UUIDField()
    summary = models.TextField()
    admin_path = models.CharField(max_length=500, blank=True)
    severity = models.PositiveSmallIntegerField(default=0)
    occurrence = models.CharField(max_length=100, blank=True)
    facts = models.JSONField(default=dict, blank=True)
    first_alerted_at = models.DateTimeField(default=timezone.now)
    last_alerted_at = models.DateTimeField(default=timezone.now)
    times_alerted = models.PositiveIntegerField(default=1)
    emailed_to = models.JSONField(default=list, blank=True)
    cleared_at = models.DateTimeField(null=True, blank=True)
    dismissed_at = models.DateTimeField(null=True, blank=True)
    dismissed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="dismissed_alerts",
    )

    objects = StaffAlertQuerySet.as_manager()
    client_lookup = "client"

    class Meta:
        ordering = ["-last_alerted_at"]
        verbose_name = "staff alert"
        constraints = [
            choices_constraint("kind", AlertKind, name="staffalert_kind_valid"),
        ]
        indexes = [
            models.Index(
                fields=["last_alerted_at"],
                condition=Q(cleared_at__isnull=True),
                name="staffalert_open",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.organization}"

    @property
    def is_open(self) -> bool:
        return self.cleared_at is None

    def is_news(self, *, severity: int, occurrence: str, now) -> bool:
        """Whether a problem this row recorded, seen again now, should be alerted again."""
        if self.cleared_at is not None:
            return True  # it cleared and came back
        if severity > self.severity or occurrence != self.occurrence:
            return True  # worse than when last alerted, or a new failure of the same thing
        if self.dismissed_at is not None:
            return False
        return now - self.last_alerted_at >= timedelta(hours=settings.ALERT_REPEAT_HOURS)
