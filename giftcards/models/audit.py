"""The append-only trails of the stock: the gift card audit log and balance checks."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from mike.accounts.querysets import TenantQuerySet
from mike.core.models import (
    CLIENT_ONLY,
    TimeOrderedModel,
    choices_constraint,
)

from .choices import (
    BalanceCheckMethod,
    BalanceCheckStatus,
    GiftCardAuditAction,
    money_field,
)
from .inventory import GiftCard


class GiftCardAuditLog(TimeOrderedModel):
    """Who did what to a card, pool, reward or sale (seed: `gift_card_audit_log`). Append-only.
    The seed scoped nothing; `client` (kept when the client goes) scopes rows to a tenant."""

    client = models.ForeignKey(
        "accounts.Organization",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="gift_card_audit_logs",
        limit_choices_to=CLIENT_ONLY,
    )
    action = models.CharField(max_length=50, choices=GiftCardAuditAction.choices)
    entity_type = models.CharField(max_length=50)
    entity_id = models.UUIDField()
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="gift_card_audit_logs",
    )
    changes = models.JSONField(default=dict, blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    objects = TenantQuerySet.as_manager()
    client_lookup = "client"

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "gift card audit log entry"
        verbose_name_plural = "gift card audit log"
        constraints = [
            choices_constraint("action", GiftCardAuditAction, name="giftcardauditlog_action_valid"),
        ]
        indexes = [
            models.Index(fields=["entity_type", "entity_id"], name="giftcardauditlog_entity"),
        ]

    def __str__(self):
        return f"{self.action} {self.entity_type} {self.entity_id}"


class GiftCardBalanceHistory(TimeOrderedModel):
    """One balance check of a card (seed: `gift_card_balance_history`). Append-only."""

    gift_card = models.ForeignKey(
        GiftCard, on_delete=models.CASCADE, related_name="balance_history"
    )
    previous_balance = money_field(null=True, blank=True)
    new_balance = money_field(null=True, blank=True)
    change_amount = money_field(null=True, blank=True)
    checked_at = models.DateTimeField(default=timezone.now)
    check_method = models.CharField(
        max_length=10, choices=BalanceCheckMethod.choices, default=BalanceCheckMethod.MANUAL
    )
    status = models.CharField(
        max_length=15, choices=BalanceCheckStatus.choices, default=BalanceCheckStatus.SUCCESS
    )
    error_message = models.TextField(blank=True)

    objects = TenantQuerySet.as_manager()
    client_lookup = "gift_card__pool__client"

    class Meta:
        ordering = ["-checked_at"]
        verbose_name = "gift card balance check"
        verbose_name_plural = "gift card balance history"
        constraints = [
            choices_constraint(
                "check_method", BalanceCheckMethod, name="giftcardbalance_method_valid"
            ),
            choices_constraint("status", BalanceCheckStatus, name="giftcardbalance_status_valid"),
        ]
        indexes = [
            models.Index(fields=["gift_card", "checked_at"], name="giftcardbalance_card_checked"),
        ]

    def __str__(self):
        return f"Balance check {self.checked_at:%Y-%m-%d %H:%M} ({self.status})"
