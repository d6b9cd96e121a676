"""Helpers the dashboard tests share: query counts that must not grow with rows, CSV downloads."""

import csv
import io

from django.db import connection
from django.test.utils import CaptureQueriesContext


def count_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, response.status_code
    return len(ctx.captured_queries)


def assert_queries_do_not_grow(client, url, add_rows, *, few=2, many=200):
    """The page at `url` runs as many queries with `many` rows as with `few`.

    `add_rows(n)` creates n more rows the page lists. The user's page size is set to the largest
    so every row is rendered.
    """
    add_rows(few)
    small = count_queries(client, url)
    add_rows(many - few)
    large = count_queries(client, url)
    assert large == small, f"{url}: {small} queries with {few} rows, {large} with {many}"


def read_csv(response) -> list[dict]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(body)))
