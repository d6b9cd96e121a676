"""Taking an erased person out of stored JSON and text: the structures other rows copied them into
(webhook payloads, the API's stored answers, funnel events, import reports, agents' steps).

Two tools, for the two ways a person is quoted:
- `about_person`: the JSON shapes Mike writes (mike.webhooks.payloads, the API's serializers, the
  keyword arguments of funnel events). Every dict that is about the person (its `id` or its
  `recipient` is theirs) has its personal keys replaced, at any depth, while its ids, statuses,
  times and amounts stay;
- `without_values`: free text that quotes a value of theirs (their phone, their email, their
  full name): each occurrence reads ERASED instead.
"""

import re
from collections.abc import Iterable

# What an erased value reads as (the recipient's own first name reads the same).
ERASED = "Erased"

# The keys whose values identify the person or carry what they wrote, with what an erased one
# reads as: names as ERASED (like the recipient row's first name), the rest empty of their type.
PERSONAL_KEYS = {
    "first_name": ERASED,
    "last_name": "",
    "name": ERASED,
    "full_name": ERASED,
    "company": "",
    "email": "",
    "phone": "",
    "mobile_phone": "",
    "caller_phone": "",
    "from": "",
    "from_number": "",
    "to": "",
    "to_number": "",
    "address": "",
    "address1": "",
    "address2": "",
    "city": "",
    "state": "",
    "zip": "",
    "zip4": "",
    "external_id": "",
    "custom_fields": {},
    "data": {},
    "submission_data": {},
    "body": "",
    "reply": "",
    "message": "",
    "message_text": "",
    "recording_url": "",
    "ip_address": None,
    "user_agent": "",
}


def blanked(data):
    """`data` with every personal key's value replaced, at any depth."""
    if isinstance(data, dict):
        return {
            key: (PERSONAL_KEYS[key] if key in PERSONAL_KEYS else blanked(value))
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [blanked(item) for item in data]
    return data


def _is_about(data: dict, person_id: str) -> bool:
    return str(data.get("id", "")) == person_id or str(data.get("recipient", "")) == person_id


def about_person(data, *, person_id):
    """`data` (JSON: dicts, lists, scalars) with the personal keys of every dict about the
    person `person_id` blanked, and of everything inside such a dict. Other dicts are kept
    as they are, so a list of several people's rows loses only this person's."""
    person_id = str(person_id)
    if isinstance(data, dict):
        if _is_about(data, person_id):
            return blanked(data)
        return {key: about_person(value, person_id=person_id) for key, value in data.items()}
    if isinstance(data, list):
        return [about_person(item, person_id=person_id) for item in data]
    return data


def mentions(data, *, person_id) -> bool:
    """Whether `data` holds a dict about the person (what `about_person` would change)."""
    return about_person(data, person_id=person_id) != data


def person_values(*, phone: str = "", email: str = "", first_name: str = "", last_name: str = ""):
    """The values a text may quote the person by: their phone, email and full name (a lone first
    or last name is too common a word to take out of other people's text)."""
    values = [phone.strip(), email.strip()]
    full = f"{first_name.strip()} {last_name.strip()}".strip()
    if first_name.strip() and last_name.strip():
        values.append(full)
    return [value for value in values if len(value) >= 3]


def without_values(text: str, values: Iterable[str]) -> str:
    """`text` with each occurrence of each value (compared case-insensitively) read as ERASED."""
    for value in values:
        text = re.sub(re.escape(value), ERASED, text, flags=re.IGNORECASE)
    return text
