"""What a recipient is owed and how it reaches them: rewards, deliveries and their SMS log."""

from django.db import models
from django.db.models import Q

from mike.accounts.querysets import TenantQuerySet
from mike.core.models import (
    TimeOrderedModel,
    choices_constraint,
)
from mike.core.sms import SmsProvider

from .choices import (
    CLAIMABLE_REWARD_STATUSES,
    OPEN_DELIVERY_STATUSES,
    CardDeliveryMethod,
    DeliveryFailureReason,
    DeliveryStatus,
    PurchaseStatus,
    RewardDeliveryMethod,
    RewardDeliveryStatus,
    RewardStatus,
    money_field,
)
from .inventory import GiftCard, GiftCardBrand


class RecipientGiftCardQuerySet(TenantQuerySet):
    def claimable(self):
        """Rewards a claim may give a card to now: owed one, no purchase under way."""
        return self.filter(status__in=CLAIMABLE_REWARD_STATUSES, gift_card__isnull=True)


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
    purchase_status = models.CharField(
        max_length=10,
        choices=PurchaseStatus.choices,
        blank=True,
        default=PurchaseStatus.NONE,
        help_text="The provider purchase of this reward, if one was made; pending until settled.",
    )
    purchase_pool = models.ForeignKey(
        "giftcards.GiftCardPool",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="purchases",
        help_text="The pool a provider purchase's card goes into.",
    )
    purchase_attempts = models.PositiveIntegerField(default=0)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.TextField(blank=True)
    is_sandbox = models.BooleanField(
        default=False,
        # In the database too: hand-written inserts (the claim benchmark's) need not name it.
        db_default=False,
        help_text="Test data: the reward of a test recipient (pushed with a test API key). It "
        "never takes a card from a pool, debits credit or buys from the provider; its card is "
        "the fake `sandbox_code`.",
    )
    sandbox_code = models.CharField(
        max_length=20,
        blank=True,
        db_default="",
        help_text="The fake card code of a sandbox reward.",
    )

    objects = RecipientGiftCardQuerySet.as_manager()
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
            choices_constraint(
                "purchase_status",
                PurchaseStatus,
                name="recipientgiftcard_purchase_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(purchase_status="") | Q(provider_request_id__isnull=False),
                name="recipientgiftcard_purchase_has_key",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=[RewardStatus.CLAIMED, RewardStatus.DELIVERED])
                | Q(gift_card__isnull=False)
                | Q(is_sandbox=True),
                name="recipientgiftcard_claimed_has_card",
            ),
            # A sandbox reward never holds a real card nor buys one.
            models.CheckConstraint(
                condition=Q(is_sandbox=False)
                | Q(gift_card__isnull=True, provider_request_id__isnull=True),
                name="recipientgiftcard_sandbox_has_no_card",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "created_at"], name="recipientgiftcard_status"),
            models.Index(fields=["campaign", "status"], name="recipientgiftcard_campaign"),
            # The settle sweep: the few purchases still open.
            models.Index(
                fields=["updated_at"],
                condition=Q(purchase_status="pending"),
                name="reward_purchase_open",
            ),
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
    gift_card = models.ForeignKey(
        GiftCard,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="deliveries",
        help_text="The card sent; none for a sandbox delivery.",
    )
    is_sandbox = models.BooleanField(
        default=False,
        # In the database too: hand-written inserts (the claim benchmark's) need not name it.
        db_default=False,
        help_text="Test data: a sandbox reward's delivery, recorded as delivered without any "
        "text or email leaving.",
    )
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
    lease_expires_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="While sending: when the worker's hold on this delivery lapses. Until then no "
        "sweep or retry touches it.",
    )
    enqueued_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When a task was last queued for this delivery (or is due to run).",
    )
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
            # A live delivery sends a card; a sandbox one never does.
            models.CheckConstraint(
                condition=Q(is_sandbox=False, gift_card__isnull=False)
                | Q(is_sandbox=True, gift_card__isnull=True),
                name="giftcarddelivery_card_unless_sandbox",
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
