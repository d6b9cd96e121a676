"""The overview tab of a campaign's page: what the campaign is, and how it is doing."""

from django.template.loader import render_to_string


def overview_tab(request, campaign) -> str:
    """The tab's HTML for `campaign` (already scoped to the user by the caller)."""
    conditions = list(campaign.conditions.select_related("brand").order_by("condition_number"))
    return render_to_string(
        "app/campaigns/tabs/overview.html",
        {"campaign": campaign, "conditions": conditions},
        request=request,
    )
