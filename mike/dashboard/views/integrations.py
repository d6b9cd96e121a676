"""The selected client's CRM integrations: each one's webhook URL and secret (shown on request,
rotated with the previous one still accepted for a day), where it reads the event's id, name and
the person's phone, email or code (a preset of the CRM's to start from), which CRM event names
mean which condition; and the events received, with the unmatched and failed ones to fix and
reprocess.

Client admins, agency admins and staff only (`Scope.managed_client`: the secret signs events that
meet conditions and earn rewards); another tenant's integration or event is not found. Writes go
through crm.services and mike.rewards.crm_events.
"""

import json
import uuid
from urllib.parse import urlsplit

import django_filters
import django_tables2 as tables
from django import forms
from django.contrib import messages
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from campaigns.models import CLOSED_CAMPAIGN_STATUSES, Campaign
from crm import selectors
from crm.models import CrmEvent, CrmEventOutcome, CrmIntegration, CrmProvider
from crm.presets import MAPPING_FIELDS, preset_for
from crm.services import (
    IntegrationRefused,
    create_integration,
    grace_ends,
    rotate_webhook_secret,
    update_integration,
)
from mike.core.signing import SIGNATURE_HEADER
from mike.rewards.crm_events import reprocess_crm_events

from ..access import dashboard_view
from ..tables import DashboardTable, DateInput, table_page

OUTCOME_BADGE = {
    CrmEventOutcome.RECEIVED: "info",
    CrmEventOutcome.UNMATCHED: "warn",
    CrmEventOutcome.FAILED: "bad",
    CrmEventOutcome.PROCESSED: "ok",
}
# The most events one "reprocess the selection" may send through again.
MAX_SELECTION = 500
# The CRMs a preset exists for come first in the form, then the rest.
PROVIDER_CHOICES = [
    (CrmProvider.HUBSPOT, "HubSpot"),
    (CrmProvider.SALESFORCE, "Salesforce"),
    (CrmProvider.GOHIGHLEVEL, "GoHighLevel"),
    (CrmProvider.ZAPIER, "Zapier (Webhooks by Zapier)"),
    (CrmProvider.ZOHO, "Zoho"),
    (CrmProvider.PIPEDRIVE, "Pipedrive"),
    (CrmProvider.CUSTOM, "Another system"),
]


def _client(request):
    """The selected client, whose integrations the user may change; None for "all clients"."""
    return request.scope.managed_client("Your role may not manage any client's CRM integrations.")


def _integration_or_404(request, integration_id) -> CrmIntegration:
    integration = get_object_or_404(
        request.scope.filter(CrmIntegration.objects).select_related("client", "campaign"),
        pk=integration_id,
    )
    request.scope.require_manage(integration.client)
    return integration


def webhook_url(request, integration) -> str:
    return request.build_absolute_uri(
        reverse("crm-webhook", kwargs={"webhook_token": integration.webhook_token})
    )


def outcome_badge(event) -> str:
    return format_html(
        '<span class="badge {}">{}</span>',
        OUTCOME_BADGE[event.outcome],
        event.get_outcome_display(),
    )


# --- Forms ---------------------------------------------------------------------------------------


def _campaign_field():
    return forms.ModelChoiceField(
        label="Campaign",
        queryset=Campaign.objects.none(),
        required=False,
        empty_label="Every campaign of the client",
        help_text="Match events only to this campaign's recipients.",
    )


def _parse_event_mappings(text: str) -> dict:
    """`CRM name = condition name`, one a line, as a dict (a line without `=` is kept with an
    empty condition name, for the service to refuse)."""
    found = {}
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        crm_name, _, mike_name = line.partition("=")
        found[crm_name.strip()] = mike_name.strip()
    return found


def _format_event_mappings(mappings: dict) -> str:
    return "\n".join(f"{crm} = {mike}" for crm, mike in (mappings or {}).items())


