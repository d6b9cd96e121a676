from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db import transaction
from django.template.response import TemplateResponse

from mike.core.admin import MikeModelAdmin, ReadOnlyAdminMixin
from mike.rewards import approval, opt_in

from . import services
from .codes import is_well_formed, normalize_code
from .models import ApprovalStatus, Audience, Recipient, RecipientAuditLog, SmsOptInLog

TIMESTAMPS = ("id", "created_at", "updated_at")


@admin.register(Audience)
class AudienceAdmin(MikeModelAdmin):
    list_display = (
        "name",
        "client",
        "source",
        "status",
        "total_count",
        "valid_count",
        "invalid_count",
        "created_at",
    )
    list_filter = ("status", "source", "created_at")
    search_fields = ("name", "client__name")
    autocomplete_fields = ("client", "contact_list")
    list_select_related = ("client",)
    readonly_fields = TIMESTAMPS


class RejectReasonForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Kept on each recipient and in their audit log.",
    )


@admin.register(Recipient)
class RecipientAdmin(MikeModelAdmin):
    list_display = (
        "display_code",
        "full_name",
        "phone",
        "email",
        "audience",
        "campaign",
        "approval_status",
        "sms_opt_in_status",
        "created_at",
    )
    list_filter = ("approval_status", "sms_opt_in_status", "validation_status", "created_at")
    search_fields = (
        "redemption_code",
        "first_name",
        "last_name",
        "email",
        "phone",
        "company",
        "token",
    )
    autocomplete_fields = ("audience", "campaign", "contact")
    list_select_related = ("audience", "campaign")
    # The reward flow's state is changed only by the actions below and the SMS webhook, through
    # the services that write the audit rows (a number that texted STOP must not be opted in by a
    # form); the code and tokens are the recipient's keys, made when the row is.
    readonly_fields = (
        *TIMESTAMPS,
        "redemption_code",
        "token",
        "approval_status",
        "approved_by",
        "approved_at",
        "approved_call_session",
        "rejection_reason",
        "disposition",
        "sms_opt_in_status",
        "sms_opt_in_sent_at",
        "sms_opt_in_response_at",
        "sms_opt_in_response",
        "gift_card_assigned",
        "redemption_ip",
        "redemption_user_agent",
        "redemption_completed_at",
        "email_verification_token",
        "email_verification_sent_at",
        "email_verified_at",
    )
    date_hierarchy = "created_at"
    fieldsets = (
        (None, {"fields": ("id", "audience", "campaign", "contact", "redemption_code", "token")}),
        (
            "Person",
            {
                "fields": (
                    "first_name",
                    "last_name",
                    "company",
                    "email",
                    "phone",
                    "address1",
                    "address2",
                    "city",
                    "state",
                    "zip",
                    "zip4",
                    "custom_fields",
                )
            },
        ),
        (
            "Mail",
            {"fields": ("validation_status", "validation_details", "geocode", "delivery_status")},
        ),
        (
            "Approval",
            {
                "fields": (
                    "approval_status",
                    "approved_by",
                    "approved_at",
                    "approved_call_session",
                    "rejection_reason",
                    "disposition",
                    "verification_method",
                )
            },
        ),
        (
            "SMS opt-in",
            {
                "fields": (
                    "sms_opt_in_status",
                    "sms_opt_in_sent_at",
                    "sms_opt_in_response_at",
                    "sms_opt_in_response",
                )
            },
        ),
        (
            "Reward and redemption",
            {
                "fields": (
                    "gift_card_assigned",
                    "redemption_ip",
                    "redemption_user_agent",
                    "redemption_completed_at",
                )
            },
        ),
        (
            "Email and enrichment",
            {
                "fields": (
                    "email_verification_token",
                    "email_verification_sent_at",
                    "email_verified_at",
                    "last_enriched_at",
                )
            },
        ),
        ("History", {"fields": ("created_at", "updated_at")}),
    )

    actions = ("approve_selected", "reject_selected", "resend_opt_in")

    @admin.action(description="Approve selected recipients", permissions=["change"])
    def approve_selected(self, request, queryset):
        approved = unchanged = 0
        refused = []
        for recipient in queryset:
            was_pending = recipient.approval_status == ApprovalStatus.PENDING
            try:
                approval.approve_recipient(recipient=recipient, by=request.user)
            except services.ApprovalError as exc:
                refused.append(str(exc))
                continue
            if was_pending:
                approved += 1
            else:
                unchanged += 1
        messages.success(
            request,
            f"Approved {approved} recipient(s); {unchanged} were already approved. "
            "Their opt-in texts are queued.",
        )
        if refused:
            messages.error(request, f"{len(refused)} not approved: " + " ".join(refused[:5]))

    @admin.action(
        description="Reject selected recipients (asks for a reason)", permissions=["change"]
    )
    def reject_selected(self, request, queryset):
        form = RejectReasonForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            rejected = unchanged = 0
            refused = []
            for recipient in queryset:
                was_rejected = recipient.approval_status == ApprovalStatus.REJECTED
                try:
                    approval.reject_recipient(
                        recipient=recipient, by=request.user, reason=form.cleaned_data["reason"]
                    )
                except services.ApprovalError as exc:
                    refused.append(str(exc))
                    continue
                if was_rejected:
                    unchanged += 1
                else:
                    rejected += 1
            messages.success(
                request,
                f"Rejected {rejected} recipient(s); {unchanged} were already rejected.",
            )
            if refused:
                messages.error(request, f"{len(refused)} not rejected: " + " ".join(refused[:5]))
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Reject recipients",
            "opts": self.model._meta,
            "recipients": queryset,
            "form": form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/recipients/reject_reason.html", context)

    @admin.action(description="Resend the opt-in text", permissions=["change"])
    def resend_opt_in(self, request, queryset):
        # Queued after commit: the tasks see the state this request leaves.
        with transaction.atomic():
            queued = sum(
                opt_in.queue_opt_in(recipient=recipient, force=True) for recipient in queryset
            )
        skipped = len(queryset) - queued
        messages.success(
            request,
            f"Queued the opt-in text for {queued} recipient(s); skipped {skipped} "
            "(not approved, already opted in or out, or no phone).",
        )

    @admin.display(description="code", ordering="redemption_code")
    def display_code(self, obj):
        return obj.display_code

    def get_search_results(self, request, queryset, search_term):
        # Staff paste codes as printed ("7kq4-m2xd-9p"); find those by their stored form too.
        # The list filters are already applied to `queryset`; keep them for the code match.
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        code = normalize_code(search_term)
        if is_well_formed(code):
            results |= queryset.filter(redemption_code=code)
        return results, may_have_duplicates


@admin.register(RecipientAuditLog)
class RecipientAuditLogAdmin(ReadOnlyAdminMixin, MikeModelAdmin):
    list_display = ("created_at", "action", "recipient", "performed_by", "ip_address")
    list_filter = ("action", "created_at")
    search_fields = ("recipient__redemption_code", "recipient__phone", "performed_by__email")
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
    search_fields = ("phone", "message_sid", "message_text", "recipient__redemption_code")
    autocomplete_fields = ("recipient", "campaign", "call_session")
    list_select_related = ("recipient",)
    readonly_fields = TIMESTAMPS
    date_hierarchy = "created_at"
