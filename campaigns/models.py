"""Campaigns and what hangs off them: mail templates, landing pages, reward conditions, ACE forms
and the analytics event stream.

A Campaign mails an Audience (recipients app) a MailTemplate; its ordered CampaignConditions say
which reward (brand + card value) each met condition earns. ACE forms and landing pages are the
public pages (`/f/<slug>/`, `/p/<slug>/`) a campaign points recipients to. Every step of the reward
flow writes an `Event`, the funnel the dashboards chart.
"""

from datetime import date

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import F, Q
from django.db.models.fields.json import KT
from django.utils import timezone

from mike.accounts.models import Industry
from mike.accounts.querysets import TenantQuerySet
from mike.core import texts
from mike.core.bulk import insert_or_skip
from mike.core.models import (
    CLIENT_ONLY,
    BaseModel,
    TimeOrderedModel,
    choices_constraint,
)
from mike.core.texts import validate_opt_in_template, validate_reward_template

# --- Mail templates ------------------------------------------------------------------------------


class MailSize(models.TextChoices):
    """The seed's `template_size` enum: postcard and letter formats."""

    SIZE_4X6 = "4x6", "4×6 postcard"
    SIZE_6X9 = "6x9", "6×9 postcard"
    SIZE_6X11 = "6x11", "6×11 postcard"
    LETTER = "letter", "Letter"
    TRIFOLD = "trifold", "Trifold"


class EditorState(models.TextChoices):
    AI_EDITING = "ai_editing", "AI editing"
    MANUAL_EDITING = "manual_editing", "Manual editing"
    COMPLETED = "completed", "Completed"


class MailTemplate(BaseModel):
    """A client's mail piece design (seed: `templates`; campaigns point to it as `template_id`).

    The original's editor columns (`grapesjs_project`, `back_grapesjs_project`, `design_metadata`,
    `ai_chat_history`, edit counters) fold into one `design` JSON document.
    """

    client = models.ForeignKey(
        "accounts.Organization",
        on_delete=models.CASCADE,
        related_name="mail_templates",
        limit_choices_to=CLIENT_ONLY,
    )
    name = models.CharField(max_length=200)
    size = models.CharField(max_length=10, choices=MailSize.choices, default=MailSize.SIZE_4X6)
    json_layers = models.JSONField("layers", default=list, blank=True)
    thumbnail_url = models.URLField("thumbnail URL", max_length=500, blank=True)
    industry_vertical = models.CharField(max_length=20, choices=Industry.choices, blank=True)
    is_favorite = models.BooleanField("favorite", default=False)
    editor_state = models.CharField(
        max_length=20, choices=EditorState.choices, default=EditorState.MANUAL_EDITING
    )
    design = models.JSONField(
        default=dict,
        blank=True,
        help_text="Editor documents: front and back designs, metadata, AI chat history.",
    )
    print_specifications = models.JSONField(default=dict, blank=True)
    has_back_design = models.BooleanField(default=False)

    objects = TenantQuerySet.as_manager()
    client_lookup = "client"

    class Meta:
        ordering = ["name"]
        constraints = [
            choices_constraint("size", MailSize, name="mail_template_size_valid"),
            choices_constraint(
                "editor_state", EditorState, name="mail_template_editor_state_valid"
            ),
            choices_constraint(
                "industry_vertical",
                Industry,
                name="mail_template_industry_valid",
                allow_blank=True,
            ),
        ]

    def __str__(self):
        return self.name


# --- Landing pages -------------------------------------------------------------------------------


class LandingPageEditorType(models.TextChoices):
    AI = "ai", "AI"
    VISUAL = "visual", "Visual"


class LandingPageSource(models.TextChoices):
    TEXT_PROMPT = "text_prompt", "Text prompt"
    IMAGE_UPLOAD = "image_upload", "Image upload"
    LINK_ANALYSIS = "link_analysis", "Link analysis"
    MANUAL = "manual", "Manual"


class AiProvider(models.TextChoices):
    OPENAI = "openai", "OpenAI-compatible"
    ANTHROPIC = "anthropic", "Anthropic"
    TEMPLATE = "template", "Built-in template generator"
    MANUAL = "manual", "Manual"


