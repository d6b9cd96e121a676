"""Admin of what recipients get: rewards, deliveries (with the retry action) and the read-only logs."""

from django import forms
from django.contrib import admin, messages

from mike.core.admin import MikeModelAdmin, ReadOnlyAdminMixin, action_form_page
from mike.rewards.delivery import retry_delivery
from recipients.admin.display import recipient_label

from ..models import (
    GiftCardAuditLog,
    GiftCardBalanceHistory,
    GiftCardDelivery,
    RecipientGiftCard,
    SmsDeliveryLog,
)
from ..services.revocation import MIN_REASON_LENGTH, RevocationRefused, revoke_reward
from .common import TIMESTAMPS


class RevokeForm(forms.Form):
    reason = forms.CharField(
        min_length=MIN_REASON_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Kept on each reward and in the audit log, with a snapshot of what was revoked.",
    )


@admin.register(RecipientGiftCard)
class RecipientGiftCardAdmin(ReadOnlyAdminMixin, MikeModelAdmin):
    """A reward's status, card, value and delivery are the pipeline's (claim, purchase,
    delivery), each change with its audit row, so every field is read-only and nothing is added or
    deleted here. Staff act on a reward through an action calling a mike.rewards service; since
    has_change_permission is False, such an action names its own permission
    (`permissions=["revoke"]` with a `has_revoke_permission`), as the deliveries' Retry does."""

    list_display = (
        "recipient",
        "campaign",
        "condition",
        "brand",
        "card_value",
        "status",
        "delivery_status",
        "gift_card",
        "created_at",
    )
    list_filter = ("status", "delivery_status", "delivery_method", "is_sandbox", "created_at")
    search_fields = (
        "=recipient__redemption_code",
        "recipient__last_name",
        "recipient__phone",
        "campaign__name",
        "provider_request_id",
        "gift_card__code_last4",
    )
    # gift_card__brand: a card's str() names its brand only when it is already loaded.
    list_select_related = (
        "recipient",
        "campaign",
        "condition",
        "brand",
        "gift_card",
        "gift_card__brand",
    )
    readonly_fields = TIMESTAMPS
    date_hierarchy = "created_at"
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "id",
                    "recipient",
                    "campaign",
                    "condition",
                    "brand",
                    "card_value",
                    "status",
                    "gift_card",
                    "assigned_at",
                )
            },
        ),
        # Test data (a test API key's): the fake card instead of a real one.
        ("Sandbox", {"fields": ("is_sandbox", "sandbox_code")}),
        (
            "Delivery",
            {
                "fields": (
                    "delivery_method",
                    "delivery_status",
                    "delivery_address",
                    "delivery_error",
                    "delivered_at",
                )
            },
        ),
        # provider_request_id is the purchase's idempotency key.
        ("Provider", {"fields": ("provider_request_id", "purchase_attempts")}),
        ("Revocation", {"fields": ("revoked_at", "revoked_reason")}),
        ("History", {"fields": ("created_at", "updated_at")}),
    )
    actions = ["revoke_rewards"]

    def has_revoke_permission(self, request):
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")

    @admin.action(
        description="Revoke the selected rewards (asks for a reason)", permissions=["revoke"]
    )
    def revoke_rewards(self, request, queryset):
        queryset = queryset.select_related("recipient")
        form = RevokeForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            return action_form_page(
                self,
                request,
                queryset,
                form=form,
                title="Revoke rewards",
                intro="Revoke these rewards? A card never sent goes back to stock and its value "
                "back to the client's credit; a card already sent is revoked.",
                submit="Revoke",
                label=lambda reward: f"{reward} of {recipient_label(reward.recipient)}",
            )
        revoked, refused = 0, []
        for reward in queryset:
            try:
                revoke_reward(reward=reward, by=request.user, reason=form.cleaned_data["reason"])
            except RevocationRefused as exc:
                refused.append(f"{reward}: {exc}")
                continue
            revoked += 1
        self.message_user(request, f"Revoked {revoked} reward(s).", messages.SUCCESS)
        if refused:
            self.message_user(
                request, f"{len(refused)} not revoked: " + " ".join(refused[:5]), messages.ERROR
            )
        return None


