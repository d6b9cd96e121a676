from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from mike.core.admin import MikeModelAdmin, MikeTabularInline, ReadOnlyAdminMixin, action_form_page
from recipients.admin import masked_code
from recipients.services.audiences_from_lists import (
    NAME_MAX,
    AudienceBuildError,
    build_audience_from_list,
    built_summary,
)

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


class AudienceNameForm(forms.Form):
    name = forms.CharField(
        max_length=NAME_MAX,
        required=False,
        help_text="Empty: each audience is named after its list. With several lists selected, "
        "each audience is named this followed by its list's name.",
    )


@admin.register(ContactList)
class ContactListAdmin(MikeModelAdmin):
    list_display = ("name", "client", "list_type", "contact_count", "last_sync_at")
    list_filter = ("list_type",)
    search_fields = ("name", "description", "client__name")
    autocomplete_fields = ("client", "created_by")
    list_select_related = ("client",)
    readonly_fields = (*TIMESTAMPS, "contact_count")
    inlines = [ContactListMemberInline]
    actions = ("build_audiences",)

    def has_build_audience_permission(self, request):
        return request.user.has_perm("recipients.add_audience")

    @admin.action(
        description="Build an audience from the selected lists", permissions=["build_audience"]
    )
    def build_audiences(self, request, queryset):
        form = AudienceNameForm(request.POST if "apply" in request.POST else None)
        lists = list(queryset.select_related("client"))
        if not form.is_valid():
            return action_form_page(
                self,
                request,
                queryset,
                form=form,
                title="Build audiences from contact lists",
                intro=f"Build a new audience from each of these {len(lists)} list(s)? Each "
                "gets one recipient, with a new redemption code, per contact with a phone or "
                "an email that is not marked do-not-contact; duplicates by phone or email are "
                "left out.",
                submit="Build",
                label=lambda contact_list: (
                    f"{contact_list} · {contact_list.client} · "
                    f"{contact_list.contact_count} contacts"
                ),
            )
        name = form.cleaned_data["name"].strip()
        built, refused = [], []
        for contact_list in lists:
            if not name:
                audience_name = contact_list.name
            elif len(lists) == 1:
                audience_name = name
            else:
                audience_name = f"{name} – {contact_list.name}"[:NAME_MAX]
            try:
                audience = build_audience_from_list(
                    contact_list, name=audience_name, by=request.user
                )
            except AudienceBuildError as exc:
                refused.append(f"{contact_list}: {exc}")
                continue
            built.append(audience)
        if built:
            messages.success(
                request,
                format_html(
                    "Built {} audience(s): {}",
                    len(built),
                    format_html_join(
                        "; ",
                        '<a href="{}">{}</a> ({})',
                        (
                            (
                                reverse("admin:recipients_audience_change", args=[audience.pk]),
                                audience.name,
                                built_summary(audience),
                            )
                            for audience in built
                        ),
                    ),
                ),
            )
        if refused:
            messages.error(request, "Not built: " + " ".join(refused))
        return None


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
    readonly_fields = (*TIMESTAMPS, "webhook_token", "last_event_at")
    exclude = ("webhook_secret",)


@admin.register(CrmEvent)
class CrmEventAdmin(ReadOnlyAdminMixin, MikeModelAdmin):
    list_display = (
        "event_type",
        "integration",
        "recipient",
        "matched",
        "processed",
        "condition_triggered",
        "created_at",
    )
    list_filter = ("matched", "processed", "event_type")
    search_fields = (
        "event_type",
        "external_id",
        "integration__name",
        "=recipient__redemption_code",
    )
    list_select_related = ("integration", "recipient")
    date_hierarchy = "created_at"
