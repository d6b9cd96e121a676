from django import forms
from django.contrib import admin, messages

from mike.core.admin import (
    MikeModelAdmin,
    MikeTabularInline,
    ReadOnlyAdminMixin,
    action_form_page,
)
from mike.rewards.campaigns import change_campaign_status

from .models import (
    AceForm,
    AceFormField,
    AceFormSubmission,
    Campaign,
    CampaignCondition,
    CampaignStatus,
    DailyCount,
    DailyCountCoverage,
    Event,
    LandingPage,
    MailTemplate,
)
from .services import CampaignError

TIMESTAMPS = ("id", "created_at", "updated_at")


@admin.register(MailTemplate)
class MailTemplateAdmin(MikeModelAdmin):
    list_display = ("name", "client", "size", "editor_state", "is_favorite", "updated_at")
    list_filter = ("size", "editor_state", "is_favorite", "industry_vertical", "has_back_design")
    search_fields = ("name", "client__name")
    autocomplete_fields = ("client",)
    list_select_related = ("client",)
    readonly_fields = TIMESTAMPS


@admin.register(LandingPage)
class LandingPageAdmin(MikeModelAdmin):
    list_display = ("name", "slug", "client", "campaign", "published", "editor_type", "updated_at")
    list_filter = ("published", "editor_type", "source_type", "ai_generated", "ai_provider")
    search_fields = ("name", "slug", "meta_title", "client__name", "campaign__name")
    autocomplete_fields = ("client", "campaign", "created_by")
    list_select_related = ("client", "campaign")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = TIMESTAMPS


class CampaignConditionInline(MikeTabularInline):
    model = CampaignCondition
    extra = 0
    fields = (
        "condition_number",
        "condition_name",
        "trigger_type",
        "crm_event_name",
        "time_delay_hours",
        "min_call_duration_seconds",
        "form",
        "brand",
        "card_value",
        "is_active",
    )
    autocomplete_fields = ("brand", "form")
    ordering = ("condition_number",)


class CampaignStatusForm(forms.Form):
    to = forms.ChoiceField(label="New status", choices=CampaignStatus.choices)


@admin.register(Campaign)
class CampaignAdmin(MikeModelAdmin):
    list_display = (
        "name",
        "client",
        "status",
        "mail_date",
        "mailing_method",
        "audience",
        "rewards_enabled",
        "created_at",
    )
    list_filter = ("status", "mailing_method", "postage", "size", "rewards_enabled", "mail_date")
    search_fields = ("name", "client__name", "vendor", "utm_campaign")
    autocomplete_fields = (
        "client",
        "audience",
        "template",
        "landing_page",
        "contact_list",
        "created_by",
    )
    list_select_related = ("client", "audience")
    readonly_fields = TIMESTAMPS
    date_hierarchy = "created_at"
    inlines = [CampaignConditionInline]
    actions = ["change_status"]

    def get_readonly_fields(self, request, obj=None):
        # The status moves only along its transitions, through the action below (the service
        # checks readiness, records the event, and the audience's recipients join the campaign
        # when its mail goes out); a new campaign starts as a draft.
        if obj is None:
            return self.readonly_fields
        return (*self.readonly_fields, "status")

    @admin.action(description="Change the status of selected campaigns", permissions=["change"])
    def change_status(self, request, queryset):
        form = CampaignStatusForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            changed, refused = 0, []
            for campaign in queryset:
                try:
                    change_campaign_status(
                        campaign=campaign, to=form.cleaned_data["to"], by=request.user
                    )
                except CampaignError as error:
                    refused.append(f"{campaign.name}: {error}")
                else:
                    changed += 1
            if changed:
                messages.success(request, f"{changed} campaign(s) changed.")
            if refused:
                messages.error(request, " ".join(refused[:5]))
            return None
        return action_form_page(
            self,
            request,
            queryset,
            form=form,
            title="Change campaign status",
            intro="Each campaign moves only along the allowed steps (draft → proofed → in "
            "production → mailed → completed; paused; cancelled).",
            submit="Change status",
            label=lambda campaign: f"{campaign.name} · {campaign.get_status_display()}",
        )

    fieldsets = (
        (None, {"fields": ("id", "client", "name", "status", "audience", "contact_list")}),
        (
            "Mailing",
            {"fields": ("template", "mail_date", "mailing_method", "size", "postage", "vendor")},
        ),
        (
            "Landing page and tracking",
            {
                "fields": (
                    "lp_mode",
                    "landing_page",
                    "base_lp_url",
                    "utm_source",
                    "utm_medium",
                    "utm_campaign",
                )
            },
        ),
        ("Rewards", {"fields": ("rewards_enabled", "sms_opt_in_message", "allocated_budget")}),
        ("History", {"fields": ("created_by", "created_at", "updated_at")}),
    )


