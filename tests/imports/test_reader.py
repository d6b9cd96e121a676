"""The import's reader process: the batches are read and parsed in a forked child while the
batches before are written. An error in the child is raised in the job's runner with the batches
before it kept, and the child never outlives the run (done, failed or cancelled)."""

import os

import pytest

from mike.imports import engine, services
from mike.imports.models import ImportJob, ImportStatus
from recipients.models import Recipient
from recipients.services.imports import RecipientImporter
from tests.factories import AudienceFactory
from tests.imports.test_engine import _pending

pytestmark = pytest.mark.django_db

PHONES = "phone\n" + "".join(f"555301{n:04d}\n" for n in range(45))


@pytest.fixture
def children(monkeypatch):
    """The pids of the reader processes forked during the test."""
    pids = []
    fork = os.fork

    def recording_fork():
        pid = fork()
        if pid:
            pids.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", recording_fork)
    return pids


def _gone(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True  # reaped already
    return False


def test_the_rows_are_parsed_in_a_child_that_is_reaped_at_the_end(settings, children):
    settings.IMPORT_BATCH_ROWS = 10
    audience = AudienceFactory()
    job = _pending(audience, text=PHONES)
    services.start_job(job, queue=False)

    done = engine.run_job(job.pk)

    assert done.status == ImportStatus.DONE and done.imported == 45
    assert Recipient.objects.filter(audience=audience).count() == 45
    assert len(children) == 1 and children[0] != os.getpid()
    assert _gone(children[0])


class Broken(Exception):
    def __init__(self, line, detail):  # two arguments: pickled, it cannot be made again
        super().__init__(f"line {line}: {detail}")


@pytest.mark.parametrize(
    ("error", "raised"),
    [
        (lambda line: ValueError(f"no sense in line {line}"), ValueError),
        (lambda line: Broken(line, "parser gave up"), RuntimeError),
    ],
)
def test_an_error_in_the_child_reaches_the_runner_and_the_batches_before_it_stay(
    settings, monkeypatch, children, error, raised
):
    settings.IMPORT_BATCH_ROWS = 10
    audience = AudienceFactory()
    job = _pending(audience, text=PHONES)
    services.start_job(job, queue=False)
    parse = RecipientImporter.parse

    def failing(self, row, mapping):
        if row.line == 25:
            raise error(row.line)
        return parse(self, row, mapping)

    monkeypatch.setattr(RecipientImporter, "parse", failing)

    with pytest.raises(raised, match="line 25"):
        engine.run_job(job.pk)

    job.refresh_from_db()
    # Two batches (lines 2 to 21) were written; the job waits for the sweep to resume it.
    assert (job.imported, job.resume_line, job.status) == (20, 21, ImportStatus.RUNNING)
    assert Recipient.objects.filter(audience=audience).count() == 20
    assert all(_gone(pid) for pid in children)

    monkeypatch.setattr(RecipientImporter, "parse", parse)
    resumed = engine.run_job(job.pk, force=True)
    assert resumed.status == ImportStatus.DONE and resumed.imported == 45


def test_a_cancelled_job_leaves_no_child_behind(settings, children):
    settings.IMPORT_BATCH_ROWS = 10
    audience = AudienceFactory()
    job = _pending(audience, text=PHONES)
    services.start_job(job, queue=False)

    def progress(rows, total=None):
        if total is None:
            services.cancel_job(ImportJob.objects.get(pk=job.pk))

    done = engine.run_job(job.pk, progress=progress)
    assert done.status == ImportStatus.CANCELLED and done.imported == 10
    assert children and all(_gone(pid) for pid in children)
