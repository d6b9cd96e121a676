"""Phone numbers in one form: E.164, as Twilio sends and expects them."""

import phonenumbers

DEFAULT_REGION = "US"


def normalize_phone(raw: str, region: str = DEFAULT_REGION) -> str:
    """`raw` in E.164 (`+15552010001`), or "" when it cannot be a phone number.

    Only *possible* numbers are required, not *valid* ones: the 555 numbers of tests and demos are
    possible but not assigned, and a caller ID is whatever the carrier sent.
    """
    raw = (raw or "").strip()
    if not raw:
        return ""
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_possible_number(parsed):
        return ""
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def format_national(e164: str, region: str = DEFAULT_REGION) -> str:
    """`+18005550101` as people write it at home, `(800) 555-0101` (in international form when
    it is from another country); "" stays "" and anything unparseable is returned as it is."""
    if not e164:
        return ""
    try:
        parsed = phonenumbers.parse(e164, region)
    except phonenumbers.NumberParseException:
        return e164
    if parsed.country_code == phonenumbers.country_code_for_region(region):
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
