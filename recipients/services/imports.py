"""Importing an audience file: the recipients' Importer for the import engine (mike.imports).

The engine reads the file, finds the duplicates within a batch and commits each batch with the
job's checkpoint; this module says how a row becomes a recipient (recipients.imports) and writes a
batch: recipients already in the audience are duplicates, a file code another recipient holds is
a row error, and the others get their codes and tokens and are inserted in one statement."""

from collections.abc import Callable

from django.conf import settings
from django.db.models import Count, Q
from django.db.models.fields.json import KT

from mike import webhooks
from mike.core.bulk import PreparedRows
from mike.core.imports import ImportReport, Row
from mike.core.lookups import stored_values
from mike.core.models import uuid7_many
from mike.core.phones import DEFAULT_REGION
from mike.imports.engine import Field, Importer
from mike.imports.models import ImportJob, ImportKind
from mike.webhooks import payloads
from mike.webhooks.catalogue import WebhookEventType
from recipients.codes import draw_codes, draw_tokens
from recipients.imports import ALIASES, RECIPIENT_FIELDS, parse_recipient
from recipients.models import Audience, AudienceStatus, Recipient, ValidationStatus
from recipients.selectors import mailing_campaign_id

LABELS = {
    "first_name": "First name",
    "last_name": "Last name",
    "full_name": "Full name (split into first and last)",
    "phone": "Phone",
    "email": "Email",
    "company": "Company",
    "address1": "Address line 1",
    "address2": "Address line 2",
    "city": "City",
    "state": "State",
    "zip": "ZIP code",
    "external_id": "External id",
    "redemption_code": "Redemption code (else one is generated)",
}


def _existing_keys(audience: Audience, batch: list[tuple]) -> set[tuple[str, str]]:
    """The (kind, value) keys of the batch (each row's identity keys) that recipients of the
    audience already have."""
    where = {"audience": audience.pk}
    values = {"phone": [], "email": [], "external_id": []}
    for keys in batch:
        for kind, value in keys:
            values[kind].append(value)
    # The phone by the audience's own index (audience, phone); the email by its index, the
    # audience compared on the rows found.
    found = {
        ("phone", v)
        for v in stored_values(
            Recipient.objects, "phone", values["phone"], where=where, where_indexed=True
        )
    }
    found |= {
        ("email", v)
        for v in stored_values(Recipient.objects, "email", values["email"], where=where)
    }
    if values["external_id"]:
        # The expression recipient_extid_idx indexes; elsewhere the annotation.
        found |= {
            ("external_id", v)
            for v in stored_values(
                Recipient.objects.annotate(external_id=KT("custom_fields__external_id")),
                "external_id",
                values["external_id"],
                where=where,
                expression="(\"custom_fields\" ->> 'external_id')",
            )
        }
    return found


def _codes_taken(codes: list[str]) -> set[str]:
    return set(
        Recipient.objects.filter(redemption_code__any=codes).values_list(
            "redemption_code", flat=True
        )
    )


# What the importer writes of each recipient, every other column taking its default: the fields
# the row gives and those drawn for it (key, code, token), made ready for COPY in the reader
# process (parse); write draws the latter anew if the batch is tried again.
_GIVEN = ("custom_fields", *RECIPIENT_FIELDS)
_DRAWN = ("id", "redemption_code", "token")


