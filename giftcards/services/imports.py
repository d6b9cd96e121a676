"""Importing a supplier's card file into a pool: the cards' Importer for the import engine
(mike.imports), encrypted, deduplicated platform-wide, the pool counters moved with every batch."""

import re
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db.models import F

from mike.core.bulk import PreparedRows
from mike.core.imports import ImportReport, Row, RowError
from mike.core.models import uuid7_many
from mike.imports.engine import Field, Importer
from mike.imports.models import ImportJob, ImportKind

from .. import crypto
from ..models import CardSource, GiftCard, GiftCardAuditAction, GiftCardAuditLog, GiftCardPool

_CENT = Decimal("0.01")
_AMOUNT = re.compile(r"^\$?\s*(\d{1,7}(?:,\d{3})*|\d+)(\.\d{1,2})?$")
_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y")
_ISO_DATE = re.compile(r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})\Z")
_US_DATE = re.compile(r"(?P<month>[0-9]{1,2})/(?P<day>[0-9]{1,2})/(?P<year>[0-9]{4})\Z")


# A card row's error is the engine's row error.
CardRowError = RowError


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


def _card_of(row: Row, pool: GiftCardPool, encrypt) -> tuple:
    """The card a row describes, as the values of CARD_FIELDS: the code encrypted and hashed (as
    GiftCard.set_code stores it), PIN and card number encrypted, the balance the file says it
    holds (else the pool's value) and the expiry date. The card keeps the pool's value (claims
    match pools by value); importing fills in the pool, brand and value."""
    values = row.values
    code = values.get("card_code", "")
    if not code:
        raise CardRowError("card_code is empty")
    balance = _balance(values.get("balance", ""), pool.card_value)
    expiration_date = _expiration(values.get("expiration_date", ""))
    try:
        sealed = GiftCard.sealed_code(code, encrypt)
    except ValueError:
        raise CardRowError("card_code is empty") from None
    pin = values.get("pin", "").strip()
    number = values.get("card_number", "").strip()
    return (
        *sealed,
        encrypt(pin) if pin else "",
        encrypt(number) if number else "",
        expiration_date,
        balance,
    )


# What _card_of gives, in this order.
CARD_FIELDS = (
    "code_encrypted",
    "code_hash",
    "code_last4",
    "pin_encrypted",
    "card_number_encrypted",
    "expiration_date",
    "current_balance",
)
_HASH = CARD_FIELDS.index("code_hash")


class CardImporter(Importer):
    fields = (
        Field(
            "card_code",
            "Card code",
            aliases=("code", "claim_code", "gift_card_code"),
            required=True,
        ),
        Field("card_number", "Card number", aliases=("number", "card_no", "serial")),
        Field("pin", "PIN", aliases=("card_pin", "pin_code")),
        Field("balance", "Balance (else the pool's value)", aliases=("amount", "value")),
        Field(
            "expiration_date",
            "Expiration date",
            aliases=("expiry", "expires", "expiration", "exp_date", "expiry_date"),
        ),
    )

    def prepare(self) -> None:
        self.pool = self.job.pool
        self.encrypt = crypto.encrypter()
        pool = self.pool
        # What every card of the import shares.
        self.shared = {
            "pool_id": pool.pk,
            "brand_id": pool.brand_id,
            "card_value": pool.card_value,
            "source": CardSource.CSV,
            "uploaded_by_id": self.job.created_by_id,
        }
        # Each card is made ready for COPY in the reader process (parse), its key drawn there.
        self.rows = PreparedRows(GiftCard, CARD_FIELDS, late=("id",), constants=self.shared)
        self._keys: list = []

    def parse(self, row: Row, mapping: dict[str, str]) -> tuple:
        """(the code's keyed hash, the card ready for its insert, with its key)."""
        values = {name: row.values.get(column, "") for name, column in mapping.items()}
        card = _card_of(Row(line=row.line, values=values), self.pool, self.encrypt)
        if not self._keys:
            # As the model's default makes them, a batch's worth at a time.
            self._keys = uuid7_many(settings.IMPORT_BATCH_ROWS)[::-1]
        return card[_HASH], self.rows.prepare(card, late=(self._keys.pop(),))

    def keys(self, item: tuple) -> list:
        return [item[0]]

    def write(self, items: list[tuple[int, tuple]], report: ImportReport) -> None:
        """Insert the batch's new cards and add them to the pool counters, the pool row locked
        (FOR UPDATE) so the counters equal the cards after every batch, whatever runs beside.
        Codes already stored (any pool) are duplicates; one stored by a concurrent import
        between the check and the insert rolls the batch back and the engine checks it again."""
        GiftCardPool.objects.select_for_update().filter(pk=self.pool.pk).first()
        stored = set(
            GiftCard.objects.filter(
                code_hash__any=[code_hash for _, (code_hash, _) in items]
            ).values_list("code_hash", flat=True)
        )
        cards = []
        for line, (code_hash, card) in items:
            if code_hash in stored:
                report.duplicate(line, "card code already in the platform")
            else:
                cards.append(card)
        # The keys parse drew, or new ones for a batch tried again.
        late = [(key,) for key in uuid7_many(len(cards))] if self.attempt else [None] * len(cards)
        added = self.rows.insert(zip(late, cards, strict=True))
        GiftCardPool.objects.filter(pk=self.pool.pk).update(
            total_cards=F("total_cards") + added,
            available_cards=F("available_cards") + added,
        )
        report.imported += added

    def finish(self, job: ImportJob) -> None:
        """One `cards_added` audit row for the whole import, however it ended."""
        GiftCardAuditLog.objects.create(
            client_id=job.pool.client_id,
            action=GiftCardAuditAction.CARDS_ADDED,
            entity_type="gift_card_pool",
            entity_id=job.pool_id,
            user=job.created_by,
            changes={"added": job.imported},
            metadata={
                "source": CardSource.CSV,
                "import": {
                    "rows": job.rows_done,
                    "imported": job.imported,
                    "duplicates": job.duplicates,
                    "errors": job.errors,
                },
                "import_job": str(job.pk),
                "file": job.file_name,
                "status": job.status,
                **({"failed": job.message} if job.status == "failed" else {}),
            },
        )


def import_cards(
    *,
    pool: GiftCardPool,
    source,
    uploaded_by=None,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import the cards of a CSV file (a path or a binary file object) into `pool` in this
    process, as an import job, and return its report.

    Columns: card_code (required), card_number, pin, balance (the pool's card_value when empty),
    expiration_date (YYYY-MM-DD or MM/DD/YYYY). Codes, PINs and card numbers are stored
    encrypted; a code already stored in any pool or repeated in the file (compared by the keyed
    hash, so case, spaces and dashes do not matter) is reported as a duplicate, never stored
    twice, so importing the same file again imports nothing. Raises ImportFileError, writing
    nothing, for a refused file or one without a card code column."""
    from mike.imports.services import import_file, raise_if_refused, report_of

    job = import_file(
        ImportKind.CARDS, target=pool, source=source, user=uploaded_by, progress=progress
    )
    raise_if_refused(job)
    pool.refresh_from_db(fields=["total_cards", "available_cards"])
    return report_of(job)
