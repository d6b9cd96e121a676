"""Audiences and recipients: the approve, reject and resend-opt-in actions (through the
mike.rewards services), the code masked as recipients.admin.display says, and the recipient's
story below their details (recipients.admin.story)."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.models import LogEntry
from django.db import transaction

from mike.core.admin import MikeModelAdmin, action_form_page
from mike.rewards import approval, erasure, opt_in

from .. import services
from ..codes import is_well_formed, normalize_code
from ..models import ApprovalStatus, Audience, Recipient
from .display import SEE_CODES, masked_code, recipient_label
from .story import STORY_INLINES

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
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Kept on each recipient and in their audit log.",
    )


class EraseReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why (the person's request, a retention policy). Kept in the audit log: do not "
        "write their name, phone or email here.",
    )


@admin.register(Recipient)
class RecipientAdmin(MikeModelAdmin):
    list_display = (
        "masked_code",
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
    # Codes and tokens match whole only: a partial match would spell out a masked code one
    # character at a time. get_search_results also finds a code pasted as printed.
    search_fields = (
        "=redemption_code",
        "first_name",
        "last_name",
        "email",
        "phone",
        "company",
        "=token",
    )
    autocomplete_fields = ("audience", "campaign", "contact")
    list_select_related = ("audience", "campaign")
    # The reward flow's state is changed only by the actions below and the SMS webhook, through
    # the services that write the audit rows (a number that texted STOP must not be opted in by a
    # form); the code and tokens are the recipient's keys, made when the row is.
    readonly_fields = (
        *TIMESTAMPS,
        "code_masked",
        "code_in_full",
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
        "erased_at",
    )
    date_hierarchy = "created_at"
    fieldsets = (
        (None, {"fields": ("id", "audience", "campaign", "contact", "code_masked", "token")}),
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
            {
                # Folded: the address hygiene data is long and rarely read.
                "classes": ("collapse",),
                "fields": ("validation_status", "validation_details", "geocode", "delivery_status"),
            },
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
                "classes": ("collapse",),
                "fields": (
                    "email_verification_token",
                    "email_verification_sent_at",
                    "email_verified_at",
                    "last_enriched_at",
                ),
            },
        ),
        ("History", {"fields": ("created_at", "updated_at", "erased_at")}),
    )

    # Below the details, read-only: calls, conditions met, rewards, deliveries, texts, audit log.
    inlines = STORY_INLINES
    actions = ("approve_selected", "reject_selected", "resend_opt_in", "erase_selected")

    def has_erase_permission(self, request):
        return request.user.has_perm("recipients.erase_recipient")

    @admin.action(
        description="Erase selected recipients' personal data (asks for a reason)",
        permissions=["erase"],
    )
    def erase_selected(self, request, queryset):
        form = EraseReasonForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            erased = unchanged = 0
            refused = []
            for recipient in queryset:
                try:
                    done = erasure.erase_recipient(
                        recipient=recipient, by=request.user, reason=form.cleaned_data["reason"]
                    )
                except erasure.ErasureError as exc:
                    refused.append(f"{recipient.display_code}: {exc}")
                    continue
                if done:
                    erased += 1
                else:
                    unchanged += 1
            messages.success(
                request, f"Erased {erased} recipient(s); {unchanged} were erased already."
            )
            if refused:
                messages.error(request, f"{len(refused)} not erased: " + " ".join(refused[:5]))
            return None
        return action_form_page(
            self,
            request,
            queryset,
            form=form,
            title="Erase recipients' personal data",
            intro=f"Erase the personal data of these {len(queryset)} recipient(s)? Their name, "
            "phone, email, address and custom fields are cleared and their texts' bodies "
            "blanked, for good. Their rewards, cards, ledger rows, sales and counts stay; an "
            "opted-out phone stays opted out.",
            submit="Erase",
            label=recipient_label,
        )

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
        return action_form_page(
            self,
            request,
            queryset,
            form=form,
            title="Reject recipients",
            intro=f"Reject these {len(queryset)} recipient(s)? Their rewards not yet claimed are "
            "rejected too.",
            submit="Reject",
            label=lambda recipient: (
                f"{recipient_label(recipient)} · {recipient.get_approval_status_display()}"
            ),
        )

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

    @admin.display(description="code")
    def masked_code(self, obj):
        return masked_code(obj.redemption_code)

    @admin.display(description="redemption code")
    def code_masked(self, obj):
        return masked_code(obj.redemption_code)

    @admin.display(description="redemption code")
    def code_in_full(self, obj):
        return obj.display_code

    def related_label(self, obj) -> str:
        # How every other admin page shows a recipient (see MikeModelAdmin).
        return recipient_label(obj)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if not request.user.has_perm(SEE_CODES):
            return fieldsets
        return [
            (
                title,
                {
                    **options,
                    "fields": [
                        "code_in_full" if name == "code_masked" else name
                        for name in options["fields"]
                    ],
                },
            )
            for title, options in fieldsets
        ]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        # The page's title and breadcrumbs name the recipient by str(), code and all.
        if obj is not None:
            context["subtitle"] = context["recipient_label"] = recipient_label(obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def history_view(self, request, object_id, extra_context=None):
        obj = self.get_object(request, object_id)
        if obj is not None:
            label = recipient_label(obj)
            extra_context = {
                **(extra_context or {}),
                "title": f"Change history: {label}",
                "recipient_label": label,
            }
        return super().history_view(request, object_id, extra_context)

    # The admin's own log keeps each object's str() and lists it under "Recent actions": keep the
    # code masked there too.
    def log_addition(self, request, obj, message):
        return self._masked_log(super().log_addition(request, obj, message), obj)

    def log_change(self, request, obj, message):
        return self._masked_log(super().log_change(request, obj, message), obj)

    def log_deletions(self, request, queryset):
        entries = super().log_deletions(request, queryset)
        labels = {str(recipient.pk): recipient_label(recipient) for recipient in queryset}
        for entry in entries:
            LogEntry.objects.filter(pk=entry.pk).update(object_repr=labels[entry.object_id])
        return entries

    @staticmethod
    def _masked_log(entry, obj):
        entry.object_repr = recipient_label(obj)
        LogEntry.objects.filter(pk=entry.pk).update(object_repr=entry.object_repr)
        return entry

    def get_search_results(self, request, queryset, search_term):
        # Staff paste codes as printed ("7kq4-m2xd-9p"); find those by their stored form too.
        # The list filters are already applied to `queryset`; keep them for the code match.
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        code = normalize_code(search_term)
        if is_well_formed(code):
            results |= queryset.filter(redemption_code=code)
        return results, may_have_duplicates
