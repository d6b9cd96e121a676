"""Importing a client's contacts: the contacts' Importer for the import engine (mike.imports).

A row becomes a new contact of the job's client (and, when the job names a list, a member of
that list). Contacts are deduplicated per client, never across clients: a row with a phone
(either of its phones), an email or a customer code that a contact of the client already has is
that contact's duplicate. It is not imported again and the existing contact is left as it is (a
contact marked do-not-contact or opted out stays so), but when a list is given and the contact is
not on it yet, it is added, so a file imported into a list twice leaves the list the same.
"""

import re
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import F, Q
from django.utils import timezone

from mike.accounts.models import Organization
from mike.core.bulk import insert_rows
from mike.core.imports import ImportReport, Row, RowError, mapped_cells, person_name
from mike.core.phones import DEFAULT_REGION, normalize_phone
from mike.imports.engine import Field, Importer
from mike.imports.models import ImportJob
from recipients.imports import ALIASES as RECIPIENT_ALIASES

from .models import Contact, ContactList, ContactListMember, LifecycleStage

# Each contact field, its label in the mapping step, and the headers (normalised) that mean it;
# the first one present wins. The recipients' aliases where the field is the same; the two
# phones' aliases are kept apart so one column is never guessed for both.
FIELDS = (
    Field("first_name", "First name", RECIPIENT_ALIASES["first_name"]),
    Field("last_name", "Last name", RECIPIENT_ALIASES["last_name"]),
    Field("full_name", "Full name (split into first and last)", RECIPIENT_ALIASES["full_name"]),
    Field("email", "Email", RECIPIENT_ALIASES["email"]),
    Field("phone", "Phone", ("phone", "phone_number", "telephone", "tel", "work_phone")),
    Field(
        "mobile_phone",
        "Mobile phone",
        ("mobile_phone", "mobile", "cell", "cell_phone", "mobile_number"),
    ),
    Field("company", "Company", ("company", "company_name")),
    Field("job_title", "Job title", ("job_title", "title", "position")),
    Field("address", "Address", ("address", "address1", "street", "address_1", "address_line_1")),
    Field("address2", "Address line 2", RECIPIENT_ALIASES["address2"]),
    Field("city", "City", RECIPIENT_ALIASES["city"]),
    Field("state", "State", RECIPIENT_ALIASES["state"]),
    Field("zip", "ZIP code", RECIPIENT_ALIASES["zip"]),
    Field(
        "customer_code",
        "Customer code (the client's own id)",
        ("customer_code", "customer_id", "external_id", "id"),
    ),
    Field(
        "lifecycle_stage",
        "Lifecycle stage (else lead)",
        ("lifecycle_stage", "lifecycle", "stage"),
    ),
    Field("lead_source", "Lead source", ("lead_source", "source")),
)

# The text fields a row fills, checked against the model's max_length (a row error names it).
TEXT_FIELDS = (
    "customer_code",
    "first_name",
    "last_name",
    "email",
    "company",
    "job_title",
    "address",
    "address2",
    "city",
    "state",
    "lead_source",
)
MAX_LENGTHS = {name: Contact._meta.get_field(name).max_length for name in TEXT_FIELDS}

_ZIP = re.compile(r"^(\d{5})(?:-?(\d{4}))?$")

# "Customer", "customer", "Marketing qualified lead", "MQL": a stage by its value or its label.
_STAGES = {
    **{str(label).lower(): value for value, label in LifecycleStage.choices},
    **{value: value for value in LifecycleStage.values},
}


@dataclass
class ParsedContact:
    line: int
    fields: dict
    custom_fields: dict = field(default_factory=dict)
    # The email as the file wrote it, also looked up: a contact entered by hand may keep capitals.
    raw_email: str = ""

    def identity_keys(self) -> list[tuple[str, str]]:
        """What makes two rows the same contact of a client: a phone (either), the email or the
        customer code."""
        keys = [
            ("phone", self.fields["phone"]),
            ("phone", self.fields["mobile_phone"]),
            ("email", self.fields["email"]),
            ("customer_code", self.fields["customer_code"]),
        ]
        return list(dict.fromkeys((kind, value) for kind, value in keys if value))


def _phone(cell: dict, name: str, region: str) -> str:
    raw = cell.get(name, "")
    phone = normalize_phone(raw, region) if raw else ""
    if raw and not phone:
        raise RowError(f"{name} '{raw}' is not a valid number")
    return phone


def parse_contact(row: Row, mapping: dict[str, str], region: str = DEFAULT_REGION):
    """The contact a row describes. Raises RowError naming the first cell that is wrong."""
    cell, custom = mapped_cells(row, mapping)
    first, last = person_name(cell)

    phone = _phone(cell, "phone", region)
    mobile = _phone(cell, "mobile_phone", region)

    raw_email = cell.get("email", "")
    email = raw_email.lower()
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise RowError(f"email '{raw_email}' is not a valid address") from None
    if not (phone or mobile or email):
        raise RowError("has neither a phone number nor an email address")

    zip_code = ""
    if raw_zip := cell.get("zip", ""):
        match = _ZIP.match(raw_zip)
        if not match:
            raise RowError(f"zip '{raw_zip}' is not a US ZIP code (5 digits or ZIP+4)")
        zip_code = match.group(1) + (f"-{match.group(2)}" if match.group(2) else "")

    stage = LifecycleStage.LEAD
    if raw_stage := cell.get("lifecycle_stage", ""):
        stage = _STAGES.get(raw_stage.lower())
        if stage is None:
            raise RowError(
                f"lifecycle_stage '{raw_stage}' is not one of " + ", ".join(LifecycleStage.values)
            )

    fields = {
        "customer_code": cell.get("customer_code", ""),
        "first_name": first,
        "last_name": last,
        "email": email,
        "phone": phone,
        "mobile_phone": mobile,
        "company": cell.get("company", ""),
        "job_title": cell.get("job_title", ""),
        "address": cell.get("address", ""),
        "address2": cell.get("address2", ""),
        "city": cell.get("city", ""),
        "state": cell.get("state", ""),
        "zip": zip_code,
        "lifecycle_stage": stage,
        "lead_source": cell.get("lead_source", ""),
    }
    for name, limit in MAX_LENGTHS.items():
        if len(fields[name]) > limit:
            raise RowError(f"{name} is longer than {limit} characters")
    return ParsedContact(line=row.line, fields=fields, custom_fields=custom, raw_email=raw_email)


