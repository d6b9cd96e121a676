"""gunicorn with gunicorn.conf.py serves Mike as a server would: pages through Django, static
files with hashed names through whitenoise, and it stops cleanly on SIGTERM."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.db import connection

from tests.core.test_settings import real_secrets

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).parent / "gunicorn"
STARTUP_SECONDS = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_environment(tmp_path, port: int) -> dict:
    """Production settings (no PYTEST_VERSION, DEBUG off) on the suite's test database."""
    db = connection.settings_dict
    env = {
        key: value
        for key, value in os.environ.items()
        if key in {"PATH", "HOME", "LANG", "LC_ALL", "VIRTUAL_ENV", "TMPDIR"}
    }
    env.update(
        real_secrets(),
        DJANGO_SETTINGS_MODULE="mike.settings",
        DEBUG="False",
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        REDIS_URL=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15"),
        ALLOWED_HOSTS="127.0.0.1",
        STATIC_ROOT=str(tmp_path / "static"),
        TRUSTED_PROXY_COUNT="1",
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS="2",
        GUNICORN_THREADS="2",
        GUNICORN_GRACEFUL_TIMEOUT="5",
        GUNICORN_ACCESS_LOG=str(tmp_path / "access.log"),
        GUNICORN_ERROR_LOG=str(tmp_path / "error.log"),
        GUNICORN_CONTROL_SOCKET=str(tmp_path / "gunicorn.ctl"),
    )
    return env


def collect_static(env: dict) -> None:
    """`manage.py collectstatic` with the server's environment, as a deploy runs it."""
    collect = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert collect.returncode == 0, collect.stdout + collect.stderr


def wait_until_serving(process, base: str, error_log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited with {process.returncode}:\n{error_log.read_text()}")
        try:
            requests.get(base + "/app/login/", timeout=2, allow_redirects=False)
            return
        except requests.ConnectionError:
            time.sleep(0.2)
    pytest.fail(f"gunicorn did not answer in {STARTUP_SECONDS}s:\n{error_log.read_text()}")


@pytest.mark.django_db(transaction=True)
def test_gunicorn_serves_pages_and_hashed_static_files_and_stops_cleanly(tmp_path):
    port = free_port()
    env = server_environment(tmp_path, port)
    collect_static(env)
    assert (tmp_path / "static" / "staticfiles.json").exists()

    error_log = tmp_path / "error.log"
    process = subprocess.Popen(
        [str(GUNICORN), "-c", "gunicorn.conf.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(process, base, error_log)

        # nginx says the client came over HTTPS: the sign-in page is served, not redirected.
        page = requests.get(base + "/app/login/", headers={"X-Forwarded-Proto": "https"}, timeout=5)
        assert page.status_code == 200, page.text[:500]
        stylesheet = re.search(r'href="(/static/css/app\.[0-9a-f]{12}\.css)"', page.text)
        assert stylesheet, "the page links the stylesheet by its hashed name"

        static = requests.get(
            base + stylesheet.group(1),
            headers={"Accept-Encoding": "gzip", "X-Forwarded-Proto": "https"},
            timeout=5,
            allow_redirects=False,
        )
        assert static.status_code == 200
        assert static.headers["Content-Type"].startswith("text/css")
        assert static.headers["Content-Encoding"] == "gzip"
        assert "immutable" in static.headers["Cache-Control"]
        original = (ROOT / "static" / "css" / "app.css").read_text()
        assert static.text == original

        # Plain HTTP at the proxy is redirected to HTTPS.
        plain = requests.get(
            base + "/app/login/",
            headers={"X-Forwarded-Proto": "http"},
            timeout=5,
            allow_redirects=False,
        )
        assert plain.status_code == 301
        assert plain.headers["Location"] == f"https://127.0.0.1:{port}/app/login/"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            returncode = process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise

    assert returncode == 0
    log = error_log.read_text()
    assert "Shutting down: Master" in log
    access = (tmp_path / "access.log").read_text()
    assert f'"GET {stylesheet.group(1)} HTTP/1.1" 200' in access
