"""Building an audience from a client's contact list (crm.ContactList).

One recipient per contact of the list that can be reached (a phone or an email) and has not
asked not to be contacted; SMS opt-outs come in already opted out, so nothing texts them. The
list's contacts are streamed and written in batches, each in its own transaction, so a list of
any size takes the same memory; duplicates (two contacts with one phone or one email) are found
per batch and against the recipients already written, in the database, not in a growing set.
"""

from __future__ import annotations

import re
from itertools import islice

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q

from crm.models import Contact, ContactList
from mike import webhooks
from mike.core.bulk import insert_rows
from mike.core.errors import DomainError
from mike.core.phones import normalize_phone
from mike.webhooks import payloads
from mike.webhooks.catalogue import WebhookEventType
from recipients.codes import draw_codes, generate_recipient_token
from recipients.models import (
    Audience,
    AudienceSource,
    AudienceStatus,
    Recipient,
    SmsOptInStatus,
    ValidationStatus,
)

# A batch whose codes a concurrent import took between the draw and the insert is drawn again.
ATTEMPTS = 3

_ZIP = re.compile(r"^(\d{5})(?:-?(\d{4}))?$")
# How contacts store phones (imports and the admin write E.164): taken as they are, sparing
# phonenumbers' parse for every contact of a big list.
_E164 = re.compile(r"^\+[1-9]\d{7,14}$")
NAME_MAX = Audience._meta.get_field("name").max_length

CONTACT_FIELDS = (
    "id",
    "first_name",
    "last_name",
    "company",
    "address",
    "address2",
    "city",
    "state",
    "zip",
    "email",
    "phone",
    "mobile_phone",
    "customer_code",
    "custom_fields",
    "sms_opt_out",
    "email_opt_out",
)


class AudienceBuildError(DomainError):
    """The audience cannot be built as asked (no name …); nothing was written."""


# A contact with no phone and no email Mike may use (none, or one they opted out of).
_NO_ADDRESS = Q(phone="", mobile_phone="") & (Q(email="") | Q(email_opt_out=True))


def _reachable(contact_list: ContactList):
    """The list's contacts an audience takes: not do-not-contact, with a phone or an email (one
    they have not opted out of)."""
    return Contact.objects.filter(list_memberships__contact_list=contact_list).filter(
        Q(do_not_contact=False) & ~_NO_ADDRESS
    )


def _phone(stored: str) -> str:
    stored = (stored or "").strip()
    return stored if _E164.match(stored) else normalize_phone(stored)


def _recipient_fields(contact: Contact) -> dict | None:
    """The fields of the recipient a contact becomes, or None when neither its phone nor its
    email is one Mike can use. The mobile number first: the reward comes by text. A contact who
    opted out of email comes without it: nothing (a card, its copy) is emailed to them."""
    phone = _phone(contact.mobile_phone) or _phone(contact.phone)
    email = "" if contact.email_opt_out else (contact.email or "").strip().lower()
    if not (phone or email):
        return None
    zip5, zip4 = "", ""
    if match := _ZIP.match(contact.zip or ""):
        zip5, zip4 = match.group(1), match.group(2) or ""
    custom = dict(contact.custom_fields or {})
    if contact.customer_code:
        # Where an imported audience keeps the client's own id (recipients.imports).
        custom["external_id"] = contact.customer_code
    return {
        "contact_id": contact.pk,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "company": contact.company,
        "address1": contact.address,
        "address2": contact.address2,
        "city": contact.city,
        "state": contact.state,
        "zip": zip5,
        "zip4": zip4,
        "email": email,
        "phone": phone,
        "custom_fields": custom,
        "validation_status": ValidationStatus.VALID,
        "sms_opt_in_status": (
            SmsOptInStatus.OPTED_OUT if contact.sms_opt_out else SmsOptInStatus.NOT_SENT
        ),
    }


def _keys(fields: dict) -> list[tuple[str, str]]:
    return [(kind, fields[kind]) for kind in ("phone", "email") if fields[kind]]


