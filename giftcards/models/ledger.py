"""The money: credit accounts, the ledger and card sales."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Round

from mike.accounts.querysets import TenantQuerySet
from mike.core.models import (
    CLIENT_ONLY,
    BaseModel,
    TimeOrderedModel,
    choices_constraint,
)

from .choices import (
    CreditEntityType,
    TransactionType,
    money_field,
)
from .inventory import GiftCardPool
from .rewards import RecipientGiftCard

# --- Credit ledger and sales -------------------------------------------------------------------


class CreditAccount(BaseModel):
    """An organization's prepaid credit, or the platform's own account (seed: `credit_accounts`).

    `balance` never goes negative (CHECK): a debit that would overdraw it is refused, unlike the
    seed's warnings. Every change is a CreditTransaction row written in the same transaction, so
    the balance can be recomputed from the ledger. Exactly one platform account exists, and only it
    has no organization. The seed's Stripe fields are dropped (no card payments in Mike).
    """

    organization = models.OneToOneField(
        "accounts.Organization",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="credit_account",
    )
    entity_type = models.CharField(max_length=10, choices=CreditEntityType.choices)
    balance = money_field(default=Decimal("0.00"))
    reserved_balance = money_field(default=Decimal("0.00"))
    currency = models.CharField(max_length=3, default="USD")
    low_balance_threshold = money_field(
        default=Decimal("0.00"),
        help_text="Alert staff when the balance is at or below this. $0.00 turns that alert off; "
        "a claim refused for lack of credit is alerted all the same.",
    )
    auto_reload_enabled = models.BooleanField(default=False)
    auto_reload_threshold = money_field(null=True, blank=True)
    auto_reload_amount = money_field(null=True, blank=True)
    last_auto_reload_at = models.DateTimeField(null=True, blank=True)
    auto_reload_failure_count = models.PositiveIntegerField(default=0)

    objects = TenantQuerySet.as_manager()
    client_lookup = "organization"

    class Meta:
        ordering = ["entity_type", "-created_at"]
        verbose_name = "credit account"
        constraints = [
            choices_constraint("entity_type", CreditEntityType, name="creditaccount_type_valid"),
            models.CheckConstraint(
                condition=Q(balance__gte=0), name="creditaccount_balance_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(reserved_balance__gte=0),
                name="creditaccount_reserved_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(entity_type=CreditEntityType.PLATFORM, organization__isnull=True)
                | (~Q(entity_type=CreditEntityType.PLATFORM) & Q(organization__isnull=False)),
                name="creditaccount_platform_has_no_org",
            ),
            models.UniqueConstraint(
                fields=["entity_type"],
                condition=Q(entity_type=CreditEntityType.PLATFORM),
                name="creditaccount_one_platform",
            ),
        ]

    def __str__(self):
        if self.organization_id is None:
            return "Platform credit account"
        return f"{self.organization.name} credit account"

    @property
    def available_balance(self) -> Decimal:
        return self.balance - self.reserved_balance

    @property
    def is_low(self) -> bool:
        return self.low_balance_threshold > 0 and self.balance <= self.low_balance_threshold


# Accounts at or below their low-balance threshold; a threshold of zero means no alert, so that
# every client not yet funded is not "low" from its first day.
LOW_BALANCE = Q(low_balance_threshold__gt=0, balance__lte=F("low_balance_threshold"))


class CreditTransaction(TimeOrderedModel):
    """One ledger row (seed: `credit_transactions`). Append-only. `amount` is signed: credits
    positive, debits negative; the row records the balance before and after, which the database
    ties together (balance_after = balance_before + amount, never negative)."""

    account = models.ForeignKey(
        CreditAccount, on_delete=models.PROTECT, related_name="transactions"
    )
    transaction_type = models.CharField(max_length=15, choices=TransactionType.choices)
    amount = money_field()
    balance_before = money_field()
    balance_after = money_field()
    reference_type = models.CharField(
        max_length=50, blank=True, help_text="What caused it, e.g. gift_card_sale, reward."
    )
    reference_id = models.UUIDField(null=True, blank=True)
    from_account = models.ForeignKey(
        CreditAccount,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="transfers_sent",
    )
    to_account = models.ForeignKey(
        CreditAccount,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="transfers_received",
    )
    description = models.CharField(max_length=255, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="credit_transactions",
    )

    objects = TenantQuerySet.as_manager()
    client_lookup = "account__organization"

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "credit transaction"
        constraints = [
            choices_constraint(
                "transaction_type", TransactionType, name="credittransaction_type_valid"
            ),
            models.CheckConstraint(
                condition=Q(balance_before__gte=0, balance_after__gte=0),
                name="credittransaction_not_negative",
            ),
            # Round() makes the equation hold on SQLite too, whose decimals are floating point
            # (0.1 + 0.2 != 0.3); on PostgreSQL numeric it is exact either way.
            models.CheckConstraint(
                condition=Q(balance_after=Round(F("balance_before") + F("amount"), 2)),
                name="credittransaction_balance_adds_up",
            ),
        ]
        indexes = [
            models.Index(fields=["account", "created_at"], name="credittransaction_account"),
            models.Index(fields=["reference_type", "reference_id"], name="credittransaction_ref"),
        ]

    def __str__(self):
        return f"{self.get_transaction_type_display()} {self.amount:+} {self.created_at:%Y-%m-%d}"

    @property
    def is_debit(self) -> bool:
        return self.amount < 0


class GiftCardSale(TimeOrderedModel):
    """Cards sold to a client (seed: `gift_card_sales`): from a master pool to the client's pool,
    or the one card a claim charged for. The sale, its ledger row and the cards' move commit
    together. Cost basis defaults to 95 % of face value in the service; margin is what the platform
    earned (total - cost × quantity)."""

    client = models.ForeignKey(
        "accounts.Organization",
        on_delete=models.PROTECT,
        related_name="gift_card_sales",
        limit_choices_to=CLIENT_ONLY,
    )
    pool = models.ForeignKey(
        GiftCardPool,
        on_delete=models.PROTECT,
        related_name="sales",
        help_text="The client pool that received or used the cards.",
    )
    source_pool = models.ForeignKey(
        GiftCardPool,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="sales_from",
        help_text="The master pool the cards came from.",
    )
    reward = models.OneToOneField(
        RecipientGiftCard,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="sale",
    )
    quantity = models.PositiveIntegerField(default=1)
    price_per_card = money_field()
    total_amount = money_field()
    cost_per_card = money_field(null=True, blank=True)
    margin = money_field(null=True, blank=True)
    currency = models.CharField(max_length=3, default="USD")
    sold_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="gift_card_sales",
    )
    notes = models.TextField(blank=True)
    credit_transaction = models.ForeignKey(
        CreditTransaction,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="gift_card_sales",
    )

    objects = TenantQuerySet.as_manager()
    client_lookup = "client"

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "gift card sale"
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=1), name="giftcardsale_quantity_min"),
            models.CheckConstraint(
                condition=Q(price_per_card__gte=0, total_amount__gte=0),
                name="giftcardsale_amounts_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(cost_per_card__isnull=True) | Q(cost_per_card__gte=0),
                name="giftcardsale_cost_not_negative",
            ),
        ]
        indexes = [
            models.Index(fields=["client", "created_at"], name="giftcardsale_client"),
        ]

    def __str__(self):
        return f"{self.quantity} × ${self.price_per_card} = ${self.total_amount}"
