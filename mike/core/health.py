"""Health endpoints for a load balancer or an orchestrator.

- `/healthz/`: liveness. The process answers; nothing else is touched (no database, no cache), so a
  database outage never gets every web process restarted.
- `/readyz/`: readiness. The database answers and has every migration on disk applied, the cache
  answers, and the Celery broker accepts a connection (or tasks run eagerly, and there is none).
  200 when all pass, 503 naming the failed check otherwise; each check's status and time in ms.

Both are plain GET views with no session, CSRF or login involved, answered `Cache-Control:
no-store`. Each readiness check runs in a thread of its own with a deadline
(`READINESS_TIMEOUT_SECONDS`), so a host that drops packets costs the probe that deadline, not the
operating system's TCP timeout, and the checks together take as long as the slowest one. The
answer names what failed and the exception's class only: the detail (hosts, ports, pending
migration names) goes to the log, since the endpoint is open to anyone who can reach it.
"""

import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from functools import lru_cache

from django.conf import settings
from django.core.cache import caches
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from .errors import DomainError

logger = logging.getLogger("mike.health")

OK, FAIL, EAGER = "ok", "fail", "eager"


class CheckFailed(DomainError):
    """A check reached its service and found it not ready (the message says how)."""


@lru_cache(maxsize=1)
def _migrations_on_disk() -> dict[tuple[str, str], tuple[tuple[str, str], ...]]:
    """Every migration node this code has, with the migrations it replaces (a squash), read once:
    the files on disk do not change under a running process."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    return {key: tuple(loader.disk_migrations[key].replaces or ()) for key in loader.graph.nodes}


def pending_migrations(connection) -> list[str]:
    """The migrations on disk the database has not applied, as "app.name". A squash counts as
    applied when it, or every migration it replaces, is recorded (Django records both ways)."""
    applied = set(MigrationRecorder(connection).applied_migrations())
    pending = []
    for key, replaces in sorted(_migrations_on_disk().items()):
        if key in applied or (replaces and all(r in applied for r in replaces)):
            continue
        pending.append(f"{key[0]}.{key[1]}")
    return pending


def check_database() -> dict:
    """SELECT 1 on a connection of this thread's own, then the migrations. Closes it after."""
    connection = connections[DEFAULT_DB_ALIAS]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return {}
    finally:
        connection.close()


def check_migrations() -> dict:
    connection = connections[DEFAULT_DB_ALIAS]
    try:
        pending = pending_migrations(connection)
    finally:
        connection.close()
    if pending:
        logger.warning("Unapplied migrations: %s", ", ".join(pending))
        raise CheckFailed(f"{len(pending)} unapplied migrations")
    return {}


def check_cache() -> dict:
    """A value written and read back under a key of its own, then deleted."""
    cache = caches["default"]
    key = f"mike:readyz:{uuid.uuid4().hex}"
    try:
        cache.set(key, "1", timeout=10)
        if cache.get(key) != "1":
            raise CheckFailed("the cache did not return what was written")
        cache.delete(key)
        return {}
    finally:
        cache.close()


def check_broker() -> dict:
    """A connection to the Celery broker, opened and closed (kombu, the client Celery uses)."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        # Tasks run in the web process; there is no broker to reach.
        return {"status": EAGER}
    from kombu import Connection

    timeout = settings.READINESS_TIMEOUT_SECONDS
    with Connection(
        settings.CELERY_BROKER_URL,
        connect_timeout=timeout,
        transport_options={"socket_timeout": timeout, "socket_connect_timeout": timeout},
    ) as broker:
        broker.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout)
        # Redis connects lazily: a round trip on a channel proves the server answers.
        broker.default_channel  # noqa: B018 - opening it is the check
    return {}


# Run in this order when the database is up; migrations need it, so they run after it.
CHECKS = {
    "database": check_database,
    "migrations": check_migrations,
    "cache": check_cache,
    "broker": check_broker,
}


def _timed(check) -> dict:
    start = time.perf_counter()
    try:
        result = {"status": OK, **check()}
    except Exception as error:  # noqa: BLE001 - every failure is an answer here, never a 500
        result = {"status": FAIL, "error": type(error).__name__}
        logger.warning("Readiness check %s failed: %r", check.__name__, error)
    result["ms"] = round((time.perf_counter() - start) * 1000, 1)
    return result


def _database_then_migrations() -> dict:
    database = _timed(check_database)
    if database["status"] != OK:
        return {"database": database, "migrations": {"status": "skipped", "ms": 0.0}}
    return {"database": database, "migrations": _timed(check_migrations)}


def run_checks() -> dict:
    """Every readiness check, concurrently, each given READINESS_TIMEOUT_SECONDS at most."""
    timeout = settings.READINESS_TIMEOUT_SECONDS
    # Not a `with` block: that would wait for a check stuck past its deadline.
    pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="readyz")
    started = time.perf_counter()
    futures = {
        ("database", "migrations"): pool.submit(_database_then_migrations),
        ("cache",): pool.submit(lambda: {"cache": _timed(check_cache)}),
        ("broker",): pool.submit(lambda: {"broker": _timed(check_broker)}),
    }
    results: dict = {}
    for names, future in futures.items():
        # The deadline counts from the start, so the probe as a whole is bounded too.
        remaining = max(0.0, timeout - (time.perf_counter() - started)) + 0.5
        try:
            results.update(future.result(timeout=remaining))
        except FutureTimeout:
            for name in names:
                results[name] = {"status": FAIL, "error": "Timeout", "ms": timeout * 1000}
            logger.warning("Readiness check %s timed out after %ss", names[0], timeout)
    pool.shutdown(wait=False)
    return {name: results[name] for name in CHECKS}


@never_cache
@require_safe
def healthz(request):
    """Liveness: the process answers. Touches nothing else."""
    return JsonResponse({"status": OK})


@never_cache
@require_safe
def readyz(request):
    """Readiness: 200 when every check passes, 503 otherwise, with each check's result."""
    started = time.perf_counter()
    checks = run_checks()
    ready = all(check["status"] in (OK, EAGER) for check in checks.values())
    body = {
        "status": OK if ready else FAIL,
        "checks": checks,
        "ms": round((time.perf_counter() - started) * 1000, 1),
    }
    return JsonResponse(body, status=200 if ready else 503)
