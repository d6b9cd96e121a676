"""Importing files from the dashboard: upload a CSV into an audience or a pool, confirm which of
its columns is which field, then watch the job run (an htmx-polled progress bar), read what was
not imported and download the report; and the list of every import in scope.

Every step is the import engine's (mike.imports.services): `create_job` checks the file and
guesses the columns, `start_job` confirms them and queues the job, `cancel_job` stops it. What
differs between kinds (which object the file goes into, how it is found within the user's scope,
where to go back to) is one entry of KINDS, so a new kind is one more entry.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import django_filters
import django_tables2 as tables
from django import forms
from django.contrib import messages
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.cache import patch_vary_headers
from django.utils.html import format_html
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from giftcards import selectors as giftcard_selectors
from giftcards.models import GiftCardPool
from mike.core.imports import ImportFileError
from mike.imports import services
from mike.imports.engine import importer_class
from mike.imports.models import ImportJob, ImportKind, ImportStatus
from recipients.models import Audience

from ..access import dashboard_view
from ..tables import DashboardTable, table_page

# How many of a job's problems its page lists (the report has them all).
PROBLEMS_SHOWN = 20

JOB_BADGE = {
    ImportStatus.PENDING: "warn",
    ImportStatus.QUEUED: "info",
    ImportStatus.RUNNING: "info",
    ImportStatus.DONE: "ok",
    ImportStatus.FAILED: "bad",
    ImportStatus.CANCELLED: "",
}


# --- The kinds -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportTarget:
    """What the dashboard needs to know about one kind of import."""

    kind: str
    what: str  # what the file holds: "recipients"
    target_label: str  # what it goes into: "audience"
    url_name: str  # the upload page (in the dashboard's namespace)
    route: str  # its path under /app/
    url_arg: str  # the path's argument naming the target
    section: str  # the navigation entry its pages sit under
    find: Callable  # (request, target id) → the target in the user's scope, or Http404
    name_of: Callable  # target → its name on the pages
    url_of: Callable  # target → its page
    hint: str  # what the upload page says about the file


def _audience(request, audience_id) -> Audience:
    audiences = request.scope.filter(Audience.objects).select_related("client")
    return get_object_or_404(audiences, pk=audience_id)


def _pool(request, pool_id) -> GiftCardPool:
    # Clients' pools only, as the pool's page shows them: master pools are stocked by staff.
    pools = giftcard_selectors.client_pools(request.scope.filter(GiftCardPool.objects))
    return get_object_or_404(pools, pk=pool_id)


KINDS: dict[str, ImportTarget] = {
    ImportKind.RECIPIENTS: ImportTarget(
        kind=ImportKind.RECIPIENTS,
        what="recipients",
        target_label="audience",
        url_name="audience_import",
        route="audiences/<uuid:audience_id>/import/",
        url_arg="audience_id",
        section="audiences",
        find=_audience,
        name_of=lambda audience: audience.name,
        url_of=lambda audience: reverse("dashboard:audience", args=[audience.pk]),
        hint=(
            "One row per person, with a header row: name (or first and last name), phone, "
            "email, address1, address2, city, state, zip; optionally an external id and a "
            "redemption code. Other columns are kept as custom fields. People already in the "
            "audience are reported as duplicates, never imported twice."
        ),
    ),
    ImportKind.CARDS: ImportTarget(
        kind=ImportKind.CARDS,
        what="gift cards",
        target_label="pool",
        url_name="pool_import",
        route="giftcards/pools/<uuid:pool_id>/import/",
        url_arg="pool_id",
        section="giftcards",
        find=_pool,
        name_of=lambda pool: pool.pool_name,
        url_of=lambda pool: reverse("dashboard:giftcard_pool", args=[pool.pk]),
        hint=(
            "One row per card, with a header row: card_code (required), card_number, pin, "
            "balance (else the pool's value) and expiration_date. A code already in the "
            "platform is reported, never imported twice."
        ),
    ),
}


def _kind_of(job: ImportJob) -> ImportTarget:
    entry = KINDS.get(job.kind)
    if entry is None:
        raise Http404("This kind of import has no dashboard pages.")
    return entry


# --- Upload --------------------------------------------------------------------------------------


class UploadForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        # An empty file is the engine's to refuse, with the message every import gives.
        allow_empty_file=True,
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,.tsv,text/csv"}),
        error_messages={"required": "Choose the CSV file to import."},
        help_text="UTF-8 or Windows-1252; comma, semicolon or tab separated; one header row.",
    )


@require_http_methods(["GET", "HEAD", "POST"])
@dashboard_view
def upload(request, *, kind: str, **ids):
    entry = KINDS[kind]
    request.nav_section = entry.section
    target = entry.find(request, ids[entry.url_arg])
    request.scope.require_manage(target.client)
    posted = request.method == "POST"
    form = UploadForm(request.POST if posted else None, request.FILES if posted else None)
    if posted and form.is_valid():
        uploaded = form.cleaned_data["file"]
        try:
            job = services.create_job(
                kind,
                target=target,
                file=uploaded,
                via="dashboard",
                user=request.user,
                file_name=uploaded.name,
            )
        except ImportFileError as refusal:
            form.add_error("file", str(refusal))
        else:
            return redirect("dashboard:import_columns", job_id=job.pk)
    return render(
        request,
        "app/imports/upload.html",
        {
            "form": form,
            "entry": entry,
            "target": target,
            "target_name": entry.name_of(target),
            "target_url": entry.url_of(target),
        },
        status=400 if form.errors else 200,
    )


# --- Columns -------------------------------------------------------------------------------------

NOT_IN_FILE = "— not in the file —"
# A column's first value, shown beside its name in the choices (the preview may scroll away).
SAMPLE_LENGTH = 28


def _job(request, job_id) -> ImportJob:
    """The job in the user's scope (clients' jobs only: a master pool's are the admin's)."""
    jobs = (
        request.scope.filter(ImportJob.objects)
        .filter(client__isnull=False)
        .select_related("client", "audience", "pool", "created_by")
    )
    job = get_object_or_404(jobs, pk=job_id)
    request.nav_section = _kind_of(job).section
    return job


class ColumnsForm(forms.Form):
    """One choice of the file's columns per field the kind reads."""

    def __init__(self, *args, job: ImportJob, samples: dict[str, str], **kwargs):
        super().__init__(*args, **kwargs)
        self.target_fields = importer_class(job.kind).fields
        choices = [("", NOT_IN_FILE)]
        for column in job.header:
            sample = samples.get(column, "")
            if len(sample) > SAMPLE_LENGTH:
                sample = sample[: SAMPLE_LENGTH - 1] + "…"
            choices.append((column, f"{column} (e.g. {sample})" if sample else column))
        for item in self.target_fields:
            self.fields[item.name] = forms.ChoiceField(
                label=item.label,
                choices=choices,
                required=item.required,
                initial=job.mapping.get(item.name, ""),
                error_messages={"required": f"Choose the column that holds the {item.label}."},
            )

    def clean(self):
        data = super().clean()
        used: dict[str, str] = {}
        for item in self.target_fields:
            column = data.get(item.name)
            if not column:
                continue
            if column in used:
                self.add_error(
                    item.name, f"Column '{column}' is already chosen for {used[column]}."
                )
            else:
                used[column] = item.label
        return data

    @property
    def mapping(self) -> dict[str, str]:
        return {item.name: self.cleaned_data.get(item.name) or "" for item in self.target_fields}