def _write_batch(audience: Audience, contacts: list[Contact]) -> tuple[int, int, int]:
    """Write one batch in its own transaction: (added, duplicates, unusable)."""
    candidates = [fields for fields in map(_recipient_fields, contacts) if fields is not None]
    unusable = len(contacts) - len(candidates)
    for attempt in range(ATTEMPTS):
        try:
            with transaction.atomic():
                kept = _not_yet_in(audience, candidates)
                # Drawn for the whole batch (a model default would query once per row); the
                # unique constraints are the check.
                codes = draw_codes(len(kept))
                rows = [
                    Recipient(
                        audience=audience,
                        redemption_code=code,
                        token=generate_recipient_token(),
                        **fields,
                    )
                    for fields, code in zip(kept, codes, strict=True)
                ]
                insert_rows(Recipient, rows)
                webhooks.emit_many(
                    WebhookEventType.RECIPIENT_CREATED,
                    client=audience.client_id,
                    payloads=lambda rows=rows: [
                        {**payloads.recipient(row), "source": "contact_list"} for row in rows
                    ],
                    is_test=audience.is_test,
                )
        except IntegrityError:
            # A code or token taken by a concurrent writer since the draw: the batch rolled
            # back whole and is drawn again.
            if attempt == ATTEMPTS - 1:
                raise
            continue
        return len(kept), len(candidates) - len(kept), unusable
    raise AssertionError("unreachable")


def _not_yet_in(audience: Audience, candidates: list[dict]) -> list[dict]:
    """The candidates whose phone and email neither an earlier one of the batch nor a recipient
    of the audience (written by an earlier batch) has."""
    phones = [fields["phone"] for fields in candidates if fields["phone"]]
    emails = [fields["email"] for fields in candidates if fields["email"]]
    taken = set()
    earlier = Recipient.objects.filter(audience=audience).filter(
        Q(phone__in=phones) | Q(email__in=emails)
    )
    for phone, email in earlier.order_by().values_list("phone", "email"):
        taken |= {("phone", phone), ("email", email)}
    kept = []
    for fields in candidates:
        keys = _keys(fields)
        if not any(key in taken for key in keys):
            taken.update(keys)
            kept.append(fields)
    return kept


def build_audience_from_list(contact_list: ContactList, *, name: str, by=None) -> Audience:
    """A new audience of the list's client, named `name`, with one recipient per reachable
    contact of the list (see `_reachable`), each with a fresh redemption code and token and
    linked to its contact. Contacts sharing a phone or an email give one recipient (the first
    contact added to the CRM). Raises AudienceBuildError for a blank or too long name.

    Not idempotent: each call builds a new audience (a list changes; an audience is what it held
    when it was built). Each batch of IMPORT_BATCH_ROWS (2,000) contacts commits on its own;
    the audience is `processing` until its counters are set at the end, and `failed` if the
    build stopped half way. `by` is recorded nowhere yet: audiences keep no author."""
    name = (name or "").strip()
    if not name:
        raise AudienceBuildError("Give the audience a name.")
    if len(name) > NAME_MAX:
        raise AudienceBuildError(f"The audience's name is longer than {NAME_MAX} characters.")
    audience = Audience.objects.create(
        client_id=contact_list.client_id,
        name=name,
        source=AudienceSource.CONTACT_LIST,
        contact_list=contact_list,
        status=AudienceStatus.PROCESSING,
    )
    added = duplicates = unusable = 0
    size = settings.IMPORT_BATCH_ROWS
    try:
        contacts = (
            _reachable(contact_list)
            .order_by("pk")  # time-ordered ids: the first contact added wins a duplicate
            .only(*CONTACT_FIELDS)
            .iterator(chunk_size=size)
        )
        while batch := list(islice(contacts, size)):
            batch_added, batch_duplicates, batch_unusable = _write_batch(audience, batch)
            added += batch_added
            duplicates += batch_duplicates
            unusable += batch_unusable
    except Exception:
        Audience.objects.filter(pk=audience.pk).update(status=AudienceStatus.FAILED)
        raise
    members = contact_list.memberships.count()
    do_not_contact = contact_list.memberships.filter(contact__do_not_contact=True).count()
    no_address = unusable + (
        Contact.objects.filter(list_memberships__contact_list=contact_list, do_not_contact=False)
        .filter(_NO_ADDRESS)
        .count()
    )
    Audience.objects.filter(pk=audience.pk).update(
        total_count=added,
        valid_count=added,
        invalid_count=duplicates + no_address,
        hygiene_json={
            "contact_list": str(contact_list.pk),
            "members": members,
            "added": added,
            "do_not_contact": do_not_contact,
            "no_phone_or_email": no_address,
            "duplicates": duplicates,
        },
        status=AudienceStatus.READY,
    )
    audience.refresh_from_db()
    return audience


def built_summary(audience: Audience) -> str:
    """What building the audience took and left out, from its report (hygiene_json)."""
    report = audience.hygiene_json
    text = f"{report['added']} recipients from {report['members']} contacts"
    left_out = [
        f"{report[key]} {label}"
        for key, label in (
            ("do_not_contact", "do-not-contact"),
            ("no_phone_or_email", "without a phone or email"),
            ("duplicates", "duplicates"),
        )
        if report[key]
    ]
    return text + (f"; left out {', '.join(left_out)}" if left_out else "")
