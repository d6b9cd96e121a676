"""Mike's settings, read from the environment (django-environ).

With no environment at all Mike runs as a self-contained demo: a SQLite file, DEBUG on, Celery tasks
run eagerly in-process, SMS and email printed to the console. Each variable in `.env.example`
switches one part to a real service. Under pytest (which sets PYTEST_VERSION) the defaults point at
the local PostgreSQL and Redis instead, because the suite tests with real parts.

With DEBUG off outside the suite (a server), SECRET_KEY, CARD_CODE_KEY and CARD_CODE_HASH_KEY have
no default: the system checks in mike/core/checks.py refuse to run without them.
"""

import base64
import hashlib
import os
import re
import warnings
from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONCE, NONE, SELF

BASE_DIR = Path(__file__).resolve().parent.parent
TESTING = "PYTEST_VERSION" in os.environ

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=not TESTING)


def _secret(name: str) -> str:
    """A secret as written: django-environ reads a value starting with "$" as the name of another
    variable, and Django's own key generator writes such keys."""
    return os.environ.get(name, "")


# The development keys are written here for anyone to read, so only the demo and the suite get
# them. A server's secrets stay empty until it brings its own: the checks (mike.E003-E005) stop
# runserver and migrate, and Django refuses to sign anything with an empty SECRET_KEY.
_development_secrets = DEBUG or TESTING
SECRET_KEY = _secret("SECRET_KEY") or (
    "insecure-dev-key-change-me-" + "x" * 40 if _development_secrets else ""
)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    # Django's admin on Mike's site class: staff need a second factor (mike.accounts.admin_site).
    "mike.accounts.admin_site.MikeAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "guardian",
    "django_tables2",
    "django_filters",
    "django_htmx",
    "template_partials",
    "axes",
    # Two-factor authentication (mike.accounts.two_factor): authenticator apps, recovery codes.
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "mike.core",
    "mike.accounts",
    "mike.demo",
    "mike.dashboard",
    "mike.rewards",
    "mike.imports",
    "mike.api",
    "mike.webhooks",
    "mike.landing",
    "campaigns",
    "recipients",
    "giftcards",
    "calls",
    "crm",
]

MIDDLEWARE = [
    # Health and observability: request id and one log line per request (mike.core.middleware).
    "mike.core.middleware.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Serving: static files from STATIC_ROOT, compressed and with hashed names (whitenoise).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Content Security Policy (django-csp): early, so every answer carries the header.
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Two-factor and session age: request.user.is_verified(), staff sessions' fixed end.
    "django_otp.middleware.OTPMiddleware",
    "mike.accounts.sessions.StaffSessionMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "mike.api.middleware.ApiUtcMiddleware",
    # Last, as django-axes asks: it answers a locked-out sign-in with AXES_LOCKOUT_CALLABLE.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "mike.urls"
WSGI_APPLICATION = "mike.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "mike.dashboard.context_processors.dashboard",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------------
_default_db = (
    "postgres://postgres@127.0.0.1:5432/mike" if TESTING else f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
)
DATABASES = {"default": env.db("DATABASE_URL", default=_default_db)}
# Serving: PostgreSQL connections persist between requests (opening one costs more than a simple
# page), checked before reuse so a restarted server or pooler costs one error-free reconnect. The
# suite keeps closing them (0): its threads and processes must leave the test database droppable.
_is_postgresql = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
DATABASES["default"].setdefault(
    "CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60 if _is_postgresql and not TESTING else 0)
)
DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", env.bool("CONN_HEALTH_CHECKS", default=True))
# Behind PgBouncer in transaction mode a cursor cannot outlive its transaction: set True there
# (with DB_PREPARE_THRESHOLD=off, below). .iterator() then reads in chunks client-side.
DATABASES["default"].setdefault(
    "DISABLE_SERVER_SIDE_CURSORS", env.bool("DB_DISABLE_SERVER_SIDE_CURSORS", default=False)
)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The demo runs eager tasks and a dev server in one process; wait on a busy file rather than fail.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth ---------------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    # First: refuses every sign-in attempt of a locked-out account and address (django-axes).
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
# Guardian's anonymous user row is not needed: public pages reach data through codes and tokens.
ANONYMOUS_USER_NAME = None
GUARDIAN_RAISE_403 = False
LOGIN_URL = "/app/login/"
LOGIN_REDIRECT_URL = "/app/"
# Password-reset links (dashboards) work for this many seconds: three days.
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=3 * 24 * 3600)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# --- i18n, static -------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="America/New_York")
USE_I18N = True
USE_TZ = True
# Opt in to the Django 6 default now: bare domains typed in URL fields become https://.
FORMS_URLFIELD_ASSUME_HTTPS = True
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
# Serving: `collectstatic` writes compressed copies with hashed names, which whitenoise serves with
# far-future cache headers. The demo (DEBUG) and the suite keep plain names read from the finders,
# as they never run collectstatic.
if DEBUG or TESTING:
    # No collectstatic there, so no STATIC_ROOT: whitenoise reads the finders instead and need
    # not warn that the folder is missing.
    WHITENOISE_USE_FINDERS = True
    warnings.filterwarnings("ignore", message="No directory at: " + re.escape(str(STATIC_ROOT)))