def _samples(rows: list[dict[str, str]]) -> dict[str, str]:
    """The first value of each column in the preview rows."""
    found: dict[str, str] = {}
    for row in rows:
        for column, value in row.items():
            if value and column not in found:
                found[column] = value
    return found


@require_http_methods(["GET", "HEAD", "POST"])
@dashboard_view(section="audiences")
def columns(request, job_id):
    job = _job(request, job_id)
    entry = _kind_of(job)
    request.scope.require_manage(job.client)
    if job.status != ImportStatus.PENDING:
        messages.info(request, "This import's columns are already confirmed.")
        return redirect("dashboard:import_job", job_id=job.pk)
    try:
        rows = services.preview(job)
    except ImportFileError as refusal:
        rows = []
        messages.error(request, str(refusal))
    form = ColumnsForm(
        request.POST if request.method == "POST" else None, job=job, samples=_samples(rows)
    )
    if request.method == "POST" and form.is_valid():
        try:
            started = services.start_job(job, mapping=form.mapping)
        except ImportFileError as refusal:
            form.add_error(None, str(refusal))
        except services.ImportRefused as refusal:
            messages.info(request, str(refusal))
            return redirect("dashboard:import_job", job_id=job.pk)
        else:
            if started.status == ImportStatus.DONE:
                summary = services.report_of(started).summary()
                messages.success(request, f"{started.file_name} is imported: {summary}.")
            else:
                messages.success(request, f"{started.file_name} is being imported.")
            return redirect("dashboard:import_job", job_id=job.pk)
    remembered = services.remembered_mapping(job)
    mapped = set(job.mapping.values())
    return render(
        request,
        "app/imports/columns.html",
        {
            "job": job,
            "entry": entry,
            "form": form,
            "header": job.header,
            "rows": [[row.get(column, "") for column in job.header] for row in rows],
            "is_remembered": bool(remembered) and remembered == job.mapping,
            "keeps_other_columns": importer_class(job.kind).keeps_other_columns,
            "unmapped": [column for column in job.header if column not in mapped],
            "target_name": entry.name_of(job.target),
            "target_url": entry.url_of(job.target),
        },
        status=400 if form.errors else 200,
    )


