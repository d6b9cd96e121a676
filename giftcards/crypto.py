"""Encryption at rest for gift card codes, PINs and card numbers: they are bearer money.

Codes are encrypted with Fernet (AES-128-CBC + HMAC-SHA256) under `settings.CARD_CODE_KEYS`, newest
key first (`mike.core.crypto`: `encrypt` always uses the first key, `decrypt` accepts any, so a key
is rotated by prepending a new one, re-encrypting with `rotate`, then dropping the old key).

Uniqueness cannot be enforced on ciphertext (Fernet tokens are randomised), so each code also gets a
keyed hash (`code_hash`, HMAC-SHA256 under `settings.CARD_CODE_HASH_KEY`) that the database holds
UNIQUE. The hash key must never change, or every stored hash stops matching its code.
"""

import hashlib
import hmac

from django.conf import settings

# The Fernet part is shared with other secrets Mike keeps (organizations' Twilio tokens).
from mike.core.crypto import decrypt, encrypt, encrypter, rotate

__all__ = [
    "MASK",
    "code_hash",
    "decrypt",
    "encrypt",
    "encrypter",
    "mask",
    "normalize_code",
    "rotate",
]

MASK = "••••"


_SEPARATORS = str.maketrans("", "", " -\t\r\n")


def normalize_code(value: str) -> str:
    """The form a code is compared in: no spaces or dashes, upper case ("abcd-1234 " → "ABCD1234")."""
    return value.translate(_SEPARATORS).upper()


def code_hash(value: str) -> str:
    """HMAC-SHA256 hex digest of the normalised code: finds and de-duplicates codes without
    storing them in the clear."""
    key = settings.CARD_CODE_HASH_KEY
    if not key:
        raise ValueError("settings.CARD_CODE_HASH_KEY is empty.")
    return hmac.digest(key.encode(), normalize_code(value).encode(), hashlib.sha256).hex()


def mask(value: str) -> str:
    """What lists, logs and messages show instead of a code: "•••• " and its last four characters."""
    return f"{MASK} {normalize_code(value)[-4:]}"