else:
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
MEDIA_URL = "media/"

# --- Redis, cache, Celery -----------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/15" if TESTING else "")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
# Without a broker every task runs in-process; tests keep eager mode unless a test starts a worker.
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=TESTING or not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Periodic tasks (run `celery -A mike beat`). Each entry's task is idempotent.
CELERY_BEAT_SCHEDULE = {
    "apply-time-delay-conditions": {
        "task": "calls.tasks.apply_time_delay_conditions",
        "schedule": 15 * 60,  # seconds
    },
    "sweep-stuck-work": {
        "task": "giftcards.tasks.sweep_stuck_work",
        "schedule": 5 * 60,
    },
    "send-stock-alerts": {
        "task": "giftcards.tasks.send_stock_alerts",
        "schedule": 15 * 60,
    },
    # The dashboards' daily rollup of events (campaigns.daily_counts): days that are over.
    # Imports nobody is moving on (a worker died mid-file): resumed after their last batch.
    "resume-stale-imports": {
        "task": "mike.imports.tasks.resume_stale_imports",
        "schedule": 5 * 60,
    },
    "roll-up-daily-counts": {
        "task": "campaigns.tasks.roll_up_daily_counts",
        "schedule": 60 * 60,
    },
    # CRM events stored but never processed (their task lost): processed again.
    "sweep-crm-events": {
        "task": "crm.tasks.sweep_crm_events",
        "schedule": 5 * 60,
    },
    "purge-idempotency-records": {
        "task": "mike.api.tasks.purge_idempotency_records",
        "schedule": 60 * 60,
    },
    # Event webhooks out (mike.webhooks.sending): due retries, lost sends, dead workers.
    "sweep-webhook-deliveries": {
        "task": "mike.webhooks.tasks.sweep_webhook_deliveries",
        "schedule": env.int("WEBHOOK_SWEEP_SECONDS", default=60),
    },
    # Privacy: texts' bodies, recordings' URLs and raw CRM payloads past their RETENTION_* age.
    "purge-expired-personal-data": {
        "task": "mike.rewards.tasks.purge_expired_personal_data",
        "schedule": 24 * 60 * 60,
    },
}

