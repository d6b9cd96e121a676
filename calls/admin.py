from django.contrib import admin

from mike.core.admin import MikeModelAdmin, MikeTabularInline, ReadOnlyAdminMixin

from .models import (
    CallConditionMet,
    CallDisposition,
    CallScript,
    CallSession,
    CallStep,
    TrackedPhoneNumber,
)

TIMESTAMPS = ("id", "created_at", "updated_at")


@admin.register(TrackedPhoneNumber)
class TrackedPhoneNumberAdmin(MikeModelAdmin):
    list_display = (
        "phone_number",
        "friendly_name",
        "client",
        "campaign",
        "status",
        "forward_to_number",
        "recording_enabled",
    )
    list_filter = ("status", "recording_enabled")
    search_fields = (
        "phone_number",
        "friendly_name",
        "twilio_sid",
        "client__name",
        "campaign__name",
    )
    autocomplete_fields = ("client", "campaign")
    list_select_related = ("client", "campaign")
    # Where Twilio holds the number: written when Mike buys it (calls.numbers).
    readonly_fields = (*TIMESTAMPS, "twilio_account_sid")


class CallDispositionInline(MikeTabularInline):
    model = CallDisposition
    extra = 0
    fields = ("disposition_type", "agent", "notes", "follow_up_date", "created_at")
    readonly_fields = ("created_at",)
    autocomplete_fields = ("agent",)


@admin.register(CallSession)
class CallSessionAdmin(MikeModelAdmin):
    list_display = (
        "twilio_call_sid",
        "caller_phone",
        "client",
        "campaign",
        "recipient",
        "call_status",
        "match_status",
        "call_duration_seconds",
        "created_at",
    )
    list_filter = ("call_status", "match_status", "created_at")
    search_fields = (
        "twilio_call_sid",
        "caller_phone",
        "=recipient__redemption_code",
        "recipient__last_name",
        "campaign__name",
        "client__name",
    )
    autocomplete_fields = ("client", "campaign", "recipient", "tracked_number", "agent")
    list_select_related = ("client", "campaign", "recipient")
    # What Twilio reported: caller ID is whatever the carrier sent (not always a phone number),
    # the forward-to number what the call was dialled through to.
    readonly_fields = (
        *TIMESTAMPS,
        "twilio_call_sid",
        "recording_sid",
        "caller_phone",
        "forward_to_number",
        # Where the console's flow stands: moved by the console's actions only.
        "console_step",
    )
    date_hierarchy = "created_at"
    inlines = [CallDispositionInline]


@admin.register(CallConditionMet)
class CallConditionMetAdmin(ReadOnlyAdminMixin, MikeModelAdmin):
    list_display = ("recipient", "campaign", "condition_number", "source", "met_by_agent", "met_at")
    list_filter = ("source", "condition_number", "met_at")
    search_fields = ("=recipient__redemption_code", "recipient__last_name", "campaign__name")
    autocomplete_fields = ("recipient", "campaign", "condition", "call_session", "met_by_agent")
    list_select_related = ("recipient", "campaign", "met_by_agent")
    date_hierarchy = "met_at"


@admin.register(CallDisposition)
class CallDispositionAdmin(MikeModelAdmin):
    list_display = (
        "disposition_type",
        "call_session",
        "recipient",
        "agent",
        "follow_up_date",
        "created_at",
    )
    list_filter = ("disposition_type", "follow_up_date")
    search_fields = ("call_session__twilio_call_sid", "recipient__last_name", "notes")
    autocomplete_fields = ("call_session", "recipient", "agent")
    list_select_related = ("call_session", "recipient", "agent")
    readonly_fields = TIMESTAMPS


@admin.register(CallScript)
class CallScriptAdmin(ReadOnlyAdminMixin, MikeModelAdmin):
    """Read-only here: scripts are written on the dashboard's call scripts page, which cleans
    every section (calls.scripts.save_script)."""

    list_display = ("client", "campaign", "updated_by", "updated_at")
    search_fields = ("client__name", "campaign__name")
    list_select_related = ("client", "campaign", "updated_by")


@admin.register(CallStep)
class CallStepAdmin(ReadOnlyAdminMixin, MikeModelAdmin):
    """The console's step log: written by the console's actions, never by hand."""

    list_display = ("call_session", "step", "outcome", "agent", "created_at")
    list_filter = ("step", "outcome", "created_at")
    search_fields = ("call_session__twilio_call_sid", "detail")
    list_select_related = ("call_session", "agent")
    date_hierarchy = "created_at"
