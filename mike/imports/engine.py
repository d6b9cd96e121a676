"""The import engine: runs an `ImportJob` through its kind's `Importer`, batch by batch.

Every kind (recipients, contacts, cards) is an `Importer` subclass in its own domain app, named
in IMPORTERS; it says how a row becomes an object (`parse`), what makes two rows of one batch the
same (`keys`) and how a batch is written (`write`, inside the batch's transaction, reporting what
the database already has). The engine does the rest, the same for every kind:

- streams the file (mike.core.imports.CsvFile: encodings, delimiters, refusals), parsing it in
  a forked reader process (_Reader) while this one writes the batches before: the two halves of
  the work run on two cores instead of one after the other; its rows are counted (for the
  progress) in a second pass while the reader makes the first batches;
- every BATCH_ROWS rows read, in ONE transaction: the batch's objects, the problems found since
  the last batch, the job's counters and `resume_line` (the last line settled). A crash loses at
  most the batch being read; `run_job` on a job that stopped (a killed worker, a restarted
  command) skips the lines up to `resume_line` and goes on, and the batches fall where they would
  have fallen, so it ends as one uninterrupted run would have;
- nothing is held per row across batches, so memory stays flat at any row count: a duplicate of
  a row of an earlier batch is found in the database, where that batch already is;
- a job is taken atomically (queued → running, or a running job whose heartbeat is stale), and
  each batch commits only while the job is still this runner's (`attempts`), so a second worker,
  a retry or the sweep never write the same rows twice;
- `cancel_requested` is read at every batch: the job stops after the last committed batch.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import logging
import os
import pickle
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.module_loading import import_string

from mike.core.errors import DomainError
from mike.core.imports import CsvFile, ImportFileError, ImportReport, Row, RowError

from .models import ImportJob, ImportKind, ImportProblem, ImportStatus

logger = logging.getLogger(__name__)

# Each kind's importer, by dotted path: the domain apps build on this module, not the reverse.
IMPORTERS = {
    ImportKind.RECIPIENTS: "recipients.services.imports.RecipientImporter",
    ImportKind.CARDS: "giftcards.services.imports.CardImporter",
    ImportKind.CONTACTS: "crm.imports.ContactImporter",
}


class Superseded(DomainError):
    """The job was taken over by another runner (or finished) while this one was working."""


@dataclass(frozen=True)
class Field:
    """A target field an importer reads from the file: the mapping step offers a column for it."""

    name: str
    label: str
    aliases: tuple[str, ...] = ()
    required: bool = False


class Importer:
    """One kind of import. Subclasses set `fields` and implement parse/keys/write; `job` is the
    ImportJob being run (its target: job.audience, job.pool, job.client, job.contact_list)."""

    fields: tuple[Field, ...] = ()
    # Columns not mapped to a field: kept (as the recipients' custom_fields) or ignored.
    keeps_other_columns = False
    # How many times the batch being written was tried before (write draws anew what parse drew
    # when a conflict rolled the batch back).
    attempt = 0

    def __init__(self, job: ImportJob):
        self.job = job

    @classmethod
    def guess_mapping(cls, header: list[str]) -> dict[str, str]:
        """{field: column} for the fields whose alias (or own name) the header has."""
        mapping = {}
        for item in cls.fields:
            for alias in (item.name, *item.aliases):
                if alias in header:
                    mapping[item.name] = alias
                    break
        return mapping

    @classmethod
    def check_mapping(cls, mapping: dict[str, str], header: list[str]) -> None:
        """Raise ImportFileError when a required field has no column or a column is missing."""
        for item in cls.fields:
            if item.required and not mapping.get(item.name):
                raise ImportFileError(f"The file has no {item.name} column ({item.label}).")
        for name, column in mapping.items():
            if column and column not in header:
                raise ImportFileError(f"The file has no column '{column}' (mapped to {name}).")

    def prepare(self) -> None:
        """Called once per run before the first row."""

    def parse(self, row: Row, mapping: dict[str, str]):
        """The object the row describes; raises RowError."""
        raise NotImplementedError

    def keys(self, item) -> list:
        """What makes two rows of one batch the same: a later row with a key an earlier row of
        the batch had is reported as its duplicate."""
        return []

    def write(self, items: list[tuple[int, object]], report: ImportReport) -> None:
        """Write the batch's (line, item) pairs, inside the batch's transaction: report what the
        database already has (report.duplicate / report.error) and add the rest to
        report.imported. An IntegrityError rolls the batch back and it is tried again."""
        raise NotImplementedError

    def finish(self, job: ImportJob) -> None:
        """Called once when the job ends (done, failed or cancelled): recounts, audit rows."""


def importer_class(kind: str) -> type[Importer]:
    return import_string(IMPORTERS[kind])


def header_key(kind: str, header: list[str]) -> str:
    """Files of the same shape (kind and columns) share a remembered mapping."""
    return hashlib.sha256("\x00".join([kind, *header]).encode()).hexdigest()


def stale_before():
    return timezone.now() - timedelta(seconds=settings.IMPORT_STALE_SECONDS)


def take_job(job_id, *, force: bool = False) -> ImportJob | None:
    """Move the job to running for this runner, or None when it is not there to take: finished,
    or running with a fresh heartbeat (another runner has it), unless `force` (an operator who
    knows its process is gone). A runner it replaces stops at its next batch (Superseded)."""
    now = timezone.now()
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.finished:
            return None
        if (
            not force
            and job.status == ImportStatus.RUNNING
            and job.heartbeat_at
            and job.heartbeat_at >= stale_before()
        ):
            return None
        job.status = ImportStatus.RUNNING
        job.attempts += 1
        job.started_at = job.started_at or now
        job.heartbeat_at = now
        job.save(update_fields=["status", "attempts", "started_at", "heartbeat_at", "updated_at"])
    return job


def _locked_job(job: ImportJob) -> ImportJob:
    """The job's row, locked, checked to still be this runner's."""
    current = ImportJob.objects.select_for_update().get(pk=job.pk)
    if current.status != ImportStatus.RUNNING or current.attempts != job.attempts:
        raise Superseded(str(job.pk))
    return current


class _Run:
    def __init__(self, job: ImportJob, progress: Callable[..., None] | None):
        self.job = job
        self.progress = progress
        self.importer = importer_class(job.kind)(job)
        self.batch_rows = settings.IMPORT_BATCH_ROWS

    def run(self) -> ImportJob:
        job = self.job
        with job.file.open("rb") as raw, CsvFile(raw) as file:
            if job.rows_total is None or not job.header:
                mapping = job.mapping or self.importer.guess_mapping(file.header)
                self.importer.check_mapping(mapping, file.header)
                ImportJob.objects.filter(pk=job.pk).update(
                    header=file.header, mapping=mapping, heartbeat_at=timezone.now()
                )
                job.header, job.mapping = file.header, mapping
            self.importer.check_mapping(job.mapping, file.header)
            self.importer.prepare()
            self._rows(file)
        return self._end(ImportStatus.DONE)

    def _count(self) -> None:
        """The file's rows into `rows_total` (the progress bar's end), counted in one more
        pass over its own handle: the reader process shares the offset of the one it reads."""
        job = self.job
        with (
            job.file.storage.open(job.file.name, "rb") as raw,
            CsvFile(raw, count_rows=True) as file,
        ):
            job.rows_total = file.row_count
        ImportJob.objects.filter(pk=job.pk).update(rows_total=job.rows_total)

    def _rows(self, file: CsvFile) -> None:
        """Commit the file's batches as a reader process (_Reader) makes them: the next batch
        is read and parsed while this one is written, so the parsing and the writing overlap
        instead of adding up. The rows are counted (for a job not counted yet) once the reader
        has started, while it makes the first batches."""
        batches = _batches(
            file, self.importer, self.job.mapping, self.job.resume_line, self.batch_rows
        )
        reader = _Reader(batches)
        # What this process holds now (Django, the app's modules, the importer) lives as long as
        # the run: the collector leaves it out instead of going through it again whenever the
        # batches' objects set off a full collection.
        gc.freeze()
        try:
            if self.job.rows_total is None:
                self._count()
            if self.progress:
                self.progress(self.job.rows_done, total=self.job.rows_total)
            for batch, delta, last_line in reader:
                with _collector_paused():
                    self._commit(batch, delta, last_line)
        finally:
            reader.stop()
            gc.unfreeze()

    def _commit(self, batch, delta: ImportReport, last_line: int) -> None:
        for attempt in range(3):
            report = delta.copy()
            try:
                with transaction.atomic():
                    _commit_without_waiting_for_disk()
                    current = _locked_job(self.job)
                    if current.cancel_requested:
                        raise _Cancelled
                    if batch:
                        self.importer.attempt = attempt
                        self.importer.write(batch, report)
                    ImportProblem.objects.bulk_create(
                        ImportProblem(job_id=self.job.pk, line=line, kind=kind, message=message)
                        for line, message, kind in report.entries
                    )
                    ImportJob.objects.filter(pk=self.job.pk).update(
                        rows_done=F("rows_done") + report.rows,
                        imported=F("imported") + report.imported,
                        duplicates=F("duplicates") + report.duplicates,
                        errors=F("errors") + report.errors,
                        resume_line=last_line,
                        heartbeat_at=timezone.now(),
                        updated_at=timezone.now(),
                    )
            except IntegrityError as exc:
                # A concurrent writer stored one of the batch's keys between the checks and the
                # insert; the batch is rolled back whole and checked again.
                if attempt == 2:
                    raise ImportFileError(
                        "Rows of this file are being added by another import at the same time; "
                        "try again."
                    ) from exc
                continue
            self.job.resume_line = last_line
            self.job.rows_done += report.rows
            if self.progress:
                self.progress(report.rows)
            return

    def _end(self, status: str, message: str = "") -> ImportJob:
        job = self.job
        with transaction.atomic():
            try:
                current = _locked_job(job)
            except Superseded:
                return ImportJob.objects.get(pk=job.pk)
            current.status = status
            current.message = message
            current.finished_at = timezone.now()
            current.heartbeat_at = current.finished_at
            current.save(
                update_fields=["status", "message", "finished_at", "heartbeat_at", "updated_at"]
            )
            self.importer.finish(current)
        return current


class _Reader:
    """The batches of `_batches`, made in a child process: reading, decoding and parsing the
    rows (and, for cards, encrypting and hashing the codes) is most of an import's Python work,
    and a thread would hold the interpreter lock for it while this process writes; a forked
    child runs it on another core while the batches before are written. Each batch comes
    through a pipe, pickled; the pipe's buffer holds a few batches (PIPE_BYTES), so the child is
    at most that far ahead and memory stays flat.

    The importer's `parse` and `keys` run in the child: they read nothing from the database
    (the child never uses the connection it inherits, and leaves by os._exit, so nothing of
    this process is closed or flushed by it). An error in the child (a file that cannot be
    decoded half way) is raised here, where the batches are taken. Where os.fork is missing
    the batches are made in this process."""

    def __init__(self, batches: Iterator[tuple]):
        self.batches, self.pid, self.pipe = batches, None, None
        if not hasattr(os, "fork"):
            return
        read_end, write_end = os.pipe()
        _widen(write_end)
        pid = os.fork()
        if pid == 0:  # the child
            os.close(read_end)
            _feed(batches, write_end)
        os.close(write_end)
        self.pid, self.pipe = pid, os.fdopen(read_end, "rb")

    def __iter__(self):
        if self.pipe is None:
            yield from self.batches
            return
        while True:
            try:
                with _collector_paused():
                    # From our own child, through a pipe nothing else holds.
                    kind, item = pickle.load(self.pipe)  # noqa: S301
            except EOFError:
                raise RuntimeError(
                    "The import's reader stopped before the end of the file."
                ) from None
            if kind == "done":
                return
            if kind == "error":
                raise item
            yield item

    def stop(self) -> None:
        """End the child (it has nothing to keep: a batch it made and nobody took is made
        again by the next run) and reap it."""
        if self.pid is None:
            return
        self.pipe.close()
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        self.pid = None


# How far ahead of the runner the reader may get: a few batches (a pickled batch of 2,000 rows
# is a few hundred KiB) instead of the 64 KiB a pipe holds by default, so a batch that the
# database takes longer over does not stop the reader, nor one the reader takes longer over the
# runner. Linux's default ceiling for an unprivileged process (/proc/sys/fs/pipe-max-size).
PIPE_BYTES = 1024 * 1024


def _widen(pipe: int) -> None:
    """The pipe's buffer at PIPE_BYTES where the system allows it (Linux), else as it is."""
    try:
        import fcntl

        fcntl.fcntl(pipe, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (ImportError, AttributeError, OSError):
        pass


def _feed(batches: Iterator[tuple], write_end: int) -> None:
    """The child's whole life: each batch pickled into the pipe, then "done", or the error that
    stopped it; then os._exit, never returning into the code that forked it."""
    code = 0
    # The heap inherited from the parent (Django, the app's modules) is never garbage here: the
    # collector leaves it out, and runs once a batch instead of every few hundred objects made.
    gc.freeze()
    gc.disable()
    try:
        with os.fdopen(write_end, "wb") as out:
            try:
                for item in batches:
                    pickle.dump(("batch", item), out, pickle.HIGHEST_PROTOCOL)
                    out.flush()
                    del item
                    gc.collect()
                message = ("done", None)
            except Exception as exc:
                message = ("error", _picklable(exc))
            pickle.dump(message, out, pickle.HIGHEST_PROTOCOL)
    except BaseException:  # the parent went away (a closed pipe): nothing to tell
        code = 1
    finally:
        os._exit(code)


@contextlib.contextmanager
def _collector_paused():
    """No cyclic garbage collection inside the block. Unpickling a batch makes thousands of
    objects that all live on while it is written, and the collector, started every few hundred
    new objects, went through them again and again. The batch holds no cycles; the collector
    runs as usual after the block (it counts what was made meanwhile)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _picklable(exc: Exception) -> Exception:
    try:
        pickle.loads(pickle.dumps(exc))  # noqa: S301 (our own bytes)
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


def _batches(
    file: CsvFile, importer: Importer, mapping: dict, after_line: int, batch_rows: int
) -> Iterator[tuple[list, ImportReport, int]]:
    """The file's rows from the line after `after_line`, parsed, as (batch, report, last line
    settled) every `batch_rows` rows read, then the rest: the batch's (line, item) pairs, with
    the duplicates of an earlier row of the same batch already in its report."""
    parse, keys = importer.parse, importer.keys
    delta = ImportReport()
    batch: list[tuple[int, object]] = []
    seen: dict = {}
    last_line = after_line
    for row in file.rows(delta, after_line=after_line):
        last_line = row.line
        try:
            item = parse(row, mapping)
        except RowError as exc:
            delta.error(row.line, str(exc))
        else:
            item_keys = keys(item)
            earlier = next((seen[key] for key in item_keys if key in seen), None)
            if earlier is not None:
                delta.duplicate(row.line, f"duplicate of line {earlier}")
            else:
                for key in item_keys:
                    seen[key] = row.line
                batch.append((row.line, item))
        if delta.rows >= batch_rows:
            # The rows counted by the reader (short rows included) settle up to this line.
            yield batch, delta.copy(), file.last_line
            # In place: the reader counts its rows into this report.
            delta.clear()
            batch, seen = [], {}
    if delta.rows or batch:
        yield batch, delta.copy(), max(last_line, file.last_line)


def _commit_without_waiting_for_disk() -> None:
    """On PostgreSQL, this transaction's COMMIT does not wait for its WAL to reach the disk
    (synchronous_commit off, for this transaction only). A crash may then lose the last
    batches committed, but each batch commits with its checkpoint (`resume_line`), so what is
    lost is lost together with the checkpoint that counted it, and the resumed job writes those
    rows again: the same end as an uninterrupted run, without a disk flush per batch."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


