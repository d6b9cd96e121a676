from django.contrib import admin, messages

from mike.core.admin import MikeModelAdmin, MikeTabularInline, ReadOnlyAdminMixin
from mike.rewards.crm_events import reprocess_crm_events
from recipients.admin import masked_code
from recipients.admin.contact_lists import BuildAudienceAction

from .models import (
    Contact,
    ContactCampaignParticipation,
    ContactList,
    ContactListMember,
    CrmEvent,
    CrmIntegration,
)

TIMESTAMPS = ("id", "created_at", "updated_at")


@admin.register(Contact)
class ContactAdmin(MikeModelAdmin):
    list_display = (
        "__str__",
        "client",
        "email",
        "phone",
        "lifecycle_stage",
        "lead_score",
        "do_not_contact",
        "created_at",
    )
    list_filter = ("lifecycle_stage", "do_not_contact", "email_opt_out", "sms_opt_out")
    search_fields = (
        "first_name",
        "last_name",
        "email",
        "phone",
        "mobile_phone",
        "company",
        "customer_code",
    )
    autocomplete_fields = ("client", "created_by")
    list_select_related = ("client",)
    readonly_fields = TIMESTAMPS


class ContactListMemberInline(MikeTabularInline):
    model = ContactListMember
    extra = 0
    autocomplete_fields = ("contact", "added_by")


@admin.register(ContactList)
class ContactListAdmin(BuildAudienceAction, MikeModelAdmin):
    list_display = ("name", "client", "list_type", "contact_count", "last_sync_at")
    list_filter = ("list_type",)
    search_fields = ("name", "description", "client__name")
    autocomplete_fields = ("client", "created_by")
    list_select_related = ("client",)
    readonly_fields = (*TIMESTAMPS, "contact_count")
    inlines = [ContactListMemberInline]
    actions = ("build_audiences",)


@admin.register(ContactListMember)
class ContactListMemberAdmin(MikeModelAdmin):
    list_display = ("contact", "contact_list", "added_by", "created_at")
    search_fields = ("contact__last_name", "contact__email", "contact_list__name")
    autocomplete_fields = ("contact_list", "contact", "added_by")
    list_select_related = ("contact", "contact_list", "added_by")
    readonly_fields = TIMESTAMPS


@admin.register(ContactCampaignParticipation)
class ContactCampaignParticipationAdmin(MikeModelAdmin):
    list_display = (
        "contact",
        "campaign",
        "participation_status",
        "participated_at",
        "delivered_at",
        "redeemed_at",
    )
    list_filter = ("participation_status",)
    search_fields = ("contact__last_name", "contact__email", "campaign__name", "=redemption_code")
    autocomplete_fields = ("contact", "campaign", "recipient", "gift_card")
    list_select_related = ("contact", "campaign")
    # The recipient's code, copied: shown masked as everywhere but the recipient's own page.
    exclude = ("redemption_code",)
    readonly_fields = (*TIMESTAMPS, "code")

    @admin.display(description="redemption code")
    def code(self, obj):
        return masked_code(obj.redemption_code) if obj.redemption_code else None


@admin.register(CrmIntegration)
class CrmIntegrationAdmin(MikeModelAdmin):
    list_display = ("__str__", "client", "crm_provider", "campaign", "is_active", "last_event_at")
    list_filter = ("crm_provider", "is_active")
    search_fields = ("name", "client__name", "campaign__name")
    autocomplete_fields = ("client", "campaign")
    list_select_related = ("client", "campaign")
    readonly_fields = (*TIMESTAMPS, "webhook_token", "secret_rotated_at", "last_event_at")
    # The secret is shown and rotated in the client's dashboard (Integrations), never here.
    exclude = ("webhook_secret", "previous_webhook_secret")


@admin.register(CrmEvent)
class CrmEventAdmin(ReadOnlyAdminMixin, MikeModelAdmin):
    list_display = (
        "event_type",
        "integration",
        "recipient",
        "outcome_badge",
        "matched",
        "processed",
        "condition_triggered",
        "created_at",
    )
    list_filter = ("matched", "processed", "integration__crm_provider", "event_type")
    search_fields = (
        "event_type",
        "external_id",
        "integration__name",
        "=recipient__redemption_code",
    )
    list_select_related = ("integration", "recipient")
    date_hierarchy = "created_at"
    actions = ["reprocess"]

    @admin.display(description="Outcome")
    def outcome_badge(self, obj):
        return obj.get_outcome_display()

    @admin.action(description="Reprocess the selected events with their integration's mappings")
    def reprocess(self, request, queryset):
        queued = reprocess_crm_events(queryset.values_list("pk", flat=True))
        self.message_user(
            request,
            f"Queued {queued} event(s) to be processed again; a condition already met is not met "
            "twice.",
            messages.SUCCESS,
        )

    def get_actions(self, request):
        # ReadOnlyAdminMixin refuses change permission, which actions need by default; staff who
        # may see the events may send them through the service again, nothing more.
        actions = super().get_actions(request)
        if not request.user.has_perm("crm.view_crmevent"):
            actions.pop("reprocess", None)
        return actions
