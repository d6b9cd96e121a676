"""System checks of Mike's own settings.

The ids are stable: a retired id is never given to another problem.

| id | when it runs | what it means |
|---|---|---|
| `mike.E001` | `check --deploy` | SMS_BACKEND is twilio but a TWILIO_* credential is missing |
| `mike.E002` | every check | SMS_BACKEND names no known backend |
| `mike.E003` | every check | SECRET_KEY is not set (DEBUG off, outside the test suite) |
| `mike.E004` | every check | CARD_CODE_KEY is not set (DEBUG off, outside the test suite) |
| `mike.E005` | every check | CARD_CODE_HASH_KEY is not set (DEBUG off, outside the test suite) |
| `mike.E006` | every check | an entry of CARD_CODE_KEY is not a Fernet key |
| `mike.E007` | every check | REDEEM_RATE is not a rate like `10/m` |
| `mike.E008` | every check | TRUSTED_PROXY_COUNT is negative |
| `mike.E101` | every check | a task's retry countdown reaches the broker's visibility timeout (mike.rewards.checks) |
| `mike.W001` | retired | was "CARD_CODE_KEY not set, derived from SECRET_KEY"; now E004 |
| `mike.W002` | `check --deploy` | SMS goes to the console or memory, not to phones |
| `mike.W003` | `check --deploy` | Celery tasks run eagerly inside web requests |

"Every check" means `runserver`, `migrate` and `check` refuse to run while the error stands.
"""

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

from .ratelimit import parse_rate

SIGNING_KEY_COMMAND = (
    'python -c "from django.core.management.utils import get_random_secret_key; '
    'print(get_random_secret_key())"'
)
FERNET_KEY_COMMAND = (
    'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
)


@register(Tags.security)
def check_secrets(app_configs, **kwargs):
    """SECRET_KEY, CARD_CODE_KEY and CARD_CODE_HASH_KEY are set, and every card code key is a
    Fernet key. Settings give them development values only with DEBUG on or under the suite, so
    on a server an error here means the variable is missing from its environment. A key that is
    not a Fernet key would otherwise surface as a crash at the first card encrypted; the message
    names its place in the list, never the key."""
    problems = []
    try:
        secret_key = settings.SECRET_KEY
    except ImproperlyConfigured:  # Django refuses to hand out an empty SECRET_KEY
        secret_key = ""
    if not secret_key:
        problems.append(
            Error(
                "SECRET_KEY is not set: sessions, CSRF tokens and signed links need a secret "
                "of this server's own.",
                hint=f"Set SECRET_KEY to a random 50-character string; generate one with: "
                f"{SIGNING_KEY_COMMAND}",
                id="mike.E003",
            )
        )
    keys = settings.CARD_CODE_KEYS
    if isinstance(keys, str):  # read as giftcards.crypto reads it
        keys = keys.split(",")
    keys = [key.strip() for key in keys if key and key.strip()]
    if not keys:
        problems.append(
            Error(
                "CARD_CODE_KEY is not set: gift card codes cannot be encrypted.",
                hint=f"Set CARD_CODE_KEY to a Fernet key; generate one with: {FERNET_KEY_COMMAND}",
                id="mike.E004",
            )
        )
    for place, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except ValueError:
            problems.append(
                Error(
                    f"CARD_CODE_KEY: key {place} of {len(keys)} is not a Fernet key "
                    "(32 bytes, URL-safe base64-encoded).",
                    hint=f"Generate a Fernet key with: {FERNET_KEY_COMMAND}",
                    id="mike.E006",
                )
            )
    if not settings.CARD_CODE_HASH_KEY:
        problems.append(
            Error(
                "CARD_CODE_HASH_KEY is not set: gift card codes cannot be looked up or kept "
                "unique.",
                hint=f"Set CARD_CODE_HASH_KEY to a random key, e.g. generate one with: "
                f"{FERNET_KEY_COMMAND} (it must never change once cards are stored).",
                id="mike.E005",
            )
        )
    return problems


@register(Tags.security, deploy=True)
def check_production_services(app_configs, **kwargs):
    problems = []
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
        problems.append(Error(f"REDEEM_RATE: {error}", id="mike.E007"))
    if settings.TRUSTED_PROXY_COUNT < 0:
        problems.append(
            Error(
                f"TRUSTED_PROXY_COUNT={settings.TRUSTED_PROXY_COUNT} is negative.",
                hint="Set it to the number of reverse proxies in front of Mike (0 for none).",
                id="mike.E008",
            )
        )
    return problems