class LandingPageGeneration(models.TextChoices):
    """Where the page's content came from last: nothing asked yet, a generation queued, written
    by the generator asked for, or by the built-in one after the AI generator failed."""

    IDLE = "idle", "Not generated"
    QUEUED = "queued", "Generating"
    DONE = "done", "Generated"
    FELL_BACK = "fell_back", "Built-in page (the AI generator failed)"


def check_campaign_of_client(obj) -> None:
    """A page or form of one client cannot point to another client's campaign (the admin and
    every form that calls full_clean(); the dashboard's services check it too)."""
    if obj.campaign_id is not None and obj.client_id is not None:
        campaign_client = (
            Campaign.objects.filter(pk=obj.campaign_id).values_list("client_id", flat=True).first()
        )
        if campaign_client is not None and campaign_client != obj.client_id:
            raise ValidationError({"campaign": "Choose a campaign of this client."})


class LandingPage(BaseModel):
    """A public page at `/p/<slug>/`, personalised by a recipient's token (seed: `landing_pages`).

    The original's editor columns (`grapesjs_project`, `visual_editor_state`, chat history, edit
    counters) are left to `content_json`; scores and custom domains it never used are dropped.
    """

    client = models.ForeignKey(
        "accounts.Organization",
        on_delete=models.CASCADE,
        related_name="landing_pages",
        limit_choices_to=CLIENT_ONLY,
    )
    campaign = models.ForeignKey(
        "campaigns.Campaign",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="landing_pages",
    )
    name = models.CharField(max_length=200)
    slug = models.SlugField(
        max_length=80, db_index=False, help_text="The end of the public address, /p/this-part/"
    )
    published = models.BooleanField(default=False)
    content_json = models.JSONField("content", default=dict, blank=True)
    html_content = models.TextField("HTML", blank=True)
    css_content = models.TextField("CSS", blank=True)
    meta_title = models.CharField(max_length=200, blank=True)
    meta_description = models.CharField(max_length=300, blank=True)
    og_image_url = models.URLField("Open Graph image URL", max_length=500, blank=True)
    ai_generated = models.BooleanField("AI generated", default=False)
    ai_prompt = models.TextField("AI prompt", blank=True)
    ai_provider = models.CharField(
        "AI provider", max_length=20, choices=AiProvider.choices, default=AiProvider.MANUAL
    )
    ai_model = models.CharField("AI model", max_length=100, blank=True)
    generation_tokens = models.PositiveIntegerField(default=0)
    generation_status = models.CharField(
        max_length=10, choices=LandingPageGeneration.choices, default=LandingPageGeneration.IDLE
    )
    generation_note = models.CharField(
        max_length=300, blank=True, help_text="Why the last generation fell back, in words."
    )
    version_number = models.PositiveIntegerField(default=1)
    editor_type = models.CharField(
        max_length=10, choices=LandingPageEditorType.choices, default=LandingPageEditorType.VISUAL
    )
    source_type = models.CharField(
        max_length=20, choices=LandingPageSource.choices, default=LandingPageSource.MANUAL
    )
    source_data = models.JSONField(default=dict, blank=True)
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
            choices_constraint("ai_provider", AiProvider, name="landing_page_ai_provider_valid"),
            choices_constraint(
                "editor_type", LandingPageEditorType, name="landing_page_editor_type_valid"
            ),
            choices_constraint(
                "source_type", LandingPageSource, name="landing_page_source_type_valid"
            ),
            choices_constraint(
                "generation_status",
                LandingPageGeneration,
                name="landing_page_generation_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(version_number__gte=1), name="landing_page_version_positive"
            ),
            # The unique constraint is also the index the public /p/<slug>/ lookup uses.
            models.UniqueConstraint(fields=["slug"], name="landing_page_slug_unique"),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        super().clean()
        check_campaign_of_client(self)


# --- Campaigns -----------------------------------------------------------------------------------


class CampaignStatus(models.TextChoices):
    """The seed's `campaign_status` (draft → proofed → in production → mailed → completed), with
    the two side exits a running campaign needs: paused (mailed, but calls and rewards on hold)
    and cancelled (stopped before it was mailed)."""

    DRAFT = "draft", "Draft"
    PROOFED = "proofed", "Proofed"
    IN_PRODUCTION = "in_production", "In production"
    MAILED = "mailed", "Mailed"
    COMPLETED = "completed", "Completed"
    PAUSED = "paused", "Paused"
    CANCELLED = "cancelled", "Cancelled"


