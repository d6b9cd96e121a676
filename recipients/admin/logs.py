"""The recipients' read-only trails: audit log, SMS opt-in log, and the SMS suppressions an
erasure leaves."""

from django.contrib import admin

from mike.core.admin import MikeModelAdmin, ReadOnlyAdminMixin

from ..models import RecipientAuditLog, SmsOptInLog, SmsSuppression

TIMESTAMPS = ("id", "created_at", "updated_at")


@admin.register(RecipientAuditLog)
class RecipientAuditLogAdmin(ReadOnlyAdminMixin, MikeModelAdmin):
    list_display = ("created_at", "action", "recipient", "performed_by", "ip_address")
    list_filter = ("action", "created_at")
    search_fields = ("=recipient__redemption_code", "recipient__phone", "performed_by__email")
    autocomplete_fields = ("recipient", "performed_by", "call_session")
    list_select_related = ("recipient", "performed_by")
    readonly_fields = TIMESTAMPS
    date_hierarchy = "created_at"


@admin.register(SmsOptInLog)
class SmsOptInLogAdmin(ReadOnlyAdminMixin, MikeModelAdmin):
    list_display = (
        "created_at",
        "direction",
        "status",
        "phone",
        "recipient",
        "provider_used",
        "message_sid",
    )
    list_filter = ("direction", "status", "provider_used", "created_at")
    search_fields = ("phone", "message_sid", "message_text", "=recipient__redemption_code")
    autocomplete_fields = ("recipient", "campaign", "call_session")
    list_select_related = ("recipient",)
    readonly_fields = TIMESTAMPS
    date_hierarchy = "created_at"


@admin.register(SmsSuppression)
class SmsSuppressionAdmin(ReadOnlyAdminMixin, MikeModelAdmin):
    """Written by erasure, lifted by a START or YES: never edited here (the hash is all there is)."""

    list_display = ("created_at", "client", "phone_hash")
    list_filter = ("created_at",)
    search_fields = ("client__name",)
    list_select_related = ("client",)
    readonly_fields = TIMESTAMPS
    date_hierarchy = "created_at"
