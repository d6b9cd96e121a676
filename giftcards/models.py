"""Gift card brands, pools and cards; rewards and their deliveries; the credit ledger and sales.

Invariants the database holds (services keep the rest):
- a card code is stored only encrypted (Fernet) and is unique through a keyed hash (`code_hash`);
- a recipient gets at most one reward per campaign condition, and a card backs at most one reward;
- pool counters, credit balances and ledger rows never go negative, and every ledger row satisfies
  balance_after = balance_before + amount.
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Round
from django.utils import timezone

from mike.accounts.querysets import TenantQuerySet
from mike.core.models import (
    CLIENT_ONLY,
    BaseModel,
    TimeOrderedModel,
    choices_constraint,
)
from mike.core.sms import SmsProvider

from . import crypto

MONEY = {"max_digits": 12, "decimal_places": 2}


def money_field(**kwargs):
    return models.DecimalField(**MONEY, **kwargs)


# --- Choices -----------------------------------------------------------------------------------


class BrandProvider(models.TextChoices):
    TILLO = "tillo", "Tillo"
    CSV_ONLY = "csv_only", "CSV upload only"


class BalanceCheckMethod(models.TextChoices):
    TILLO_API = "tillo_api", "Tillo API"
    MANUAL = "manual", "Manual"
    OTHER_API = "other_api", "Other API"
    NONE = "none", "None"


class BalanceCheckStatus(models.TextChoices):
    SUCCESS = "success", "Success"
    FAILED = "failed", "Failed"
    NOT_SUPPORTED = "not_supported", "Not supported"


class MetadataSource(models.TextChoices):
    AUTO_LOOKUP = "auto_lookup", "Automatic lookup"
    MANUAL = "manual", "Manual"
    TILLO = "tillo", "Tillo"


class PoolType(models.TextChoices):
    CSV = "csv", "CSV inventory"
    BUFFER = "buffer", "Provider buffer"
    API_CONFIG = "api_config", "API configuration"


class PurchaseMethod(models.TextChoices):
    CSV_ONLY = "csv_only", "Inventory only"
    API_ONLY = "api_only", "Provider only"
    FALLBACK = "fallback", "Inventory, then provider"


class PoolProvider(models.TextChoices):
    TILLO = "tillo", "Tillo"


class GiftCardStatus(models.TextChoices):
    AVAILABLE = "available", "Available"
    CLAIMED = "claimed", "Claimed"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"
    EXPIRED = "expired", "Expired"
    REVOKED = "revoked", "Revoked"


class CardDeliveryMethod(models.TextChoices):
    SMS = "sms", "SMS"
    EMAIL = "email", "Email"


class AssignmentSource(models.TextChoices):
    CALL_CENTER = "call_center", "Call center"
    LANDING_PAGE = "landing_page", "Landing page"
    FORM_SUBMISSION = "form_submission", "Form submission"
    API = "api", "API"
    MANUAL = "manual", "Manual"


class CardSource(models.TextChoices):
    CSV = "csv", "CSV upload"
    PROVIDER = "provider", "Bought from provider"
    TRANSFER = "transfer", "Transferred from another pool"


class RewardStatus(models.TextChoices):
    PENDING = "pending", "Pending approval or opt-in"
    AWAITING_STOCK = "awaiting_stock", "Awaiting stock"
    PURCHASE_PENDING = "purchase_pending", "Provider purchase pending"
    CLAIMED = "claimed", "Claimed"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"
    REJECTED = "rejected", "Rejected"
    REVOKED = "revoked", "Revoked"


class RewardDeliveryMethod(models.TextChoices):
    SMS = "sms", "SMS"
    EMAIL = "email", "Email"
    CALL_CENTER = "call_center", "Call center"
    API = "api", "API"


class RewardDeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"
    BOUNCED = "bounced", "Bounced"


class DeliveryStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"
    UNDELIVERED = "undelivered", "Undelivered"
    BOUNCED = "bounced", "Bounced"


class DeliveryFailureReason(models.TextChoices):
    """Why a delivery failed, as a value (the error message is for people). The opt-out reasons
    are the ones a delivery is resent for by itself when the number opts back in."""

    OPTED_OUT = "opted_out", "Recipient opted out"
    CARRIER_OPT_OUT = "carrier_opt_out", "Opted out at the carrier (21610)"
    SEND_ERROR = "send_error", "Send error"
    UNDELIVERED = "undelivered", "Reported undelivered"


OPT_OUT_FAILURE_REASONS = [DeliveryFailureReason.OPTED_OUT, DeliveryFailureReason.CARRIER_OPT_OUT]

# Deliveries the sweep still has to finish (a row in one of these states may be retried).
OPEN_DELIVERY_STATUSES = [DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.FAILED]


class CreditEntityType(models.TextChoices):
    PLATFORM = "platform", "Platform"
    AGENCY = "agency", "Agency"
    CLIENT = "client", "Client"


class TransactionType(models.TextChoices):
    ALLOCATION = "allocation", "Allocation"
    DEDUCTION = "deduction", "Deduction"
    REFUND = "refund", "Refund"
    TRANSFER_OUT = "transfer_out", "Transfer out"
    TRANSFER_IN = "transfer_in", "Transfer in"
    PURCHASE = "purchase", "Purchase"
    ADJUSTMENT = "adjustment", "Adjustment"
    REVERSAL = "reversal", "Reversal"


# --- Brands and pools --------------------------------------------------------------------------


class GiftCardBrandQuerySet(models.QuerySet):
    def enabled(self):
        """Brands a campaign may offer: active and switched on by platform staff."""
        return self.filter(is_active=True, is_enabled_by_admin=True)


class GiftCardBrand(BaseModel):
    """A gift card brand (seed: `gift_card_brands`). Platform data, not tenant data: every client
    sees the same catalogue. The seed's demo flag and duplicate colour JSON are folded away."""

    brand_name = models.CharField(max_length=100, unique=True)
    brand_code = models.SlugField(max_length=50, unique=True)
    provider = models.CharField(
        max_length=10, choices=BrandProvider.choices, default=BrandProvider.TILLO
    )
    tillo_brand_code = models.CharField(max_length=100, blank=True)
    logo_url = models.CharField(max_length=500, blank=True, help_text="A URL or a static path.")
    category = models.CharField(max_length=50, blank=True)
    typical_denominations = models.JSONField(
        default=list, blank=True, help_text="Whole-dollar values, e.g. [5, 10, 25]."
    )
    description = models.TextField(blank=True)
    website_url = models.URLField(blank=True)
    store_url = models.URLField(blank=True)
    terms_url = models.URLField(blank=True)
    brand_color = models.CharField(max_length=20, blank=True)
    redemption_instructions = models.TextField(blank=True)
    usage_restrictions = models.JSONField(default=list, blank=True)
    balance_check_enabled = models.BooleanField(default=False)
    balance_check_method = models.CharField(
        max_length=10, choices=BalanceCheckMethod.choices, default=BalanceCheckMethod.NONE
    )
    balance_check_url = models.URLField(blank=True)
    balance_check_config = models.JSONField(default=dict, blank=True)
    metadata_source = models.CharField(
        max_length=12, choices=MetadataSource.choices, default=MetadataSource.MANUAL
    )
    is_active = models.BooleanField(default=True)
    is_enabled_by_admin = models.BooleanField(
        default=True, help_text="Platform staff switch; off hides the brand from every client."
    )

    objects = GiftCardBrandQuerySet.as_manager()

    class Meta:
        ordering = ["brand_name"]
        verbose_name = "gift card brand"
        constraints = [
            choices_constraint("provider", BrandProvider, name="giftcardbrand_provider_valid"),
            choices_constraint(
                "balance_check_method",
                BalanceCheckMethod,
                name="giftcardbrand_balance_method_valid",
            ),
            choices_constraint(
                "metadata_source", MetadataSource, name="giftcardbrand_metadata_source_valid"
            ),
        ]

    def __str__(self):
        return self.brand_name