# Where a campaign may go from each status (campaigns.services.change_campaign_status). The seed's
# statuses only move forward; a proof may be sent back to draft to be corrected. Once mailed the
# pieces are out, so a campaign can no longer be cancelled, only paused or completed. Completed and
# cancelled are final.
CAMPAIGN_TRANSITIONS: dict[str, tuple[str, ...]] = {
    CampaignStatus.DRAFT: (CampaignStatus.PROOFED, CampaignStatus.CANCELLED),
    CampaignStatus.PROOFED: (
        CampaignStatus.IN_PRODUCTION,
        CampaignStatus.DRAFT,
        CampaignStatus.CANCELLED,
    ),
    CampaignStatus.IN_PRODUCTION: (CampaignStatus.MAILED, CampaignStatus.CANCELLED),
    CampaignStatus.MAILED: (CampaignStatus.COMPLETED, CampaignStatus.PAUSED),
    CampaignStatus.PAUSED: (CampaignStatus.MAILED, CampaignStatus.COMPLETED),
    CampaignStatus.COMPLETED: (),
    CampaignStatus.CANCELLED: (),
}
# Statuses of a campaign whose mail is out: its conditions can be met (the console's lookups, the
# API) and its audience's recipients are its own (recipients.services.adopt_mailing_campaign).
MAILING_CAMPAIGN_STATUSES = (CampaignStatus.IN_PRODUCTION, CampaignStatus.MAILED)
# Statuses whose campaign can no longer be edited (details, conditions, tracked number).
CLOSED_CAMPAIGN_STATUSES = (CampaignStatus.COMPLETED, CampaignStatus.CANCELLED)


class MailingMethod(models.TextChoices):
    CUSTOMER_HANDLED = "customer_handled", "Customer handled"
    PLATFORM_HANDLED = "platform_handled", "Platform handled"


class PostageClass(models.TextChoices):
    FIRST_CLASS = "first_class", "First class"
    STANDARD = "standard", "Standard"


class LandingPageMode(models.TextChoices):
    BRIDGE = "bridge", "Bridge page"
    REDIRECT = "redirect", "Redirect"


class CampaignQuerySet(TenantQuerySet):
    def with_status(self, *statuses):
        return self.filter(status__in=statuses)