# --- The job -------------------------------------------------------------------------------------


def _job_context(request, job: ImportJob) -> dict:
    entry = _kind_of(job)
    problems = list(job.problems.order_by("line", "id")[:PROBLEMS_SHOWN])
    job.badge = JOB_BADGE.get(job.status, "")
    return {
        "job": job,
        "entry": entry,
        "problems": problems,
        "more_problems": job.duplicates + job.errors > len(problems),
        "can_manage": request.scope.can_manage(job.client),
        "can_cancel": not job.finished and job.status != ImportStatus.PENDING,
        "target_name": entry.name_of(job.target),
        "target_url": entry.url_of(job.target),
    }


@require_safe
@dashboard_view(section="audiences")
def job_detail(request, job_id):
    """The job's page; an htmx request (the progress partial polling itself) gets the partial."""
    job = _job(request, job_id)
    context = _job_context(request, job)
    if getattr(request, "htmx", False):
        response = render(request, "app/imports/_progress.html", context)
    else:
        response = render(request, "app/imports/job.html", context)
    patch_vary_headers(response, ["HX-Request"])
    # A progress bar is only true now: never from a cache.
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@dashboard_view(section="audiences")
def job_cancel(request, job_id):
    job = _job(request, job_id)
    request.scope.require_manage(job.client)
    if job.finished:
        messages.info(request, f"This import had already ended ({job.get_status_display()}).")
        return redirect("dashboard:import_job", job_id=job.pk)
    cancelled = services.cancel_job(job)
    if cancelled.status == ImportStatus.CANCELLED:
        messages.success(request, "The import is cancelled; nothing of it was imported.")
    else:
        messages.success(
            request,
            "The import stops after the batch it is writing; the rows written so far stay.",
        )
    return redirect("dashboard:import_job", job_id=job.pk)


_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")


def report_filename(job: ImportJob) -> str:
    stem = job.file_name.rsplit(".", 1)[0] if "." in job.file_name else job.file_name
    stem = _UNSAFE_FILENAME.sub("-", stem).strip("-.")[:80] or "import"
    return f"{stem}-report.csv"


