"""Audiences: the client's mailing lists (with their counts and the campaigns mailing them), a new
empty audience, and one audience's page with its imports and the way to import recipients."""

import django_filters
import django_tables2 as tables
from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_http_methods, require_safe

from mike.imports.models import ImportJob
from recipients.models import Audience, AudienceStatus
from recipients.services.audiences import NAME_MAX_LENGTH, AudienceInvalid, create_audience

from ..access import dashboard_view
from ..tables import DashboardTable, table_page
from .imports import JOB_BADGE

AUDIENCE_BADGE = {
    AudienceStatus.READY: "ok",
    AudienceStatus.PROCESSING: "info",
    AudienceStatus.FAILED: "bad",
}
# Imports listed on an audience's page; the rest are on the imports list.
RECENT_IMPORTS = 10


def audience_badge(audience):
    return format_html(
        '<span class="badge {}">{}</span>',
        AUDIENCE_BADGE.get(audience.status, ""),
        audience.get_status_display(),
    )


class CountColumn(tables.Column):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("attrs", {"th": {"class": "num"}, "td": {"class": "num"}})
        super().__init__(*args, **kwargs)

    def render(self, value):
        return f"{value:,}"


class AudienceTable(DashboardTable):
    name = tables.Column(
        "Audience",
        linkify=("dashboard:audience", {"audience_id": tables.A("pk")}),
        attrs={"td": {"class": "name-cell"}},
    )
    client = tables.Column("Client", accessor="client__name", order_by="client__name")
    status = tables.Column("Status")
    total_count = CountColumn("Recipients")
    valid_count = CountColumn("Valid")
    invalid_count = CountColumn("Rows not imported")
    campaigns_count = CountColumn("Campaigns")
    created_at = tables.DateTimeColumn(
        verbose_name="Created", format="M j, Y", attrs={"td": {"class": "when"}}
    )

    class Meta(DashboardTable.Meta):
        empty_text = "No audiences yet."
        order_by = ("-created_at",)

    always_visible = ("name",)

    def __init__(self, *args, show_client: bool = True, **kwargs):
        exclude = list(kwargs.pop("exclude", None) or [])
        if not show_client:
            exclude.append("client")
        super().__init__(*args, exclude=exclude, **kwargs)

    def render_status(self, record):
        return audience_badge(record)

    def value_status(self, record):
        return record.status


class SearchInput(forms.TextInput):
    input_type = "search"


class AudienceFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(
        label="Name",
        lookup_expr="icontains",
        widget=SearchInput(attrs={"placeholder": "Audience name"}),
    )
    status = django_filters.ChoiceFilter(choices=AudienceStatus.choices, empty_label="Any status")

    class Meta:
        model = Audience
        fields = ["name", "status"]


def _audiences(scope):
    return scope.filter(Audience.objects).select_related("client")


def _manageable_clients(scope) -> list:
    return [client for client in scope.client_choices if scope.can_manage(client)]


@require_safe
@dashboard_view(section="audiences")
def audience_list(request):
    scope = request.scope
    queryset = _audiences(scope).annotate(campaigns_count=Count("campaigns", distinct=True))
    can_create = scope.can_manage() if scope.client is not None else scope.can_manage_any
    return table_page(
        request,
        table_class=AudienceTable,
        queryset=queryset,
        filterset_class=AudienceFilter,
        template="app/audiences/list.html",
        export_name="audiences",
        table_kwargs={"show_client": scope.client is None},
        context={"can_create": can_create},
    )


class AudienceForm(forms.Form):
    name = forms.CharField(
        label="Name",
        max_length=NAME_MAX_LENGTH,
        help_text="What the list is, e.g. “Spring mailing 2026, homeowners 30+”.",
    )
    client = forms.ChoiceField(label="Client")

    def __init__(self, *args, clients, **kwargs):
        super().__init__(*args, **kwargs)
        self.clients = {str(client.pk): client for client in clients}
        if len(clients) > 1:
            self.fields["client"].choices = [("", "Choose a client")] + [
                (str(client.pk), client.name) for client in clients
            ]
        else:
            del self.fields["client"]

    def clean_client(self):
        return self.clients[self.cleaned_data["client"]]

    @property
    def chosen_client(self):
        if "client" in self.fields:
            return self.cleaned_data["client"]
        return next(iter(self.clients.values()))


@require_http_methods(["GET", "HEAD", "POST"])
@dashboard_view(section="audiences")
def audience_new(request):
    """A new, empty audience for the selected client (or, under "all clients", one the user
    picks among those they may change)."""
    scope = request.scope
    if scope.client is not None:
        scope.require_manage(scope.client)
        clients = [scope.client]
    else:
        clients = _manageable_clients(scope)
        if not clients:
            raise PermissionDenied("Your role may look at audiences but not create them.")
    form = AudienceForm(request.POST if request.method == "POST" else None, clients=clients)
    if request.method == "POST" and form.is_valid():
        try:
            audience = create_audience(
                client=form.chosen_client, name=form.cleaned_data["name"], by=request.user
            )
        except AudienceInvalid as refusal:
            form.add_error("name", str(refusal))
        else:
            messages.success(request, f"{audience.name} is ready: import its recipients now.")
            return redirect("dashboard:audience", audience_id=audience.pk)
    return render(
        request,
        "app/audiences/new.html",
        {"form": form, "client": clients[0] if len(clients) == 1 else None},
    )


@require_safe
@dashboard_view(section="audiences")
def audience_detail(request, audience_id):
    scope = request.scope
    audience = get_object_or_404(_audiences(scope), pk=audience_id)
    audience.badge = AUDIENCE_BADGE.get(audience.status, "")
    campaigns = list(audience.campaigns.order_by("-created_at"))
    jobs = list(
        ImportJob.objects.filter(audience=audience)
        .select_related("created_by")
        .order_by("-created_at")[: RECENT_IMPORTS + 1]
    )
    for job in jobs:
        job.badge = JOB_BADGE.get(job.status, "")
    return render(
        request,
        "app/audiences/detail.html",
        {
            "audience": audience,
            "campaigns": campaigns,
            "jobs": jobs[:RECENT_IMPORTS],
            "more_jobs": len(jobs) > RECENT_IMPORTS,
            "can_manage": scope.can_manage(audience.client),
            "imports_url": f"{reverse('dashboard:imports')}?kind=recipients",
        },
    )


urlpatterns = [
    path("audiences/", audience_list, name="audiences"),
    path("audiences/new/", audience_new, name="audience_new"),
    path("audiences/<uuid:audience_id>/", audience_detail, name="audience"),
]
