"""Recipients pushed through the API: up to a thousand rows at once, each checked by the CSV
import's rules (recipients.imports.parse_recipient) and answered one by one.

A push is idempotent by external id: a row whose external id the audience already holds is
answered with that recipient ("existing") and changes nothing, so a client retrying a batch
after a timeout never creates anybody twice. A row matching a recipient of the audience by phone
or email but not by external id is a row error, as a duplicate is in an import.
"""

from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.db.models.fields.json import KT

from mike import webhooks
from mike.core import lookups  # noqa: F401  (registers `__any`, used below)
from mike.core.errors import DomainError
from mike.core.imports import Row, RowError
from mike.core.phones import DEFAULT_REGION
from mike.webhooks import payloads
from mike.webhooks.catalogue import WebhookEventType
from recipients.codes import draw_codes, generate_recipient_token
from recipients.imports import ALIASES, RECIPIENT_FIELDS, ParsedRecipient, parse_recipient
from recipients.models import Audience, Recipient, ValidationStatus

# Where a row error's sentence (parse_recipient's, which names the cell first) belongs.
_ERROR_FIELDS = (
    ("phone ", "phone"),
    ("email ", "email"),
    ("zip ", "zip"),
    ("redemption code ", "redemption_code"),
    ("has neither", "non_field_errors"),
)


class PushRefused(DomainError):
    """The whole push is refused (the audience or campaign does not fit); nothing was written."""


@dataclass
class PushedRow:
    index: int
    status: str  # created | existing | error
    recipient: Recipient | None = None
    errors: dict = field(default_factory=dict)


def _error_field(message: str) -> str:
    for prefix, name in _ERROR_FIELDS:
        if message.startswith(prefix):
            return name
    for name in RECIPIENT_FIELDS:
        if message.startswith(f"{name} "):
            return name
    return "non_field_errors"


def _parse(index: int, row: dict, region: str) -> ParsedRecipient:
    values = {name: str(row.get(name) or "").strip() for name in ALIASES if row.get(name)}
    parsed = parse_recipient(
        Row(line=index, values=values), {name: name for name in values}, region
    )
    custom = {str(key): str(value) for key, value in (row.get("custom_fields") or {}).items()}
    parsed.custom_fields = {**custom, **parsed.custom_fields}
    return parsed


def push_recipients(*, audience: Audience, rows: list[dict], campaign=None) -> list[PushedRow]:
    """Add `rows` (dicts of the import's fields) to `audience`, in one transaction, and say what
    became of each, in order. The audience row is locked for the push, so two pushes of the same
    external ids at once create each recipient once. New recipients take the audience's test
    mark and `campaign` (the campaign whose conditions they can meet).

    Raises PushRefused when `campaign` is another client's."""
    if campaign is not None and campaign.client_id != audience.client_id:
        raise PushRefused("The campaign belongs to another client than the audience.")
    region = audience.client.phone_region or DEFAULT_REGION
    results: list[PushedRow] = []
    parsed_rows: list[tuple[PushedRow, ParsedRecipient]] = []
    seen: dict[tuple[str, str], int] = {}
    for index, row in enumerate(rows):
        result = PushedRow(index=index, status="error")
        results.append(result)
        try:
            parsed = _parse(index, row, region)
        except RowError as error:
            result.errors = {_error_field(str(error)): [str(error)]}
            continue
        keys = parsed.identity_keys() + ([("code", parsed.code)] if parsed.code else [])
        earlier = next((seen[key] for key in keys if key in seen), None)
        if earlier is not None:
            result.errors = {"non_field_errors": [f"duplicate of row {earlier} of this batch"]}
            continue
        for key in keys:
            seen[key] = index
        parsed_rows.append((result, parsed))

    with transaction.atomic():
        Audience.objects.select_for_update().filter(pk=audience.pk).first()
        in_audience = Recipient.objects.filter(audience=audience)
        by_external_id = {
            recipient.custom_fields.get("external_id"): recipient
            for recipient in in_audience.annotate(ext=KT("custom_fields__external_id")).filter(
                ext__any=[p.external_id for _, p in parsed_rows if p.external_id]
            )
        }
        phones = {p.fields["phone"] for _, p in parsed_rows if p.fields["phone"]}
        emails = {p.fields["email"] for _, p in parsed_rows if p.fields["email"]}
        taken_phones = set(in_audience.filter(phone__in=phones).values_list("phone", flat=True))
        taken_emails = set(in_audience.filter(email__in=emails).values_list("email", flat=True))
        codes = [p.code for _, p in parsed_rows if p.code]
        taken_codes = set(
            Recipient.objects.filter(redemption_code__in=codes).values_list(
                "redemption_code", flat=True
            )
        )
        fresh: list[tuple[PushedRow, ParsedRecipient]] = []
        for result, parsed in parsed_rows:
            existing = by_external_id.get(parsed.external_id) if parsed.external_id else None
            if existing is not None:
                result.status, result.recipient = "existing", existing
            elif parsed.fields["phone"] in taken_phones:
                result.errors = {"phone": ["a recipient of the audience already has this phone"]}
            elif parsed.fields["email"] in taken_emails:
                result.errors = {"email": ["a recipient of the audience already has this email"]}
            elif parsed.code in taken_codes:
                result.errors = {"redemption_code": [f"code '{parsed.code}' is already in use"]}
            else:
                fresh.append((result, parsed))
        generated = iter(draw_codes(sum(1 for _, p in fresh if not p.code)))
        new = [
            Recipient(
                audience=audience,
                campaign=campaign,
                redemption_code=parsed.code or next(generated),
                token=generate_recipient_token(),
                custom_fields=parsed.custom_fields,
                validation_status=ValidationStatus.VALID,
                is_test=audience.is_test,
                **parsed.fields,
            )
            for _, parsed in fresh
        ]
        try:
            with transaction.atomic():
                Recipient.objects.bulk_create(new)
        except IntegrityError:
            # A code of the batch was taken by another import between the check and the insert.
            raise PushRefused(
                "A redemption code of this batch was taken meanwhile; send the batch again."
            ) from None
        for (result, _), recipient in zip(fresh, new, strict=True):
            result.status, result.recipient = "created", recipient
        webhooks.emit_many(
            WebhookEventType.RECIPIENT_CREATED,
            client=audience.client_id,
            payloads=lambda: [
                {**payloads.recipient(recipient), "source": "api"} for recipient in new
            ],
            is_test=audience.is_test,
        )
        if new:
            Audience.objects.filter(pk=audience.pk).update(
                total_count=Recipient.objects.filter(audience=audience).count(),
                valid_count=Recipient.objects.filter(
                    audience=audience, validation_status=ValidationStatus.VALID
                ).count(),
            )
    return results
