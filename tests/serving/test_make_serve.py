"""`make serve`: refuses the demo's parts with a clear message, and its Procfile's entries are
commands that load Mike."""

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_serving_on_postgresql_with_a_broker_is_accepted(settings, capsys):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/1"
    settings.CELERY_TASK_ALWAYS_EAGER = False
    call_command("check_serving")
    assert "Serving on PostgreSQL" in capsys.readouterr().out


def test_sqlite_and_no_redis_are_refused_with_what_to_set(settings, monkeypatch):
    # Only the engine's name is read; no connection is opened.
    monkeypatch.setitem(settings.DATABASES["default"], "ENGINE", "django.db.backends.sqlite3")
    settings.REDIS_URL = ""
    settings.CELERY_BROKER_URL = "memory://"
    with pytest.raises(CommandError) as refused:
        call_command("check_serving")
    message = str(refused.value)
    assert "DATABASE_URL must point at PostgreSQL" in message
    assert "make run" in message
    assert "REDIS_URL is not set" in message
    assert "No Celery broker" in message


def procfile() -> dict[str, str]:
    entries = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip():
            name, command = line.split(":", 1)
            entries[name.strip()] = command.strip()
    return entries


def test_procfile_runs_web_worker_and_beat():
    assert set(procfile()) == {"web", "worker", "beat"}


@pytest.mark.parametrize(
    ("entry", "check"),
    [("web", ["--check-config"]), ("worker", ["--help"]), ("beat", ["--help"])],
)
def test_each_procfile_entry_is_a_valid_command(entry, check):
    """Run as honcho runs it (a shell, the virtualenv first on PATH), with a flag that makes the
    program load Mike and check its arguments without serving."""
    command = procfile()[entry] + " " + shlex.join(check)
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}
    result = subprocess.run(
        ["sh", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
