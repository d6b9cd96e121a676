"""Import jobs in the admin: every job, read-only (the engine writes them), its progress and
report, a Cancel action, and an "Upload a file" page that starts a job with the guessed columns.

The upload form is built from ADMIN_KINDS, one entry per kind (which object the file goes into
and how it is chosen); contacts join when their importer (crm.imports) is installed.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import PermissionDenied
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from mike.core.admin import MikeModelAdmin, ReadOnlyAdminMixin
from mike.core.imports import ImportFileError

from . import services
from .models import ImportJob, ImportKind, ImportStatus, ImportVia

# --- What the upload form offers, by kind --------------------------------------------------------


@dataclass(frozen=True)
class AdminKind:
    """One kind in the upload form: `target` is the form field naming what the file goes into
    (an ImportJob foreign key, chosen with the admin's autocomplete); `contact_list` the optional
    list field for contacts."""

    kind: str
    target: str
    contact_list: str = ""

    @property
    def label(self) -> str:
        return ImportKind(self.kind).label


def _has_importer(dotted_module: str) -> bool:
    try:
        return importlib.util.find_spec(dotted_module) is not None
    except ModuleNotFoundError:
        return False


ADMIN_KINDS: dict[str, AdminKind] = {
    ImportKind.RECIPIENTS: AdminKind(ImportKind.RECIPIENTS, target="audience"),
    ImportKind.CARDS: AdminKind(ImportKind.CARDS, target="pool"),
}
if _has_importer("crm.imports"):
    ADMIN_KINDS[ImportKind.CONTACTS] = AdminKind(
        ImportKind.CONTACTS, target="client", contact_list="contact_list"
    )


class UploadForm(forms.Form):
    kind = forms.ChoiceField(label="Import")
    file = forms.FileField(
        label="CSV file",
        allow_empty_file=True,  # the engine refuses it, with its own message
        help_text="UTF-8 or Windows-1252; comma, semicolon or tab separated; one header row. "
        "The columns are read from the header as the import commands read them.",
    )

    def __init__(self, *args, admin_site, kinds: dict[str, AdminKind] = ADMIN_KINDS, **kwargs):
        super().__init__(*args, **kwargs)
        self.kinds = kinds
        self.fields["kind"].choices = [(kind, entry.label) for kind, entry in kinds.items()]
        # One chooser per target the kinds name, each the admin's autocomplete over that model.
        used_by: dict[str, list[str]] = {}
        for entry in kinds.values():
            for name in (entry.target, entry.contact_list):
                if name:
                    used_by.setdefault(name, []).append(entry.label)
        for name, labels in used_by.items():
            model_field = ImportJob._meta.get_field(name)
            self.fields[name] = forms.ModelChoiceField(
                label=model_field.verbose_name.capitalize(),
                queryset=model_field.related_model._default_manager.all(),
                required=False,
                widget=AutocompleteSelect(model_field, admin_site),
                help_text="For " + " and ".join(label[0].lower() + label[1:] for label in labels),
            )
        self.order_fields(["kind", *used_by, "file"])

    def clean(self):
        data = super().clean()
        entry = self.kinds.get(data.get("kind"))
        if entry is None:
            return data
        if not data.get(entry.target):
            self.add_error(entry.target, f"Choose the {entry.target.replace('_', ' ')}.")
        for other in {e.target for e in self.kinds.values()} - {entry.target}:
            data[other] = None
        return data

    @property
    def entry(self) -> AdminKind:
        return self.kinds[self.cleaned_data["kind"]]

    @property
    def target(self):
        return self.cleaned_data[self.entry.target]

    @property
    def contact_list(self):
        name = self.entry.contact_list
        return self.cleaned_data.get(name) if name else None


def start_upload(*, kind: str, target, file, user, contact_list=None) -> ImportJob:
    """Create the job for an admin upload and start it with the guessed (or remembered) columns.
    Raises ImportFileError, keeping nothing, for a refused file or columns the kind cannot read
    (a cards file without a card code column …)."""
    job = services.create_job(
        kind,
        target=target,
        file=file,
        via=ImportVia.ADMIN,
        user=user,
        contact_list=contact_list,
        file_name=getattr(file, "name", None),
    )
    try:
        return services.start_job(job)
    except (ImportFileError, services.ImportRefused):
        job.file.delete(save=False)
        job.delete()
        raise


# --- The job admin -------------------------------------------------------------------------------


@admin.action(description="Cancel the selected imports")
def cancel_imports(modeladmin, request, queryset):
    if not modeladmin.has_cancel_permission(request):
        raise PermissionDenied
    stopped = stopping = 0
    for job in queryset:
        if job.finished:
            continue
        result = services.cancel_job(job)
        if result.status == ImportStatus.CANCELLED:
            stopped += 1
        else:
            stopping += 1
    parts = []
    if stopped:
        parts.append(f"{stopped} cancelled")
    if stopping:
        parts.append(f"{stopping} stop after the batch they are writing")
    if parts:
        modeladmin.message_user(request, "Imports: " + "; ".join(parts) + ".", messages.SUCCESS)
    else:
        modeladmin.message_user(request, "Those imports had already ended.", messages.WARNING)


@admin.register(ImportJob)
class ImportJobAdmin(ReadOnlyAdminMixin, MikeModelAdmin):
    list_display = (
        "file_name",
        "kind",
        "target_name",
        "client",
        "status",
        "rows",
        "imported",
        "duplicates",
        "errors",
        "via",
        "created_by",
        "created_at",
    )
    list_filter = ("kind", "status", "via")
    search_fields = ("file_name",)
    list_select_related = ("client", "audience", "pool", "contact_list", "created_by")
    date_hierarchy = "created_at"
    actions = [cancel_imports]
    fieldsets = (
        (None, {"fields": ("file_name", "kind", "status", "progress", "report", "message")}),
        (
            "Counts",
            {"fields": ("rows_total", "rows_done", "imported", "duplicates", "errors")},
        ),
        ("Into", {"fields": ("client", "audience", "pool", "contact_list")}),
        ("The file", {"fields": ("stored_file", "file_size", "header", "mapping")}),
        (
            "Run",
            {
                "fields": (
                    "via",
                    "created_by",
                    "created_at",
                    "started_at",
                    "heartbeat_at",
                    "finished_at",
                    "resume_line",
                    "attempts",
                    "cancel_requested",
                )
            },
        ),
    )
    readonly_fields = tuple(name for _, options in fieldsets for name in options["fields"])

    def has_upload_permission(self, request) -> bool:
        return request.user.has_perm(f"{self.opts.app_label}.add_{self.opts.model_name}")

    def has_cancel_permission(self, request) -> bool:
        return request.user.has_perm(f"{self.opts.app_label}.change_{self.opts.model_name}")

    @admin.display(description="Into")
    def target_name(self, job):
        return str(job.target) if job.target is not None else ""

    @admin.display(description="Rows")
    def rows(self, job):
        total = "?" if job.rows_total is None else f"{job.rows_total:,}"
        return f"{job.rows_done:,} of {total} ({job.percent} %)"

    @admin.display(description="Progress")
    def progress(self, job):
        total = "?" if job.rows_total is None else f"{job.rows_total:,}"
        return format_html(
            '<progress max="100" value="{}"></progress> {} % · {} of {} rows',
            job.percent,
            job.percent,
            f"{job.rows_done:,}",
            total,
        )

    @admin.display(description="Stored as")
    def stored_file(self, job):
        # The name only: uploaded files hold clients' people and cards, and are never served.
        return job.file.name

    @admin.display(description="Report")
    def report(self, job):
        if job.pk is None:
            return ""
        url = reverse("admin:imports_importjob_report", args=[job.pk])
        return format_html(
            '<a href="{}">Download report</a> ({} duplicates, {} errors)',
            url,
            job.duplicates,
            job.errors,
        )

    def get_urls(self):
        own = [
            path(
                "upload/",
                self.admin_site.admin_view(self.upload_view),
                name="imports_importjob_upload",
            ),
            path(
                "<uuid:job_id>/report.csv",
                self.admin_site.admin_view(self.report_view),
                name="imports_importjob_report",
            ),
        ]
        return own + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        extra = {"can_upload": self.has_upload_permission(request), **(extra_context or {})}
        return super().changelist_view(request, extra_context=extra)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method == "POST":
            # Nothing on the page is editable; state changes go through the Cancel action.
            raise PermissionDenied
        return super().change_view(request, object_id, form_url, extra_context)

    def report_view(self, request, job_id):
        if not self.has_view_permission(request):
            raise PermissionDenied
        job = get_object_or_404(ImportJob, pk=job_id)
        response = StreamingHttpResponse(
            services.report_csv(job), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-report.csv"'
        return response

    def upload_view(self, request):
        if not self.has_upload_permission(request):
            raise PermissionDenied
        posted = request.method == "POST"
        form = UploadForm(
            request.POST if posted else None,
            request.FILES if posted else None,
            admin_site=self.admin_site,
        )
        if posted and form.is_valid():
            try:
                job = start_upload(
                    kind=form.entry.kind,
                    target=form.target,
                    file=form.cleaned_data["file"],
                    user=request.user,
                    contact_list=form.contact_list,
                )
            except (ImportFileError, services.ImportRefused) as refusal:
                form.add_error("file", str(refusal))
            else:
                self.message_user(
                    request,
                    f"The import of {job.file_name} is {job.get_status_display().lower()}: "
                    f"{services.report_of(job).summary()}.",
                    messages.SUCCESS,
                )
                return redirect("admin:imports_importjob_change", job.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": "Upload a file to import",
            "opts": self.opts,
            "form": form,
            "media": self.media + form.media,
        }
        return TemplateResponse(
            request,
            "admin/imports/importjob/upload.html",
            context,
            status=400 if form.errors else 200,
        )
