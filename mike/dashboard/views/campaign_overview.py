"""The overview tab of a campaign's page: what the campaign is, and how it is doing."""

from datetime import timedelta

from django.template.loader import render_to_string
from django.utils import timezone

from campaigns import selectors
from campaigns.daily_counts import zone
from campaigns.models import EventType

from .. import charts

# The per-day chart shows the campaign's last weeks; the funnel counts its whole life.
CHART_DAYS = 30


def overview_tab(request, campaign) -> str:
    """The tab's HTML for `campaign` (already scoped to the user by the caller)."""
    conditions = list(campaign.conditions.select_related("brand").order_by("condition_number"))
    client = campaign.client
    today = timezone.now().astimezone(zone(client.timezone)).date()
    began = timezone.localtime(campaign.created_at, zone(client.timezone)).date()
    if campaign.mail_date and campaign.mail_date < began:
        began = campaign.mail_date
    lifetime = selectors.activity(
        clients=[client], start=min(began, today), end=today, campaign=campaign
    )
    chart_start = max(min(began, today), today - timedelta(days=CHART_DAYS - 1))
    calls = lifetime.series(EventType.CALLED)[-((today - chart_start).days + 1) :]
    rewards = lifetime.series(EventType.CLAIMED)[-len(calls) :]
    per_day = charts.daily_bars(
        [day for day, _ in calls],
        [("Calls", "", [n for _, n in calls]), ("Rewards", "alt", [n for _, n in rewards])],
        title="Calls and rewards per day",
    )
    funnel = charts.funnel_chart(
        [(label, count) for _, label, count in lifetime.funnel], title="Funnel"
    )
    return render_to_string(
        "app/campaigns/tabs/overview.html",
        {
            "campaign": campaign,
            "conditions": conditions,
            "numbers": lifetime,
            "funnel": funnel,
            "per_day": per_day,
            "chart_days": len(calls),
        },
        request=request,
    )