class GiftCardPoolQuerySet(TenantQuerySet):
    def active(self):
        return self.filter(is_active=True)

    def low_stock(self):
        return self.filter(available_cards__lte=F("low_stock_threshold"))

    def for_reward(self, *, client_id, brand_id, card_value):
        """The client's active pools a reward of this brand and value takes its card from, oldest
        first (claim_sql.lock_inputs reads the same in SQL)."""
        return self.filter(
            client_id=client_id,
            brand_id=brand_id,
            card_value=card_value,
            is_master_pool=False,
            is_active=True,
        ).order_by("created_at")


class GiftCardPool(BaseModel):
    """A client's inventory of one brand and value, or one of the platform's master pools that sell
    cards to clients (seed: `gift_card_pools`).

    The counters count the pool's cards by their current status (`total_cards` counts all of them);
    they are hot rows updated by the claim and import services under a row lock, and a management
    command checks them against the cards. A master pool has no client; every other pool has one.
    Pools hold money, so a client with pools cannot be deleted (PROTECT).
    """

    pool_name = models.CharField(max_length=200)
    pool_type = models.CharField(max_length=10, choices=PoolType.choices, default=PoolType.CSV)
    brand = models.ForeignKey(GiftCardBrand, on_delete=models.PROTECT, related_name="pools")
    card_value = money_field()
    currency = models.CharField(max_length=3, default="USD")
    client = models.ForeignKey(
        "accounts.Organization",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="gift_card_pools",
        limit_choices_to=CLIENT_ONLY,
        help_text="Empty only for the platform's master pools.",
    )
    is_master_pool = models.BooleanField(default=False)
    purchase_method = models.CharField(
        max_length=10, choices=PurchaseMethod.choices, default=PurchaseMethod.CSV_ONLY
    )
    provider = models.CharField(max_length=10, choices=PoolProvider.choices, blank=True)
    total_cards = models.PositiveIntegerField(default=0)
    available_cards = models.PositiveIntegerField(default=0)
    claimed_cards = models.PositiveIntegerField(default=0)
    delivered_cards = models.PositiveIntegerField(default=0)
    failed_cards = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    low_stock_threshold = models.PositiveIntegerField(default=10)
    buffer_target_quantity = models.PositiveIntegerField(default=0)
    buffer_refill_threshold = models.PositiveIntegerField(default=0)
    cost_per_card = money_field(null=True, blank=True)
    available_for_purchase = models.BooleanField(
        default=False, help_text="A master pool whose cards clients may buy."
    )
    sale_price_per_card = money_field(null=True, blank=True)
    markup_percentage = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    min_purchase_quantity = models.PositiveIntegerField(default=1)
    api_config = models.JSONField(default=dict, blank=True)
    auto_balance_check = models.BooleanField(default=False)
    balance_check_frequency_hours = models.PositiveIntegerField(default=24)
    last_balance_check = models.DateTimeField(null=True, blank=True)

    objects = GiftCardPoolQuerySet.as_manager()
    client_lookup = "client"

    class Meta:
        ordering = ["pool_name"]
        verbose_name = "gift card pool"
        constraints = [
            choices_constraint("pool_type", PoolType, name="giftcardpool_type_valid"),
            choices_constraint(
                "purchase_method", PurchaseMethod, name="giftcardpool_purchase_method_valid"
            ),
            choices_constraint(
                "provider", PoolProvider, name="giftcardpool_provider_valid", allow_blank=True
            ),
            models.CheckConstraint(
                condition=Q(card_value__gt=0), name="giftcardpool_card_value_positive"
            ),
            models.CheckConstraint(
                condition=Q(
                    total_cards__gte=0,
                    available_cards__gte=0,
                    claimed_cards__gte=0,
                    delivered_cards__gte=0,
                    failed_cards__gte=0,
                ),
                name="giftcardpool_counters_not_negative",
            ),
            models.CheckConstraint(
                condition=(Q(cost_per_card__isnull=True) | Q(cost_per_card__gte=0))
                & (Q(sale_price_per_card__isnull=True) | Q(sale_price_per_card__gte=0)),
                name="giftcardpool_prices_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(is_master_pool=True, client__isnull=True)
                | Q(is_master_pool=False, client__isnull=False),
                name="giftcardpool_master_has_no_client",
            ),
        ]
        indexes = [
            # The claim's pool lookup: the client's pool of a condition's brand and value.
            models.Index(
                fields=["client", "brand", "card_value"], name="giftcardpool_claim_lookup"
            ),
        ]

    def __str__(self):
        return f"{self.pool_name} (${self.card_value})"

    @property
    def is_low_stock(self) -> bool:
        return self.available_cards <= self.low_stock_threshold


