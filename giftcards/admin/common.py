"""What the gift card admin pages share."""

from django.contrib.admin import helpers
from django.template.response import TemplateResponse

TIMESTAMPS = ("id", "created_at", "updated_at")
POOL_COUNTERS = (
    "total_cards",
    "available_cards",
    "claimed_cards",
    "delivered_cards",
    "failed_cards",
)


def action_form_page(modeladmin, request, queryset, *, form, title, intro, submit):
    """The page an admin action shows to ask for what it needs (a reason, an amount) before it
    acts on the selected rows; the action runs again with the answer when it is posted."""
    return TemplateResponse(
        request,
        "admin/giftcards/action_form.html",
        {
            **modeladmin.admin_site.each_context(request),
            "title": title,
            "opts": modeladmin.model._meta,
            "items": queryset,
            "form": form,
            "intro": intro,
            "submit": submit,
            "action": request.POST.get("action", ""),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": modeladmin.media + form.media,
        },
    )