def _existing_contacts(client_id, batch: list[ParsedContact]) -> dict[tuple[str, str], object]:
    """{key: contact id} for the batch's keys that contacts of the client already have."""
    phones = {value for p in batch for kind, value in p.identity_keys() if kind == "phone"}
    emails = {p.fields["email"] for p in batch if p.fields["email"]}
    emails |= {p.raw_email for p in batch if p.raw_email}
    codes = {p.fields["customer_code"] for p in batch if p.fields["customer_code"]}
    matches = Q()
    if phones:
        matches |= Q(phone__in=phones) | Q(mobile_phone__in=phones)
    if emails:
        matches |= Q(email__in=emails)
    if codes:
        matches |= Q(customer_code__in=codes)
    if not matches:
        return {}
    found = {}
    rows = (
        Contact.objects.filter(matches, client_id=client_id)
        .order_by()
        .values_list("pk", "phone", "mobile_phone", "email", "customer_code")
    )
    for pk, phone, mobile, email, code in rows:
        for key in (
            ("phone", phone),
            ("phone", mobile),
            ("email", email.lower()),
            ("customer_code", code),
        ):
            if key[1]:
                found.setdefault(key, pk)
    return found


class ContactImporter(Importer):
    fields = FIELDS
    keeps_other_columns = True

    def prepare(self) -> None:
        self.client_id = self.job.client_id
        self.contact_list = self.job.contact_list
        self.created_by = self.job.created_by
        self.region = self.job.client.phone_region or DEFAULT_REGION

    def parse(self, row: Row, mapping: dict[str, str]) -> ParsedContact:
        return parse_contact(row, mapping, self.region)

    def keys(self, item: ParsedContact) -> list:
        return item.identity_keys()

    def write(self, items: list[tuple[int, ParsedContact]], report: ImportReport) -> None:
        """Insert the batch's new contacts (and their list memberships) and add the existing
        contacts the batch names to the list. The client's row is locked (FOR NO KEY UPDATE,
        which leaves rows referring to the client free to be written) so two imports for the
        same client take their batches in turn: nothing but this lock keeps two contacts of a
        client from sharing a phone or an email."""
        Organization.objects.select_for_update(no_key=True).filter(pk=self.client_id).first()
        batch = [parsed for _, parsed in items]
        existing = _existing_contacts(self.client_id, batch)
        on_list = set()
        if self.contact_list is not None and existing:
            on_list = set(
                ContactListMember.objects.filter(
                    contact_list=self.contact_list, contact_id__in=set(existing.values())
                ).values_list("contact_id", flat=True)
            )
        now = timezone.now()
        fresh, to_list = [], {}
        for parsed in batch:
            hit = next((key for key in parsed.identity_keys() if key in existing), None)
            if hit is None:
                fresh.append(self._new_contact(parsed, now))
                continue
            message = f"already a contact ({hit[0]} {hit[1]})"
            contact_id = existing[hit]
            if self.contact_list is not None:
                if contact_id in on_list or contact_id in to_list:
                    message += "; already in the list"
                else:
                    to_list[contact_id] = parsed.line
                    message += "; added to the list"
            report.duplicate(parsed.line, message)
        insert_rows(Contact, fresh)
        report.imported += len(fresh)
        if self.contact_list is not None:
            members = [self._member(contact.pk, now) for contact in fresh]
            members += [self._member(contact_id, now) for contact_id in to_list]
            insert_rows(ContactListMember, members)
            if members:
                # Moved with the batch, so the count is right after every batch; finish()
                # recounts it from the members in the end.
                ContactList.objects.filter(pk=self.contact_list.pk).update(
                    contact_count=F("contact_count") + len(members), updated_at=now
                )

    def _new_contact(self, parsed: ParsedContact, now) -> Contact:
        # Every column set here, not left to the model's defaults: the rows may be written by
        # COPY (mike.core.bulk), which knows only what the objects hold.
        return Contact(
            client_id=self.client_id,
            **parsed.fields,
            country="US",
            lead_score=0,
            engagement_score=0,
            do_not_contact=False,
            email_opt_out=False,
            sms_opt_out=False,
            custom_fields=parsed.custom_fields,
            notes="",
            last_activity_date=None,
            total_interactions=0,
            redemptions_count=0,
            email_opens_count=0,
            created_by=self.created_by,
            created_at=now,
            updated_at=now,
        )

    def _member(self, contact_id, now) -> ContactListMember:
        return ContactListMember(
            contact_list=self.contact_list,
            contact_id=contact_id,
            added_by=self.created_by,
            created_at=now,
            updated_at=now,
        )

    def finish(self, job: ImportJob) -> None:
        """The list's member count, recounted from its members however the import ended."""
        if job.contact_list_id is None:
            return
        ContactList.objects.filter(pk=job.contact_list_id).update(
            contact_count=ContactListMember.objects.filter(
                contact_list_id=job.contact_list_id
            ).count(),
            updated_at=timezone.now(),
        )
