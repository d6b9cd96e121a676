"""The recipient's story on their change page: calls, conditions met, rewards, deliveries, texts
and audit log, newest first.

Every row is written by the pipeline, so the inlines are read-only (no add, change or delete); each
shows the newest STORY_ROWS rows and links to its changelist, filtered to the recipient, for the
rest. Each inline loads what its columns show in the same query (`list_select_related`), so the
page costs the same whatever the story's length.
"""

from django.contrib.admin.utils import quote
from django.forms.models import BaseInlineFormSet
from django.urls import reverse

from calls.models import CallConditionMet, CallSession
from giftcards.models import GiftCardDelivery, RecipientGiftCard, SmsDeliveryLog
from mike.core.admin import MikeTabularInline

from ..models import RecipientAuditLog, SmsOptInLog

STORY_ROWS = 50


class StoryFormSet(BaseInlineFormSet):
    """The newest `rows` rows of the recipient; `has_more` says whether there are others."""

    rows = STORY_ROWS
    more_url = ""

    def get_queryset(self):
        if not hasattr(self, "_newest"):
            # One row past the cap tells whether there are more, without counting them all.
            newest = list(super().get_queryset()[: self.rows + 1])
            self.has_more = len(newest) > self.rows
            self._newest = newest[: self.rows]
        return self._newest


class StoryInline(MikeTabularInline):
    formset = StoryFormSet
    template = "admin/edit_inline/story.html"
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True
    list_select_related = ()

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related(*self.list_select_related)

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        if obj is not None:
            opts = self.model._meta
            changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
            formset.more_url = f"{changelist}?recipient__id__exact={quote(obj.pk)}"
        return formset


class CallInline(StoryInline):
    model = CallSession
    verbose_name_plural = "Calls"
    fields = (
        "created_at",
        "caller_phone",
        "campaign",
        "call_status",
        "match_status",
        "call_duration_seconds",
        "agent",
    )
    ordering = ("-created_at",)
    list_select_related = ("campaign", "agent")


class ConditionMetInline(StoryInline):
    model = CallConditionMet
    verbose_name_plural = "Conditions met"
    # The call, if any, is in the calls above; its SID would only widen the table.
    fields = ("met_at", "condition", "source", "met_by_agent", "notes")
    ordering = ("-met_at",)
    list_select_related = ("condition", "met_by_agent")


class RewardInline(StoryInline):
    model = RecipientGiftCard
    verbose_name_plural = "Rewards"
    # gift_card shows the card by its str(): brand, value and the code masked.
    fields = (
        "created_at",
        "condition",
        "brand",
        "card_value",
        "status",
        "gift_card",
        "delivery_status",
        "delivered_at",
    )
    ordering = ("-created_at",)
    # gift_card__brand: a card's str() names its brand only when it is already loaded.
    list_select_related = ("condition", "brand", "gift_card", "gift_card__brand")


class DeliveryInline(StoryInline):
    model = GiftCardDelivery
    verbose_name_plural = "Deliveries"
    fields = (
        "created_at",
        "delivery_method",
        "delivery_address",
        "status",
        "failure_reason",
        "retry_count",
        "delivered_at",
    )
    ordering = ("-created_at",)


class OptInTextInline(StoryInline):
    model = SmsOptInLog
    verbose_name_plural = "Opt-in texts"
    fields = ("created_at", "direction", "status", "phone", "message_text", "error_message")
    ordering = ("-created_at",)


class RewardTextInline(StoryInline):
    model = SmsDeliveryLog
    verbose_name_plural = "Reward texts"
    # The message as logged, its code masked.
    fields = ("created_at", "delivery_status", "phone_number", "message_body", "error_message")
    ordering = ("-created_at",)


class AuditInline(StoryInline):
    model = RecipientAuditLog
    verbose_name_plural = "Audit log"
    fields = ("created_at", "action", "performed_by", "ip_address", "metadata")
    ordering = ("-created_at",)
    list_select_related = ("performed_by",)


STORY_INLINES = [
    CallInline,
    ConditionMetInline,
    RewardInline,
    DeliveryInline,
    OptInTextInline,
    RewardTextInline,
    AuditInline,
]
