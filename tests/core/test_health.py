"""/healthz/ and /readyz/: JSON a load balancer reads, 503 naming what is not reachable."""

import socket

import pytest
from django.db import connections

from mike.core import health


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_healthz_answers_without_touching_the_database(client):
    # No django_db mark: any database access here would raise.
    response = client.get("/healthz/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-store" in response["Cache-Control"]
    assert "Set-Cookie" not in response.headers


@pytest.mark.django_db
def test_readyz_is_200_with_every_check_and_its_time(client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = settings.REDIS_URL
    response = client.get("/readyz/")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "migrations", "cache", "broker"}
    for check in body["checks"].values():
        assert check["status"] == "ok"
        assert check["ms"] >= 0
    assert "no-store" in response["Cache-Control"]
    assert not response.cookies


@pytest.mark.django_db
def test_readyz_says_eager_when_tasks_run_in_process(client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    body = client.get("/readyz/").json()
    assert body["checks"]["broker"]["status"] == "eager"
    assert body["status"] == "ok"


@pytest.mark.django_db
def test_readyz_is_503_naming_an_unreachable_database(client):
    shared = connections.settings["default"]
    saved = shared["PORT"]
    port = closed_port()
    shared["PORT"] = str(port)
    try:
        response = client.get("/readyz/")
    finally:
        shared["PORT"] = saved
    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "fail"
    assert body["checks"]["database"]["status"] == "fail"
    assert body["checks"]["database"]["error"] == "OperationalError"
    assert body["checks"]["migrations"]["status"] == "skipped"
    assert body["checks"]["cache"]["status"] == "ok"
    # The detail (host, port) stays in the log, not in a public answer.
    assert str(port) not in response.content.decode()


@pytest.mark.django_db
def test_readyz_is_503_naming_an_unreachable_cache(client, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port()}/0",
        }
    }
    response = client.get("/readyz/")
    body = response.json()
    assert response.status_code == 503
    assert body["checks"]["cache"]["status"] == "fail"
    assert body["checks"]["database"]["status"] == "ok"


@pytest.mark.django_db
def test_readyz_is_503_naming_an_unreachable_broker(client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{closed_port()}/0"
    response = client.get("/readyz/")
    body = response.json()
    assert response.status_code == 503
    assert body["checks"]["broker"]["status"] == "fail"
    assert body["checks"]["broker"]["ms"] < 5000


@pytest.mark.django_db
def test_readyz_is_503_with_an_unapplied_migration(client, monkeypatch):
    on_disk = dict(health._migrations_on_disk())
    on_disk[("giftcards", "9999_not_applied")] = ()
    monkeypatch.setattr(health, "_migrations_on_disk", lambda: on_disk)
    response = client.get("/readyz/")
    body = response.json()
    assert response.status_code == 503
    assert body["checks"]["migrations"] == {
        "status": "fail",
        "error": "CheckFailed",
        "ms": body["checks"]["migrations"]["ms"],
    }


@pytest.mark.django_db
def test_a_broker_that_never_answers_fails_the_probe_within_the_deadline(client, settings):
    """A server that accepts the connection and says nothing (a hung Redis)."""
    import time

    settings.READINESS_TIMEOUT_SECONDS = 0.5
    settings.CELERY_TASK_ALWAYS_EAGER = False
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        start = time.monotonic()
        response = client.get("/readyz/")
        elapsed = time.monotonic() - start
    assert response.status_code == 503
    assert response.json()["checks"]["broker"]["status"] == "fail"
    assert elapsed < 3
