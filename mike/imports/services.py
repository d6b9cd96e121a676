"""Starting, running and cancelling imports: what the dashboard, the admin and the commands call.

The life of a job: `create_job` checks the file (a refused file raises ImportFileError and
nothing is kept), stores it and guesses the column mapping (the client's remembered one for files
of the same shape first); the job waits `pending` for its columns. `start_job` confirms the
mapping (remembering it), queues the job and hands it to a Celery worker once the transaction
commits (run inline where tasks are eager, as under `make run`); a command runs it in the
foreground instead. `cancel_job` stops it. Who moves each state on:

- pending: the person mapping the columns; abandoned ones are deleted by the sweep after
  IMPORT_PENDING_HOURS (mike.imports.tasks.resume_stale_imports);
- queued, running: the worker; a job whose worker died or whose task was lost is resumed by the
  sweep after the last committed batch (mike.imports.engine);
- done, failed, cancelled: final.

A recipient's erasure (mike.rewards.erasure) waits for the imports into their audience and takes
them out of the finished ones' reports and files (`imports_under_way`, `erase_person`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from mike.core import redaction
from mike.core.csvsafe import csv_line_writer, csv_safe
from mike.core.errors import DomainError
from mike.core.imports import CsvFile, ImportFileError, ImportReport

from .engine import header_key, importer_class, run_job
from .models import (
    FINISHED,
    ImportJob,
    ImportKind,
    ImportMapping,
    ImportProblem,
    ImportStatus,
    ImportVia,
)

PREVIEW_ROWS = 5


class ImportRefused(DomainError):
    """The job cannot do what was asked (start a started job, map a column twice …)."""


def _target_fields(kind: str, target, contact_list) -> dict:
    if kind == ImportKind.RECIPIENTS:
        return {"audience": target, "client_id": target.client_id}
    if kind == ImportKind.CARDS:
        return {"pool": target, "client_id": target.client_id}
    if kind == ImportKind.CONTACTS:
        if not target.is_client:
            raise ImportRefused("Contacts belong to a client; this organization is not one.")
        if contact_list is not None and contact_list.client_id != target.pk:
            raise ImportRefused("The contact list belongs to another client.")
        return {"client": target, "contact_list": contact_list}
    raise ImportRefused(f"Unknown import kind {kind!r}.")


def create_job(
    kind: str,
    *,
    target,
    file,
    via: str,
    user=None,
    contact_list=None,
    file_name: str | None = None,
) -> ImportJob:
    """A pending job for `file` (a path or an uploaded/binary file object) into `target` (the
    audience, the pool, or the client for contacts). Raises ImportFileError, keeping nothing,
    when the file is refused as a whole."""
    fields = _target_fields(kind, target, contact_list)
    opened = open(file, "rb") if isinstance(file, (str, os.PathLike)) else file  # noqa: SIM115
    try:
        with CsvFile(opened) as checked:
            header = checked.header
        name = file_name or Path(getattr(opened, "name", None) or str(file)).name
        opened.seek(0, os.SEEK_END)
        size = opened.tell()
        opened.seek(0)
        cls = importer_class(kind)
        job = ImportJob(
            kind=kind,
            via=via,
            created_by=user if user is not None and user.is_authenticated else None,
            file_name=name[:255],
            file_size=size,
            header=header,
            status=ImportStatus.PENDING,
            **fields,
        )
        job.mapping = remembered_mapping(job) or cls.guess_mapping(header)
        job.file.save(name, File(opened, name=name), save=False)
        job.save()
    finally:
        if opened is not file:
            opened.close()
    return job


def remembered_mapping(job: ImportJob) -> dict | None:
    """The mapping the client last confirmed for a file of this kind and header, still valid."""
    if not job.client_id:
        return None
    saved = ImportMapping.objects.filter(
        client_id=job.client_id, kind=job.kind, header_key=header_key(job.kind, job.header)
    ).first()
    if saved and all(not column or column in job.header for column in saved.mapping.values()):
        return saved.mapping
    return None


def start_job(job: ImportJob, *, mapping: dict | None = None, queue: bool = True) -> ImportJob:
    """Confirm the job's columns and queue it: `mapping` ({field: column}, "" for none) replaces
    the guess. Raises ImportFileError for a mapping that misses a required field or names a
    column the file does not have, ImportRefused for a job already started. With `queue`, a
    worker runs it after the transaction commits; without, the caller runs it (run_job)."""
    cls = importer_class(job.kind)
    mapping = {name: column for name, column in (mapping or job.mapping).items() if column}
    known = {item.name for item in cls.fields}
    unknown = sorted(set(mapping) - known)
    if unknown:
        raise ImportRefused(f"Unknown field {unknown[0]!r}.")
    columns = list(mapping.values())
    repeated = sorted({column for column in columns if columns.count(column) > 1})
    if repeated:
        raise ImportFileError(f"Column '{repeated[0]}' is mapped to more than one field.")
    cls.check_mapping(mapping, job.header)
    with transaction.atomic():
        updated = ImportJob.objects.filter(pk=job.pk, status=ImportStatus.PENDING).update(
            status=ImportStatus.QUEUED, mapping=mapping, updated_at=timezone.now()
        )
        if not updated:
            raise ImportRefused("This import has already been started.")
        if job.client_id:
            ImportMapping.objects.update_or_create(
                client_id=job.client_id,
                kind=job.kind,
                header_key=header_key(job.kind, job.header),
                defaults={"mapping": mapping},
            )
        if queue:
            from .tasks import run_import_job

            job_id = str(job.pk)
            transaction.on_commit(lambda: run_import_job.delay(job_id))
    job.refresh_from_db()
    return job


def cancel_job(job: ImportJob) -> ImportJob:
    """Stop the job: one not yet running ends cancelled now; a running one stops after the batch
    it is writing (its rows so far stay imported). A finished job is left as it is."""
    with transaction.atomic():
        current = ImportJob.objects.select_for_update().get(pk=job.pk)
        if current.status in (ImportStatus.PENDING, ImportStatus.QUEUED):
            current.status = ImportStatus.CANCELLED
            current.message = "Cancelled before it started."
            current.finished_at = timezone.now()
        elif current.status == ImportStatus.RUNNING:
            current.cancel_requested = True
        current.save()
    return current


def run_in_foreground(job: ImportJob, *, progress=None, force: bool = False) -> ImportJob:
    """Run a queued (or stopped) job in this process: the commands' path. Raises ImportRefused
    when another runner holds the job (its heartbeat is fresh) and not `force`."""
    result = run_job(job.pk, progress=progress, force=force)
    if result is None:
        current = ImportJob.objects.get(pk=job.pk)
        if current.status == ImportStatus.RUNNING:
            raise ImportRefused(
                "This import is running elsewhere (its last batch was written "
                f"{(timezone.now() - current.heartbeat_at).seconds} s ago). If its process is "
                f"gone, wait {settings.IMPORT_STALE_SECONDS} s or resume it with --force."
            )
        return current
    return result


def report_of(job: ImportJob) -> ImportReport:
    """The job's counts and problems as an ImportReport (problems in file order)."""
    report = ImportReport(
        rows=job.rows_done, imported=job.imported, duplicates=job.duplicates, errors=job.errors
    )
    report.entries = [
        (line, message, kind)
        for line, message, kind in job.problems.order_by("line", "id").values_list(
            "line", "message", "kind"
        )
    ]
    return report


