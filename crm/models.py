"""A client's contacts and lists, their part in campaigns, and CRM integrations with their events.

Inbound CRM webhooks are stored raw (`CrmEvent`) before anything else happens, so a payload Mike
cannot match or process is never lost; processing is idempotent on `(integration, external_id)`.
"""

import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from mike.accounts.models import Organization
from mike.accounts.querysets import TenantQuerySet
from mike.core.models import (
    CLIENT_ONLY,
    BaseModel,
    TimeOrderedModel,
    choices_constraint,
)
from mike.core.phones import DEFAULT_REGION, normalize_phone


def generate_webhook_token() -> str:
    """The unguessable path segment of an integration's inbound webhook URL."""
    return secrets.token_urlsafe(24)


def generate_webhook_secret() -> str:
    """The shared secret an integration signs (HMAC-SHA256) its payloads with."""
    return secrets.token_hex(32)


class LifecycleStage(models.TextChoices):
    LEAD = "lead", "Lead"
    MQL = "mql", "Marketing qualified lead"
    SQL = "sql", "Sales qualified lead"
    OPPORTUNITY = "opportunity", "Opportunity"
    CUSTOMER = "customer", "Customer"
    EVANGELIST = "evangelist", "Evangelist"


class Contact(TimeOrderedModel):
    """A person in a client's CRM (seed: `contacts`)."""

    client = models.ForeignKey(
        "accounts.Organization",
        on_delete=models.CASCADE,
        related_name="contacts",
        limit_choices_to=CLIENT_ONLY,
        # Covered by the (client, email) and (client, phone) indexes, which lead with it.
        db_index=False,
    )
    customer_code = models.CharField(max_length=50, blank=True)
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=20, blank=True, help_text="E.164, e.g. +15551234567.")
    mobile_phone = models.CharField(max_length=20, blank=True)
    company = models.CharField(max_length=200, blank=True)
    job_title = models.CharField(max_length=100, blank=True)
    address = models.CharField(max_length=200, blank=True)
    address2 = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=50, blank=True)
    zip = models.CharField("ZIP code", max_length=10, blank=True)
    country = models.CharField(max_length=2, default="US", help_text="ISO 3166-1 alpha-2.")
    lifecycle_stage = models.CharField(
        max_length=20, choices=LifecycleStage.choices, default=LifecycleStage.LEAD
    )
    lead_source = models.CharField(max_length=100, blank=True)
    lead_score = models.IntegerField(default=0)
    engagement_score = models.IntegerField(default=0)
    do_not_contact = models.BooleanField(default=False)
    email_opt_out = models.BooleanField(default=False)
    sms_opt_out = models.BooleanField(default=False)
    custom_fields = models.JSONField(default=dict, blank=True)
    notes = models.TextField(blank=True)
    last_activity_date = models.DateTimeField(null=True, blank=True)
    total_interactions = models.PositiveIntegerField(default=0)
    redemptions_count = models.PositiveIntegerField(default=0)
    email_opens_count = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    objects = TenantQuerySet.as_manager()
    client_lookup = "client"

    class Meta:
        ordering = ["last_name", "first_name"]
        constraints = [
            choices_constraint("lifecycle_stage", LifecycleStage, name="contact_lifecycle_valid"),
            models.UniqueConstraint(
                fields=["client", "customer_code"],
                condition=~Q(customer_code=""),
                name="contact_customer_code_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["client", "email"], name="contact_client_email"),
            models.Index(fields=["client", "phone"], name="contact_client_phone"),
            # The contacts import's duplicate check by mobile number (crm.imports).
            models.Index(fields=["client", "mobile_phone"], name="contact_client_mobile"),
            models.Index(fields=["client", "lifecycle_stage"], name="contact_client_stage"),
        ]

    def clean(self):
        """Phones in E.164 (the client's region for numbers written without a country code) and
        the email in lower case, as the contacts import stores them: the import's duplicate
        check compares stored values, so a contact typed in the admin as "(512) 555-0101" or
        "Bob@Example.com" is still the contact a file's "+15125550101" or "bob@example.com" is."""
        super().clean()
        region = DEFAULT_REGION
        if self.client_id is not None:
            region = (
                Organization.objects.filter(pk=self.client_id)
                .values_list("phone_region", flat=True)
                .first()
            ) or DEFAULT_REGION
        errors = {}
        for name in ("phone", "mobile_phone"):
            raw = getattr(self, name)
            if raw:
                normalized = normalize_phone(raw, region)
                if normalized:
                    setattr(self, name, normalized)
                else:
                    errors[name] = f"{raw!r} is not a phone number."
        self.email = (self.email or "").strip().lower()
        if errors:
            raise ValidationError(errors)

    def __str__(self):
        name = f"{self.first_name} {self.last_name}".strip()
        return name or self.email or self.phone or "Contact"


class ListType(models.TextChoices):
    STATIC = "static", "Static"
    DYNAMIC = "dynamic", "Dynamic (filter rules)"


class ContactList(BaseModel):
    """A named set of contacts (seed: `contact_lists`); dynamic lists hold `filter_rules`."""

    client = models.ForeignKey(
        "accounts.Organization",
        on_delete=models.CASCADE,
        related_name="contact_lists",
        limit_choices_to=CLIENT_ONLY,
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    list_type = models.CharField(max_length=10, choices=ListType.choices, default=ListType.STATIC)
    filter_rules = models.JSONField(default=dict, blank=True)
    contact_count = models.PositiveIntegerField(default=0)
    last_sync_at = models.DateTimeField(null=True, blank=True)
    members = models.ManyToManyField(
        Contact, through="ContactListMember", related_name="lists", blank=True
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    objects = TenantQuerySet.as_manager()
    client_lookup = "client"

    class Meta:
        ordering = ["name"]
        constraints = [
            choices_constraint("list_type", ListType, name="contactlist_type_valid"),
            models.UniqueConstraint(fields=["client", "name"], name="contactlist_name_unique"),
        ]

    def __str__(self):
        return self.name


class ContactListMember(TimeOrderedModel):
    """A contact's membership of a list (seed: `contact_list_members`)."""

    contact_list = models.ForeignKey(
        ContactList,
        on_delete=models.CASCADE,
        related_name="memberships",
        # Covered by the unique (contact_list, contact) constraint, which leads with it.
        db_index=False,
    )
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="list_memberships")
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    objects = TenantQuerySet.as_manager()
    client_lookup = "contact_list__client"

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "contact list member"
        constraints = [
            models.UniqueConstraint(
                fields=["contact_list", "contact"], name="contactlistmember_unique"
            )
        ]

    def __str__(self):
        return f"{self.contact_id} in {self.contact_list_id}"

    @property
    def added_at(self):
        return self.created_at


class ParticipationStatus(models.TextChoices):
    MAILED = "mailed", "Mailed"
    CALLED = "called", "Called"
    CONDITION_MET = "condition_met", "Condition met"
    REWARDED = "rewarded", "Reward delivered"
    REDEEMED = "redeemed", "Redeemed"
    OPTED_OUT = "opted_out", "Opted out"


class ContactCampaignParticipation(BaseModel):
    """A contact's part in one campaign (seed: `contact_campaign_participation`)."""

    contact = models.ForeignKey(
        Contact,
        on_delete=models.CASCADE,
        related_name="participations",
        # Covered by the unique (contact, campaign) constraint, which leads with it.
        db_index=False,
    )
    campaign = models.ForeignKey(
        "campaigns.Campaign", on_delete=models.CASCADE, related_name="participations"
    )
    recipient = models.ForeignKey(
        "recipients.Recipient",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="participations",
    )
    gift_card = models.ForeignKey(
        "giftcards.GiftCard",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="participations",
    )
    participation_status = models.CharField(
        max_length=20, choices=ParticipationStatus.choices, default=ParticipationStatus.MAILED
    )
    redemption_code = models.CharField(max_length=32, blank=True)
    participated_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    redeemed_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()
    client_lookup = "contact__client"

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "campaign participation"
        constraints = [
            models.UniqueConstraint(
                fields=["contact", "campaign"], name="participation_one_per_campaign"
            ),
            choices_constraint(
                "participation_status", ParticipationStatus, name="participation_status_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["campaign", "participation_status"], name="participation_campaign")
        ]

    def __str__(self):
        return f"{self.contact_id} in {self.campaign_id} ({self.participation_status})"


class CrmProvider(models.TextChoices):
    SALESFORCE = "salesforce", "Salesforce"
    HUBSPOT = "hubspot", "HubSpot"
    ZOHO = "zoho", "Zoho"
    GOHIGHLEVEL = "gohighlevel", "GoHighLevel"
    PIPEDRIVE = "pipedrive", "Pipedrive"
    ZAPIER = "zapier", "Zapier"
    CUSTOM = "custom", "Custom"


class CrmIntegration(BaseModel):
    """A client's CRM connection (seed: `crm_integrations`).

    Inbound events arrive at a URL carrying `webhook_token` and are verified with `webhook_secret`
    (HMAC, mike.core.signing); for a while after the secret is rotated the previous one is still
    accepted (`previous_webhook_secret`, CRM_WEBHOOK_SECRET_GRACE_HOURS), so the CRM can be
    updated without losing events. `field_mappings` maps Mike's names (event_id, event_name,
    phone, email, redemption_code) to paths in the payload (crm.presets); `event_mappings`
    renames the CRM's event names to the names conditions use (`crm_event_name`). API credentials
    are stored only encrypted (`api_credentials_encrypted`, Fernet, see giftcards.crypto).
    """

    client = models.ForeignKey(
        "accounts.Organization",
        on_delete=models.CASCADE,
        related_name="crm_integrations",
        limit_choices_to=CLIENT_ONLY,
    )
    campaign = models.ForeignKey(
        "campaigns.Campaign",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="crm_integrations",
        help_text="Limit to one campaign; empty means every campaign of the client.",
    )
    name = models.CharField(max_length=200, blank=True)
    crm_provider = models.CharField(max_length=20, choices=CrmProvider.choices)
    webhook_token = models.CharField(max_length=64, unique=True, default=generate_webhook_token)
    webhook_secret = models.CharField(max_length=128, default=generate_webhook_secret)
    previous_webhook_secret = models.CharField(max_length=128, blank=True, editable=False)
    secret_rotated_at = models.DateTimeField(null=True, blank=True, editable=False)
    webhook_url = models.URLField(
        max_length=500, blank=True, help_text="Where Mike posts its own events to this CRM."
    )
    api_credentials_encrypted = models.TextField(blank=True, editable=False)
    field_mappings = models.JSONField(default=dict, blank=True)
    event_mappings = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=True)
    last_event_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()
    client_lookup = "client"

    class Meta:
        ordering = ["client", "crm_provider"]
        verbose_name = "CRM integration"
        constraints = [
            choices_constraint("crm_provider", CrmProvider, name="crmintegration_provider_valid")
        ]

    def __str__(self):
        return self.name or self.get_crm_provider_display()


class CrmEvent(TimeOrderedModel):
    """One inbound CRM webhook delivery, stored raw before processing (seed: `crm_events`)."""

    integration = models.ForeignKey(
        CrmIntegration,
        on_delete=models.CASCADE,
        related_name="events",
        # Covered by the (integration, external_id) constraint, which leads with it.
        db_index=False,
    )
    external_id = models.CharField(
        max_length=200,
        blank=True,
        help_text="The CRM's own event id; a redelivered event with the same id is ignored.",
    )
    event_type = models.CharField(max_length=100)
    raw_payload = models.JSONField(default=dict)
    recipient = models.ForeignKey(
        "recipients.Recipient",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="crm_events",
    )
    call_session = models.ForeignKey(
        "calls.CallSession",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="crm_events",
    )
    campaign = models.ForeignKey(
        "campaigns.Campaign",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="crm_events",
    )
    matched = models.BooleanField(default=False)
    processed = models.BooleanField(default=False)
    condition_triggered = models.PositiveSmallIntegerField(null=True, blank=True)
    error_message = models.TextField(blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()
    client_lookup = "integration__client"

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "CRM event"
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "external_id"],
                condition=~Q(external_id=""),
                name="crmevent_external_id_unique",
            ),
            models.CheckConstraint(
                condition=Q(processed=False) | Q(processed_at__isnull=False),
                name="crmevent_processed_has_time",
            ),
        ]
        indexes = [
            # The retry sweep picks unprocessed events oldest first.
            models.Index(
                fields=["created_at"],
                name="crmevent_unprocessed",
                condition=Q(processed=False),
            ),
        ]

    def __str__(self):
        return f"{self.event_type or 'event'} ({self.get_outcome_display().lower()})"

    @property
    def outcome(self) -> str:
        """Where the event stands: received (waiting for its task), unmatched, failed, or
        processed (matched; `condition_triggered` says whether it met a condition)."""
        if not self.processed:
            return CrmEventOutcome.RECEIVED
        if self.error_message and self.matched:
            return CrmEventOutcome.FAILED
        if not self.matched:
            return CrmEventOutcome.UNMATCHED
        return CrmEventOutcome.PROCESSED

    def get_outcome_display(self) -> str:
        return CrmEventOutcome(self.outcome).label


class CrmEventOutcome(models.TextChoices):
    RECEIVED = "received", "Received"
    UNMATCHED = "unmatched", "Unmatched"
    FAILED = "failed", "Failed"
    PROCESSED = "processed", "Processed"


# The rows of each outcome, for filters (the same rules as CrmEvent.outcome).
OUTCOME_FILTERS = {
    CrmEventOutcome.RECEIVED: Q(processed=False),
    CrmEventOutcome.UNMATCHED: Q(processed=True, matched=False),
    CrmEventOutcome.FAILED: Q(processed=True, matched=True) & ~Q(error_message=""),
    CrmEventOutcome.PROCESSED: Q(processed=True, matched=True, error_message=""),
}
