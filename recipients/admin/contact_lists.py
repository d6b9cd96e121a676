"""Audiences from contact lists: the contact lists' admin action (crm.admin.ContactListAdmin
takes it from here), calling this app's service (recipients.services.audiences_from_lists)."""

from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from mike.core.admin import action_form_page

from ..services.audiences_from_lists import (
    NAME_MAX,
    AudienceBuildError,
    build_audience_from_list,
    built_summary,
)


class AudienceNameForm(forms.Form):
    name = forms.CharField(
        max_length=NAME_MAX,
        required=False,
        help_text="Empty: each audience is named after its list. With several lists selected, "
        "each audience is named this followed by its list's name.",
    )


class BuildAudienceAction:
    """The "Build an audience from the selected lists" action of a ContactList admin, for users
    who may add audiences."""

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
