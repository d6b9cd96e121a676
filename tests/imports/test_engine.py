"""The import engine: a job's life (pending → queued → running → done), its checkpoint per batch,
cancelling, a second runner finding the job taken, the sweep, and the remembered columns."""

from datetime import timedelta
from io import BytesIO

import pytest
from django.utils import timezone

from giftcards.models import GiftCard, GiftCardAuditLog
from mike.core.imports import ImportFileError
from mike.imports import engine, services
from mike.imports.models import ImportJob, ImportMapping, ImportProblem, ImportStatus
from mike.imports.tasks import resume_stale_imports
from recipients.models import Recipient
from tests.factories import AudienceFactory, GiftCardPoolFactory, UserFactory

pytestmark = pytest.mark.django_db

AUDIENCE = (
    "Given,Family,Cell,Mail,Shirt\r\n"
    "Ann,Lee,555-201-0001,ann@example.com,M\r\n"
    "Bob,Ray,555-201-0002,,L\r\n"
    "Bad,Phone,12345,,S\r\n"
    "Ann,Again,(555) 201-0001,,M\r\n"
    "Cy,Day,,cy@example.com,XL\r\n"
)
MAPPING = {"first_name": "given", "last_name": "family", "phone": "cell", "email": "mail"}


def _file(text: str, name="people.csv"):
    upload = BytesIO(text.encode())
    upload.name = name
    return upload


def _pending(audience, text=AUDIENCE, user=None):
    return services.create_job(
        "recipients", target=audience, file=_file(text), via="dashboard", user=user
    )


def test_a_job_waits_for_its_columns_then_runs_to_done_with_its_report(
    django_capture_on_commit_callbacks,
):
    audience = AudienceFactory()
    user = UserFactory()
    job = _pending(audience, user=user)
    assert job.status == ImportStatus.PENDING
    assert job.header == ["given", "family", "cell", "mail", "shirt"]
    # The guess: only "cell" is a known name (of the phone).
    assert job.mapping == {"phone": "cell"}
    assert services.preview(job)[0]["given"] == "Ann"

    with django_capture_on_commit_callbacks(execute=True):  # the task is eager in the suite
        job = services.start_job(job, mapping=MAPPING)
    job.refresh_from_db()
    assert job.status == ImportStatus.DONE and job.percent == 100
    assert (job.rows_total, job.rows_done, job.imported, job.duplicates, job.errors) == (
        5,
        5,
        3,
        1,
        1,
    )
    assert job.created_by == user and job.finished_at and job.resume_line == 6
    assert list(job.problems.values_list("line", "kind", "message")) == [
        (4, "error", "phone '12345' is not a valid number"),
        (5, "duplicate", "duplicate of line 2"),
    ]
    ann = Recipient.objects.get(audience=audience, phone="+15552010001")
    assert ann.custom_fields == {"shirt": "M"}
    audience.refresh_from_db()
    assert (audience.total_count, audience.invalid_count, audience.status) == (3, 1, "ready")

    lines = list(services.report_csv(job))
    assert lines[0] == "\ufeff" and lines[1].strip() == "line,kind,error"
    assert lines[2].strip() == "4,error,line 4: phone '12345' is not a valid number"


def test_a_report_cell_never_starts_with_the_formula_a_file_held():
    job = _pending(
        AudienceFactory(), text="phone,email\n=HYPERLINK(1),\n5552010001,a@example.com\n"
    )
    services.start_job(job, mapping={"phone": "phone", "email": "email"}, queue=False)
    engine.run_job(job.pk)
    lines = list(services.report_csv(job))
    # The message quotes the cell after "line N:", so no spreadsheet reads it as a formula.
    assert lines[2].strip() == "2,error,line 2: phone '=HYPERLINK(1)' is not a valid number"


def test_the_columns_confirmed_are_offered_for_the_next_file_of_the_same_shape():
    audience = AudienceFactory()
    services.start_job(_pending(audience), mapping=MAPPING)
    saved = ImportMapping.objects.get(client=audience.client, kind="recipients")
    assert saved.mapping == MAPPING

    again = _pending(AudienceFactory(client=audience.client))
    assert again.mapping == MAPPING
    # Another client, or another header, gets the guess.
    assert _pending(AudienceFactory()).mapping == {"phone": "cell"}
    other_shape = _pending(
        AudienceFactory(client=audience.client), text="Given,Phone\nAnn,5552010001\n"
    )
    assert other_shape.mapping == {"phone": "phone"}


def test_a_mapping_that_cannot_be_read_is_refused_and_the_job_stays_pending():
    job = _pending(AudienceFactory())
    with pytest.raises(ImportFileError, match="more than one field"):
        services.start_job(job, mapping={"phone": "cell", "email": "cell"})
    with pytest.raises(ImportFileError, match="no column 'fax'"):
        services.start_job(job, mapping={"phone": "fax"})
    with pytest.raises(services.ImportRefused, match="Unknown field"):
        services.start_job(job, mapping={"shoe_size": "shirt"})
    job.refresh_from_db()
    assert job.status == ImportStatus.PENDING and not Recipient.objects.exists()

    services.start_job(job, mapping=MAPPING)
    with pytest.raises(services.ImportRefused, match="already been started"):
        services.start_job(job, mapping=MAPPING)


def test_cards_need_their_code_column():
    pool = GiftCardPoolFactory()
    job = services.create_job(
        "cards", target=pool, file=_file("serial,pin\nA1,1\n"), via="dashboard"
    )
    with pytest.raises(ImportFileError, match="no card_code column"):
        services.start_job(job)
    services.start_job(job, mapping={"card_code": "serial", "pin": "pin"}, queue=False)
    engine.run_job(job.pk)
    job.refresh_from_db()
    assert job.status == ImportStatus.DONE and job.imported == 1
    card = GiftCard.objects.get(pool=pool)
    assert card.pin == "1"
    assert GiftCardAuditLog.objects.filter(entity_id=pool.pk).count() == 1


