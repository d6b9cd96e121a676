"""With no environment Mike runs on embedded defaults; with real values the deploy check is silent."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PRINT_SETTINGS = (
    "import django; django.setup(); from django.conf import settings as s; "
    "print(s.DATABASES['default']['ENGINE'], s.DEBUG, s.CELERY_TASK_ALWAYS_EAGER, "
    "s.SMS_BACKEND, s.EMAIL_BACKEND)"
)


def run(code_or_args, env_overrides, *, args=None):
    env = {
        key: value
        for key, value in os.environ.items()
        if key in {"PATH", "HOME", "LANG", "LC_ALL", "VIRTUAL_ENV", "TMPDIR"}
    }
    env["DJANGO_SETTINGS_MODULE"] = "mike.settings"
    env.update(env_overrides)
    command = [sys.executable, *(args or ["-c", code_or_args])]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_no_environment_means_sqlite_debug_eager_tasks_and_console_backends():
    result = run(PRINT_SETTINGS, {})
    assert result.returncode == 0, result.stderr
    engine, debug, eager, sms, email = result.stdout.split()
    assert engine == "django.db.backends.sqlite3"
    assert (debug, eager, sms) == ("True", "True", "console")
    assert email.endswith("console.EmailBackend")


def test_deploy_check_is_silent_with_real_values():
    from cryptography.fernet import Fernet

    production = {
        "DEBUG": "False",
        "SECRET_KEY": "x" * 30 + "k9!Qz#L2@pV7&mW4^rT8*yB1$uN6(eH3)",
        "ALLOWED_HOSTS": "mike.example.com",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/mike",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TWILIO_AUTH_TOKEN": "f" * 32,
        "TWILIO_FROM_NUMBER": "+18005550100",
        "SMS_BACKEND": "twilio",
        "EMAIL_URL": "smtp://mailer.example.com:587",
        "CARD_CODE_KEY": Fernet.generate_key().decode(),
        "CARD_CODE_HASH_KEY": "h" * 40,
        "SITE_URL": "https://mike.example.com",
    }
    result = run("", production, args=["manage.py", "check", "--deploy", "--fail-level", "WARNING"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_deploy_check_names_what_is_missing():
    result = run(
        "",
        {"DEBUG": "False", "SECRET_KEY": "y" * 60, "ALLOWED_HOSTS": "x.example"},
        args=["manage.py", "check", "--deploy"],
    )
    assert "CARD_CODE_KEY" in result.stdout + result.stderr
