"""The production shape as separate processes, for the scale-out test: gunicorn web processes and
Celery worker processes, each a process group of its own started from this checkout, all on the
test's PostgreSQL database, with a broker (RabbitMQ or Redis) and Redis as the cache.

Every process runs with DEBUG off and the suite's keys passed explicitly (so the web processes
decrypt the cards the test wrote), Twilio pointed at the test's fake, and short leases and
visibility timeouts so the work a killed worker held comes back within seconds."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import connection

from tests.fakes import twilio as fake_twilio

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def process_env(*, broker_url: str, cache_url: str, twilio_url: str) -> dict:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    env = {
        **os.environ,
        "DATABASE_URL": (
            f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:"
            f"{db['PORT'] or 5432}/{db['NAME']}"
        ),
        "CONN_MAX_AGE": "60",
        "REDIS_URL": cache_url,
        "CELERY_BROKER_URL": broker_url,
        "CELERY_TASK_ALWAYS_EAGER": "False",
        # A server's settings: DEBUG off, the suite's own keys (the test process wrote the cards).
        "DEBUG": "False",
        "SECRET_KEY": settings.SECRET_KEY,
        "CARD_CODE_KEY": ",".join(settings.CARD_CODE_KEYS),
        "CARD_CODE_HASH_KEY": settings.CARD_CODE_HASH_KEY,
        "SECURE_SSL_REDIRECT": "False",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
        "SMS_BACKEND": "twilio",
        "TWILIO_API_BASE_URL": twilio_url,
        "TWILIO_ACCOUNT_SID": fake_twilio.ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": fake_twilio.AUTH_TOKEN,
        "TWILIO_FROM_NUMBER": fake_twilio.FROM_NUMBER,
        "TWILIO_TIMEOUT_SECONDS": "10",
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        # What a killed worker held comes back within seconds: its delivery's lease lapses and
        # the sweep retries it; on Redis its unacknowledged task is redelivered.
        "DELIVERY_LEASE_SECONDS": "4",
        "DELIVERY_STUCK_MINUTES": "0",  # a queued delivery whose task was lost: next sweep
        "CELERY_VISIBILITY_TIMEOUT": "8",
        "DELIVERY_RETRY_MAX_MINUTES": "0",
    }
    env.pop("PYTEST_VERSION", None)  # a server, not the suite: settings read from this env
    return env


@dataclass
class Process:
    name: str
    args: list[str]
    env: dict
    log: Path
    popen: subprocess.Popen | None = None

    def start(self) -> "Process":
        handle = self.log.open("ab")
        self.popen = subprocess.Popen(
            self.args,
            cwd=ROOT,
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killed with its children
        )
        handle.close()
        return self

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole group (the master and its children), as a crash would."""
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self) -> None:
        if not self.alive:
            self.kill()  # reap children a dead master left behind
            return
        try:
            os.killpg(self.popen.pid, signal.SIGTERM)
            self.popen.wait(timeout=10)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            pass
        self.kill()


@dataclass
class Cluster:
    env: dict
    logs: Path
    processes: list[Process] = field(default_factory=list)

    def web(self, port: int, workers: int = 2) -> Process:
        process = Process(
            f"web-{port}",
            [
                str(BIN / "gunicorn"),
                "mike.wsgi",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(workers),
                "--timeout",
                "30",
                "--graceful-timeout",
                "2",
                "--log-level",
                "warning",
            ],
            self.env,
            self.logs / f"web-{port}.log",
        ).start()
        self.processes.append(process)
        return process

    def worker(self, name: str, concurrency: int = 2) -> Process:
        process = Process(
            name,
            [
                str(BIN / "celery"),
                "-A",
                "mike",
                "worker",
                "--pool",
                "prefork",
                "--concurrency",
                str(concurrency),
                "--hostname",
                f"{name}@%h",
                "--without-gossip",
                "--without-mingle",
                "-l",
                "warning",
            ],
            self.env,
            self.logs / f"{name}.log",
        ).start()
        self.processes.append(process)
        return process

    def wait_for_web(self, ports, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        for port in ports:
            while not answers("127.0.0.1", port):
                dead = [p.name for p in self.processes if not p.alive and p.popen]
                if dead:
                    raise RuntimeError(f"{dead} exited; see {self.logs}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn on {port} did not answer; see {self.logs}")
                time.sleep(0.1)

    def stop(self) -> None:
        for process in self.processes:
            process.stop()
