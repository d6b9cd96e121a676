"""The calls log: every call to the client's tracked numbers (filters, export), and one call's page
with its recording played in the page, the agents' dispositions and notes, and the conditions it
met. Call-centre agents work here too, over their own clients' calls."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import django_filters
import django_tables2 as tables
from django.conf import settings
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_safe

from calls import selectors
from calls.models import CallSession, CallStatus, DispositionType
from mike.core.phones import format_national

from ..access import dashboard_view
from ..tables import DashboardTable, DateInput, scoped_campaigns, table_page
from .recipients import local_time, mask_phone, short_time

CALL_TONES = {
    CallStatus.COMPLETED: "ok",
    CallStatus.IN_PROGRESS: "info",
    CallStatus.RINGING: "info",
    CallStatus.QUEUED: "info",
    CallStatus.NO_ANSWER: "warn",
    CallStatus.BUSY: "warn",
    CallStatus.FAILED: "bad",
    CallStatus.CANCELED: "warn",
}


def duration(seconds: int | None) -> str:
    if seconds is None:
        return ""
    return f"{seconds // 60}:{seconds % 60:02d}"


NO_DISPOSITION = "none"


class CallFilter(django_filters.FilterSet):
    date_from = django_filters.DateFilter(label="From", method="filter_from", widget=DateInput)
    date_to = django_filters.DateFilter(label="To", method="filter_to", widget=DateInput)
    campaign = django_filters.ModelChoiceFilter(
        queryset=scoped_campaigns, empty_label="All campaigns"
    )
    matched = django_filters.ChoiceFilter(
        label="Caller",
        choices=[("matched", "Matched to a recipient"), ("unmatched", "Not matched")],
        empty_label="Any",
        method="filter_matched",
    )
    disposition = django_filters.ChoiceFilter(
        label="Disposition",
        choices=[(NO_DISPOSITION, "None yet"), *DispositionType.choices],
        empty_label="Any",
        method="filter_disposition",
    )

    class Meta:
        model = CallSession
        fields = ["date_from", "date_to", "campaign", "matched", "disposition"]

    def _zone(self):
        # Days as the selected client lives them; "all clients" uses the platform's zone.
        client = self.request.scope.client if self.request is not None else None
        try:
            return ZoneInfo(client.timezone if client is not None else settings.TIME_ZONE)
        except (KeyError, ValueError):
            return ZoneInfo(settings.TIME_ZONE)

    def _start_of(self, day):
        return datetime.combine(day, time.min, tzinfo=self._zone())

    def filter_from(self, queryset, name, value):
        return queryset.filter(created_at__gte=self._start_of(value))

    def filter_to(self, queryset, name, value):
        return queryset.filter(created_at__lt=self._start_of(value + timedelta(days=1)))

    def filter_matched(self, queryset, name, value):
        return queryset.filter(recipient__isnull=(value == "unmatched"))

    def filter_disposition(self, queryset, name, value):
        # The same value the column shows: the latest disposition.
        if value == NO_DISPOSITION:
            return queryset.filter(disposition__isnull=True)
        return queryset.filter(disposition=value)

    @property
    def qs(self):
        queryset = super().qs
        start, end = self.form.cleaned_data.get("date_from"), self.form.cleaned_data.get("date_to")
        if start and end and end < start:
            return queryset.none()
        return queryset


class CallTable(DashboardTable):
    when = tables.Column("When", accessor="created_at", attrs={"td": {"class": "nowrap"}})
    caller = tables.Column("Caller", accessor="caller_phone", orderable=False)
    tracked_number = tables.Column(
        "Tracked number",
        accessor="tracked_number__phone_number",
        orderable=False,
        attrs={"th": {"class": "people-th-wrap"}},
    )
    # Shown with "all clients" selected only.
    client = tables.Column(
        "Client", accessor="client__name", orderable=False, attrs={"td": {"class": "people-wide"}}
    )
    campaign = tables.Column(
        "Campaign",
        accessor="campaign__name",
        order_by="campaign__name",
        attrs={"td": {"class": "people-wide"}},
    )
    recipient = tables.Column("Recipient", accessor="recipient", orderable=False, empty_values=())
    call_status = tables.Column("Status", attrs={"td": {"class": "nowrap"}})
    call_duration_seconds = tables.Column(
        "Duration", attrs={"td": {"class": "num"}, "th": {"class": "num"}}
    )
    disposition = tables.Column("Disposition")
    conditions_met_count = tables.Column(
        "Conditions met",
        attrs={"td": {"class": "num"}, "th": {"class": "num people-th-wrap"}},
    )

    always_visible = ("when",)

    class Meta(DashboardTable.Meta):
        attrs = {"class": "data-table people-table"}
        empty_text = "No calls match."

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # One client selected: the column would say the same on every row.
        if self.request.scope.client is not None and "client" in self.columns:
            self.columns.hide("client")

    def render_when(self, record):
        return format_html(
            '<a href="{}">{}</a>',
            reverse("dashboard:call", args=[record.pk]),
            short_time(record.call_started_at or record.created_at, record.client),
        )

    def value_when(self, record):
        return local_time(record.call_started_at or record.created_at, record.client)

    def render_caller(self, record):
        return format_html(
            '<span class="nowrap">{}</span>',
            mask_phone(record.caller_phone, self.request.user) or "Unknown",
        )

    def value_caller(self, record):
        return mask_phone(record.caller_phone, self.request.user)

    def render_tracked_number(self, record):
        return format_html(
            '<span class="nowrap">{}</span>', format_national(record.tracked_number.phone_number)
        )

    def value_tracked_number(self, record):
        return record.tracked_number.phone_number if record.tracked_number else ""

    def value_campaign(self, record):
        return record.campaign.name if record.campaign else ""

    def render_recipient(self, record):
        recipient = record.recipient
        if recipient is None:
            return mark_safe('<span class="muted nowrap">Not matched</span>')
        name = recipient.full_name or "(no name)"
        # Agents work in the call pages only: the recipient's page is not theirs to open.
        if self.request.scope.is_agent_only:
            return name
        return format_html(
            '<a class="nowrap" href="{}">{}</a>',
            reverse("dashboard:recipient", args=[recipient.pk]),
            name,
        )

    def value_recipient(self, record):
        return record.recipient.full_name if record.recipient else ""

    def render_call_status(self, record):
        return format_html(
            '<span class="badge {}">{}</span>',
            CALL_TONES.get(record.call_status, ""),
            record.get_call_status_display(),
        )

    def value_call_status(self, record):
        return record.get_call_status_display()

    def render_call_duration_seconds(self, value):
        return duration(value)

    def value_call_duration_seconds(self, value):
        return "" if value is None else value

    def render_disposition(self, value):
        return DispositionType(value).label

    def value_disposition(self, value):
        return DispositionType(value).label if value else ""


@require_safe
@dashboard_view(section="calls", agents=True)
def call_log(request):
    queryset = selectors.with_log_facts(request.scope.filter(CallSession.objects))
    return table_page(
        request,
        table_class=CallTable,
        queryset=queryset,
        filterset_class=CallFilter,
        template="app/calls/list.html",
        export_name="calls",
    )


@require_safe
@dashboard_view(section="calls", agents=True)
def call_detail(request, call_id):
    call = get_object_or_404(
        request.scope.filter(CallSession.objects).select_related(
            "client", "campaign", "recipient", "tracked_number", "agent"
        ),
        pk=call_id,
    )
    details = selectors.call_details(call)
    client = call.client
    return render(
        request,
        "app/calls/detail.html",
        {
            "call": call,
            "caller": mask_phone(call.caller_phone, request.user),
            "tracked_number": format_national(call.tracked_number.phone_number)
            if call.tracked_number
            else "",
            "status_tone": CALL_TONES.get(call.call_status, ""),
            "started": local_time(call.call_started_at or call.created_at, client),
            "answered": local_time(call.call_answered_at, client),
            "ended": local_time(call.call_ended_at, client),
            "duration": duration(call.call_duration_seconds),
            "recording_duration": duration(call.recording_duration),
            "link_recipient": call.recipient is not None and not request.scope.is_agent_only,
            "dispositions": [
                (local_time(d.created_at, client), d) for d in details["dispositions"]
            ],
            "conditions_met": [
                (local_time(m.met_at, client), m) for m in details["conditions_met"]
            ],
            "steps": [(local_time(s.created_at, client), s) for s in selectors.call_steps(call)],
            "in_console": request.scope.can_handle_calls(client),
        },
    )


urlpatterns = [
    path("calls/log/", call_log, name="calls_log"),
    path("calls/log/<uuid:call_id>/", call_detail, name="call"),
]
