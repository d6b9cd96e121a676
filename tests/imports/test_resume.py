"""An import killed half way (SIGKILL of the command's process) and resumed ends with exactly the
rows, counters and report of one clean run: for recipients through the sweep, for cards through
`manage.py resume_import`."""

import os
import random
import signal
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from giftcards.models import GiftCard
from mike.imports.models import ImportJob, ImportStatus
from mike.imports.services import import_file
from mike.imports.tasks import resume_stale_imports
from recipients.models import Recipient
from tests.factories import AudienceFactory, GiftCardPoolFactory

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
BATCH = 100


def _recipients_file(path: Path, rows: int) -> Path:
    """`rows` people, with a bad phone every 97th row and a repeat of an earlier row every 89th."""
    rng = random.Random(12)
    lines = ["First Name,Last Name,Phone,Email,Zip,Store"]
    for n in range(rows):
        if n % 97 == 5:
            lines.append(f"Bad,Phone{n},12345,,78701,S{n % 7}")
        elif n % 89 == 7 and n > 100:
            back = rng.randrange(1, 100)
            lines.append(f"Again,Row{n},555{(n - back) % 10_000_000:07d},,78701,S1")
        else:
            lines.append(f"Zoë{n},O'Neil,555{n:07d},p{n}@example.com,78701,S{n % 7}")
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    return path


def _cards_file(path: Path, rows: int) -> Path:
    lines = ["card_code,pin,balance"]
    for n in range(rows):
        if n % 101 == 3:
            lines.append(f"BAD-{n},1,-5")
        elif n % 83 == 9 and n > 100:
            lines.append(f"card-{n - 50:06d},2,25.00")  # the same code, written otherwise
        else:
            lines.append(f"CARD-{n:06d},{n % 10000:04d},25.00")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _env(settings) -> dict:
    db = connection.settings_dict
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "IMPORT_BATCH_ROWS": str(BATCH),
        "CELERY_TASK_ALWAYS_EAGER": "True",
    }


def _kill_half_way(args: list[str], settings, job_filter: dict) -> ImportJob:
    """Run the command and SIGKILL it once a few batches are committed; the job it left."""
    process = subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=_env(settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            job = ImportJob.objects.filter(**job_filter).first()
            if job and job.rows_done >= 3 * BATCH:
                os.killpg(process.pid, signal.SIGKILL)
                break
            assert process.poll() is None, "the import finished before it could be killed"
            time.sleep(0.02)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    job = ImportJob.objects.get(**job_filter)
    assert job.status == ImportStatus.RUNNING
    assert 0 < job.rows_done < job.rows_total
    return job


def _problems(job: ImportJob) -> list[tuple]:
    return list(job.problems.order_by("line", "id").values_list("line", "kind", "message"))


def test_a_recipients_import_killed_half_way_and_resumed_by_the_sweep_equals_a_clean_run(
    tmp_path, settings
):
    settings.IMPORT_BATCH_ROWS = BATCH
    path = _recipients_file(tmp_path / "people.csv", 6_000)
    clean_audience = AudienceFactory()
    clean = import_file("recipients", target=clean_audience, source=path)
    assert clean.status == ImportStatus.DONE

    audience = AudienceFactory(client=clean_audience.client)
    job = _kill_half_way(
        ["import_recipients", "--audience", str(audience.pk), str(path)],
        settings,
        {"audience": audience},
    )
    # What the killed run left is whole batches: the recipients are exactly the rows imported.
    assert Recipient.objects.filter(audience=audience).count() == job.imported

    ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=None)
    assert resume_stale_imports() == 1
    job.refresh_from_db()
    assert job.status == ImportStatus.DONE and job.attempts == 2

    def people(target):
        return sorted(
            Recipient.objects.filter(audience=target).values_list(
                "first_name", "last_name", "phone", "email", "zip", "custom_fields__store"
            )
        )

    assert (job.rows_done, job.imported, job.duplicates, job.errors) == (
        clean.rows_done,
        clean.imported,
        clean.duplicates,
        clean.errors,
    )
    assert people(audience) == people(clean_audience)
    assert _problems(job) == _problems(clean)
    audience.refresh_from_db()
    assert audience.total_count == clean.imported


def test_a_card_import_killed_half_way_keeps_the_pool_counters_and_resumes_to_a_clean_run(
    tmp_path, settings
):
    settings.IMPORT_BATCH_ROWS = BATCH
    path = _cards_file(tmp_path / "cards.csv", 4_000)
    clean_pool = GiftCardPoolFactory()
    clean = import_file("cards", target=clean_pool, source=path)
    clean_codes = sorted(card.code for card in GiftCard.objects.filter(pool=clean_pool))
    # Codes are unique across the platform: make room for the same cards in another pool.
    GiftCard.objects.filter(pool=clean_pool).delete()

    pool = GiftCardPoolFactory(client=clean_pool.client)
    job = _kill_half_way(
        ["import_cards", "--pool", str(pool.pk), str(path)], settings, {"pool": pool}
    )
    pool.refresh_from_db()
    stored = GiftCard.objects.filter(pool=pool).count()
    assert stored == job.imported == pool.total_cards == pool.available_cards

    # Its heartbeat is seconds old: the command will not take it unless told the process is gone.
    with pytest.raises(CommandError, match="running elsewhere"):
        call_command("resume_import", str(job.pk), stdout=StringIO(), stderr=StringIO())
    out = StringIO()
    report = tmp_path / "resumed.errors.csv"  # not beside the job's file name in the work tree
    call_command(
        "resume_import",
        str(job.pk),
        "--force",
        "--errors",
        str(report),
        stdout=out,
        stderr=StringIO(),
    )
    job.refresh_from_db()
    assert job.status == ImportStatus.DONE
    assert f"{clean.rows_done} rows, {clean.imported} imported" in out.getvalue()
    assert (job.rows_done, job.imported, job.duplicates, job.errors) == (
        clean.rows_done,
        clean.imported,
        clean.duplicates,
        clean.errors,
    )
    assert _problems(job) == _problems(clean)
    assert sorted(card.code for card in GiftCard.objects.filter(pool=pool)) == clean_codes
    pool.refresh_from_db()
    assert pool.total_cards == pool.available_cards == clean.imported
