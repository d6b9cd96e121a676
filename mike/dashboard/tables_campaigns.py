"""The campaigns list: its table and its filters."""

import django_filters
import django_tables2 as tables
from django import forms
from django.urls import reverse
from django.utils.html import format_html

from campaigns.models import Campaign, CampaignStatus
from mike.accounts.models import Organization

from .tables import DashboardTable

STATUS_BADGE = {
    CampaignStatus.DRAFT: "",
    CampaignStatus.PROOFED: "info",
    CampaignStatus.IN_PRODUCTION: "info",
    CampaignStatus.MAILED: "ok",
    CampaignStatus.COMPLETED: "",
    CampaignStatus.PAUSED: "warn",
    CampaignStatus.CANCELLED: "bad",
}


def status_badge(campaign) -> str:
    return format_html(
        '<span class="badge {}">{}</span>',
        STATUS_BADGE.get(campaign.status, ""),
        campaign.get_status_display(),
    )


class NumberColumn(tables.Column):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("attrs", {"th": {"class": "num"}, "td": {"class": "num"}})
        super().__init__(*args, **kwargs)


class CampaignTable(DashboardTable):
    name = tables.Column(verbose_name="Campaign", attrs={"td": {"class": "campaign-name"}})
    client = tables.Column(verbose_name="Client", accessor="client__name", order_by="client__name")
    status = tables.Column(verbose_name="Status")
    mail_date = tables.DateColumn(
        verbose_name="Mail date", format="M j, Y", attrs={"td": {"class": "nowrap"}}
    )
    audience_size = NumberColumn(verbose_name="Audience")
    calls_count = NumberColumn(verbose_name="Calls")
    conditions_met_count = NumberColumn(verbose_name="Conditions met")
    rewards_delivered = NumberColumn(verbose_name="Rewards delivered")
    response_rate = NumberColumn(verbose_name="Response rate")
    spend = NumberColumn(verbose_name="Spend")

    always_visible = ("name",)

    class Meta(DashboardTable.Meta):
        model = Campaign
        fields = ()
        sequence = (
            "name",
            "client",
            "status",
            "mail_date",
            "audience_size",
            "calls_count",
            "conditions_met_count",
            "rewards_delivered",
            "response_rate",
            "spend",
        )
        empty_text = "No campaigns match."
        attrs = {"class": "data-table campaign-table"}
        order_by = ("-mail_date",)

    def __init__(self, *args, show_client: bool = True, **kwargs):
        exclude = list(kwargs.pop("exclude", None) or [])
        if not show_client:
            exclude.append("client")
        super().__init__(*args, exclude=exclude, **kwargs)

    def render_name(self, record):
        url = reverse("dashboard:campaign", args=[record.pk])
        return format_html(
            '<a class="campaign-link" href="{}"><strong>{}</strong></a>', url, record.name
        )

    def value_name(self, record):
        return record.name

    def value_mail_date(self, record):
        return record.mail_date.isoformat() if record.mail_date else ""

    def render_status(self, record):
        return status_badge(record)

    def value_status(self, record):
        return record.get_status_display()

    def render_audience_size(self, value):
        return f"{value:,}"

    def render_calls_count(self, value):
        return f"{value:,}"

    def render_conditions_met_count(self, value):
        return f"{value:,}"

    def render_rewards_delivered(self, value):
        return f"{value:,}"

    def render_response_rate(self, value):
        return f"{value:.1f}%"

    def value_response_rate(self, value):
        return f"{value:.2f}"

    def render_spend(self, value):
        return f"${value:,.2f}"

    def value_spend(self, value):
        return f"{value:.2f}"


class CampaignFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        field_name="name",
        lookup_expr="icontains",
        label="Search",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Campaign name"}),
    )
    status = django_filters.ChoiceFilter(choices=CampaignStatus.choices, empty_label="Any status")
    mailed_from = django_filters.DateFilter(
        field_name="mail_date",
        lookup_expr="gte",
        label="Mailed from",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    mailed_to = django_filters.DateFilter(
        field_name="mail_date",
        lookup_expr="lte",
        label="Mailed until",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    client = django_filters.ModelChoiceFilter(
        queryset=Organization.objects.none(), empty_label="All clients"
    )

    class Meta:
        model = Campaign
        fields = ()

    def __init__(self, *args, request=None, **kwargs):
        super().__init__(*args, request=request, **kwargs)
        scope = getattr(request, "scope", None)
        if scope is not None and scope.client is None and scope.can_switch:
            self.filters["client"].queryset = scope.clients
        else:
            del self.filters["client"]