class MappingFields(forms.Form):
    """Where the integration reads each field, and the event-name renames."""

    event_mappings = forms.CharField(
        label="Event names",
        required=False,
        widget=forms.Textarea(
            attrs={"rows": 3, "placeholder": "Meeting Booked = appointment_booked"}
        ),
        help_text="One a line: the CRM's event name = the name a condition waits for. Names not "
        "listed are used as they come.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for key, label in MAPPING_FIELDS.items():
            self.fields[key] = forms.CharField(
                label=f"{label} at",
                required=False,
                max_length=300,
                widget=forms.TextInput(attrs={"spellcheck": "false", "autocomplete": "off"}),
            )
        self.fields["event_id"].help_text = (
            "Dots for nested fields (properties.email), | between alternatives (phone|mobile). "
            "Without an event id, a repeated request is recognised by its signed body."
        )
        self.order_fields(["event_id", "event_name", "phone", "email", "redemption_code"])

    def mappings(self) -> tuple[dict, dict]:
        data = self.cleaned_data
        fields = {key: data.get(key, "") for key in MAPPING_FIELDS}
        return fields, _parse_event_mappings(data.get("event_mappings", ""))

    def show_refusal(self, refusal: IntegrationRefused) -> None:
        for field, message in refusal.errors.items():
            self.add_error(field if field in self.fields else None, message)


class CreateForm(MappingFields):
    crm_provider = forms.ChoiceField(
        label="CRM",
        choices=PROVIDER_CHOICES,
        help_text="Sets where Mike looks in the CRM's events; you can change every path after.",
    )
    name = forms.CharField(label="Name", max_length=200, required=False)
    campaign = _campaign_field()

    def __init__(self, *args, client, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["campaign"].queryset = _open_campaigns(client)
        for key in MAPPING_FIELDS:
            self.fields[key].help_text = "Leave empty to use the CRM's preset."
        self.order_fields(["crm_provider", "name", "campaign"])

    def mappings(self) -> tuple[dict, dict]:
        fields, events = super().mappings()
        preset = preset_for(self.cleaned_data["crm_provider"]).field_mappings
        return {key: fields[key] or preset.get(key, "") for key in MAPPING_FIELDS}, events


class EditForm(MappingFields):
    name = forms.CharField(label="Name", max_length=200, required=False)
    campaign = _campaign_field()
    is_active = forms.BooleanField(
        label="Active: accept events", required=False, help_text="An inactive URL answers 404."
    )

    def __init__(self, *args, integration, **kwargs):
        super().__init__(*args, **kwargs)
        campaigns = _open_campaigns(integration.client)
        if integration.campaign_id:
            campaigns = campaigns | Campaign.objects.filter(pk=integration.campaign_id)
        self.fields["campaign"].queryset = campaigns.order_by("name")
        self.order_fields(["name", "campaign", "is_active"])


def _open_campaigns(client):
    return (
        Campaign.objects.filter(client=client)
        .exclude(status__in=CLOSED_CAMPAIGN_STATUSES)
        .order_by("name")
    )


# --- Integrations --------------------------------------------------------------------------------


class IntegrationTable(DashboardTable):
    name = tables.Column(
        "Integration",
        accessor="pk",
        linkify=("dashboard:integration_detail", {"integration_id": tables.A("pk")}),
        order_by=("name",),
    )
    crm_provider = tables.Column("CRM")
    campaign = tables.Column(
        "Campaign", accessor="campaign__name", order_by="campaign__name", default="Every campaign"
    )
    is_active = tables.Column("Status")
    last_event_at = tables.DateTimeColumn(
        verbose_name="Last event", format="M j, Y H:i", default="None yet"
    )

    class Meta(DashboardTable.Meta):
        empty_text = "No CRM connected yet. Add one to let its events meet your conditions."

    always_visible = ("name",)

    def render_name(self, record):
        return str(record)

    value_name = render_name

    def render_is_active(self, record):
        if record.is_active:
            return mark_safe('<span class="badge ok">Active</span>')
        return mark_safe('<span class="badge">Paused</span>')

    def value_is_active(self, record):
        return "active" if record.is_active else "paused"


@require_safe
@dashboard_view(section="integrations")
def integration_list(request):
    client = _client(request)
    if client is None:
        return render(request, "app/team/pick_client.html", {"what": "connect its CRM"})
    queryset = (
        CrmIntegration.objects.for_user(request.user)
        .filter(client=client)
        .select_related("campaign")
        .order_by("name", "crm_provider")
    )
    attention = (
        CrmEvent.objects.for_user(request.user)
        .filter(integration__client=client, processed=True)
        .exclude(error_message="")
        .count()
    )
    return table_page(
        request,
        table_class=IntegrationTable,
        queryset=queryset,
        template="app/integrations/list.html",
        context={"client": client, "attention": attention},
    )


@require_http_methods(["GET", "HEAD", "POST"])
@dashboard_view(section="integrations")
def integration_create(request):
    client = _client(request)
    if client is None:
        return redirect("dashboard:integrations")
    form = CreateForm(request.POST or None, client=client)
    if request.method == "POST" and form.is_valid():
        fields, events = form.mappings()
        try:
            integration = create_integration(
                client=client,
                crm_provider=form.cleaned_data["crm_provider"],
                name=form.cleaned_data["name"],
                campaign=form.cleaned_data["campaign"],
                field_mappings=fields,
                event_mappings=events,
            )
        except IntegrationRefused as refusal:
            form.show_refusal(refusal)
        else:
            messages.success(
                request,
                f"{integration} is connected. Give your CRM the URL and secret below.",
            )
            return redirect("dashboard:integration_detail", integration_id=integration.pk)
    context = {"client": client, "form": form, "presets": _presets_for_page()}
    return render(request, "app/integrations/create.html", context)


def _presets_for_page():
    return [
        {
            "label": label,
            "fields": [
                (name, preset_for(value).field_mappings.get(key, ""))
                for key, name in MAPPING_FIELDS.items()
            ],
        }
        for value, label in PROVIDER_CHOICES[:4]
    ]


@require_safe
@dashboard_view(section="integrations")
def integration_detail(request, integration_id):
    integration = _integration_or_404(request, integration_id)
    preset = preset_for(integration.crm_provider)
    context = {
        "integration": integration,
        "client": integration.client,
        "webhook_url": webhook_url(request, integration),
        "signature_header": SIGNATURE_HEADER,
        "counts": selectors.integration_event_counts(integration),
        "mappings": [
            (label, integration.field_mappings.get(key, ""))
            for key, label in MAPPING_FIELDS.items()
        ],
        "example": json.dumps(preset.example, indent=2),
        "events_url": f"{reverse('dashboard:crm_events')}?integration={integration.pk}",
        "grace_ends": grace_ends(integration),
    }
    return render(request, "app/integrations/detail.html", context)


@require_http_methods(["GET", "HEAD", "POST"])
@dashboard_view(section="integrations")
def integration_edit(request, integration_id):
    integration = _integration_or_404(request, integration_id)
    initial = {
        **integration.field_mappings,
        "name": integration.name,
        "campaign": integration.campaign_id,
        "is_active": integration.is_active,
        "event_mappings": _format_event_mappings(integration.event_mappings),
    }
    form = EditForm(request.POST or None, initial=initial, integration=integration)
    if request.method == "POST" and form.is_valid():
        fields, events = form.mappings()
        try:
            update_integration(
                integration=integration,
                name=form.cleaned_data["name"],
                campaign=form.cleaned_data["campaign"],
                field_mappings=fields,
                event_mappings=events,
                is_active=form.cleaned_data["is_active"],
            )
        except IntegrationRefused as refusal:
            form.show_refusal(refusal)
        else:
            messages.success(
                request,
                "Saved. New events are read this way; reprocess earlier ones to apply it to them.",
            )
            return redirect("dashboard:integration_detail", integration_id=integration.pk)
    context = {"integration": integration, "client": integration.client, "form": form}
    return render(request, "app/integrations/edit.html", context)


@require_POST
@dashboard_view(section="integrations")
def integration_rotate_secret(request, integration_id):
    integration = _integration_or_404(request, integration_id)
    rotate_webhook_secret(integration=integration)
    messages.success(
        request,
        "A new secret is made. The previous one still works for a day: give the CRM the new one "
        "before then.",
    )
    return redirect(
        f"{reverse('dashboard:integration_detail', kwargs={'integration_id': integration.pk})}"
        "?secret=shown#secret"
    )


# --- Events --------------------------------------------------------------------------------------


class EventTable(DashboardTable):
    select = tables.Column(
        mark_safe('<span class="visually-hidden">Select</span>'),
        accessor="pk",
        orderable=False,
        empty_values=(),
    )
    created_at = tables.DateTimeColumn(
        verbose_name="Received", format="M j, Y H:i", attrs={"td": {"class": "nowrap"}}
    )
    event_type = tables.Column(
        "Event",
        linkify=("dashboard:crm_event_detail", {"event_id": tables.A("pk")}),
        default="(no name)",
    )
    outcome = tables.Column("Outcome", accessor="pk", orderable=False)
    recipient = tables.Column("Recipient", orderable=False, default="")
    condition_triggered = tables.Column(
        "Condition met", attrs={"td": {"class": "num"}}, empty_values=()
    )
    error_message = tables.Column("Why", default="", attrs={"td": {"class": "failure"}})
    integration = tables.Column("Integration", orderable=False)
    external_id = tables.Column("Event id", attrs={"td": {"class": "mono break-anywhere"}})
    actions = tables.Column("", accessor="pk", orderable=False, attrs={"td": {"class": "nowrap"}})

    class Meta(DashboardTable.Meta):
        empty_text = "No events here."
        sequence = (
            "select",
            "created_at",
            "event_type",
            "outcome",
            "actions",
            "error_message",
            "...",
        )

    always_visible = ("created_at", "event_type", "outcome")

    def __init__(self, *args, checked=(), **kwargs):
        self.checked = {str(pk) for pk in checked}
        super().__init__(*args, **kwargs)

    def render_select(self, record):
        return format_html(
            '<input type="checkbox" name="events" value="{}" aria-label="Select event {}"{}>',
            record.pk,
            record.event_type or record.external_id,
            mark_safe(" checked") if str(record.pk) in self.checked else "",
        )

    def render_outcome(self, record):
        return outcome_badge(record)

    def value_outcome(self, record):
        return record.outcome

    def render_recipient(self, record):
        return record.recipient.full_name or str(record.recipient)

    value_recipient = render_recipient

    def render_condition_triggered(self, record):
        if record.condition_triggered is not None:
            return str(record.condition_triggered)
        return mark_safe('<span class="muted">None</span>') if record.matched else ""

    def value_condition_triggered(self, record):
        return record.condition_triggered

    def render_error_message(self, value):
        return value[:160]

    def render_actions(self, record):
        url = reverse("dashboard:crm_event_reprocess", kwargs={"event_id": record.pk})
        # Inside the page's selection form, whose `next` brings the user back to this page.
        return format_html(
            '<button type="submit" class="small" formaction="{}">Reprocess</button>', url
        )

    def value_actions(self, record):
        return ""


class EventFilter(django_filters.FilterSet):
    outcome = django_filters.ChoiceFilter(
        label="Outcome",
        choices=CrmEventOutcome.choices,
        empty_label="Any outcome",
        method="filter_outcome",
    )
    integration = django_filters.ModelChoiceFilter(
        queryset=lambda request: (
            request.scope.filter(CrmIntegration.objects).order_by("name")
            if request is not None and hasattr(request, "scope")
            else CrmIntegration.objects.none()
        ),
        empty_label="Every integration",
    )
    q = django_filters.CharFilter(
        label="Search", method="filter_search", widget=forms.TextInput(attrs={"type": "search"})
    )
    since = django_filters.DateFilter(
        label="From", field_name="created_at", lookup_expr="date__gte", widget=DateInput
    )

    class Meta:
        model = CrmEvent
        fields = ["outcome", "integration"]

    def filter_outcome(self, queryset, name, value):
        return selectors.events_of(queryset, outcome=value)

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(event_type__icontains=value) | Q(external_id=value))


def _events_queryset(request, client):
    return selectors.events_of(
        CrmEvent.objects.for_user(request.user).filter(integration__client=client)
    ).order_by("-created_at")


def _back(request, fallback: str) -> str:
    """Where a reprocess returns to: the page it was asked from. The Referer comes first because
    htmx filters change the page's address after the form's `next` was written."""
    for target in (request.headers.get("Referer", ""), request.POST.get("next", "")):
        if target and url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            parts = urlsplit(target)
            return parts.path + (f"?{parts.query}" if parts.query else "")
    return fallback


@require_safe
@dashboard_view(section="integrations")
def event_list(request):
    client = _client(request)
    if client is None:
        return render(request, "app/team/pick_client.html", {"what": "see its CRM events"})
    return table_page(
        request,
        table_class=EventTable,
        queryset=_events_queryset(request, client),
        filterset_class=EventFilter,
        template="app/integrations/events.html",
        export_name="crm-events",
        context={"client": client, "max_selection": MAX_SELECTION},
    )


@require_safe
@dashboard_view(section="integrations")
def event_detail(request, event_id):
    client = _client(request)
    event = get_object_or_404(
        selectors.events_of(request.scope.filter(CrmEvent.objects)), pk=event_id
    )
    request.scope.require_manage(event.integration.client)
    context = {
        "client": client or event.integration.client,
        "event": event,
        "payload": json.dumps(event.raw_payload, indent=2, ensure_ascii=False),
        "badge": outcome_badge(event),
    }
    return render(request, "app/integrations/event.html", context)


@require_POST
@dashboard_view(section="integrations")
def event_reprocess(request, event_id):
    event = get_object_or_404(
        request.scope.filter(CrmEvent.objects).select_related("integration__client"), pk=event_id
    )
    request.scope.require_manage(event.integration.client)
    reprocess_crm_events([event.pk])
    event.refresh_from_db()
    if event.processed:
        messages.success(request, f"Reprocessed: {event.get_outcome_display().lower()}.")
    else:
        messages.success(request, "Queued to be processed again; refresh in a moment.")
    return redirect(_back(request, reverse("dashboard:crm_events")))


@require_POST
@dashboard_view(section="integrations")
def events_reprocess(request):
    client = _client(request)
    if client is None:
        return redirect("dashboard:crm_events")
    ids = request.POST.getlist("events")[:MAX_SELECTION]
    valid = []
    for pk in ids:
        try:
            valid.append(str(uuid.UUID(pk)))
        except ValueError:
            continue
    # Only events the user reaches, of the selected client: anything else is simply not found.
    found = list(
        CrmEvent.objects.for_user(request.user)
        .filter(integration__client=client, pk__in=valid)
        .values_list("pk", flat=True)
    )
    if not found:
        messages.warning(request, "Tick the events to reprocess first.")
    else:
        queued = reprocess_crm_events(found)
        messages.success(request, f"Reprocessed {queued} event{'s' if queued != 1 else ''}.")
    return redirect(_back(request, reverse("dashboard:crm_events")))


urlpatterns = [
    path("integrations/", integration_list, name="integrations"),
    path("integrations/new/", integration_create, name="integration_create"),
    path("integrations/events/", event_list, name="crm_events"),
    path("integrations/events/reprocess/", events_reprocess, name="crm_events_reprocess"),
    path("integrations/events/<uuid:event_id>/", event_detail, name="crm_event_detail"),
    path(
        "integrations/events/<uuid:event_id>/reprocess/",
        event_reprocess,
        name="crm_event_reprocess",
    ),
    path("integrations/<uuid:integration_id>/", integration_detail, name="integration_detail"),
    path("integrations/<uuid:integration_id>/edit/", integration_edit, name="integration_edit"),
    path(
        "integrations/<uuid:integration_id>/rotate-secret/",
        integration_rotate_secret,
        name="integration_rotate_secret",
    ),
]
