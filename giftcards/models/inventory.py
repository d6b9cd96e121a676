"""The stock: brands, pools and the cards in them."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from mike.accounts.querysets import TenantQuerySet
from mike.core.models import (
    CLIENT_ONLY,
    BaseModel,
    TimeOrderedModel,
    choices_constraint,
)

from .. import crypto
from .choices import (
    AssignmentSource,
    BalanceCheckMethod,
    BalanceCheckStatus,
    BrandProvider,
    CardDeliveryMethod,
    CardSource,
    GiftCardStatus,
    MetadataSource,
    PoolProvider,
    PoolType,
    PurchaseMethod,
    money_field,
)

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
        # Declared for itself, so no role gets it by the "view_" prefix (accounts.services): the
        # dashboards show a full code only to staff holding it, each reveal audited.
        permissions = [("view_card_code", "Can reveal full gift card codes")]
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
        self.code_encrypted, self.code_hash, self.code_last4 = self.sealed_code(code)

    @staticmethod
    def sealed_code(code: str, encrypt=None) -> tuple[str, str, str]:
        """(code_encrypted, code_hash, code_last4) of `code`, as set_code stores them; `encrypt`
        is crypto.encrypter() held by a caller sealing many codes."""
        code = code.strip()
        normalized = crypto.normalize_code(code)
        if not normalized:
            raise ValueError("A gift card code cannot be empty.")
        return (encrypt or crypto.encrypt)(code), crypto.code_hash(code), normalized[-4:]

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