def test_a_refused_file_keeps_no_job():
    with pytest.raises(ImportFileError, match="empty"):
        services.create_job("recipients", target=AudienceFactory(), file=_file(""), via="admin")
    assert not ImportJob.objects.exists()


def test_cancelling_a_job_that_has_not_started_ends_it_at_once():
    job = _pending(AudienceFactory())
    job = services.cancel_job(job)
    assert job.status == ImportStatus.CANCELLED and job.finished_at
    with pytest.raises(services.ImportRefused):
        services.start_job(job, mapping=MAPPING)
    assert engine.run_job(job.pk) is None


def test_cancelling_a_running_job_stops_it_after_the_batch_it_is_writing(settings):
    settings.IMPORT_BATCH_ROWS = 10
    audience = AudienceFactory()
    text = "phone\n" + "".join(f"555301{n:04d}\n" for n in range(45))
    job = _pending(audience, text=text)
    services.start_job(job, queue=False)
    batches = []

    def progress(rows, total=None):
        if total is None:
            batches.append(rows)
            # Asked while the second batch is being read: that batch is not written.
            services.cancel_job(ImportJob.objects.get(pk=job.pk))

    done = engine.run_job(job.pk, progress=progress)
    assert done.status == ImportStatus.CANCELLED
    assert batches == [10]
    assert (done.imported, done.rows_done, done.resume_line) == (10, 10, 11)
    assert Recipient.objects.filter(audience=audience).count() == 10
    audience.refresh_from_db()
    assert audience.total_count == 10


def test_a_job_held_by_a_live_runner_is_not_taken_twice_and_a_stale_one_is(settings):
    job = _pending(AudienceFactory())
    services.start_job(job, mapping=MAPPING, queue=False)
    first = engine.take_job(job.pk)
    assert first.attempts == 1 and first.status == ImportStatus.RUNNING
    assert engine.take_job(job.pk) is None  # the heartbeat is fresh

    ImportJob.objects.filter(pk=job.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=settings.IMPORT_STALE_SECONDS + 1)
    )
    second = engine.take_job(job.pk)
    assert second.attempts == 2
    # The first runner comes back: its batch is refused and nothing of it is written.
    runner = engine._Run(first, None)
    with pytest.raises(engine.Superseded):
        runner.run()
    assert not Recipient.objects.exists() and not ImportProblem.objects.exists()


def test_the_sweep_resumes_a_stopped_job_and_deletes_abandoned_uploads(settings):
    audience = AudienceFactory()
    stopped = _pending(audience)
    services.start_job(stopped, mapping=MAPPING, queue=False)
    engine.take_job(stopped.pk)
    ImportJob.objects.filter(pk=stopped.pk).update(heartbeat_at=None)  # its worker died
    abandoned = _pending(AudienceFactory())
    ImportJob.objects.filter(pk=abandoned.pk).update(
        created_at=timezone.now() - timedelta(hours=settings.IMPORT_PENDING_HOURS + 1)
    )
    fresh = _pending(AudienceFactory())

    assert resume_stale_imports() == 1  # eager: the job runs now
    stopped.refresh_from_db()
    assert stopped.status == ImportStatus.DONE and stopped.imported == 3
    assert not ImportJob.objects.filter(pk=abandoned.pk).exists()
    assert ImportJob.objects.get(pk=fresh.pk).status == ImportStatus.PENDING
    assert resume_stale_imports() == 0


def test_the_sweep_runs_a_queued_job_whose_task_was_lost(settings):
    audience = AudienceFactory()
    lost = _pending(audience)
    services.start_job(lost, mapping=MAPPING, queue=False)  # queued, its task never sent
    recent = _pending(AudienceFactory())
    services.start_job(recent, mapping=MAPPING, queue=False)
    ImportJob.objects.filter(pk=lost.pk).update(
        created_at=timezone.now() - timedelta(seconds=settings.IMPORT_STALE_SECONDS + 1)
    )
    assert ImportJob.objects.get(pk=lost.pk).status == ImportStatus.QUEUED

    assert resume_stale_imports() == 1  # eager: it runs now
    lost.refresh_from_db()
    assert lost.status == ImportStatus.DONE and lost.imported == 3
    # A job queued a moment ago is its task's to run, not the sweep's.
    assert ImportJob.objects.get(pk=recent.pk).status == ImportStatus.QUEUED


def test_an_unexpected_error_leaves_the_job_to_be_resumed_until_the_last_attempt(settings):
    settings.IMPORT_MAX_ATTEMPTS = 2
    job = _pending(AudienceFactory())
    services.start_job(job, mapping=MAPPING, queue=False)
    job.file.storage.delete(job.file.name)  # the stored file is gone: every run fails

    with pytest.raises(FileNotFoundError):
        engine.run_job(job.pk)
    job.refresh_from_db()
    assert job.status == ImportStatus.RUNNING and job.heartbeat_at is None
    assert job.pk in set(ImportJob.objects.filter(engine.resumable()).values_list("pk", flat=True))

    with pytest.raises(FileNotFoundError):
        engine.run_job(job.pk)
    job.refresh_from_db()
    assert job.status == ImportStatus.FAILED and "after 2 attempts" in job.message


def test_contacts_go_only_into_a_client():
    from tests.factories import AgencyFactory

    with pytest.raises(services.ImportRefused, match="not one"):
        services.create_job(
            "contacts", target=AgencyFactory(), file=_file("email\na@example.com\n"), via="admin"
        )
    assert not ImportJob.objects.exists()
