"""How a row of an audience file becomes a recipient: column aliases, and the checks of each cell.

`parse_recipient` turns one `Row` into the recipient's fields, or the reason the row cannot be
imported; it reads nothing from the database (the importer, recipients.services.imports, checks
duplicates against the audience and codes against the platform batch by batch).
"""

import re
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

from mike.core.imports import Row, RowError, mapped_cells, person_name
from mike.core.phones import DEFAULT_REGION, normalize_phone
from recipients.codes import normalize_code

# Each recipient field and the headers (normalised: mike.core.imports.normalize_header) that mean
# it, the first one present wins. Every other column goes into custom_fields.
ALIASES = {
    "first_name": ("first_name", "firstname", "first"),
    "last_name": ("last_name", "lastname", "last", "surname"),
    "full_name": ("name", "full_name", "fullname"),
    "phone": ("phone", "phone_number", "mobile", "cell", "mobile_phone"),
    "email": ("email", "email_address", "e_mail"),
    "company": ("company",),
    "address1": ("address1", "address", "street", "address_1", "address_line_1"),
    "address2": ("address2", "address_2", "address_line_2"),
    "city": ("city",),
    "state": ("state",),
    "zip": ("zip", "zip_code", "postal_code", "zipcode"),
    "external_id": ("external_id", "id", "customer_id"),
    "redemption_code": ("redemption_code", "code"),
}

MAX_LENGTHS = {
    "first_name": 100,
    "last_name": 100,
    "company": 200,
    "address1": 200,
    "address2": 200,
    "city": 100,
    "state": 50,
}

# The recipient fields a row gives (ParsedRecipient.fields' keys).
RECIPIENT_FIELDS = (
    "first_name",
    "last_name",
    "company",
    "address1",
    "address2",
    "city",
    "state",
    "zip",
    "zip4",
    "email",
    "phone",
)

_ZIP = re.compile(r"^(\d{5})(?:-?(\d{4}))?$")
# What the original accepted from a client; stored normalised (recipients.codes.normalize_code).
_CLIENT_CODE = re.compile(r"^[A-Za-z0-9_-]{3,50}$")
# Django's email check, with its patterns compiled once here: the class holds them as lazy
# objects, and every row's check went through their proxies (a quarter of the check's time).
validate_email = EmailValidator()
for _pattern in ("user_regex", "domain_regex", "literal_regex"):
    _lazy = getattr(EmailValidator, _pattern)
    setattr(validate_email, _pattern, re.compile(_lazy.pattern, _lazy.flags))

# The stored code's bounds (the model's max_length and the recipient_code_normalised constraint).
CODE_MIN, CODE_MAX = 6, 32


@dataclass
class ParsedRecipient:
    line: int
    fields: dict
    custom_fields: dict = field(default_factory=dict)
    external_id: str = ""
    code: str = ""  # the file's code, normalised; "" when the importer generates one

    def identity_keys(self) -> list[tuple[str, str]]:
        """What makes two rows the same person: phone, email or external id."""
        keys = [("phone", self.fields["phone"]), ("email", self.fields["email"])]
        keys.append(("external_id", self.external_id))
        return [(kind, value) for kind, value in keys if value]


def column_map(header: list[str]) -> dict[str, str]:
    """{recipient field: file column} for the columns the header has."""
    mapping = {}
    for name, aliases in ALIASES.items():
        for alias in aliases:
            if alias in header:
                mapping[name] = alias
                break
    return mapping


def parse_recipient(row: Row, mapping: dict[str, str], region: str = DEFAULT_REGION):
    """The recipient a row describes. Raises RowError naming the first cell that is wrong."""
    cell, custom = mapped_cells(row, mapping)
    first, last = person_name(cell)

    raw_phone = cell.get("phone", "")
    phone = normalize_phone(raw_phone, region) if raw_phone else ""
    if raw_phone and not phone:
        raise RowError(f"phone '{raw_phone}' is not a valid number")

    email = cell.get("email", "").lower()
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise RowError(f"email '{cell['email']}' is not a valid address") from None
    if not phone and not email:
        raise RowError("has neither a phone number nor an email address")

    zip5, zip4 = "", ""
    if raw_zip := cell.get("zip", ""):
        match = _ZIP.match(raw_zip)
        if not match:
            raise RowError(f"zip '{raw_zip}' is not a US ZIP code (5 digits or ZIP+4)")
        zip5, zip4 = match.group(1), match.group(2) or ""

    code = ""
    if raw_code := cell.get("redemption_code", ""):
        if not _CLIENT_CODE.match(raw_code):
            raise RowError(f"redemption code '{raw_code}' must be 3 to 50 letters, digits, - or _")
        code = normalize_code(raw_code)
        if not CODE_MIN <= len(code) <= CODE_MAX:
            raise RowError(
                f"redemption code '{raw_code}' must have {CODE_MIN} to {CODE_MAX} letters or "
                "digits besides - and _"
            )

    fields = {
        "first_name": first,
        "last_name": last,
        "company": cell.get("company", ""),
        "address1": cell.get("address1", ""),
        "address2": cell.get("address2", ""),
        "city": cell.get("city", ""),
        "state": cell.get("state", ""),
        "zip": zip5,
        "zip4": zip4,
        "email": email,
        "phone": phone,
    }
    for name, limit in MAX_LENGTHS.items():
        if len(fields[name]) > limit:
            raise RowError(f"{name} is longer than {limit} characters")

    external_id = cell.get("external_id", "")
    if external_id:
        custom["external_id"] = external_id
    return ParsedRecipient(
        line=row.line, fields=fields, custom_fields=custom, external_id=external_id, code=code
    )
