"""Importing a supplier's card file into a pool: encrypted, deduplicated, counted per batch."""

import re
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.db.models import F

from mike.core.errors import DomainError
from mike.core.imports import CsvFile, ImportFileError, ImportReport, Row

from ..crypto import code_hash
from ..models import CardSource, GiftCard, GiftCardAuditAction, GiftCardAuditLog, GiftCardPool
from .inventory import _new_card

BATCH_SIZE = 2000
_CENT = Decimal("0.01")
_AMOUNT = re.compile(r"^\$?\s*(\d{1,7}(?:,\d{3})*|\d+)(\.\d{1,2})?$")
_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y")
_ISO_DATE = re.compile(r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})\Z")
_US_DATE = re.compile(r"(?P<month>[0-9]{1,2})/(?P<day>[0-9]{1,2})/(?P<year>[0-9]{4})\Z")


class CardRowError(DomainError, ValueError):
    """The row cannot be imported; the message says why (without the "line N:" prefix)."""


def _balance(raw: str, default: Decimal) -> Decimal:
    if not raw:
        return default
    match = _AMOUNT.match(raw)
    if not match:
        raise CardRowError(f"balance '{raw}' is not an amount")
    try:
        amount = Decimal(raw.replace("$", "").replace(",", "").strip())
    except InvalidOperation:
        raise CardRowError(f"balance '{raw}' is not an amount") from None
    if amount <= 0:
        raise CardRowError(f"balance '{raw}' is not more than zero")
    return amount.quantize(_CENT)


def _expiration(raw: str) -> date | None:
    if not raw:
        return None
    # The two formats as suppliers write them, without strptime's cost; anything else (or a day
    # that does not exist) is left to strptime below, which decides.
    if match := _ISO_DATE.match(raw) or _US_DATE.match(raw):
        year, month, day = (int(match[name]) for name in ("year", "month", "day"))
        try:
            return date(year, month, day)
        except ValueError:
            pass
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(raw, fmt).date()
        except ValueError:
            continue
    raise CardRowError(f"expiration_date '{raw}' is not a date (YYYY-MM-DD or MM/DD/YYYY)")


def _card_of(row: Row, pool: GiftCardPool, *, uploaded_by) -> GiftCard:
    code = row.values.get("card_code", "")
    if not code:
        raise CardRowError("card_code is empty")
    balance = _balance(row.values.get("balance", ""), pool.card_value)
    expiration_date = _expiration(row.values.get("expiration_date", ""))
    # The same constructor as add_cards_to_pool: the pool's brand and value, code encrypted and
    # hashed. The card keeps the pool's value (claims match pools by value); its balance is what
    # the file says it holds.
    card = _new_card(pool, code, uploaded_by=uploaded_by, source=CardSource.CSV)
    card.set_pin(row.values.get("pin", ""))
    card.set_card_number(row.values.get("card_number", ""))
    card.expiration_date = expiration_date
    card.current_balance = balance
    return card


def _write_batch(
    pool: GiftCardPool, batch: list[tuple[int, GiftCard]], report: ImportReport
) -> None:
    """Insert the batch's new cards and add them to the pool counters in one transaction, the
    pool row locked (FOR UPDATE) so the counters equal the cards after every batch, whatever runs
    beside. Codes already stored (any pool) are reported; a code stored by a concurrent import
    between the check and the insert makes the batch be checked again."""
    for _ in range(3):
        stored = set(
            GiftCard.objects.filter(code_hash__in=[c.code_hash for _, c in batch]).values_list(
                "code_hash", flat=True
            )
        )
        for line, card in batch:
            if card.code_hash in stored:
                report.duplicate(line, "card code already in the platform")
        batch = [(line, card) for line, card in batch if card.code_hash not in stored]
        cards = [card for _, card in batch]
        try:
            with transaction.atomic():
                GiftCardPool.objects.select_for_update().filter(pk=pool.pk).first()
                GiftCard.objects.bulk_create(cards, batch_size=BATCH_SIZE)
                GiftCardPool.objects.filter(pk=pool.pk).update(
                    total_cards=F("total_cards") + len(cards),
                    available_cards=F("available_cards") + len(cards),
                )
        except IntegrityError:
            continue
        report.imported += len(cards)
        return
    raise ImportFileError("Cards of this file are being added by another import; try again.")


def import_cards(
    *,
    pool: GiftCardPool,
    source,
    uploaded_by=None,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import the cards of a CSV file (a path or a binary file object) into `pool`.

    Columns: card_code (required), card_number, pin, balance (the pool's card_value when empty),
    expiration_date (YYYY-MM-DD or MM/DD/YYYY). Codes, PINs and card numbers are stored
    encrypted; a code already stored in any pool or repeated in the file (compared by the keyed
    hash, so case, spaces and dashes do not matter) is reported as a duplicate, never stored
    twice, so importing the same file again imports nothing. Batches of BATCH_SIZE are written
    each in its own transaction with the pool counters; one `cards_added` audit row records the
    import, also when it stops half way. Raises ImportFileError, writing nothing, for a refused
    file or one without a card_code column.
    """
    report = ImportReport()
    seen: dict[str, int] = {}
    batch: list[tuple[int, GiftCard]] = []
    with CsvFile(source) as file:
        if "card_code" not in file.header:
            raise ImportFileError("The file has no card_code column.")
        failure = None
        try:
            for row in file.rows(report):
                if progress:
                    progress(1)
                code = row.values.get("card_code", "")
                if code:
                    digest = code_hash(code)
                    if digest in seen:
                        report.duplicate(row.line, f"duplicate of line {seen[digest]}")
                        continue
                try:
                    card = _card_of(row, pool, uploaded_by=uploaded_by)
                except CardRowError as exc:
                    report.error(row.line, str(exc))
                    continue
                seen[card.code_hash] = row.line
                batch.append((row.line, card))
                if len(batch) >= BATCH_SIZE:
                    _write_batch(pool, batch, report)
                    batch = []
            if batch:
                _write_batch(pool, batch, report)
        except Exception as exc:
            failure = str(exc) or type(exc).__name__
            raise
        finally:
            GiftCardAuditLog.objects.create(
                client_id=pool.client_id,
                action=GiftCardAuditAction.CARDS_ADDED,
                entity_type="gift_card_pool",
                entity_id=pool.pk,
                user=uploaded_by,
                changes={"added": report.imported},
                metadata={
                    "source": CardSource.CSV,
                    "import": report.as_dict(),
                    "file": getattr(source, "name", str(source)).rsplit("/", 1)[-1],
                    **({"failed": failure} if failure else {}),
                },
            )
    pool.refresh_from_db(fields=["total_cards", "available_cards"])
    return report