class RecipientImporter(Importer):
    fields = tuple(Field(name, LABELS[name], aliases=aliases) for name, aliases in ALIASES.items())
    keeps_other_columns = True

    def prepare(self) -> None:
        self.audience = self.job.audience
        self.region = self.audience.client.phone_region or DEFAULT_REGION
        # Recipients added while a campaign mails the audience are that campaign's (as those
        # there before it went out: recipients.services.adopt_mailing_campaign).
        self.campaign_id = mailing_campaign_id(self.audience.pk)
        self.rows = PreparedRows(
            Recipient,
            _GIVEN,
            late=_DRAWN,
            constants={
                "audience_id": self.audience.pk,
                "campaign_id": self.campaign_id,
                "validation_status": ValidationStatus.VALID,
            },
        )
        self._drawn: list[tuple] = []

    def _draw(self) -> tuple:
        """A key, a code and a token for the next row, as the model's defaults make them, drawn
        a batch's worth at a time."""
        if not self._drawn:
            count = settings.IMPORT_BATCH_ROWS
            drawn = zip(uuid7_many(count), draw_codes(count), draw_tokens(count), strict=True)
            self._drawn = list(drawn)[::-1]  # popped in the keys' order
        return self._drawn.pop()

    def parse(self, row: Row, mapping: dict[str, str]) -> tuple:
        """(identity keys, the file's code or "", the row's code, the row ready for its
        insert, with its key, code and token): plain values, cheap to send from the reader
        process, which draws the key, code and token too."""
        parsed = parse_recipient(row, mapping, self.region)
        key, code, token = self._draw()
        code = parsed.code or code
        fields = parsed.fields
        return (
            tuple(parsed.identity_keys()),
            parsed.code,
            code,
            self.rows.prepare(
                (parsed.custom_fields, *[fields[name] for name in RECIPIENT_FIELDS]),
                late=(key, code, token),
            ),
        )

    def keys(self, item: tuple) -> list:
        identity, code = item[0], item[1]
        return [*identity, ("code", code)] if code else list(identity)

    def write(self, items: list[tuple[int, tuple]], report: ImportReport) -> None:
        """Insert the batch's new recipients (the engine holds the transaction and retries the
        batch when a concurrent import takes a code between the check and the insert).
        Generated codes are drawn unchecked (generate_redemption_code would query once per
        row); the unique constraints stay the guarantee."""
        in_audience = _existing_keys(self.audience, [item[0] for _, item in items])
        fresh = []
        for line, item in items:
            hit = next((key for key in item[0] if key in in_audience), None)
            if hit:
                report.duplicate(line, f"already in the audience ({hit[0]} {hit[1]})")
            else:
                fresh.append((line, item))
        taken = _codes_taken([item[1] for _, item in fresh if item[1]])
        kept = []
        for line, item in fresh:
            if item[1] and item[1] in taken:
                report.error(line, f"redemption code '{item[1]}' is already in use")
            else:
                kept.append(item)
        if self.attempt:
            # A drawn code that was already taken (all but impossible with 2**50 of them) failed
            # the unique constraint and rolled the batch back: new keys, codes and tokens.
            generated = iter(draw_codes(sum(1 for item in kept if not item[1])))
            late = [
                (key, item[1] or next(generated), token)
                for key, token, item in zip(
                    uuid7_many(len(kept)), draw_tokens(len(kept)), kept, strict=True
                )
            ]
            codes = [code for _, code, _ in late]
        else:
            late, codes = [None] * len(kept), [item[2] for item in kept]
        report.imported += self.rows.insert(zip(late, [item[3] for item in kept], strict=True))
        audience = self.audience
        webhooks.emit_many(
            WebhookEventType.RECIPIENT_CREATED,
            client=audience.client_id,
            # Read back by code (COPY returns no keys), and only when somebody subscribed.
            payloads=lambda: [
                {**payloads.recipient(recipient), "source": "import"}
                for recipient in Recipient.objects.filter(
                    audience=audience, redemption_code__in=codes
                ).order_by("id")
            ],
            is_test=audience.is_test,
        )

    def finish(self, job: ImportJob) -> None:
        """The audience's counters: its recipients now, and the rows this import could not take."""
        audience = job.audience
        counts = Recipient.objects.filter(audience=audience).aggregate(
            total=Count("pk"),
            valid=Count("pk", filter=Q(validation_status=ValidationStatus.VALID)),
        )
        Audience.objects.filter(pk=audience.pk).update(
            total_count=counts["total"],
            valid_count=counts["valid"],
            invalid_count=job.errors,
            status=AudienceStatus.READY,
        )


def import_recipients(
    *,
    audience: Audience,
    source,
    user=None,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import the recipients of a CSV file (a path or a binary file object) into `audience` in
    this process, as an import job with the columns guessed from the header, and return its
    report. Raises ImportFileError, writing nothing, when the file as a whole is refused.

    Every row is imported or reported: a row error, a duplicate of an earlier line of its batch
    (same phone, email, external id or code) or of a recipient already in the audience (a row of
    an earlier batch is by then one). Importing the same file again imports nothing."""
    from mike.imports.services import import_file, raise_if_refused, report_of

    job = import_file(
        ImportKind.RECIPIENTS, target=audience, source=source, user=user, progress=progress
    )
    raise_if_refused(job)
    audience.refresh_from_db(fields=["total_count", "valid_count", "invalid_count", "status"])
    return report_of(job)
