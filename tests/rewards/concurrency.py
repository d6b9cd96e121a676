"""Running a step in another thread with its own connection, and watching row locks from a
second connection, for the concurrency and lock-order tests."""

import threading
import time
from dataclasses import dataclass, field

from django.db import connection


@dataclass
class Run:
    """A step running in its own thread: what it returned, or what it raised."""

    thread: threading.Thread
    results: list = field(default_factory=list)
    errors: list = field(default_factory=list)

    def join(self, timeout: float = 30) -> None:
        self.thread.join(timeout=timeout)


def in_thread(target) -> Run:
    """Start `target()` in a thread of its own (its own database connection, closed after)."""
    run = Run(thread=None)

    def step():
        try:
            run.results.append(target())
        except Exception as exc:  # reported by the test
            run.errors.append(exc)
        finally:
            connection.close()

    run.thread = threading.Thread(target=step)
    run.thread.start()
    return run


def at_once(target, *, threads: int = 4, timeout: float = 30) -> tuple[list, list]:
    """Run `target()` in `threads` threads released together (a barrier), each with its own
    database connection; returns (what they returned, what they raised)."""
    barrier = threading.Barrier(threads)
    results, errors = [], []

    def step():
        try:
            barrier.wait(timeout=10)
            results.append(target())
        except Exception as exc:  # reported by the test
            errors.append(exc)
        finally:
            connection.close()

    started = [threading.Thread(target=step) for _ in range(threads)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join(timeout=timeout)
    return results, errors


def another_backend_waits_for_a_lock(cursor, timeout: float = 20) -> bool:
    """Whether, within `timeout` seconds, some other backend of this database waits for a lock.
    `cursor` may be inside a transaction: the activity view is then a snapshot, taken anew on
    each look."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        if cursor.fetchone()[0]:
            return True
        time.sleep(0.05)
    return False