# --- Cards -------------------------------------------------------------------------------------


class GiftCardQuerySet(TenantQuerySet):
    def available(self):
        return self.filter(status=GiftCardStatus.AVAILABLE)


class GiftCard(TimeOrderedModel):
    """One gift card (seed: `gift_cards`). The code, PIN and card number are bearer money: stored
    only as Fernet tokens (giftcards.crypto, rotatable keys), the code made unique through a keyed
    hash instead of the seed's UNIQUE on the clear `card_code`, and shown masked (last four)
    everywhere but the recipient's own card page. Brand and value are copied from the pool so the
    card keeps them if it moves.
    """

    # No index of its own (the base model's has one): the claim picks the oldest available card
    # of a pool, and with a plain created_at index beside giftcard_pool_available the planner
    # would often walk that index from the oldest card on, past every card already claimed, since
    # it assumes the available ones are spread evenly through it. Left with only the partial
    # index ordered by created_at, it cannot.
    created_at = models.DateTimeField(auto_now_add=True)
    pool = models.ForeignKey(GiftCardPool, on_delete=models.PROTECT, related_name="cards")
    brand = models.ForeignKey(GiftCardBrand, on_delete=models.PROTECT, related_name="cards")
    card_value = money_field()
    code_encrypted = models.TextField(editable=False)
    code_hash = models.CharField(max_length=64, unique=True, editable=False)
    code_last4 = models.CharField(max_length=4, editable=False)
    pin_encrypted = models.TextField(blank=True, editable=False)
    card_number_encrypted = models.TextField(blank=True, editable=False)
    expiration_date = models.DateField(null=True, blank=True)
    status = models.CharField(
        max_length=10, choices=GiftCardStatus.choices, default=GiftCardStatus.AVAILABLE
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    claimed_by_recipient = models.ForeignKey(
        "recipients.Recipient",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="claimed_gift_cards",
    )
    claimed_by_call_session = models.ForeignKey(
        "calls.CallSession",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="claimed_gift_cards",
    )
    delivered_at = models.DateTimeField(null=True, blank=True)
    delivery_method = models.CharField(
        max_length=10, choices=CardDeliveryMethod.choices, blank=True
    )
    delivery_address = models.CharField(max_length=255, blank=True)
    current_balance = money_field(null=True, blank=True)
    last_balance_check = models.DateTimeField(null=True, blank=True)
    balance_check_status = models.CharField(
        max_length=15, choices=BalanceCheckStatus.choices, blank=True
    )
    assignment_source = models.CharField(
        max_length=20, choices=AssignmentSource.choices, blank=True
    )
    assignment_campaign = models.ForeignKey(
        "campaigns.Campaign",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_gift_cards",
    )
    assignment_condition = models.ForeignKey(
        "campaigns.CampaignCondition",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_gift_cards",
    )
    source = models.CharField(max_length=10, choices=CardSource.choices, default=CardSource.CSV)
    provider_order_id = models.CharField(max_length=100, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="uploaded_gift_cards",
    )

    objects = GiftCardQuerySet.as_manager()
    client_lookup = "pool__client"

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "gift card"
        constraints = [
            choices_constraint("status", GiftCardStatus, name="giftcard_status_valid"),
            choices_constraint(
                "delivery_method",
                CardDeliveryMethod,
                name="giftcard_delivery_method_valid",
                allow_blank=True,
            ),
            choices_constraint(
                "balance_check_status",
                BalanceCheckStatus,
                name="giftcard_balance_status_valid",
                allow_blank=True,
            ),
            choices_constraint(
                "assignment_source",
                AssignmentSource,
                name="giftcard_assignment_source_valid",
                allow_blank=True,
            ),
            choices_constraint("source", CardSource, name="giftcard_source_valid"),
            models.CheckConstraint(condition=Q(card_value__gt=0), name="giftcard_value_positive"),
            models.CheckConstraint(
                condition=~Q(status=GiftCardStatus.CLAIMED) | Q(claimed_at__isnull=False),
                name="giftcard_claimed_has_claimed_at",
            ),
        ]
        indexes = [
            models.Index(fields=["status"], name="giftcard_status"),
            models.Index(fields=["pool", "status"], name="giftcard_pool_status"),
            # The claim's `SELECT … FOR UPDATE SKIP LOCKED` scan: oldest available card of a pool.
            models.Index(
                fields=["pool", "created_at"],
                condition=Q(status=GiftCardStatus.AVAILABLE),
                name="giftcard_pool_available",
            ),
        ]

    def __str__(self):
        # Only use the brand when it is already loaded: other apps' admin lists show cards by
        # their str() and must not run a query per row.
        brand = self.brand.brand_name if GiftCard.brand.is_cached(self) else "Gift card"
        return f"{brand} ${self.card_value} {self.masked_code}"

    def set_code(self, code: str) -> None:
        """Store `code` encrypted, with its keyed hash (uniqueness, look-up) and last four."""
        code = code.strip()
        normalized = crypto.normalize_code(code)
        if not normalized:
            raise ValueError("A gift card code cannot be empty.")
        self.code_encrypted = crypto.encrypt(code)
        self.code_hash = crypto.code_hash(code)
        self.code_last4 = normalized[-4:]

    @property
    def code(self) -> str:
        """The clear code (decrypts). Show it only to the recipient or a permitted admin."""
        return crypto.decrypt(self.code_encrypted) if self.code_encrypted else ""

    @property
    def masked_code(self) -> str:
        return f"{crypto.MASK} {self.code_last4}" if self.code_last4 else crypto.MASK

    def set_pin(self, pin: str) -> None:
        pin = (pin or "").strip()
        self.pin_encrypted = crypto.encrypt(pin) if pin else ""

    @property
    def pin(self) -> str:
        return crypto.decrypt(self.pin_encrypted) if self.pin_encrypted else ""

    def set_card_number(self, number: str) -> None:
        number = (number or "").strip()
        self.card_number_encrypted = crypto.encrypt(number) if number else ""

    @property
    def card_number(self) -> str:
        return crypto.decrypt(self.card_number_encrypted) if self.card_number_encrypted else ""

    @property
    def has_pin(self) -> bool:
        return bool(self.pin_encrypted)

    @property
    def is_available(self) -> bool:
        return self.status == GiftCardStatus.AVAILABLE


# --- Rewards and deliveries --------------------------------------------------------------------


class RecipientGiftCard(TimeOrderedModel):
    """The reward a recipient earns by meeting one campaign condition (seed: `recipient_gift_cards`).

    One per recipient and condition (UNIQUE), created `pending` when the condition is met; brand and
    value are copied from the condition then, so editing the campaign later changes no promise
    already made. A card backs at most one reward (one-to-one), and a claimed or delivered reward
    always has its card. `provider_request_id` is the idempotency key of a provider purchase: a
    retried purchase reuses it, so a lost answer never buys twice.
    """

    recipient = models.ForeignKey(
        "recipients.Recipient", on_delete=models.CASCADE, related_name="rewards"
    )
    campaign = models.ForeignKey(
        "campaigns.Campaign", on_delete=models.PROTECT, related_name="rewards"
    )
    condition = models.ForeignKey(
        "campaigns.CampaignCondition", on_delete=models.PROTECT, related_name="rewards"
    )
    gift_card = models.OneToOneField(
        GiftCard, null=True, blank=True, on_delete=models.SET_NULL, related_name="reward"
    )
    status = models.CharField(
        max_length=20, choices=RewardStatus.choices, default=RewardStatus.PENDING
    )
    brand = models.ForeignKey(GiftCardBrand, on_delete=models.PROTECT, related_name="rewards")
    card_value = money_field()
    assigned_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    delivery_method = models.CharField(
        max_length=15, choices=RewardDeliveryMethod.choices, blank=True
    )
    delivery_status = models.CharField(
        max_length=10, choices=RewardDeliveryStatus.choices, default=RewardDeliveryStatus.PENDING
    )
    delivery_address = models.CharField(max_length=255, blank=True)
    delivery_error = models.TextField(blank=True)
    provider_request_id = models.CharField(max_length=100, unique=True, null=True, blank=True)
    purchase_attempts = models.PositiveIntegerField(default=0)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.TextField(blank=True)

    objects = TenantQuerySet.as_manager()
    client_lookup = "recipient__audience__client"

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "recipient reward"
        constraints = [
            models.UniqueConstraint(
                fields=["recipient", "condition"], name="recipientgiftcard_one_per_condition"
            ),
            choices_constraint("status", RewardStatus, name="recipientgiftcard_status_valid"),
            choices_constraint(
                "delivery_method",
                RewardDeliveryMethod,
                name="recipientgiftcard_delivery_method_valid",
                allow_blank=True,
            ),
            choices_constraint(
                "delivery_status",
                RewardDeliveryStatus,
                name="recipientgiftcard_delivery_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(card_value__gt=0), name="recipientgiftcard_value_positive"
            ),
            models.CheckConstraint(
                condition=Q(purchase_attempts__gte=0),
                name="recipientgiftcard_attempts_not_negative",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=[RewardStatus.CLAIMED, RewardStatus.DELIVERED])
                | Q(gift_card__isnull=False),
                name="recipientgiftcard_claimed_has_card",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "created_at"], name="recipientgiftcard_status"),
            models.Index(fields=["campaign", "status"], name="recipientgiftcard_campaign"),
        ]

    def __str__(self):
        return f"${self.card_value} reward ({self.get_status_display()})"

    @property
    def is_revoked(self) -> bool:
        return self.status == RewardStatus.REVOKED


