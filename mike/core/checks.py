"""Checks of Mike's own settings: the deployment ones run by `manage.py check --deploy`, the
others by every command that checks the project (`check`, `runserver`, `migrate`)."""

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

from .ratelimit import parse_rate


@register(Tags.security, deploy=True)
def check_production_secrets(app_configs, **kwargs):
    problems = []
    if not settings.CARD_CODE_KEYS_FROM_ENV:
        problems.append(
            Warning(
                "CARD_CODE_KEY is not set: gift card codes are encrypted with a key derived from "
                "SECRET_KEY.",
                hint="Set CARD_CODE_KEY to one or more Fernet keys.",
                id="mike.W001",
            )
        )
    if settings.SMS_BACKEND == "twilio" and not (
        settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN and settings.TWILIO_FROM_NUMBER
    ):
        problems.append(
            Error(
                "SMS_BACKEND is twilio but TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN or "
                "TWILIO_FROM_NUMBER is missing.",
                id="mike.E001",
            )
        )
    if settings.SMS_BACKEND in ("console", "locmem"):
        problems.append(
            Warning(
                f"SMS_BACKEND is {settings.SMS_BACKEND!r}: no text message reaches a phone.",
                hint="Set SMS_BACKEND=twilio with the TWILIO_* settings.",
                id="mike.W002",
            )
        )
    if settings.CELERY_TASK_ALWAYS_EAGER:
        problems.append(
            Warning(
                "Celery tasks run eagerly inside web requests (no REDIS_URL or broker set).",
                hint="Set REDIS_URL and run `celery -A mike worker` and `celery -A mike beat`.",
                id="mike.W003",
            )
        )
    return problems


@register()
def check_sms_backend(app_configs, **kwargs):
    if settings.SMS_BACKEND not in settings.SMS_BACKEND_CHOICES:
        return [
            Error(
                f"SMS_BACKEND={settings.SMS_BACKEND!r} is not one of "
                f"{', '.join(settings.SMS_BACKEND_CHOICES)}.",
                id="mike.E002",
            )
        ]
    return []


@register()
def check_rate_limits(app_configs, **kwargs):
    """A rate or proxy count that cannot work is refused at start-up, not on the first request."""
    problems = []
    try:
        parse_rate(settings.REDEEM_RATE)
    except ImproperlyConfigured as error:
        problems.append(Error(f"REDEEM_RATE: {error}", id="mike.E003"))
    if settings.TRUSTED_PROXY_COUNT < 0:
        problems.append(
            Error(
                f"TRUSTED_PROXY_COUNT={settings.TRUSTED_PROXY_COUNT} is negative.",
                hint="Set it to the number of reverse proxies in front of Mike (0 for none).",
                id="mike.E004",
            )
        )
    return problems
