"""Audiences, the recipients a campaign mails, and their audit and SMS opt-in trails.

A Recipient carries the printed redemption code and the token of their personal URLs, and walks
the reward flow: approval (pending → approved/rejected → redeemed) and SMS opt-in (not_sent →
pending → opted_in/opted_out). Services change those states; the rows here only hold them.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.fields.json import KT
from django.db.models.functions import Length, Upper
from django.db.models.lookups import GreaterThanOrEqual
from django.utils import timezone

from mike.accounts.querysets import TenantQuerySet
from mike.core.models import (
    CLIENT_ONLY,
    BaseModel,
    TimeOrderedModel,
    choices_constraint,
)
from mike.core.sms import SmsProvider
from recipients.codes import (
    format_code,
    generate_recipient_token,
    generate_redemption_code,
    normalize_code,
)

# --- Audiences -----------------------------------------------------------------------------------


class AudienceSource(models.TextChoices):
    IMPORT = "import", "CSV import"
    PURCHASE = "purchase", "Purchased list"
    MANUAL = "manual", "Entered by hand"
    CONTACT_LIST = "contact_list", "Contact list"
    API = "api", "Pushed through the API"


class AudienceStatus(models.TextChoices):
    PROCESSING = "processing", "Processing"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class Audience(BaseModel):
    """A client's mailing list: the recipients of one or more campaigns (seed: `audiences`).

    The counters are what the last import or hygiene pass found; `hygiene_json` and
    `suppressed_json` keep its report (address corrections, duplicates, suppressed rows).
    """

    client = models.ForeignKey(
        "accounts.Organization",
        on_delete=models.CASCADE,
        related_name="audiences",
        limit_choices_to=CLIENT_ONLY,
    )
    name = models.CharField(max_length=200)
    source = models.CharField(
        max_length=20, choices=AudienceSource.choices, default=AudienceSource.IMPORT
    )
    contact_list = models.ForeignKey(
        "crm.ContactList",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="audiences",
        help_text="The contact list the audience was built from, if any.",
    )
    total_count = models.PositiveIntegerField(default=0)
    valid_count = models.PositiveIntegerField(default=0)
    invalid_count = models.PositiveIntegerField(default=0)
    hygiene_json = models.JSONField("hygiene report", default=dict, blank=True)
    suppressed_json = models.JSONField("suppressed rows", default=list, blank=True)
    status = models.CharField(
        max_length=20, choices=AudienceStatus.choices, default=AudienceStatus.PROCESSING
    )
    is_test = models.BooleanField(
        "test data",
        default=False,
        help_text="Created with a test API key: its recipients are test data.",
    )

    objects = TenantQuerySet.as_manager()
    client_lookup = "client"

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            choices_constraint("source", AudienceSource, name="audience_source_valid"),
            choices_constraint("status", AudienceStatus, name="audience_status_valid"),
        ]

    def __str__(self):
        return self.name


# --- Recipients ----------------------------------------------------------------------------------


class ValidationStatus(models.TextChoices):
    VALID = "valid", "Valid"
    INVALID = "invalid", "Invalid"
    SUPPRESSED = "suppressed", "Suppressed"


class ApprovalStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    REDEEMED = "redeemed", "Redeemed"


class SmsOptInStatus(models.TextChoices):
    NOT_SENT = "not_sent", "Not sent"
    PENDING = "pending", "Awaiting reply"
    OPTED_IN = "opted_in", "Opted in"
    OPTED_OUT = "opted_out", "Opted out"
    INVALID_RESPONSE = "invalid_response", "Invalid response"
    # Twilio refused the opt-in text for good (an invalid or landline number, a 4xx other than
    # 21610): nothing texts the number again until staff resend the opt-in (after fixing it).
    FAILED = "failed", "Could not be texted"


# A redeemed recipient was approved before redeeming: a later condition still earns its reward.
REWARDABLE_APPROVALS = (ApprovalStatus.APPROVED, ApprovalStatus.REDEEMED)


class Readiness(models.TextChoices):
    """Whether a card may be claimed and sent to the recipient now, and if not, what waits.
    The one definition of "approved and opted in" (Recipient.readiness, RecipientQuerySet
    .ready_for_reward)."""

    NOT_APPROVED = "not_approved", "Awaiting approval"
    REJECTED = "rejected", "Rejected"
    READY_BY_SMS = "ready_by_sms", "Ready: opted in to texts"
    READY_BY_EMAIL = "ready_by_email", "Ready: delivered by email"
    NEEDS_OPT_IN = "needs_opt_in", "Waiting for the opt-in reply"
    OPT_IN_STALE = "opt_in_stale", "Opt-in expired: to be asked again"
    OPTED_OUT = "opted_out", "Opted out of texts"
    TEXT_REFUSED = "text_refused", "The phone could not be texted"
    UNREACHABLE = "unreachable", "No phone or email to send to"


READY = (Readiness.READY_BY_SMS, Readiness.READY_BY_EMAIL)


class RecipientQuerySet(TenantQuerySet):
    def pending(self):
        return self.filter(approval_status=ApprovalStatus.PENDING)

    def ready_for_reward(self, now: datetime | None = None):
        """Recipients a card may be claimed for and sent to now (Readiness READY_*): the same
        rule as `Recipient.readiness`, as a query."""
        fresh_since = (now or timezone.now()) - timedelta(days=settings.OPT_IN_MAX_AGE_DAYS)
        by_sms = Q(sms_opt_in_status=SmsOptInStatus.OPTED_IN) & (
            Q(sms_opt_in_response_at__isnull=True) | Q(sms_opt_in_response_at__gte=fresh_since)
        )
        by_email = (Q(phone="") | Q(reward_by_email=True)) & ~Q(email="")
        return self.filter(Q(approval_status__in=REWARDABLE_APPROVALS) & (by_sms | by_email))

    def by_code(self, raw_code: str):
        """Recipients whose code matches what a person typed (case, dashes and O/0 forgiven)."""
        return self.filter(redemption_code=normalize_code(raw_code))


class Recipient(TimeOrderedModel):
    """A person an audience mails, with the code printed on their piece (seed: `recipients`).

    `redemption_code` is stored normalised (upper case, no dashes: `7KQ4M2XD9P`) and unique;
    `display_code` is its printed form. `token` (unique, URL-safe) addresses personal URLs.
    Dropped from the original: `enriched_by_user_id` (enrichment is audited in the log).
    """

    audience = models.ForeignKey(
        Audience,
        on_delete=models.CASCADE,
        related_name="recipients",
        # Covered by the (audience, phone) index, which leads with it.
        db_index=False,
    )
    campaign = models.ForeignKey(
        "campaigns.Campaign",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="recipients",
        help_text="The campaign whose mailing carried this code.",
        # Covered by the (campaign, approval_status) index, which leads with it.
        db_index=False,
    )
    contact = models.ForeignKey(
        "crm.Contact",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="recipients",
    )

    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    company = models.CharField(max_length=200, blank=True)
    address1 = models.CharField("address line 1", max_length=200, blank=True)
    address2 = models.CharField("address line 2", max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=50, blank=True)
    zip = models.CharField("ZIP code", max_length=10, blank=True)
    zip4 = models.CharField("ZIP+4", max_length=4, blank=True)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=20, blank=True, help_text="E.164, e.g. +15551234567.")

    token = models.CharField(
        max_length=64,
        default=generate_recipient_token,
        help_text="URL-safe token of the recipient's personal links.",
    )
    redemption_code = models.CharField(
        max_length=32,
        default=generate_redemption_code,
        help_text="Stored without dashes, upper case.",
    )

    validation_status = models.CharField(
        max_length=20, choices=ValidationStatus.choices, default=ValidationStatus.VALID
    )
    validation_details = models.JSONField(default=dict, blank=True)
    geocode = models.JSONField(default=dict, blank=True)
    delivery_status = models.CharField(
        "mail delivery status", max_length=50, blank=True, help_text="As reported by the mailer."
    )

    approval_status = models.CharField(
        max_length=20, choices=ApprovalStatus.choices, default=ApprovalStatus.PENDING
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="approved_recipients",
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_call_session = models.ForeignKey(
        "calls.CallSession",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="approved_recipients",
    )
    rejection_reason = models.TextField(blank=True)
    gift_card_assigned = models.ForeignKey(
        "giftcards.GiftCard",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The latest card assigned; every reward is a RecipientGiftCard row.",
    )
    redemption_ip = models.GenericIPAddressField("redemption IP", null=True, blank=True)
    redemption_user_agent = models.TextField(blank=True)
    redemption_completed_at = models.DateTimeField(null=True, blank=True)

    custom_fields = models.JSONField(default=dict, blank=True)

    sms_opt_in_status = models.CharField(
        "SMS opt-in status",
        max_length=20,
        choices=SmsOptInStatus.choices,
        default=SmsOptInStatus.NOT_SENT,
    )
    sms_opt_in_sent_at = models.DateTimeField("SMS opt-in sent at", null=True, blank=True)
    sms_opt_in_response_at = models.DateTimeField("SMS opt-in reply at", null=True, blank=True)
    sms_opt_in_response = models.TextField("SMS opt-in reply", blank=True)
    reward_by_email = models.BooleanField(
        default=False,
        help_text="Deliver this recipient's cards by email although they have a phone (chosen "
        "on a call: no SMS consent is needed then).",
    )
    is_test = models.BooleanField(
        "test data",
        default=False,
        help_text="Pushed with a test API key: its rewards are never claimed from real stock, "
        "bought or sent.",
    )
    verification_method = models.CharField(max_length=30, blank=True)
    disposition = models.CharField(max_length=40, blank=True)
    email_verification_token = models.CharField(max_length=64, blank=True)
    email_verification_sent_at = models.DateTimeField(null=True, blank=True)
    email_verified_at = models.DateTimeField(null=True, blank=True)
    last_enriched_at = models.DateTimeField(null=True, blank=True)
    erased_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="When the recipient's personal data was erased (recipients.services.erasure).",
    )

    objects = RecipientQuerySet.as_manager()
    client_lookup = "audience__client"

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            # Codes unlock cards at /redeem/: everyone else sees them masked in the admin.
            ("view_redemption_code", "Can see full redemption codes"),
            # The simulator meets conditions and claims cards through the real services.
            ("use_phone_simulator", "Can use the phone simulator"),
            # Erasure cannot be undone: granted on its own, not with "change".
            ("erase_recipient", "Can erase a recipient's personal data"),
        ]
        constraints = [
            # The unique constraint is the seed's idx_recipients_redemption_code.
            models.UniqueConstraint(fields=["redemption_code"], name="recipient_code_unique"),
            models.UniqueConstraint(fields=["token"], name="recipient_token_unique"),
            models.UniqueConstraint(
                fields=["email_verification_token"],
                condition=~Q(email_verification_token=""),
                name="recipient_email_token_unique",
            ),
            models.CheckConstraint(
                condition=Q(redemption_code=Upper("redemption_code"))
                & ~Q(redemption_code__contains="-")
                & ~Q(redemption_code__contains=" ")
                & Q(GreaterThanOrEqual(Length("redemption_code"), 6)),
                name="recipient_code_normalised",
            ),
            models.CheckConstraint(
                condition=Q(GreaterThanOrEqual(Length("token"), 22)),
                name="recipient_token_min_length",
            ),
            choices_constraint(
                "validation_status", ValidationStatus, name="recipient_validation_valid"
            ),
            choices_constraint("approval_status", ApprovalStatus, name="recipient_approval_valid"),
            choices_constraint(
                "sms_opt_in_status", SmsOptInStatus, name="recipient_sms_opt_in_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["approval_status"], name="recipient_approval_idx"),
            models.Index(fields=["phone"], name="recipient_phone_idx"),
            models.Index(
                fields=["campaign", "approval_status"], name="recipient_camp_approval_idx"
            ),
            # The import's duplicate checks (recipients.services.imports): a batch's phones are
            # each one probe of this index; its emails and external ids are looked up by an
            # index that starts with them, the audience then compared on the rows found
            # (mike.core.lookups.stored_values says why not by an index on the audience alone).
            models.Index(fields=["audience", "phone"], name="recipient_audience_phone_idx"),
            models.Index(fields=["email"], name="recipient_email_idx"),
            models.Index(KT("custom_fields__external_id"), name="recipient_extid_idx"),
            # The staff approval queue: the few pending rows, oldest first.
            models.Index(
                fields=["approval_status", "created_at"],
                condition=Q(approval_status="pending"),
                name="recipient_pending_idx",
            ),
        ]

    def __str__(self):
        return f"{self.full_name or 'Recipient'} ({self.display_code})"

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)

    @property
    def display_code(self) -> str:
        """The code as printed: `7KQ4-M2XD-9P`."""
        return format_code(self.redemption_code or "")

    @property
    def is_approved(self) -> bool:
        """Approved, or redeemed (which only an approved recipient can be)."""
        return self.approval_status in REWARDABLE_APPROVALS

    def readiness(self, now: datetime | None = None) -> str:
        """Whether a card may be claimed and sent to the recipient now (a Readiness value).

        A recipient with a phone is texted their card, which needs a current SMS opt-in (TCPA);
        one with no phone but an email address, or who chose email on a call
        (`reward_by_email`), is emailed it, which needs no SMS consent."""
        if self.approval_status == ApprovalStatus.REJECTED:
            return Readiness.REJECTED
        if not self.is_approved:
            return Readiness.NOT_APPROVED
        if self.reward_by_email and self.email:
            return Readiness.READY_BY_EMAIL
        if not self.phone:
            return Readiness.READY_BY_EMAIL if self.email else Readiness.UNREACHABLE
        if self.sms_opt_in_status == SmsOptInStatus.OPTED_OUT:
            return Readiness.OPTED_OUT
        if self.sms_opt_in_status == SmsOptInStatus.FAILED:
            return Readiness.TEXT_REFUSED
        if self.sms_opt_in_status == SmsOptInStatus.OPTED_IN:
            return Readiness.READY_BY_SMS if self.opt_in_is_current(now) else Readiness.OPT_IN_STALE
        return Readiness.NEEDS_OPT_IN

    def opt_in_is_current(self, now: datetime | None = None) -> bool:
        """True when the recipient is opted in to SMS and the opt-in is no older than
        OPT_IN_MAX_AGE_DAYS (TCPA recency: a stale opt-in is asked again before a new reward is
        texted, see mike.rewards.opt_in.reask_expired_opt_in).

        The opt-in's time is `sms_opt_in_response_at`: the YES (or START) that opted them in sets
        it, and nothing else writes it while they stay opted in. An opt-in without that time (set
        by hand or imported, never answered through Mike) has no age to measure and counts as
        current."""
        if self.sms_opt_in_status != SmsOptInStatus.OPTED_IN:
            return False
        if self.sms_opt_in_response_at is None:
            return True
        max_age = timedelta(days=settings.OPT_IN_MAX_AGE_DAYS)
        return (now or timezone.now()) - self.sms_opt_in_response_at <= max_age


# --- Audit and SMS opt-in trails -----------------------------------------------------------------


class RecipientAuditAction(models.TextChoices):
    UPLOADED = "uploaded", "Uploaded"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    REDEEMED = "redeemed", "Redeemed"
    VIEWED = "viewed", "Viewed"
    GIFT_CARD_ASSIGNED = "gift_card_assigned", "Gift card assigned"
    SMS_SENT = "sms_sent", "SMS sent"
    EMAIL_SENT = "email_sent", "Email sent"
    CONDITION_MET = "condition_met", "Condition met"
    OPTED_IN = "opted_in", "Opted in"
    OPTED_OUT = "opted_out", "Opted out"
    REWARD_REVOKED = "reward_revoked", "Reward revoked"
    UPDATED = "updated", "Updated"
    ERASED = "erased", "Personal data erased"


class RecipientAuditLog(TimeOrderedModel):
    """One state change of a recipient, who made it and from where (seed: `recipient_audit_log`).
    Append-only: written by the services beside the change, never edited."""

    recipient = models.ForeignKey(
        Recipient,
        on_delete=models.CASCADE,
        related_name="audit_logs",
        # Covered by the (recipient, created_at) index.
        db_index=False,
    )
    action = models.CharField(max_length=30, choices=RecipientAuditAction.choices)
    performed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    call_session = models.ForeignKey(
        "calls.CallSession",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="recipient_audit_logs",
    )
    ip_address = models.GenericIPAddressField("IP address", null=True, blank=True)
    user_agent = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    objects = TenantQuerySet.as_manager()
    client_lookup = "recipient__audience__client"

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "recipient audit log entry"
        verbose_name_plural = "recipient audit log"
        constraints = [
            choices_constraint("action", RecipientAuditAction, name="recipient_audit_action_valid"),
        ]
        indexes = [
            models.Index(fields=["recipient", "created_at"], name="recipient_audit_time_idx"),
        ]

    def __str__(self):
        return f"{self.get_action_display()} at {self.created_at:%Y-%m-%d %H:%M}"


class SmsDirection(models.TextChoices):
    OUTBOUND = "outbound", "Outbound"
    INBOUND = "inbound", "Inbound"


class SmsStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    UNDELIVERED = "undelivered", "Undelivered"
    FAILED = "failed", "Failed"
    RECEIVED = "received", "Received"


class SmsOptInLog(TimeOrderedModel):
    """Every opt-in text sent to or received from a recipient (seed: `sms_opt_in_log`).

    Twilio may post the same callback twice; the partial unique constraint on
    (message_sid, direction) makes the second insert fail instead of logging the message twice.
    """

    recipient = models.ForeignKey(
        Recipient,
        on_delete=models.CASCADE,
        related_name="sms_opt_in_logs",
        # Covered by the (recipient, created_at) index.
        db_index=False,
    )
    campaign = models.ForeignKey(
        "campaigns.Campaign",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="sms_opt_in_logs",
    )
    call_session = models.ForeignKey(
        "calls.CallSession",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="sms_opt_in_logs",
    )
    phone = models.CharField(max_length=20)
    message_sid = models.CharField("message SID", max_length=64, blank=True)
    direction = models.CharField(max_length=10, choices=SmsDirection.choices)
    message_text = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=SmsStatus.choices, default=SmsStatus.QUEUED)
    error_message = models.TextField(blank=True)
    provider_used = models.CharField(
        max_length=10, choices=SmsProvider.choices, default=SmsProvider.TWILIO
    )

    objects = TenantQuerySet.as_manager()
    client_lookup = "recipient__audience__client"

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "SMS opt-in log entry"
        verbose_name_plural = "SMS opt-in log"
        constraints = [
            choices_constraint("direction", SmsDirection, name="sms_opt_in_direction_valid"),
            choices_constraint("status", SmsStatus, name="sms_opt_in_status_valid"),
            choices_constraint("provider_used", SmsProvider, name="sms_opt_in_provider_valid"),
            models.UniqueConstraint(
                fields=["message_sid", "direction"],
                condition=~Q(message_sid=""),
                name="sms_opt_in_sid_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["recipient", "created_at"], name="sms_opt_in_recipient_time_idx"),
        ]

    def __str__(self):
        return f"{self.get_direction_display()} {self.get_status_display()} to {self.phone}"


class SmsSuppression(TimeOrderedModel):
    """A phone number a client must not text, kept only as a keyed hash
    (recipients.services.erasure.phone_hash): what is left of an opted-out recipient whose
    personal data was erased, so a later import, push or API call of the same number is still
    not texted. Lifted when the number texts START or YES again."""

    client = models.ForeignKey(
        "accounts.Organization",
        on_delete=models.CASCADE,
        related_name="sms_suppressions",
        limit_choices_to=CLIENT_ONLY,
        # Covered by the (client, phone_hash) constraint, which leads with it.
        db_index=False,
    )
    phone_hash = models.CharField(max_length=64, help_text="HMAC-SHA256 of the E.164 number.")

    objects = TenantQuerySet.as_manager()
    client_lookup = "client"

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "SMS suppression"
        constraints = [
            models.UniqueConstraint(
                fields=["client", "phone_hash"], name="smssuppression_client_hash_unique"
            ),
        ]
        indexes = [
            # An inbound START lifts the number's suppressions whatever the client.
            models.Index(fields=["phone_hash"], name="smssuppression_hash_idx"),
        ]

    def __str__(self):
        return f"Suppressed number {self.phone_hash[:12]}…"
