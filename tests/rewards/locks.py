"""Watching row locks from a second connection, for the lock-order tests."""

import time


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