def report_csv(job: ImportJob) -> Iterator[str]:
    """The report as CSV lines (line, kind, error), streamed from the database, every cell escaped
    against formula injection (messages quote the file's cells)."""
    writer = csv_line_writer()
    yield "\ufeff"
    yield writer.writerow(["line", "kind", "error"])
    problems = job.problems.order_by("line", "id").values_list("line", "kind", "message")
    for line, kind, message in problems.iterator(chunk_size=2000):
        yield writer.writerow([line, kind, csv_safe(f"line {line}: {message}")])


def write_report_file(job: ImportJob, path) -> Path:
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as out:
        for chunk in report_csv(job):
            out.write(chunk.lstrip("\ufeff"))
    return path


def preview(job: ImportJob, rows: int = PREVIEW_ROWS) -> list[dict[str, str]]:
    """The first rows of the file, for the mapping step."""
    found = []
    with job.file.open("rb") as raw, CsvFile(raw) as file:
        for row in file.rows(ImportReport()):
            found.append(row.values)
            if len(found) >= rows:
                break
    return found


def delete_abandoned() -> int:
    """Pending jobs nobody mapped within IMPORT_PENDING_HOURS, with their files."""
    before = timezone.now() - timedelta(hours=settings.IMPORT_PENDING_HOURS)
    count = 0
    for job in ImportJob.objects.filter(status=ImportStatus.PENDING, created_at__lt=before)[:100]:
        job.file.delete(save=False)
        job.delete()
        count += 1
    return count


