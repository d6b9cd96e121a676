"""Phone numbers in one form: E.164, as Twilio sends and expects them."""

from functools import lru_cache

import phonenumbers

DEFAULT_REGION = "US"

# The shape nearly every row of a US file has, read without phonenumbers (about twenty times
# faster, the same E.164): ten digits whose first is 2-9 (no area code begins with 0 or 1),
# maybe after 1 or +1, with spaces, dashes, dots or parentheses anywhere. Everything else
# (letters, extensions, other countries, other lengths) goes through phonenumbers.
_NANP_PUNCTUATION = str.maketrans("", "", " -.()")
_NANP_FIRST = frozenset("23456789")


def normalize_phone(raw: str, region: str = DEFAULT_REGION) -> str:
    """`raw` in E.164 (`+15552010001`), or "" when it cannot be a phone number.

    Only *possible* numbers are required, not *valid* ones: the 555 numbers of tests and demos are
    possible but not assigned, and a caller ID is whatever the carrier sent.
    """
    raw = (raw or "").strip()
    if not raw:
        return ""
    if region == "US" and raw.isascii():
        digits = raw.translate(_NANP_PUNCTUATION)
        plus = digits.startswith("+")
        if plus:
            digits = digits[1:]
        if digits.isdigit():
            if len(digits) == 11 and digits[0] == "1" and digits[1] in _NANP_FIRST:
                return "+" + digits
            if len(digits) == 10 and not plus and digits[0] in _NANP_FIRST:
                return "+1" + digits
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_possible_number(parsed):
        return ""
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=4096)  # pure, and asked for the same few tracked numbers on every page
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