class GiftCardDeliveryQuerySet(TenantQuerySet):
    def open(self):
        """Deliveries not finished yet: the sweep re-queues those stuck too long."""
        return self.filter(status__in=OPEN_DELIVERY_STATUSES)


class GiftCardDelivery(TimeOrderedModel):
    """One attempt to send a reward's card by SMS or email (seed: `gift_card_deliveries`).

    The row is written, `queued`, in the same transaction as the claim, before any task is queued:
    the database is the source of truth and the sweep (status, next_attempt_at) re-queues what a
    lost message or dead worker left behind. Twilio's message SID is unique, so a duplicate status
    callback finds the same row. `sms_message` is stored with the code masked.
    """

    reward = models.ForeignKey(
        RecipientGiftCard, on_delete=models.PROTECT, related_name="deliveries"
    )
    gift_card = models.ForeignKey(GiftCard, on_delete=models.PROTECT, related_name="deliveries")
    recipient = models.ForeignKey(
        "recipients.Recipient", on_delete=models.PROTECT, related_name="gift_card_deliveries"
    )
    campaign = models.ForeignKey(
        "campaigns.Campaign",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="gift_card_deliveries",
    )
    call_session = models.ForeignKey(
        "calls.CallSession",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="gift_card_deliveries",
    )
    condition_number = models.PositiveSmallIntegerField(null=True, blank=True)
    delivery_method = models.CharField(
        max_length=10, choices=CardDeliveryMethod.choices, default=CardDeliveryMethod.SMS
    )
    delivery_address = models.CharField(max_length=255, help_text="Phone (E.164) or email.")
    status = models.CharField(
        max_length=12, choices=DeliveryStatus.choices, default=DeliveryStatus.QUEUED
    )
    twilio_message_sid = models.CharField(max_length=64, null=True, blank=True)
    sms_message = models.TextField(blank=True, help_text="The message sent, with the code masked.")
    sms_status = models.CharField(
        max_length=30, blank=True, help_text="Twilio's last reported message status, as sent."
    )
    sms_sent_at = models.DateTimeField(null=True, blank=True)
    error_message = models.TextField(blank=True)
    failure_reason = models.CharField(
        max_length=20,
        choices=DeliveryFailureReason.choices,
        blank=True,
        help_text="Why the delivery last failed; cleared once it is sent or retried by staff.",
    )
    retry_count = models.PositiveIntegerField(default=0)
    max_retries = models.PositiveSmallIntegerField(default=5)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    objects = GiftCardDeliveryQuerySet.as_manager()
    client_lookup = "recipient__audience__client"

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "gift card delivery"
        verbose_name_plural = "gift card deliveries"
        constraints = [
            choices_constraint("status", DeliveryStatus, name="giftcarddelivery_status_valid"),
            choices_constraint(
                "delivery_method", CardDeliveryMethod, name="giftcarddelivery_method_valid"
            ),
            choices_constraint(
                "failure_reason",
                DeliveryFailureReason,
                name="giftcarddelivery_failure_reason_valid",
                allow_blank=True,
            ),
            models.UniqueConstraint(
                fields=["twilio_message_sid"],
                condition=Q(twilio_message_sid__isnull=False),
                name="giftcarddelivery_unique_sid",
            ),
            models.CheckConstraint(
                condition=Q(retry_count__gte=0, max_retries__gte=0),
                name="giftcarddelivery_retries_not_negative",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="giftcarddelivery_sweep"),
            models.Index(
                fields=["updated_at"],
                condition=Q(status__in=OPEN_DELIVERY_STATUSES),
                name="giftcarddelivery_open",
            ),
        ]

    def __str__(self):
        return f"{self.get_delivery_method_display()} delivery ({self.status})"

    @property
    def can_retry(self) -> bool:
        return self.retry_count < self.max_retries