@admin.register(GiftCardDelivery)
class GiftCardDeliveryAdmin(ReadOnlyAdminMixin, MikeModelAdmin):
    """Every field is the delivery pipeline's (an address changed here would send the card to
    someone else on the next retry); staff act through the Retry action only."""

    list_display = (
        "created_at",
        "recipient",
        "campaign",
        "delivery_method",
        "delivery_address",
        "status",
        "failure_reason",
        "retry_count",
        "next_attempt_at",
    )
    list_filter = ("status", "failure_reason", "delivery_method", "is_sandbox", "created_at")
    search_fields = (
        "delivery_address",
        "twilio_message_sid",
        "=recipient__redemption_code",
        "recipient__last_name",
        "campaign__name",
    )
    list_select_related = ("recipient", "campaign")
    readonly_fields = TIMESTAMPS
    date_hierarchy = "created_at"
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "id",
                    "reward",
                    "gift_card",
                    "is_sandbox",
                    "recipient",
                    "campaign",
                    "call_session",
                    "condition_number",
                )
            },
        ),
        (
            "Delivery",
            {
                "fields": (
                    "delivery_method",
                    "delivery_address",
                    "status",
                    "failure_reason",
                    "error_message",
                    "delivered_at",
                )
            },
        ),
        (
            "Attempts",
            {"fields": ("retry_count", "max_retries", "last_attempt_at", "next_attempt_at")},
        ),
        # What the provider reported, and the message as sent (code masked).
        ("SMS", {"fields": ("twilio_message_sid", "sms_message", "sms_status", "sms_sent_at")}),
        ("History", {"fields": ("created_at", "updated_at")}),
    )
    actions = ["retry_deliveries"]

    def has_retry_permission(self, request):
        # Retrying is what changing a delivery means here; the form itself edits nothing.
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")

    @admin.action(description="Retry the selected deliveries", permissions=["retry"])
    def retry_deliveries(self, request, queryset):
        retried = sum(retry_delivery(delivery, by=request.user) for delivery in queryset)
        skipped = queryset.count() - retried
        self.message_user(
            request,
            f"Queued {retried} deliveries again"
            + (f"; {skipped} were already sent." if skipped else "."),
            messages.SUCCESS,
        )


@admin.register(SmsDeliveryLog)
class SmsDeliveryLogAdmin(ReadOnlyAdminMixin, MikeModelAdmin):
    list_display = (
        "created_at",
        "phone_number",
        "delivery_status",
        "provider_used",
        "recipient",
        "twilio_message_sid",
    )
    list_filter = ("delivery_status", "provider_used", "created_at")
    search_fields = (
        "phone_number",
        "twilio_message_sid",
        "=recipient__redemption_code",
        "campaign__name",
    )
    autocomplete_fields = ("delivery", "recipient", "gift_card", "campaign")
    list_select_related = ("recipient",)
    readonly_fields = TIMESTAMPS
    date_hierarchy = "created_at"


@admin.register(GiftCardAuditLog)
class GiftCardAuditLogAdmin(ReadOnlyAdminMixin, MikeModelAdmin):
    list_display = ("created_at", "action", "entity_type", "entity_id", "client", "user")
    list_filter = ("entity_type", "action", "created_at")
    search_fields = ("action", "entity_type", "entity_id", "client__name", "user__email")
    autocomplete_fields = ("client", "user")
    list_select_related = ("client", "user")
    readonly_fields = TIMESTAMPS
    date_hierarchy = "created_at"


@admin.register(GiftCardBalanceHistory)
class GiftCardBalanceHistoryAdmin(ReadOnlyAdminMixin, MikeModelAdmin):
    list_display = (
        "checked_at",
        "gift_card",
        "previous_balance",
        "new_balance",
        "change_amount",
        "check_method",
        "status",
    )
    list_filter = ("status", "check_method", "checked_at")
    search_fields = ("gift_card__code_last4", "gift_card__brand__brand_name", "error_message")
    autocomplete_fields = ("gift_card",)
    list_select_related = ("gift_card", "gift_card__brand")
    readonly_fields = TIMESTAMPS
    date_hierarchy = "checked_at"
