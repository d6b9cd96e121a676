"""Statements PostgreSQL plans once per connection: server-side binding and psycopg's prepared
statements, for the few hot statements that ask for them (the gift-card claim, the redemption
page's reads); the rest of the project keeps Django's default cursor.

Django's PostgreSQL cursors bind client-side: every value is quoted into the SQL text in Python,
so each run of a statement is new text that PostgreSQL parses and plans again (for a join of
four tables, longer than running it). Sent apart from its values, a statement keeps one text, and
psycopg prepares it after PREPARE_THRESHOLD executions on a connection (DB_PREPARE_THRESHOLD;
off behind PgBouncer in transaction mode, where a prepared statement does not follow the
session). The threshold is set on the connection only while such a cursor runs: left on, psycopg
would count every other statement of the connection too, keep their texts (values and all) and
push the hot statements out of its count before they are prepared. PostgreSQL keeps a prepared
statement through ROLLBACK; after a migration that changes the type of a column a statement
returns, its next run on each open connection fails once (restart the processes after such a
migration).

The cursor takes PostgreSQL's own `$n` placeholders (`native`), so psycopg does not scan a long
statement for `%s` on every execution either. It is checked and wrapped as Django checks and
wraps its own cursors, so the statements still show in `connection.queries` and in query-count
assertions.
"""

from contextlib import contextmanager
from functools import lru_cache

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from psycopg import RawCursor


class _LoggedRawCursor(RawCursor):
    """psycopg leaves the cursor's last query unset when it runs a prepared statement by name,
    so Django's query log (DEBUG, CaptureQueriesContext) would show None for its SQL."""

    def _send_query_prepared(self, name, pgq, *, binary=None):
        self._query = pgq
        return super()._send_query_prepared(name, pgq, binary=binary)


@contextmanager
def prepared_cursor(using: str = DEFAULT_DB_ALIAS):
    """A server-side binding cursor on PostgreSQL's connection `using`, preparing what it runs
    after PREPARE_THRESHOLD runs on the connection; give it `native` statements."""
    connection = connections[using]
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    raw_connection = connection.connection
    wrap = connection.make_debug_cursor if connection.queries_logged else connection.make_cursor
    previous = raw_connection.prepare_threshold
    raw_connection.prepare_threshold = settings.PREPARE_THRESHOLD
    try:
        with wrap(_LoggedRawCursor(raw_connection)) as cursor:
            yield cursor
    finally:
        raw_connection.prepare_threshold = previous


@lru_cache(maxsize=64)
def native(statement: str) -> str:
    """The statement with its `%s` placeholders numbered as PostgreSQL's `$1`, `$2`, … Only for
    statements with no other `%` (quoted names, placeholders and fixed SQL only): `is_native_safe`."""
    parts = statement.split("%s")
    numbered = [parts[0]]
    for number, part in enumerate(parts[1:], start=1):
        numbered.append(f"${number}{part}")
    return "".join(numbered)


def is_native_safe(statement: str) -> bool:
    """True if `%s` is the only use of `%` in the statement (no `%%`, no LIKE pattern)."""
    return "%" not in statement.replace("%s", "")