class _Cancelled(DomainError):
    """The job was asked to stop; raised inside a batch's transaction so the batch rolls back."""


def run_job(
    job_id, *, progress: Callable[..., None] | None = None, force: bool = False
) -> ImportJob | None:
    """Run (or resume) the job; None when it is not there to take (finished, or another runner
    holds it). A refused file ends the job `failed` with the reason and changes nothing; an
    unexpected error leaves it to be resumed (by the sweep, mike.imports.tasks) until
    IMPORT_MAX_ATTEMPTS runs have failed, then ends it failed."""
    job = take_job(job_id, force=force)
    if job is None:
        return None
    runner = _Run(job, progress)
    try:
        return runner.run()
    except ImportFileError as exc:
        return runner._end(ImportStatus.FAILED, str(exc))
    except _Cancelled:
        return runner._end(ImportStatus.CANCELLED, "Cancelled.")
    except Superseded:
        logger.info("import job %s was taken over; this run stops", job.pk)
        return ImportJob.objects.get(pk=job.pk)
    except Exception as exc:
        if job.attempts >= settings.IMPORT_MAX_ATTEMPTS:
            runner._end(
                ImportStatus.FAILED,
                f"The import stopped after {job.attempts} attempts: {exc or type(exc).__name__}",
            )
        else:
            # Stale at once: the next sweep resumes it after the last committed batch.
            ImportJob.objects.filter(pk=job.pk, attempts=job.attempts).update(heartbeat_at=None)
        raise


def resumable() -> Q:
    """Jobs nobody is moving on: queued or running without a heartbeat for IMPORT_STALE_SECONDS."""
    before = stale_before()
    return Q(status=ImportStatus.QUEUED, created_at__lt=before) | Q(
        Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=before), status=ImportStatus.RUNNING
    )
