"""With no environment Mike runs on embedded defaults; with DEBUG off it needs its own secrets."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.management.utils import get_random_secret_key

from mike.core.checks import check_secrets

ROOT = Path(__file__).resolve().parents[2]
SECRET_ERRORS = ("mike.E003", "mike.E004", "mike.E005")

PRINT_SETTINGS = (
    "import django; django.setup(); from django.conf import settings as s; "
    "print(s.DATABASES['default']['ENGINE'], s.DEBUG, s.CELERY_TASK_ALWAYS_EAGER, "
    "s.SMS_BACKEND, s.EMAIL_BACKEND)"
)


def run(code_or_args, env_overrides, *, args=None):
    # Only what Python needs is copied: PYTEST_VERSION in particular stays out, so the settings
    # behave as on a server rather than under the suite.
    env = {
        key: value
        for key, value in os.environ.items()
        if key in {"PATH", "HOME", "LANG", "LC_ALL", "VIRTUAL_ENV", "TMPDIR"}
    }
    env["DJANGO_SETTINGS_MODULE"] = "mike.settings"
    env.update(env_overrides)
    command = [sys.executable, *(args or ["-c", code_or_args])]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def production(tmp_path, **values):
    """DEBUG off, outside the suite, on a throwaway SQLite file, plus `values`."""
    return {
        "DEBUG": "False",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'production.sqlite3'}",
        "ALLOWED_HOSTS": "example.com",
        **values,
    }


def real_secrets():
    return {
        "SECRET_KEY": get_random_secret_key(),
        "CARD_CODE_KEY": Fernet.generate_key().decode(),
        "CARD_CODE_HASH_KEY": Fernet.generate_key().decode(),
    }


def test_no_environment_means_sqlite_debug_eager_tasks_and_console_backends():
    result = run(PRINT_SETTINGS, {})
    assert result.returncode == 0, result.stderr
    engine, debug, eager, sms, email = result.stdout.split()
    assert engine == "django.db.backends.sqlite3"
    assert (debug, eager, sms) == ("True", "True", "console")
    assert email.endswith("console.EmailBackend")


def test_no_environment_passes_the_checks_on_development_keys(tmp_path):
    result = run(
        "", {"DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}"}, args=["manage.py", "check"]
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "command", [["check"], ["check", "--deploy"], ["migrate", "--noinput"]], ids=" ".join
)
def test_production_without_secrets_refuses_to_run(tmp_path, command):
    result = run("", production(tmp_path), args=["manage.py", *command])

    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    for error_id in SECRET_ERRORS:
        assert error_id in output
    # Each error says how to make the missing value.
    assert "get_random_secret_key()" in output
    assert "Fernet.generate_key()" in output
    assert "Traceback" not in output


def test_production_with_its_own_secrets_passes_the_checks(tmp_path):
    result = run("", production(tmp_path, **real_secrets()), args=["manage.py", "check"])

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_with_its_own_secrets_passes_the_secret_checks_of_deploy(tmp_path):
    env = production(tmp_path, **real_secrets())
    result = run("", env, args=["manage.py", "check", "--deploy"])

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert not [error_id for error_id in (*SECRET_ERRORS, "mike.E006") if error_id in output]


def test_production_names_only_the_secret_that_is_missing(tmp_path):
    env = production(tmp_path, SECRET_KEY=get_random_secret_key())
    result = run("", env, args=["manage.py", "check"])

    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "mike.E004" in output and "mike.E005" in output
    assert "mike.E003" not in output


def test_a_card_code_key_that_is_no_fernet_key_is_an_error_not_a_crash(tmp_path):
    secrets = {**real_secrets(), "CARD_CODE_KEY": "not-a-fernet-key"}
    result = run("", production(tmp_path, **secrets), args=["manage.py", "check"])

    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "mike.E006" in output and "Traceback" not in output
    assert "not-a-fernet-key" not in output  # a key, even a wrong one, is not printed


def test_deploy_check_is_silent_with_real_values():
    production_values = {
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
    result = run(
        "", production_values, args=["manage.py", "check", "--deploy", "--fail-level", "WARNING"]
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


# --- The check itself ---------------------------------------------------------------------------


def ids(problems):
    return [problem.id for problem in problems]


def test_the_suites_development_keys_pass():
    assert check_secrets(None) == []


@pytest.mark.parametrize(
    ("name", "empty", "error_id"),
    [
        ("SECRET_KEY", "", "mike.E003"),
        ("CARD_CODE_KEYS", [], "mike.E004"),
        ("CARD_CODE_HASH_KEY", "", "mike.E005"),
    ],
)
def test_each_missing_secret_is_its_own_error(settings, name, empty, error_id):
    setattr(settings, name, empty)

    [error] = check_secrets(None)

    assert error.id == error_id and error.is_serious()
    assert "generate" in error.hint.lower()


def test_a_rotation_list_of_fernet_keys_passes(settings):
    settings.CARD_CODE_KEYS = [Fernet.generate_key().decode(), Fernet.generate_key().decode()]

    assert check_secrets(None) == []


def test_each_key_that_is_no_fernet_key_is_named_by_its_place(settings):
    settings.CARD_CODE_KEYS = [Fernet.generate_key().decode(), "short", "also/not+base64url"]

    problems = check_secrets(None)

    assert ids(problems) == ["mike.E006", "mike.E006"]
    assert "key 2 of 3" in problems[0].msg and "key 3 of 3" in problems[1].msg
    assert "short" not in problems[0].msg


def test_a_secret_key_that_starts_with_a_dollar_is_kept_as_written(tmp_path):
    key = "$" + get_random_secret_key()
    env = production(tmp_path, SECRET_KEY=key)
    result = run(
        f"from django.conf import settings; print(settings.SECRET_KEY == {key!r})",
        env,
    )
    assert "True" in result.stdout, result.stdout + result.stderr


PRINT_HTTPS = (
    "import django; django.setup(); from django.conf import settings as s; "
    "print(s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
    "s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.CSRF_TRUSTED_ORIGINS, "
    "'csp.middleware.CSPMiddleware' in s.MIDDLEWARE)"
)


def test_production_serves_https_only_with_hsts_secure_cookies_and_the_csp(tmp_path):
    values = production(tmp_path, **real_secrets(), CSRF_TRUSTED_ORIGINS="https://mike.example.com")
    result = run(PRINT_HTTPS, values)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "True", "True", "True", "31536000", "True", "['https://mike.example.com']", "True"
    ]  # fmt: skip
    # And the deploy check, with these values and a real broker and SMS account, is silent.
    values.update(
        REDIS_URL="redis://127.0.0.1:6379/0",
        SMS_BACKEND="twilio",
        TWILIO_ACCOUNT_SID="AC" + "0" * 32,
        TWILIO_AUTH_TOKEN="f" * 32,
        TWILIO_FROM_NUMBER="+18005550100",
        EMAIL_URL="smtp://mailer.example.com:587",
        SITE_URL="https://mike.example.com",
    )
    result = run("", values, args=["manage.py", "check", "--deploy", "--fail-level", "WARNING"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_hsts_is_configurable_and_the_deploy_check_notices_it_off(tmp_path):
    values = production(tmp_path, **real_secrets(), SECURE_HSTS_SECONDS="0")
    result = run("", values, args=["manage.py", "check", "--deploy"])
    assert "security.W004" in result.stdout + result.stderr