class SmsDeliveryLog(TimeOrderedModel):
    """Every SMS sent for a card delivery and what the provider said (seed: `sms_delivery_log`).
    Append-only; the message body holds the code masked. Rows survive the deletion of what they
    recorded (SET_NULL)."""

    delivery = models.ForeignKey(
        GiftCardDelivery,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="sms_logs",
    )
    recipient = models.ForeignKey(
        "recipients.Recipient",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="sms_delivery_logs",
    )
    gift_card = models.ForeignKey(
        GiftCard, null=True, blank=True, on_delete=models.SET_NULL, related_name="sms_logs"
    )
    campaign = models.ForeignKey(
        "campaigns.Campaign",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="sms_delivery_logs",
    )
    phone_number = models.CharField(max_length=32)
    message_body = models.TextField(blank=True)
    delivery_status = models.CharField(
        max_length=12, choices=DeliveryStatus.choices, default=DeliveryStatus.QUEUED
    )
    twilio_message_sid = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    retry_count = models.PositiveIntegerField(default=0)
    last_retry_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    provider_used = models.CharField(max_length=10, choices=SmsProvider.choices)

    objects = TenantQuerySet.as_manager()
    client_lookup = "recipient__audience__client"

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "SMS delivery log"
        constraints = [
            choices_constraint(
                "delivery_status", DeliveryStatus, name="smsdeliverylog_status_valid"
            ),
            choices_constraint("provider_used", SmsProvider, name="smsdeliverylog_provider_valid"),
        ]
        indexes = [
            models.Index(fields=["twilio_message_sid"], name="smsdeliverylog_sid"),
        ]

    def __str__(self):
        return f"SMS to {self.phone_number} ({self.delivery_status})"


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
    action = models.CharField(max_length=50)
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
