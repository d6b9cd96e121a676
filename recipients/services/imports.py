"""Importing an audience file: recipients written in batches, duplicates and bad rows reported."""

import secrets
from collections.abc import Callable

from django.db import IntegrityError, transaction
from django.db.models import Count, Q

from mike.core.imports import CsvFile, ImportReport
from mike.core.phones import DEFAULT_REGION
from recipients.codes import CODE_LENGTH, CROCKFORD_ALPHABET, generate_recipient_token
from recipients.imports import ParsedRecipient, RowError, column_map, parse_recipient
from recipients.models import Audience, AudienceStatus, Recipient, ValidationStatus

BATCH_SIZE = 2000
_MAX_BATCH_ATTEMPTS = 3


def _random_code() -> str:
    return "".join(secrets.choice(CROCKFORD_ALPHABET) for _ in range(CODE_LENGTH))


def _draw_codes(count: int) -> list[str]:
    """`count` distinct new codes no recipient has, checked in one query per round (with 2**50
    codes a second round is all but never needed)."""
    codes: set[str] = set()
    while len(codes) < count:
        candidates: set[str] = set()
        while len(codes) + len(candidates) < count:
            candidate = _random_code()
            if candidate not in codes:
                candidates.add(candidate)
        codes |= candidates - _codes_taken(list(candidates))
    return list(codes)


def _existing_keys(audience: Audience, batch: list[ParsedRecipient]) -> set[tuple[str, str]]:
    """The (kind, value) keys of the batch that recipients of the audience already have."""
    phones = [p.fields["phone"] for p in batch if p.fields["phone"]]
    emails = [p.fields["email"] for p in batch if p.fields["email"]]
    external_ids = [p.external_id for p in batch if p.external_id]
    found = set()
    existing = Recipient.objects.filter(audience=audience)
    found |= {
        ("phone", v) for v in existing.filter(phone__in=phones).values_list("phone", flat=True)
    }
    found |= {
        ("email", v) for v in existing.filter(email__in=emails).values_list("email", flat=True)
    }
    if external_ids:
        found |= {
            ("external_id", v)
            for v in existing.filter(custom_fields__external_id__in=external_ids).values_list(
                "custom_fields__external_id", flat=True
            )
        }
    return found


def _codes_taken(codes: list[str]) -> set[str]:
    return set(
        Recipient.objects.filter(redemption_code__in=codes).values_list(
            "redemption_code", flat=True
        )
    )


def _write_batch(audience: Audience, batch: list[ParsedRecipient], report: ImportReport) -> None:
    """Insert the batch's new recipients in one transaction (so a crash keeps whole batches).

    The recipients already in the audience are reported as duplicates; a file code another
    recipient holds is a row error. Generated codes are drawn for the whole batch and checked in
    one query (generate_redemption_code would query once per row); the unique constraints stay
    the guarantee, and a batch that loses a race to a concurrent import is checked and drawn
    again."""
    in_audience = _existing_keys(audience, batch)
    fresh = []
    for parsed in batch:
        hit = next((key for key in parsed.identity_keys() if key in in_audience), None)
        if hit:
            report.duplicate(parsed.line, f"already in the audience ({hit[0]} {hit[1]})")
        else:
            fresh.append(parsed)

    for attempt in range(_MAX_BATCH_ATTEMPTS):
        taken = _codes_taken([p.code for p in fresh if p.code])
        rows, kept = [], []
        for parsed in fresh:
            if parsed.code in taken:
                report.error(parsed.line, f"redemption code '{parsed.code}' is already in use")
                continue
            kept.append(parsed)
        fresh = kept
        generated = iter(_draw_codes(sum(1 for p in fresh if not p.code)))
        for parsed in fresh:
            rows.append(
                Recipient(
                    audience=audience,
                    redemption_code=parsed.code or next(generated),
                    token=generate_recipient_token(),
                    custom_fields=parsed.custom_fields,
                    validation_status=ValidationStatus.VALID,
                    **parsed.fields,
                )
            )
        try:
            with transaction.atomic():
                Recipient.objects.bulk_create(rows, batch_size=BATCH_SIZE)
        except IntegrityError:
            if attempt == _MAX_BATCH_ATTEMPTS - 1:
                raise
            continue
        report.imported += len(rows)
        return


def import_recipients(
    *,
    audience: Audience,
    source,
    region: str = DEFAULT_REGION,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import the recipients of a CSV file (a path or a binary file object) into `audience`.

    Raises ImportFileError before writing anything when the file as a whole is refused. Otherwise
    every row is imported or reported: a row error, a duplicate of an earlier line (same phone,
    email or external id) or of a recipient already in the audience. Importing the same file
    again imports nothing. Rows are written in batches of BATCH_SIZE, each in its own transaction;
    the audience's counters are recounted from its recipients at the end. `progress` is called
    with the number of rows read since its last call.
    """
    report = ImportReport()
    seen: dict[tuple[str, str], int] = {}
    seen_codes: dict[str, int] = {}
    batch: list[ParsedRecipient] = []
    with CsvFile(source) as file:
        mapping = column_map(file.header)
        for row in file.rows(report):
            if progress:
                progress(1)
            try:
                parsed = parse_recipient(row, mapping, region)
            except RowError as exc:
                report.error(row.line, str(exc))
                continue
            earlier = next((seen[key] for key in parsed.identity_keys() if key in seen), None)
            if earlier is None and parsed.code:
                earlier = seen_codes.get(parsed.code)
            if earlier is not None:
                report.duplicate(row.line, f"duplicate of line {earlier}")
                continue
            for key in parsed.identity_keys():
                seen[key] = row.line
            if parsed.code:
                seen_codes[parsed.code] = row.line
            batch.append(parsed)
            if len(batch) >= BATCH_SIZE:
                _write_batch(audience, batch, report)
                batch = []
        if batch:
            _write_batch(audience, batch, report)
    _recount(audience, report)
    return report


def _recount(audience: Audience, report: ImportReport) -> None:
    """The audience's counters: its recipients now, and the rows this import could not take."""
    counts = Recipient.objects.filter(audience=audience).aggregate(
        total=Count("pk"), valid=Count("pk", filter=Q(validation_status=ValidationStatus.VALID))
    )
    Audience.objects.filter(pk=audience.pk).update(
        total_count=counts["total"],
        valid_count=counts["valid"],
        invalid_count=report.errors,
        status=AudienceStatus.READY,
    )
    audience.refresh_from_db(fields=["total_count", "valid_count", "invalid_count", "status"])