# Event webhooks out: how long Mike waits for a subscriber's endpoint (connect, then the answer),
# how long a delivery is retried (exponential backoff from WEBHOOK_RETRY_BASE_SECONDS, at most
# WEBHOOK_RETRY_MAX_MINUTES apart, with jitter), when a subscription failing throughout is
# disabled, a sending worker's lease, and when the sweep queues again a send whose task is lost.
WEBHOOK_CONNECT_TIMEOUT_SECONDS = env.float("WEBHOOK_CONNECT_TIMEOUT_SECONDS", default=3.0)
WEBHOOK_READ_TIMEOUT_SECONDS = env.float("WEBHOOK_READ_TIMEOUT_SECONDS", default=5.0)
WEBHOOK_RETRY_HOURS = env.int("WEBHOOK_RETRY_HOURS", default=24)
WEBHOOK_RETRY_BASE_SECONDS = env.int("WEBHOOK_RETRY_BASE_SECONDS", default=30)
WEBHOOK_RETRY_MAX_MINUTES = env.int("WEBHOOK_RETRY_MAX_MINUTES", default=60)
WEBHOOK_DISABLE_AFTER_HOURS = env.int("WEBHOOK_DISABLE_AFTER_HOURS", default=24)
WEBHOOK_LEASE_SECONDS = env.int("WEBHOOK_LEASE_SECONDS", default=60)
WEBHOOK_REQUEUE_SECONDS = env.int("WEBHOOK_REQUEUE_SECONDS", default=300)
# Off in production: webhook URLs must be https:// and resolve to public addresses (no posting
# to Mike's own network). On in development and tests, whose receivers are local servers.
WEBHOOK_ALLOW_LOCAL_URLS = env.bool("WEBHOOK_ALLOW_LOCAL_URLS", default=DEBUG or TESTING)
# A queue of their own for the sends (run a worker with `-Q webhooks`), so slow subscriber
# endpoints never hold the workers that text cards. Empty (default): the default queue.
WEBHOOK_TASK_QUEUE = env.str("WEBHOOK_TASK_QUEUE", default="")
if WEBHOOK_TASK_QUEUE:
    CELERY_TASK_ROUTES = {
        "mike.webhooks.tasks.send_webhook_delivery": {"queue": WEBHOOK_TASK_QUEUE}
    }

# Card deliveries: attempts before a delivery shows as failed in the admin, and how long a
# delivery or opt-in may sit unfinished before the sweep re-queues it.
DELIVERY_MAX_RETRIES = env.int("DELIVERY_MAX_RETRIES", default=5)
DELIVERY_STUCK_MINUTES = env.int("DELIVERY_STUCK_MINUTES", default=10)
# How long a worker holds a delivery (or an opt-in text: recipients.services.request_opt_in) it
# is sending before the sweep may count that attempt as lost (well beyond a send: Twilio's and the
# email backend's timeouts are seconds).
DELIVERY_LEASE_SECONDS = env.int("DELIVERY_LEASE_SECONDS", default=120)
# The longest wait between two attempts. Every task countdown must stay below the broker's
# visibility timeout (Redis redelivers a task whose countdown reaches it): mike.core.checks.
DELIVERY_RETRY_MAX_MINUTES = env.int("DELIVERY_RETRY_MAX_MINUTES", default=30)
# On PostgreSQL a claim writes its rows in one statement (giftcards/services/claim_sql.py); False
# falls back to the portable ORM writer, a statement per row (always used on SQLite).
GIFTCARD_CLAIM_SQL = env.bool("GIFTCARD_CLAIM_SQL", default=True)
# PostgreSQL: the few hot statements that ask for it (mike.core.prepared: the claim's two, the
# redemption page's reads; the connection's own setting stays Django's, no preparing) are
# prepared on a connection after this many runs. Set "off" behind a
# pooler that cannot keep prepared statements (PgBouncer in transaction mode before 1.21, or
# without max_prepared_statements).
_prepare = env.str("DB_PREPARE_THRESHOLD", default="5").strip().lower()
PREPARE_THRESHOLD = None if _prepare in ("", "off", "none") else int(_prepare)

# Staff alerts (giftcards.alerts): low stock, low credit, failed purchases and deliveries.
# ALERT_EMAILS: who gets them; empty means every active staff user with an email address.
ALERT_EMAILS = env.list("ALERT_EMAILS", default=[])
# Hours before a problem that is still there is alerted again.
ALERT_REPEAT_HOURS = env.int("ALERT_REPEAT_HOURS", default=24)

# --- SMS, email ---------------------------------------------------------------------------------
# SMS_BACKEND: "console" (prints), "locmem" (keeps messages in memory, for tests) or "twilio".
SMS_BACKEND = env.str("SMS_BACKEND", default="locmem" if TESTING else "console")
TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", default="")
TWILIO_FROM_NUMBER = env.str("TWILIO_FROM_NUMBER", default="")
# Only for pointing the Twilio client at a local fake in tests; empty means api.twilio.com.
TWILIO_API_BASE_URL = env.str("TWILIO_API_BASE_URL", default="")
TWILIO_TIMEOUT_SECONDS = env.float("TWILIO_TIMEOUT_SECONDS", default=10.0)
# Finds the auth token of an organization's own Twilio account when a webhook names one.
TWILIO_WEBHOOK_ACCOUNT_LOOKUP = "mike.accounts.twilio_accounts.auth_token_for_account"
SMS_BACKEND_CHOICES = ("twilio", "console", "locmem")
# TCPA recency: an SMS opt-in older than this many days is stale, and the recipient is asked
# again before a new reward is texted (recipients.services.opt_in_is_current).
OPT_IN_MAX_AGE_DAYS = env.int("OPT_IN_MAX_AGE_DAYS", default=180)