class Campaign(BaseModel):
    """A direct-mail reward campaign of a client (seed: `campaigns`).

    Folded away from the original: `reward_pool_id` and `reward_condition` (rewards are per
    condition, and pools are chosen by brand and value at claim time), `credit_account_id` and
    `uses_shared_credit` (the client's credit account is found from the client), `codes_uploaded` /
    `requires_codes` (every recipient has a code), `version`, `editable_after_publish` and
    `design_image_url` (the template holds the design).
    """

    client = models.ForeignKey(
        "accounts.Organization",
        on_delete=models.CASCADE,
        related_name="campaigns",
        limit_choices_to=CLIENT_ONLY,
    )
    audience = models.ForeignKey(
        "recipients.Audience",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="campaigns",
    )
    template = models.ForeignKey(
        MailTemplate,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="campaigns",
        verbose_name="mail template",
    )
    name = models.CharField(max_length=200)
    status = models.CharField(
        max_length=20, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT
    )
    mail_date = models.DateField(null=True, blank=True)
    mailing_method = models.CharField(
        max_length=20, choices=MailingMethod.choices, default=MailingMethod.CUSTOMER_HANDLED
    )
    size = models.CharField(max_length=10, choices=MailSize.choices, default=MailSize.SIZE_4X6)
    postage = models.CharField(
        max_length=20, choices=PostageClass.choices, default=PostageClass.FIRST_CLASS
    )
    vendor = models.CharField(max_length=100, blank=True)
    lp_mode = models.CharField(
        "landing page mode",
        max_length=10,
        choices=LandingPageMode.choices,
        default=LandingPageMode.BRIDGE,
    )
    base_lp_url = models.URLField("base landing page URL", max_length=500, blank=True)
    utm_source = models.CharField("UTM source", max_length=100, blank=True)
    utm_medium = models.CharField("UTM medium", max_length=100, blank=True)
    utm_campaign = models.CharField("UTM campaign", max_length=100, blank=True)
    landing_page = models.ForeignKey(
        LandingPage,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        # LandingPage.campaign already answers to "campaign"; this reverse side needs its own name.
        related_name="linked_campaigns",
    )
    contact_list = models.ForeignKey(
        "crm.ContactList",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="campaigns",
    )
    rewards_enabled = models.BooleanField(default=True)
    sms_opt_in_message = models.TextField(
        "SMS opt-in message",
        blank=True,
        validators=[validate_opt_in_template],
        help_text="The text asking recipients to opt in; blank uses the client's default, then "
        "Mike's. It must name the company ({client_name}) and say how to opt out (STOP). "
        + texts.help_text(texts.OPT_IN_VARIABLES),
    )
    allocated_budget = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    objects = CampaignQuerySet.as_manager()
    client_lookup = "client"

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            choices_constraint("status", CampaignStatus, name="campaign_status_valid"),
            choices_constraint(
                "mailing_method", MailingMethod, name="campaign_mailing_method_valid"
            ),
            choices_constraint("size", MailSize, name="campaign_size_valid"),
            choices_constraint("postage", PostageClass, name="campaign_postage_valid"),
            choices_constraint("lp_mode", LandingPageMode, name="campaign_lp_mode_valid"),
            models.CheckConstraint(
                condition=Q(allocated_budget__isnull=True) | Q(allocated_budget__gte=0),
                name="campaign_budget_not_negative",
            ),
        ]
        # The foreign key's own index on client_id is the seed's idx_campaigns_client_id.
        indexes = [models.Index(fields=["client", "status"], name="campaign_client_status_idx")]

    def __str__(self):
        return self.name

    @property
    def next_statuses(self) -> tuple[str, ...]:
        return CAMPAIGN_TRANSITIONS.get(self.status, ())

    @property
    def is_closed(self) -> bool:
        return self.status in CLOSED_CAMPAIGN_STATUSES

    def clean(self):
        errors = {}
        for field in ("audience", "template", "landing_page", "contact_list"):
            related = getattr(self, field, None)
            if related is not None and self.client_id and related.client_id != self.client_id:
                errors[field] = "Choose one that belongs to the campaign's client."
        if errors:
            raise ValidationError(errors)


class TriggerType(models.TextChoices):
    MANUAL_AGENT = "manual_agent", "Marked by an agent"
    CRM_WEBHOOK = "crm_webhook", "CRM event"
    TIME_DELAY = "time_delay", "Time delay"
    CALL_COMPLETED = "call_completed", "Call completed"
    FORM_SUBMITTED = "form_submitted", "Form submitted"


