"""Importing a card file into a pool: encrypted, deduplicated platform-wide, counted, audited."""

import csv
from datetime import date
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from giftcards.models import GiftCard, GiftCardAuditAction, GiftCardAuditLog
from giftcards.services import add_cards_to_pool
from giftcards.services.imports import import_cards
from mike.core.imports import ImportFileError
from tests.factories import GiftCardPoolFactory

pytestmark = pytest.mark.django_db

CARDS = (
    "\ufeffCard Code;Card Number;PIN;Balance;Expiration Date\r\n"
    "AAAA-1111;6000111;1234;;2027-12-31\r\n"
    "BBBB-2222;;;$50.00;12/31/2027\r\n"
    "aaaa1111;;;;\r\n"
    ";6000444;;;\r\n"
    "CCCC-3333;;;ten;\r\n"
    "DDDD-4444;;;;31/12/2027\r\n"
    "EEEE-5555;;\r\n"
    "\r\n"
    "FFFF-6666;;;-5;\r\n"
    "GGGG-7777;;;1,000.5;\r\n"
)


def _write(tmp_path, text, name="cards.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def _assert_counters_match(pool):
    pool.refresh_from_db()
    cards = GiftCard.objects.filter(pool=pool)
    assert pool.total_cards == cards.count()
    assert pool.available_cards == cards.filter(status="available").count()


def test_messy_card_file_imports_good_rows_and_reports_each_bad_one(tmp_path):
    pool = GiftCardPoolFactory()
    report = import_cards(pool=pool, source=_write(tmp_path, CARDS))

    assert (report.rows, report.imported, report.duplicates, report.errors) == (9, 3, 1, 5)
    assert sorted(report.problems) == [
        (4, "duplicate of line 2"),
        (5, "card_code is empty"),
        (6, "balance 'ten' is not an amount"),
        (7, "expiration_date '31/12/2027' is not a date (YYYY-MM-DD or MM/DD/YYYY)"),
        (8, "has 3 columns, the header has 5"),
        (10, "balance '-5' is not an amount"),
    ]
    cards = {card.code: card for card in GiftCard.objects.filter(pool=pool)}
    assert sorted(cards) == ["AAAA-1111", "BBBB-2222", "GGGG-7777"]
    first = cards["AAAA-1111"]
    assert (first.pin, first.card_number, first.expiration_date) == (
        "1234",
        "6000111",
        date(2027, 12, 31),
    )
    assert "AAAA-1111" not in first.code_encrypted and first.code_last4 == "1111"
    assert first.current_balance == pool.card_value == first.card_value
    assert cards["BBBB-2222"].current_balance == Decimal("50.00")
    assert cards["BBBB-2222"].expiration_date == date(2027, 12, 31)
    assert cards["GGGG-7777"].current_balance == Decimal("1000.50")
    _assert_counters_match(pool)
    [audit] = GiftCardAuditLog.objects.filter(entity_id=pool.pk)
    assert audit.action == GiftCardAuditAction.CARDS_ADDED
    assert audit.changes == {"added": 3}
    assert audit.metadata["import"] == {"rows": 9, "imported": 3, "duplicates": 1, "errors": 5}


def test_reimport_imports_nothing_and_codes_are_unique_across_pools(tmp_path):
    path = _write(tmp_path, CARDS)
    pool = GiftCardPoolFactory()
    import_cards(pool=pool, source=path)
    other = GiftCardPoolFactory(client=pool.client, brand=pool.brand)
    again = import_cards(pool=other, source=path)
    assert (again.imported, again.duplicates, again.errors) == (0, 4, 5)
    assert (2, "card code already in the platform") in again.problems
    assert again.summary().endswith("nothing new to import")
    assert not GiftCard.objects.filter(pool=other).exists()
    _assert_counters_match(other)
    assert GiftCardAuditLog.objects.filter(entity_id=other.pk).count() == 1


def test_cards_added_one_by_one_are_duplicates_too_across_batches(tmp_path, settings):
    settings.IMPORT_BATCH_ROWS = 4
    pool = GiftCardPoolFactory()
    add_cards_to_pool(pool, ["CODE-0003"])
    lines = ["card_code"] + [f"CODE-{n:04d}" for n in range(10)] + ["code-0001"]
    report = import_cards(pool=pool, source=_write(tmp_path, "\n".join(lines)))
    assert (report.rows, report.imported, report.duplicates) == (11, 9, 2)
    # Line 12 repeats line 3 of an earlier batch: by then that card is in the platform.
    assert report.problems == [
        (5, "card code already in the platform"),
        (12, "card code already in the platform"),
    ]
    _assert_counters_match(pool)
    assert pool.total_cards == 10


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"card_code,pin\r\n", "no rows"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "binary"),
        (b"voucher,pin\r\nAAAA,1\r\n", "no card_code column"),
    ],
)
def test_refused_files_change_nothing(tmp_path, content, message):
    pool = GiftCardPoolFactory()
    path = tmp_path / "cards.csv"
    path.write_bytes(content)
    with pytest.raises(ImportFileError, match=message):
        import_cards(pool=pool, source=path)
    assert not GiftCard.objects.exists() and not GiftCardAuditLog.objects.exists()
    _assert_counters_match(pool)


def test_command_prints_counts_and_writes_the_report(tmp_path):
    pool = GiftCardPoolFactory()
    path = _write(tmp_path, CARDS)
    out = StringIO()
    call_command("import_cards", str(path), pool=str(pool.pk), stdout=out, stderr=StringIO())
    assert "9 rows, 3 imported, 1 duplicates, 5 errors" in out.getvalue()
    with (tmp_path / "cards.csv.errors.csv").open(newline="") as file:
        rows = list(csv.reader(file))
    assert rows[:2] == [
        ["line", "kind", "error"],
        ["4", "duplicate", "line 4: duplicate of line 2"],
    ]
    assert len(rows) == 7

    report = tmp_path / "again.csv"
    out = StringIO()
    call_command(
        "import_cards",
        str(path),
        pool=str(pool.pk),
        errors=str(report),
        stdout=out,
        stderr=StringIO(),
    )
    assert "0 imported, 4 duplicates" in out.getvalue()
    assert "line 2: card code already in the platform" in report.read_text()


def test_command_refuses_unknown_pool_and_missing_file(tmp_path):
    with pytest.raises(CommandError, match="No gift card pool"):
        call_command("import_cards", str(_write(tmp_path, CARDS)), pool="x")
    pool = GiftCardPoolFactory()
    with pytest.raises(CommandError, match="No such file"):
        call_command("import_cards", str(tmp_path / "missing.csv"), pool=str(pool.pk))