# Imports (mike.core.imports): a bigger upload is refused before a row is read.
IMPORT_MAX_BYTES = env.int("IMPORT_MAX_MB", default=100) * 1024 * 1024
# Rows read per batch; each batch is one transaction with the job's checkpoint (mike.imports).
IMPORT_BATCH_ROWS = env.int("IMPORT_BATCH_ROWS", default=2000)
# A running import whose heartbeat (one per batch) is older than this is resumed by the sweep;
# after this many failed runs it ends failed.
IMPORT_STALE_SECONDS = env.int("IMPORT_STALE_SECONDS", default=300)
IMPORT_MAX_ATTEMPTS = env.int("IMPORT_MAX_ATTEMPTS", default=3)
# An uploaded file whose columns nobody confirmed is deleted after this many hours.
IMPORT_PENDING_HOURS = env.int("IMPORT_PENDING_HOURS", default=24)

EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.locmem.EmailBackend"
    if TESTING
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Mike <rewards@localhost>")

# --- Gift card provider (Tillo) -----------------------------------------------------------------
TILLO_BASE_URL = env.str("TILLO_BASE_URL", default="https://app.tillo.io")
TILLO_API_KEY = env.str("TILLO_API_KEY", default="")
TILLO_SECRET = env.str("TILLO_SECRET", default="")
TILLO_TIMEOUT_SECONDS = env.float("TILLO_TIMEOUT_SECONDS", default=10.0)
TILLO_MAX_RETRIES = env.int("TILLO_MAX_RETRIES", default=2)


# --- Wallet passes (giftcards.wallet) -----------------------------------------------------------
# Apple Wallet: the pass type certificate and its key (PEM; the key's password if it has one),
# Apple's WWDR intermediate certificate (PEM or the .cer Apple ships), the pass type identifier
# and the team id. Google Wallet: the issuer id, the service account's JSON key file and the gift
# card class's id. Each wallet's button shows only while all its settings are set. Pass links
# (the redemption page's and the card text's) work for WALLET_LINK_MAX_AGE_DAYS days.
WALLET_APPLE_CERT_PATH = env.str("WALLET_APPLE_CERT_PATH", default="")
WALLET_APPLE_KEY_PATH = env.str("WALLET_APPLE_KEY_PATH", default="")
WALLET_APPLE_KEY_PASSWORD = _secret("WALLET_APPLE_KEY_PASSWORD")
WALLET_APPLE_WWDR_PATH = env.str("WALLET_APPLE_WWDR_PATH", default="")
WALLET_APPLE_PASS_TYPE_ID = env.str("WALLET_APPLE_PASS_TYPE_ID", default="")
WALLET_APPLE_TEAM_ID = env.str("WALLET_APPLE_TEAM_ID", default="")
WALLET_GOOGLE_ISSUER_ID = env.str("WALLET_GOOGLE_ISSUER_ID", default="")
WALLET_GOOGLE_SERVICE_ACCOUNT_FILE = env.str("WALLET_GOOGLE_SERVICE_ACCOUNT_FILE", default="")
WALLET_GOOGLE_CLASS_ID = env.str("WALLET_GOOGLE_CLASS_ID", default="")
WALLET_LINK_MAX_AGE_DAYS = env.int("WALLET_LINK_MAX_AGE_DAYS", default=90)