class CampaignCondition(BaseModel):
    """One step of a campaign's reward ladder and the reward it earns (seed: `campaign_conditions`).

    Conditions are evaluated in `condition_number` order: condition n can be met only after n−1.
    The trigger decides how a condition is met; the database insists on the data each trigger needs
    (a CRM event name, a delay), and `clean()` says the same in words.
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="conditions")
    condition_number = models.PositiveSmallIntegerField(
        default=1, help_text="Conditions are met in this order, starting at 1."
    )
    condition_name = models.CharField(max_length=200)
    trigger_type = models.CharField(
        max_length=20, choices=TriggerType.choices, default=TriggerType.MANUAL_AGENT
    )
    crm_event_name = models.CharField(
        "CRM event name",
        max_length=200,
        blank=True,
        help_text="For CRM triggers: the event name the CRM posts.",
    )
    time_delay_hours = models.PositiveIntegerField(
        null=True, blank=True, help_text="For time-delay triggers: hours after the previous step."
    )
    min_call_duration_seconds = models.PositiveIntegerField(
        "minimum call duration (seconds)",
        null=True,
        blank=True,
        help_text="For call-completed triggers: only calls at least this long count.",
    )
    form = models.ForeignKey(
        "campaigns.AceForm",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="conditions",
        verbose_name="ACE form",
        help_text="For form triggers: the form whose submission meets the condition.",
    )
    is_active = models.BooleanField(default=True)
    brand = models.ForeignKey(
        "giftcards.GiftCardBrand", on_delete=models.PROTECT, related_name="campaign_conditions"
    )
    card_value = models.DecimalField(max_digits=12, decimal_places=2)
    sms_template = models.TextField(
        "SMS template",
        blank=True,
        validators=[validate_reward_template],
        help_text="The text that delivers the card; blank uses the client's default, then Mike's. "
        + texts.help_text(texts.REWARD_VARIABLES),
    )

    objects = TenantQuerySet.as_manager()
    client_lookup = "campaign__client"

    class Meta:
        ordering = ["campaign", "condition_number"]
        constraints = [
            choices_constraint("trigger_type", TriggerType, name="condition_trigger_type_valid"),
            models.UniqueConstraint(
                fields=["campaign", "condition_number"], name="condition_number_unique"
            ),
            models.CheckConstraint(
                condition=Q(condition_number__gte=1), name="condition_number_positive"
            ),
            models.CheckConstraint(condition=Q(card_value__gt=0), name="condition_value_positive"),
            models.CheckConstraint(
                condition=~Q(trigger_type=TriggerType.CRM_WEBHOOK) | ~Q(crm_event_name=""),
                name="condition_crm_needs_event_name",
            ),
            models.CheckConstraint(
                condition=~Q(trigger_type=TriggerType.TIME_DELAY)
                | Q(time_delay_hours__isnull=False, time_delay_hours__gte=0),
                name="condition_delay_needs_hours",
            ),
        ]

    def __str__(self):
        return f"#{self.condition_number} {self.condition_name}"

    def clean(self):
        errors = {}
        if self.condition_number is not None and self.condition_number < 1:
            errors["condition_number"] = "Conditions are numbered from 1."
        if self.card_value is not None and self.card_value <= 0:
            errors["card_value"] = "The card value must be more than zero."
        if self.trigger_type == TriggerType.CRM_WEBHOOK and not self.crm_event_name.strip():
            errors["crm_event_name"] = "A CRM trigger needs the name of the CRM event."
        if self.trigger_type == TriggerType.TIME_DELAY and self.time_delay_hours is None:
            errors["time_delay_hours"] = "A time-delay trigger needs a number of hours."
        if (
            self.form_id
            and self.campaign_id
            and self.form.campaign_id not in (None, self.campaign_id)
        ):
            errors["form"] = "Choose a form of this campaign."
        if errors:
            raise ValidationError(errors)


# --- ACE forms -----------------------------------------------------------------------------------


class AceForm(BaseModel):
    """A public form at `/f/<slug>/` (seed: `ace_forms`). Submissions are matched to a recipient by
    the redemption code typed in, and may meet a `form_submitted` condition."""

    client = models.ForeignKey(
        "accounts.Organization",
        on_delete=models.CASCADE,
        related_name="ace_forms",
        limit_choices_to=CLIENT_ONLY,
    )
    campaign = models.ForeignKey(
        Campaign, null=True, blank=True, on_delete=models.SET_NULL, related_name="ace_forms"
    )
    name = models.CharField(max_length=200)
    slug = models.SlugField(
        max_length=80, db_index=False, help_text="The end of the public address, /f/this-part/"
    )
    description = models.TextField(blank=True)
    form_config = models.JSONField(
        default=dict, blank=True, help_text="Look and behaviour: theme, button text, redirects."
    )
    success_message = models.TextField(
        blank=True, default="Thank you! We received your submission."
    )
    reveal_reward = models.BooleanField(
        "reveal the reward",
        default=False,
        help_text="After a matched recipient submits, show where their reward stands (the "
        'original\'s "form and reveal").',
    )
    is_active = models.BooleanField(default=True)
    is_draft = models.BooleanField(default=True)
    total_submissions = models.PositiveIntegerField(default=0)
    total_views = models.PositiveIntegerField(default=0)
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
        verbose_name = "ACE form"
        verbose_name_plural = "ACE forms"
        constraints = [
            # The unique constraint is also the index the public /f/<slug>/ lookup uses.
            models.UniqueConstraint(fields=["slug"], name="ace_form_slug_unique"),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        super().clean()
        check_campaign_of_client(self)

    @property
    def is_live(self) -> bool:
        return self.is_active and not self.is_draft


class AceFieldType(models.TextChoices):
    TEXT = "text", "Text"
    EMAIL = "email", "Email"
    PHONE = "phone", "Phone"
    TEXTAREA = "textarea", "Long text"
    SELECT = "select", "Choice"
    CHECKBOX = "checkbox", "Checkbox"
    NUMBER = "number", "Number"
    DATE = "date", "Date"
    REDEMPTION_CODE = "redemption_code", "Redemption code"


class AceFormField(BaseModel):
    """One field of an ACE form, in `position` order (seed: `ace_form_fields`; the original kept
    them as JSON on `ace_forms`). `name` is the key under which the submission stores the value."""

    form = models.ForeignKey(AceForm, on_delete=models.CASCADE, related_name="fields")
    name = models.SlugField(
        max_length=64, help_text="Key in the submitted data (letters, digits, - and _)."
    )
    label = models.CharField(max_length=200)
    field_type = models.CharField(
        max_length=20, choices=AceFieldType.choices, default=AceFieldType.TEXT
    )
    required = models.BooleanField(default=False)
    options = models.JSONField(default=list, blank=True, help_text="Choices of a choice field.")
    placeholder = models.CharField(max_length=200, blank=True)
    help_text = models.CharField(max_length=300, blank=True)
    position = models.PositiveIntegerField(default=0)

    objects = TenantQuerySet.as_manager()
    client_lookup = "form__client"

    class Meta:
        ordering = ["form", "position", "name"]
        verbose_name = "ACE form field"
        verbose_name_plural = "ACE form fields"
        constraints = [
            choices_constraint("field_type", AceFieldType, name="ace_field_type_valid"),
            models.UniqueConstraint(fields=["form", "name"], name="ace_field_name_unique"),
        ]

    def __str__(self):
        return self.label or self.name

    def clean(self):
        if not isinstance(self.options, list):
            raise ValidationError({"options": "Options are a list of choices."})
        if self.field_type == AceFieldType.SELECT and not self.options:
            raise ValidationError({"options": "A choice field needs at least one option."})


class AceFormSubmission(TimeOrderedModel):
    """What a person sent through an ACE form (seed: `ace_form_submissions`). The original's
    `redemption_token` is dropped: the recipient link and the reward rows carry that."""

    form = models.ForeignKey(AceForm, on_delete=models.CASCADE, related_name="submissions")
    recipient = models.ForeignKey(
        "recipients.Recipient",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="form_submissions",
    )
    gift_card = models.ForeignKey(
        "giftcards.GiftCard",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="form_submissions",
    )
    contact = models.ForeignKey(
        "crm.Contact",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="form_submissions",
    )
    submission_data = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField("IP address", null=True, blank=True)
    user_agent = models.TextField(blank=True)
    submitted_at = models.DateTimeField(default=timezone.now)
    enrichment_status = models.CharField(max_length=30, blank=True)

    objects = TenantQuerySet.as_manager()
    client_lookup = "form__client"

    class Meta:
        ordering = ["-submitted_at"]
        verbose_name = "ACE form submission"
        verbose_name_plural = "ACE form submissions"
        indexes = [
            models.Index(fields=["form", "submitted_at"], name="ace_submission_form_time_idx"),
        ]

    def __str__(self):
        return f"Submission {self.submitted_at:%Y-%m-%d %H:%M}"


# --- Analytics events ----------------------------------------------------------------------------


class EventType(models.TextChoices):
    """The funnel (mailed → called → matched → condition met → approved → opted in → claimed →
    delivered → redeemed) and the side steps around it."""

    MAILED = "mailed", "Mailed"
    CALLED = "called", "Called"
    MATCHED = "matched", "Matched"
    CONDITION_MET = "condition_met", "Condition met"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    OPTED_IN = "opted_in", "Opted in"
    OPTED_OUT = "opted_out", "Opted out"
    CLAIMED = "claimed", "Card claimed"
    DELIVERED = "delivered", "Card delivered"
    REDEEMED = "redeemed", "Redeemed"
    CALL_COMPLETED = "call_completed", "Call completed"
    FORM_SUBMITTED = "form_submitted", "Form submitted"
    PAGE_VIEWED = "page_viewed", "Page viewed"
    CODE_VIEWED = "code_viewed", "Code viewed"
    SMS_SENT = "sms_sent", "SMS sent"
    DELIVERY_FAILED = "delivery_failed", "Delivery failed"
    PURCHASE_PENDING = "purchase_pending", "Card purchase pending"
    CARD_REVOKED = "card_revoked", "Card revoked"
    CAMPAIGN_CREATED = "campaign_created", "Campaign created"
    CAMPAIGN_STATUS_CHANGED = "campaign_status_changed", "Campaign status changed"


class EventSource(models.TextChoices):
    USPS = "usps", "USPS"
    QR = "qr", "QR code"
    PURL = "purl", "Personal URL"
    FORM = "form", "Form"
    EXTERNAL = "external", "External"
    CALL = "call", "Call"
    SMS = "sms", "SMS"
    ADMIN = "admin", "Admin"
    API = "api", "API"
    SYSTEM = "system", "System"


class EventQuerySet(TenantQuerySet):
    def record(
        self,
        event_type: str,
        *,
        client=None,
        campaign=None,
        recipient=None,
        source: str = EventSource.SYSTEM,
        **data,
    ) -> "Event":
        """Append one `Event`, in the caller's transaction: every domain writes its funnel event
        beside the state change it records. The client defaults to the campaign's, then the
        recipient's audience's; the campaign to the recipient's. Extra keyword arguments are
        stored in `event_data` (keep them JSON-serialisable)."""
        # By id: the caller's rows are not loaded again (a recipient's campaign, a campaign's
        # client) only to be written as keys.
        client_id = getattr(client, "pk", client)
        if client_id is None and campaign is not None:
            client_id = campaign.client_id
        if client_id is None and recipient is not None:
            client_id = recipient.audience.client_id
        campaign_id = getattr(campaign, "pk", campaign)
        if campaign_id is None and recipient is not None:
            campaign_id = recipient.campaign_id
        return self.create(
            client_id=client_id,
            campaign_id=campaign_id,
            recipient=recipient,
            event_type=event_type,
            source=source,
            event_data=data,
        )

    def record_once_a_day(
        self,
        event_type: str,
        *,
        client_id,
        campaign_id,
        recipient_id,
        day: date,
        source: str,
        **data,
    ) -> bool:
        """Append one event of a kind a unique index holds to one row per recipient and day
        (`day`, of the client's calendar, is kept in `event_data`: event_page_view_once_a_day,
        event_code_viewed_once_a_day); True if this call wrote it. One `INSERT … ON CONFLICT DO
        NOTHING` in the caller's transaction, so a second view that day, even one at the same
        moment in another process, writes nothing and raises nothing (it waits for the first's
        commit). A process that wrote or found the row remembers it for the day and does not ask
        again: a customer who looks at their page ten times costs one statement, not ten."""
        key = (event_type, recipient_id, day)
        if key in _RECORDED_TODAY:
            return False
        wrote = insert_or_skip(
            Event(
                client_id=client_id,
                campaign_id=campaign_id,
                recipient_id=recipient_id,
                event_type=event_type,
                source=source,
                occurred_at=timezone.now(),
                event_data={**data, "day": day.isoformat()},
            ),
            using=self.db,
        )
        if len(_RECORDED_TODAY) >= _RECORDED_TODAY_LIMIT:
            _RECORDED_TODAY.clear()  # a day's keys at most; an old one only costs one statement
        if wrote:
            # Ours stands once the caller's transaction commits (at once in autocommit).
            transaction.on_commit(lambda: _RECORDED_TODAY.add(key), using=self.db)
        else:
            _RECORDED_TODAY.add(key)  # another's, committed: the insert waited for it
        return wrote


# Keys of once-a-day events this process wrote or found written (record_once_a_day). Only a
# hint: the unique index decides, so a key forgotten (cleared, another process) costs one
# statement that writes nothing.
_RECORDED_TODAY: set[tuple] = set()
_RECORDED_TODAY_LIMIT = 100_000


class Event(TimeOrderedModel):
    """One analytics event of the reward funnel (seed: `events`). Append-only: services write it
    next to the state change it records; nothing edits it afterwards.

    `client` is kept even though the campaign has one: some events (a page view, an API push) have
    no campaign, and the dashboards filter by client without a join.
    """

    client = models.ForeignKey(
        "accounts.Organization",
        on_delete=models.CASCADE,
        related_name="events",
        limit_choices_to=CLIENT_ONLY,
    )
    campaign = models.ForeignKey(
        Campaign, null=True, blank=True, on_delete=models.CASCADE, related_name="events"
    )
    recipient = models.ForeignKey(
        "recipients.Recipient",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="events",
    )
    event_type = models.CharField(max_length=30, choices=EventType.choices)
    event_data = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField(default=timezone.now)
    source = models.CharField(
        max_length=10, choices=EventSource.choices, default=EventSource.SYSTEM
    )

    objects = EventQuerySet.as_manager()
    client_lookup = "client"

    class Meta:
        ordering = ["-occurred_at"]
        constraints = [
            choices_constraint("event_type", EventType, name="event_type_valid"),
            choices_constraint("source", EventSource, name="event_source_valid"),
            # The funnel counts people: one page view per recipient and day of the client's
            # calendar (mike.landing.views.record_page_view writes the day into event_data).
            # The database holds the line, so two views at once still write one row.
            models.UniqueConstraint(
                "recipient",
                KT("event_data__day"),
                condition=Q(event_type="page_viewed", recipient__isnull=False),
                name="event_page_view_once_a_day",
            ),
            # The redemption page records a recipient's view of their cards once a day (the day
            # of the client's calendar, kept in the event's data: recipients.redemption). Events
            # without that day (views recorded before it was kept) are not held to it.
            models.UniqueConstraint(
                F("recipient"),
                KT("event_data__day"),
                condition=Q(event_type=EventType.CODE_VIEWED),
                name="event_code_viewed_once_a_day",
            ),
        ]
        indexes = [
            models.Index(
                fields=["campaign", "event_type", "occurred_at"],
                name="event_campaign_type_time_idx",
            ),
            models.Index(fields=["client", "occurred_at"], name="event_client_time_idx"),
            models.Index(fields=["occurred_at"], name="event_occurred_at_idx"),
        ]

    def __str__(self):
        return f"{self.get_event_type_display()} at {self.occurred_at:%Y-%m-%d %H:%M}"


# --- Daily counts: the dashboards' rollup of the event stream -------------------------------------


class DailyCount(models.Model):
    """How many events of one type a campaign had on one day of its client's calendar (`campaign`
    empty for the client's events that have no campaign), and the value of the cards among them
    (`amount`, on `claimed` rows): what the dashboards read instead of counting events, so a page
    costs the same with a thousand events as with a million.

    Written only by `campaigns.daily_counts`, for whole days that are over (see
    DailyCountCoverage); the days after the coverage are counted from the events themselves.
    """

    id = models.BigAutoField(primary_key=True)
    client = models.ForeignKey(
        "accounts.Organization",
        on_delete=models.CASCADE,
        related_name="+",
        limit_choices_to=CLIENT_ONLY,
        # Covered by the (client, day) index, which leads with it.
        db_index=False,
    )
    campaign = models.ForeignKey(
        Campaign,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        # Covered by the (campaign, day) index, which leads with it.
        db_index=False,
    )
    day = models.DateField(help_text="A day of the client's own calendar (its time zone).")
    metric = models.CharField(max_length=30, choices=EventType.choices)
    count = models.PositiveIntegerField(default=0)
    amount = models.DecimalField(max_digits=14, decimal_places=2, default=0)

    objects = TenantQuerySet.as_manager()
    client_lookup = "client"

    class Meta:
        constraints = [
            choices_constraint("metric", EventType, name="dailycount_metric_valid"),
            models.UniqueConstraint(
                fields=["client", "campaign", "day", "metric"],
                condition=Q(campaign__isnull=False),
                name="dailycount_campaign_day_unique",
            ),
            models.UniqueConstraint(
                fields=["client", "day", "metric"],
                condition=Q(campaign__isnull=True),
                name="dailycount_client_day_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["client", "day"], name="dailycount_client_day_idx"),
            models.Index(fields=["campaign", "day"], name="dailycount_campaign_day_idx"),
        ]

    def __str__(self):
        return f"{self.metric} on {self.day}: {self.count}"


class DailyCountCoverage(models.Model):
    """The last day of the client's calendar whose events are all in DailyCount (None: none yet).
    Readers take DailyCount up to it and count the events after it; the rollup moves it forward
    a whole day at a time, in the transaction that writes that day's rows."""

    client = models.OneToOneField(
        "accounts.Organization",
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="daily_count_coverage",
        limit_choices_to=CLIENT_ONLY,
    )
    through_day = models.DateField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"Daily counts through {self.through_day or 'nothing yet'}"