@require_safe
@dashboard_view(section="audiences")
def job_report(request, job_id):
    job = _job(request, job_id)
    response = StreamingHttpResponse(
        services.report_csv(job), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{report_filename(job)}"'
    return response


# --- Every import --------------------------------------------------------------------------------


class JobTable(DashboardTable):
    file_name = tables.Column(
        "File",
        linkify=("dashboard:import_job", {"job_id": tables.A("pk")}),
        attrs={"td": {"class": "name-cell"}},
    )
    kind = tables.Column("Kind")
    target = tables.Column(
        "Into", accessor="pk", orderable=False, attrs={"td": {"class": "target-cell"}}
    )
    client = tables.Column("Client", accessor="client__name", order_by="client__name")
    status = tables.Column("Status")
    rows_total = tables.Column("Rows", attrs={"th": {"class": "num"}, "td": {"class": "num"}})
    imported = tables.Column("Imported", attrs={"th": {"class": "num"}, "td": {"class": "num"}})
    duplicates = tables.Column("Duplicates", attrs={"th": {"class": "num"}, "td": {"class": "num"}})
    errors = tables.Column("Errors", attrs={"th": {"class": "num"}, "td": {"class": "num"}})
    created_by = tables.Column(
        "By",
        accessor="created_by__full_name",
        order_by="created_by__full_name",
        default="",
    )
    created_at = tables.DateTimeColumn(
        verbose_name="When", format="M j, Y H:i", attrs={"td": {"class": "when"}}
    )

    class Meta(DashboardTable.Meta):
        empty_text = "No imports yet."
        order_by = ("-created_at",)
        attrs = {"class": "data-table imports-table"}
        # What a person looks for first (which file, how it went, when), so a phone shows it
        # without scrolling sideways.
        sequence = (
            "file_name",
            "status",
            "created_at",
            "rows_total",
            "imported",
            "duplicates",
            "errors",
            "target",
            "client",
            "kind",
            "created_by",
        )

    always_visible = ("file_name",)

    def __init__(self, *args, show_client: bool = True, **kwargs):
        exclude = list(kwargs.pop("exclude", None) or [])
        if not show_client:
            exclude.append("client")
        super().__init__(*args, exclude=exclude, **kwargs)

    def render_kind(self, record):
        entry = KINDS.get(record.kind)
        return entry.what.capitalize() if entry else record.get_kind_display()

    value_kind = render_kind

    def render_target(self, record):
        entry = KINDS.get(record.kind)
        target = record.target
        if entry is None or target is None:
            return str(target or "")
        return format_html('<a href="{}">{}</a>', entry.url_of(target), entry.name_of(target))

    def value_target(self, record):
        entry = KINDS.get(record.kind)
        target = record.target
        return entry.name_of(target) if entry and target is not None else str(target or "")

    def render_status(self, record):
        return format_html(
            '<span class="badge {}">{}</span>',
            JOB_BADGE.get(record.status, ""),
            record.get_status_display(),
        )

    def value_status(self, record):
        return record.status

    def render_rows_total(self, record):
        total = record.rows_total if record.rows_total is not None else record.rows_done
        return f"{total:,}"

    def value_rows_total(self, record):
        return record.rows_total if record.rows_total is not None else record.rows_done

    def render_imported(self, value):
        return f"{value:,}"

    def render_duplicates(self, value):
        return f"{value:,}"

    def render_errors(self, value):
        return f"{value:,}"


class SearchInput(forms.TextInput):
    input_type = "search"


class JobFilter(django_filters.FilterSet):
    file_name = django_filters.CharFilter(
        label="File",
        lookup_expr="icontains",
        widget=SearchInput(attrs={"placeholder": "File name"}),
    )
    kind = django_filters.ChoiceFilter(
        label="Kind",
        choices=[(entry.kind, entry.what.capitalize()) for entry in KINDS.values()],
        empty_label="Any kind",
    )
    status = django_filters.ChoiceFilter(choices=ImportStatus.choices, empty_label="Any status")

    class Meta:
        model = ImportJob
        fields = ["file_name", "kind", "status"]


@require_safe
@dashboard_view(section="audiences")
def job_list(request):
    scope = request.scope
    queryset = (
        scope.filter(ImportJob.objects)
        .filter(client__isnull=False, kind__in=list(KINDS))
        .select_related("client", "audience", "pool", "created_by")
    )
    return table_page(
        request,
        table_class=JobTable,
        queryset=queryset,
        filterset_class=JobFilter,
        template="app/imports/list.html",
        export_name="imports",
        table_kwargs={"show_client": scope.client is None},
    )


urlpatterns = [
    *(
        path(entry.route, upload, {"kind": kind}, name=entry.url_name)
        for kind, entry in KINDS.items()
    ),
    path("imports/", job_list, name="imports"),
    path("imports/<uuid:job_id>/", job_detail, name="import_job"),
    path("imports/<uuid:job_id>/columns/", columns, name="import_columns"),
    path("imports/<uuid:job_id>/cancel/", job_cancel, name="import_cancel"),
    path("imports/<uuid:job_id>/report.csv", job_report, name="import_report"),
]