# --- Card code encryption -----------------------------------------------------------------------
# CARD_CODE_KEY: one or more Fernet keys, comma separated, newest first. Codes are encrypted with the
# first and decrypted with any, so a key can be rotated by prepending a new one. CARD_CODE_HASH_KEY
# keys the HMAC that makes codes unique without storing them in the clear; it must never change.
# Both are required on a server (mike.E004-E006).
def _dev_fernet_key(label: str) -> str:
    digest = hashlib.sha256(f"{label}:{SECRET_KEY}".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()


CARD_CODE_KEYS = [key.strip() for key in env.list("CARD_CODE_KEY", default=[]) if key.strip()]
CARD_CODE_HASH_KEY = _secret("CARD_CODE_HASH_KEY")
if _development_secrets:
    # Derived from SECRET_KEY, so a demo database keeps decrypting its codes across restarts.
    CARD_CODE_KEYS = CARD_CODE_KEYS or [_dev_fernet_key("card-code")]
    CARD_CODE_HASH_KEY = CARD_CODE_HASH_KEY or _dev_fernet_key("card-hash")

# --- Privacy: erasure and retention ------------------------------------------------------------
# ERASURE_HASH_KEY keys the HMAC of an erased recipient's phone, kept so their opt-out stays
# honoured (recipients.SmsSuppression). Like CARD_CODE_HASH_KEY it must never change; without it
# that key is used. The RETENTION_* ages (days) say when texts' bodies, call recordings' URLs and
# raw CRM payloads are purged by the daily beat task (mike.rewards.retention).
ERASURE_HASH_KEY = _secret("ERASURE_HASH_KEY") or CARD_CODE_HASH_KEY
RETENTION_SMS_TEXT_DAYS = env.int("RETENTION_SMS_TEXT_DAYS", default=365)
RETENTION_CALL_RECORDING_DAYS = env.int("RETENTION_CALL_RECORDING_DAYS", default=365)
RETENTION_CRM_PAYLOAD_DAYS = env.int("RETENTION_CRM_PAYLOAD_DAYS", default=365)
RETENTION_BATCH_SIZE = env.int("RETENTION_BATCH_SIZE", default=1000)

# --- Security (production) ----------------------------------------------------------------------
if not DEBUG and not TESTING:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# --- Content Security Policy (django-csp 4) ------------------------------------------------------
# Scripts and styles come from Mike's own static files; the one inline script Mike serves (the
# API docs' Swagger UI set-up, templates/drf_spectacular/) carries the request's nonce
# (`{{ request.csp_nonce }}`). No 'unsafe-inline' and no 'unsafe-eval' anywhere: the templates
# hold no inline handlers or style attributes, and htmx runs with eval and script tags off
# (templates/app/base.html's htmx-config). CSP_REPORT_URI: where browsers report violations;
# CSP_REPORT_ONLY=True sends the policy as Content-Security-Policy-Report-Only, for a rollout.
_csp_directives = {
    "default-src": [SELF],
    "script-src": [SELF, NONCE],
    "style-src": [SELF, NONCE],
    # Images also from CSP_IMG_SRC (default any https: source): clients' and brands' logos are
    # addresses on their own sites (logo_url), shown on the public pages and the dashboards.
    "img-src": [SELF, "data:", *env.str("CSP_IMG_SRC", default="https:").split()],
    "connect-src": [SELF],
    "frame-ancestors": [NONE],
    "form-action": [SELF],
    "base-uri": [SELF],
    "object-src": [NONE],
}
if env.str("CSP_REPORT_URI", default=""):
    _csp_directives["report-uri"] = [env.str("CSP_REPORT_URI")]
if env.bool("CSP_REPORT_ONLY", default=False):
    CONTENT_SECURITY_POLICY = None
    CONTENT_SECURITY_POLICY_REPORT_ONLY = {"DIRECTIVES": _csp_directives}
else:
    CONTENT_SECURITY_POLICY = {"DIRECTIVES": _csp_directives}

# --- Landing pages ------------------------------------------------------------------------------
# The OpenAI-compatible service that may write landing pages' copy (mike.landing.generators):
# its base URL (…/v1; blank: only the built-in generator), key, model, and how long one answer
# may take (seconds) before the page falls back to the built-in generator.
LANDING_AI_BASE_URL = env.str("LANDING_AI_BASE_URL", default="")
LANDING_AI_API_KEY = env.str("LANDING_AI_API_KEY", default="")
LANDING_AI_MODEL = env.str("LANDING_AI_MODEL", default="gpt-4o-mini")
LANDING_AI_TIMEOUT = env.float("LANDING_AI_TIMEOUT", default=30.0)

# --- Rate limits --------------------------------------------------------------------------------
RATELIMIT_USE_CACHE = "default"
RATELIMIT_VIEW = "mike.core.views.ratelimited"
# Wrong codes one client address may try on the public redemption page, in django-ratelimit's
# format (10/m, 10/5m, 100/h); a code that is found is not counted (mike.core.ratelimit).
REDEEM_RATE = env.str("REDEEM_RATE", default="10/m")
# Recipient lookups one call-centre agent may make in the call console (same format).
CONSOLE_LOOKUP_RATE = env.str("CONSOLE_LOOKUP_RATE", default="20/m")

# --- ACE forms (/f/<slug>/) ----------------------------------------------------------------------
# Submissions one client address may send (django-ratelimit's format); the fewest seconds between
# opening a form and sending it (faster is a bot); who may frame /f/<slug>/embed/ (CSP
# frame-ancestors sources, space separated; /f/<slug>/ itself is never framed).
FORM_SUBMIT_RATE = env.str("FORM_SUBMIT_RATE", default="10/10m")
FORM_MIN_FILL_SECONDS = env.float("FORM_MIN_FILL_SECONDS", default=3)
FORM_EMBED_FRAME_ANCESTORS = env.str("FORM_EMBED_FRAME_ANCESTORS", default="'self' https:").split()

# --- CRM webhooks in (/hooks/crm/<token>/) ------------------------------------------------------
# Requests one integration may send, in django-ratelimit's format (counted before the signature
# is checked, so a flood costs no more than a lookup); the largest body and the most events one
# request may carry; how far a signature's timestamp may be from Mike's clock; how long a rotated
# secret is still accepted; how long an event may wait for its task before the sweep queues it.
CRM_WEBHOOK_RATE = env.str("CRM_WEBHOOK_RATE", default="300/m")
CRM_WEBHOOK_MAX_BYTES = env.int("CRM_WEBHOOK_MAX_KB", default=256) * 1024
CRM_WEBHOOK_MAX_EVENTS = env.int("CRM_WEBHOOK_MAX_EVENTS", default=100)
CRM_WEBHOOK_TOLERANCE_SECONDS = env.int("CRM_WEBHOOK_TOLERANCE_SECONDS", default=5 * 60)
CRM_WEBHOOK_SECRET_GRACE_HOURS = env.int("CRM_WEBHOOK_SECRET_GRACE_HOURS", default=24)
CRM_EVENT_STUCK_MINUTES = env.int("CRM_EVENT_STUCK_MINUTES", default=5)

# --- JSON API (/api/v1/) -----------------------------------------------------------------------
# Django REST Framework with drf-spectacular: the most used API layer for Django, with the
# OpenAPI generator schemathesis tests against; its serializers give one message per field.
API_READ_RATE = env.str("API_READ_RATE", default="600/m")
API_WRITE_RATE = env.str("API_WRITE_RATE", default="120/m")
IDEMPOTENCY_KEY_TTL_HOURS = env.int("IDEMPOTENCY_KEY_TTL_HOURS", default=24)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["mike.api.auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": [
        "mike.api.auth.HasKeyScope",
        "mike.api.auth.KnownQueryParameters",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["mike.api.throttling.ApiKeyThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "mike.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Mike API",
    "DESCRIPTION": "Push recipients, read campaigns, statuses, rewards and deliveries, mark "
    "conditions met, and subscribe to Mike's events. Every error is JSON: "
    '`{"error": {"type", "message", "fields"}}`.',
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "mike.api.schema.add_error_responses",
    ],
    "ENUM_NAME_OVERRIDES": {
        "CampaignStatus": "campaigns.models.CampaignStatus",
        "AudienceStatus": "recipients.models.AudienceStatus",
        "RewardStatus": "giftcards.models.choices.RewardStatus",
        "DeliveryStatus": "giftcards.models.choices.DeliveryStatus",
        "RewardDeliveryStatus": "giftcards.models.choices.RewardDeliveryStatus",
    },
}
# Reverse proxies in front of Mike that append the address they saw to X-Forwarded-For: the
# client's address is the entry this many from the right (mike.core.clientip). 0: clients connect
# directly and REMOTE_ADDR is theirs. One too many lets clients pick their address; one too few
# counts every customer behind a proxy as one.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
# Proxy trust: the same setting decides whether the scheme and host a proxy forwards are believed.
# With 0 a client's own X-Forwarded-Proto/Host are ignored (they would skip the HTTPS redirect and
# choose the URL Twilio signatures are checked against); with proxies, those proxies set them
# (deploy/nginx/mike.conf overwrites both).
if TRUSTED_PROXY_COUNT > 0:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = True
else:
    SECURE_PROXY_SSL_HEADER = None
    USE_X_FORWARDED_HOST = False

# Sign-in lockout (django-axes), on every login form that authenticates with the request (the
# admin's, and the dashboards'). Failures count per account *and* client address together, so one
# attacker cannot lock an account out for everybody, nor one address lock out every account it
# tries; the address is read through TRUSTED_PROXY_COUNT proxies like the rate limits'.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=30))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "mike.core.clientip.login_client_ip"
AXES_USERNAME_FORM_FIELD = "username"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "mike.core.views.locked_out"
AXES_VERBOSE = False

# --- Two-factor authentication and session age (mike.accounts.two_factor, .sessions) ----------
# Staff always need a second factor in the admin. With REQUIRE_2FA_FOR_ADMINS on, staff and agency
# admins must also set one up before using the dashboards; everyone else may turn it on.
REQUIRE_2FA_FOR_ADMINS = env.bool("REQUIRE_2FA_FOR_ADMINS", default=False)
# Wrong second-step codes one signed-in account may try (django-ratelimit's format); each also
# counts as a failed sign-in for the lockout above.
TWO_FACTOR_RATE = env.str("TWO_FACTOR_RATE", default="10/m")
# Wrong second-step codes an account may give in a row, across sign-ins and addresses, before its
# second step is locked for TWO_FACTOR_LOCKOUT_MINUTES after the last one. Counted apart from the
# password failures above: a right password (which resets those) does not reset this count.
TWO_FACTOR_FAILURE_LIMIT = env.int("TWO_FACTOR_FAILURE_LIMIT", default=5)
TWO_FACTOR_LOCKOUT_MINUTES = env.int("TWO_FACTOR_LOCKOUT_MINUTES", default=30)
OTP_TOTP_ISSUER = "Mike"
# Staff sessions end this many minutes after signing in, and when the browser closes; dashboard
# sessions last this many days from their last change.
STAFF_SESSION_MINUTES = env.int("STAFF_SESSION_MINUTES", default=120)
DASHBOARD_SESSION_DAYS = env.int("DASHBOARD_SESSION_DAYS", default=14)

# Health and observability: JSON lines (LOG_FORMAT=json, the default on a server) or text (the
# default with DEBUG and in tests), every line with its request id and phones/codes masked.
LOG_FORMAT = env.str("LOG_FORMAT", default="text" if DEBUG or TESTING else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "mike.core.logs.RequestIdFilter"},
        "masking": {"()": "mike.core.logs.MaskingFilter"},
    },
    "formatters": {
        "json": {"()": "mike.core.logs.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id", "masking"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# --- Health and observability (mike.core.health) ------------------------------------------------
# The longest one /readyz/ check (database, cache, broker) may take; they run concurrently.
READINESS_TIMEOUT_SECONDS = env.float("READINESS_TIMEOUT_SECONDS", default=2.0)
# Task events for `celery -A mike events` and Flower.
CELERY_WORKER_SEND_TASK_EVENTS = True
CELERY_TASK_SEND_SENT_EVENT = True
# Error reports (mike.core.sentry): off unless SENTRY_DSN is set; personal data never sent.
SENTRY_DSN = env.str("SENTRY_DSN", default="")
SENTRY_ENVIRONMENT = env.str("SENTRY_ENVIRONMENT", default="")
SENTRY_RELEASE = env.str("SENTRY_RELEASE", default="")
if SENTRY_DSN:
    from mike.core.sentry import init_sentry

    init_sentry(
        dsn=SENTRY_DSN,
        environment=SENTRY_ENVIRONMENT,
        release=SENTRY_RELEASE,
        traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0),
    )