def raise_if_refused(job: ImportJob) -> None:
    """Raise ImportFileError with the job's message when it ended failed."""
    if job.status == ImportStatus.FAILED:
        raise ImportFileError(job.message)


def import_file(
    kind: str, *, target, source, user=None, contact_list=None, progress=None
) -> ImportJob:
    """Create, start and run a job for `source` in this process, with the guessed (or
    remembered) columns: what the commands and scripts call."""
    job = create_job(
        kind,
        target=target,
        file=source,
        via=ImportVia.COMMAND,
        user=user,
        contact_list=contact_list,
    )
    try:
        start_job(job, queue=False)
    except ImportFileError:
        # The columns cannot be read as this kind (no card code column …): nothing is kept.
        job.file.delete(save=False)
        job.delete()
        raise
    return run_in_foreground(job, progress=progress)


def _person_jobs(*, client_id, audience_id, with_contacts: bool):
    """The imports whose files can hold a recipient's row: those into their audience and, when
    they have a CRM contact, their client's contact imports."""
    jobs = ImportJob.objects.filter(kind=ImportKind.RECIPIENTS, audience_id=audience_id)
    if with_contacts:
        jobs = jobs | ImportJob.objects.filter(kind=ImportKind.CONTACTS, client_id=client_id)
    return jobs


def imports_under_way(*, client_id, audience_id, with_contacts: bool) -> int:
    """How many imports that can hold the recipient's row are not finished (waiting for their
    columns, queued, running): erased first, they would be added again by its row, since
    nothing of theirs is left to find them a duplicate by."""
    jobs = _person_jobs(client_id=client_id, audience_id=audience_id, with_contacts=with_contacts)
    return jobs.exclude(status__in=FINISHED).count()


def erase_person(*, client_id, audience_id, with_contacts: bool, values) -> int:
    """The imports' part of a recipient's erasure, for the finished imports that can hold their
    row (`_person_jobs`): the report lines quoting `values` (their phone, email, full name:
    mike.core.redaction.person_values) read "Erased" there instead, and the uploaded files are
    deleted once the erasure commits: a file is read only while its job runs, and every other
    thing the job recorded (its counts, its columns, its report) stays. How many rows were
    changed."""
    jobs = _person_jobs(
        client_id=client_id, audience_id=audience_id, with_contacts=with_contacts
    ).filter(status__in=FINISHED)
    changed = 0
    if values:
        quoting = Q()
        for value in values:
            quoting |= Q(message__icontains=value)
        for problem in ImportProblem.objects.filter(job__in=jobs).filter(quoting):
            ImportProblem.objects.filter(pk=problem.pk).update(
                message=redaction.without_values(problem.message, values)
            )
            changed += 1
        for job in jobs.filter(quoting).only("pk", "message"):
            ImportJob.objects.filter(pk=job.pk).update(
                message=redaction.without_values(job.message, values)
            )
            changed += 1
    stored = list(jobs.exclude(file="").only("pk", "file"))
    if stored:
        ImportJob.objects.filter(pk__in=[job.pk for job in stored]).update(file="")
        changed += len(stored)
        names = [job.file.name for job in stored]
        storage = stored[0].file.storage

        def delete_files():
            for name in names:
                storage.delete(name)

        transaction.on_commit(delete_files)
    return changed
