"""Redemption codes and recipient tokens (seed functions `generate_redemption_code`,
`generate_recipient_token`).

A redemption code is printed on a postcard and typed back by a person, so it uses Crockford's base32
alphabet (no I, L, O or U) and reads in groups: `7KQ4-M2XD-9P`. Ten symbols carry 50 bits from
`secrets`. Codes are stored normalised (upper case, no dashes); `normalize_code` turns whatever a
person typed into that form, forgiving case, spaces, dashes and the O/0, I/1, L/1 confusions.
"""

import base64
import re
import secrets
from collections.abc import Callable

from mike.core.errors import DomainError

CROCKFORD_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 10  # 10 symbols x 5 bits = 50 bits of randomness
GROUP_SIZES = (4, 4, 2)
MAX_ATTEMPTS = 10

# Standard base32's symbols, position for position, in Crockford's alphabet.
_FROM_BASE32 = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", CROCKFORD_ALPHABET)
_CONFUSABLE = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SEPARATORS = re.compile(r"[\s\-_.]+")


class CodeSpaceExhausted(DomainError):
    """No unused code was found in MAX_ATTEMPTS tries: something is wrong with the random source."""


def normalize_code(raw: str) -> str:
    """The stored form of what a person typed: upper case, no separators, confusables mapped."""
    return _SEPARATORS.sub("", (raw or "").upper()).translate(_CONFUSABLE)


def is_well_formed(code: str) -> bool:
    return len(code) == CODE_LENGTH and all(ch in CROCKFORD_ALPHABET for ch in code)


def format_code(code: str) -> str:
    """Print form, in dash-separated groups: `7KQ4M2XD9P` -> `7KQ4-M2XD-9P`."""
    parts, start = [], 0
    for size in GROUP_SIZES:
        if start >= len(code):
            break
        parts.append(code[start : start + size])
        start += size
    if start < len(code):
        parts.append(code[start:])
    return "-".join(parts)


def _code_is_taken(code: str) -> bool:
    from recipients.models import Recipient

    return Recipient.objects.filter(redemption_code=code).exists()


def generate_redemption_code(
    *,
    is_taken: Callable[[str], bool] | None = None,
    choice: Callable[[str], str] = secrets.choice,
) -> str:
    """A new normalised redemption code no recipient has, retried on collision.

    The check is advisory (two processes can draw the same code between check and insert); the
    unique constraint on Recipient.redemption_code is what guarantees uniqueness, and importers
    retry the row on IntegrityError. With 2**50 codes a collision is rare; MAX_ATTEMPTS failures in a
    row means a broken random source, which raises CodeSpaceExhausted rather than loop forever.
    """
    is_taken = is_taken or _code_is_taken
    for _ in range(MAX_ATTEMPTS):
        code = "".join(choice(CROCKFORD_ALPHABET) for _ in range(CODE_LENGTH))
        if not is_taken(code):
            return code
    raise CodeSpaceExhausted(f"No free redemption code after {MAX_ATTEMPTS} attempts.")


def generate_recipient_token() -> str:
    """A URL-safe token for a recipient's personal links: 192 bits from `secrets` (32 characters)."""
    return secrets.token_urlsafe(24)


def draw_tokens(count: int) -> list[str]:
    """`count` tokens as generate_recipient_token makes them (24 random bytes, URL-safe base64),
    from one random string: 24 bytes are 32 symbols without padding, so the text of the whole is
    the tokens' texts one after the other."""
    text = base64.urlsafe_b64encode(secrets.token_bytes(24 * count)).decode()
    return [text[start : start + 32] for start in range(0, 32 * count, 32)]


def draw_codes(count: int) -> list[str]:
    """`count` distinct random codes, for the imports, which draw a batch's codes at once: the
    same codes as generate_redemption_code draws (each symbol 5 bits from `secrets`), by
    base32-encoding one random string (every 25 bytes make four codes) instead of ten
    secrets.choice calls per code. Not checked against the recipients: the caller relies on the
    unique constraint (with 2**50 codes a collision is all but impossible)."""
    codes: dict[str, None] = {}
    while len(codes) < count:
        missing = count - len(codes)
        text = base64.b32encode(secrets.token_bytes(25 * -(-missing // 4))).decode()
        text = text.translate(_FROM_BASE32)
        for start in range(0, missing * CODE_LENGTH, CODE_LENGTH):
            codes[text[start : start + CODE_LENGTH]] = None
    return list(codes)