@admin.register(CampaignCondition)
class CampaignConditionAdmin(MikeModelAdmin):
    list_display = (
        "condition_name",
        "campaign",
        "condition_number",
        "trigger_type",
        "brand",
        "card_value",
        "is_active",
    )
    list_filter = ("trigger_type", "is_active")
    search_fields = ("condition_name", "crm_event_name", "campaign__name")
    autocomplete_fields = ("campaign", "form", "brand")
    list_select_related = ("campaign", "brand")
    readonly_fields = TIMESTAMPS


class AceFormFieldInline(MikeTabularInline):
    model = AceFormField
    extra = 0
    fields = (
        "position",
        "name",
        "label",
        "field_type",
        "required",
        "options",
        "placeholder",
        "help_text",
    )
    ordering = ("position", "name")


@admin.register(AceForm)
class AceFormAdmin(MikeModelAdmin):
    list_display = (
        "name",
        "slug",
        "client",
        "campaign",
        "is_active",
        "is_draft",
        "total_submissions",
        "total_views",
    )
    list_filter = ("is_active", "is_draft", "reveal_reward", "created_at")
    search_fields = ("name", "slug", "client__name", "campaign__name")
    autocomplete_fields = ("client", "campaign", "created_by")
    list_select_related = ("client", "campaign")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("id", "total_submissions", "total_views", "created_at", "updated_at")
    inlines = [AceFormFieldInline]


@admin.register(AceFormField)
class AceFormFieldAdmin(MikeModelAdmin):
    list_display = ("label", "name", "form", "field_type", "required", "position")
    list_filter = ("field_type", "required")
    search_fields = ("name", "label", "form__name", "form__slug")
    autocomplete_fields = ("form",)
    list_select_related = ("form",)
    readonly_fields = TIMESTAMPS


@admin.register(AceFormSubmission)
class AceFormSubmissionAdmin(MikeModelAdmin):
    list_display = ("submitted_at", "form", "recipient", "enrichment_status")
    list_filter = ("submitted_at", "enrichment_status")
    search_fields = ("form__name", "form__slug", "=recipient__redemption_code", "recipient__phone")
    autocomplete_fields = ("form", "recipient", "gift_card", "contact")
    list_select_related = ("form", "recipient")
    readonly_fields = TIMESTAMPS
    date_hierarchy = "submitted_at"


@admin.register(Event)
class EventAdmin(ReadOnlyAdminMixin, MikeModelAdmin):
    list_display = ("occurred_at", "event_type", "source", "client", "campaign", "recipient")
    list_filter = ("event_type", "source", "occurred_at")
    search_fields = ("event_type", "client__name", "campaign__name", "=recipient__redemption_code")
    autocomplete_fields = ("client", "campaign", "recipient")
    list_select_related = ("client", "campaign", "recipient")
    readonly_fields = TIMESTAMPS
    date_hierarchy = "occurred_at"


@admin.register(DailyCount)
class DailyCountAdmin(ReadOnlyAdminMixin, MikeModelAdmin):
    """The dashboards' rollup of events: kept by campaigns.daily_counts, read here only (a wrong
    row is fixed by `manage.py rebuild_daily_counts`, not by hand)."""

    list_display = ("day", "metric", "count", "amount", "client", "campaign")
    list_filter = ("metric", "day")
    search_fields = ("client__name", "campaign__name")
    list_select_related = ("client", "campaign")
    date_hierarchy = "day"


@admin.register(DailyCountCoverage)
class DailyCountCoverageAdmin(ReadOnlyAdminMixin, MikeModelAdmin):
    list_display = ("client", "through_day", "updated_at")
    search_fields = ("client__name",)
    list_select_related = ("client",)
