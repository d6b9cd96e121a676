"""Encryption at rest for secrets Mike must read back: gift card codes and PINs (giftcards.crypto)
and the Twilio auth tokens of organizations' own accounts (mike.accounts.twilio_accounts).

Fernet (AES-128-CBC + HMAC-SHA256) under `settings.CARD_CODE_KEYS`, newest key first: `encrypt`
always uses the first key, `decrypt` accepts any, so a key is rotated by prepending a new one,
re-encrypting with `rotate`, then dropping the old key.
"""

import base64
import functools
import hmac
import os
import time

from cryptography.fernet import Fernet, MultiFernet
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from django.conf import settings


def _keys() -> tuple[str, ...]:
    keys = settings.CARD_CODE_KEYS
    if isinstance(keys, str):
        keys = keys.split(",")
    keys = tuple(key.strip() for key in keys if key and key.strip())
    if not keys:
        raise ValueError("settings.CARD_CODE_KEYS holds no Fernet key.")
    return keys


@functools.lru_cache(maxsize=8)
def _fernet_for(keys: tuple[str, ...]) -> MultiFernet:
    # Keyed on the key tuple rather than cached once, so override_settings in tests takes effect.
    return MultiFernet([Fernet(key) for key in keys])


def _fernet() -> MultiFernet:
    return _fernet_for(_keys())


def encrypt(value: str) -> str:
    """Encrypt `value` with the newest key; returns a URL-safe text token."""
    return _fernet().encrypt(value.encode()).decode()


def encrypter():
    """`encrypt` bound to the newest key configured now, for a caller encrypting many values
    (an import, in one thread): the keys are read once, and each value is sealed by
    FernetSealer, the same token Fernet makes at about half its cost."""
    return FernetSealer(_keys()[0])


class FernetSealer:
    """Fernet tokens under one key, byte for byte what cryptography's Fernet makes for the same
    time and IV (tests/core/test_crypto.py), which Fernet decrypts: version, time, IV,
    AES-128-CBC of the PKCS7-padded value, HMAC-SHA256 of all that, base64url.

    Fernet makes a CBC cipher object, a padder and an HMAC object for every value, most of the
    cost of sealing a short one (a card code or PIN). Here one AES block cipher is made once and
    chains the CBC blocks itself (each block of the value XORed with the ciphertext block before
    it, the first with the IV, then enciphered), and the HMAC is one hmac.digest call (OpenSSL).
    Each value still has its own random IV from os.urandom, drawn at the call (never buffered: a
    forked reader process must not repeat its parent's IVs). Not for several threads at once."""

    def __init__(self, key: str):
        Fernet(key)  # a malformed key is refused as Fernet refuses it
        raw = base64.urlsafe_b64decode(key)
        self._signing_key = raw[:16]
        # ECB is only the block function here: CBC is applied around it in seal().
        self._block = Cipher(algorithms.AES(raw[16:]), modes.ECB()).encryptor()  # noqa: S305

    def __call__(self, value: str) -> str:
        return self.seal(value.encode(), int(time.time()), os.urandom(16)).decode()

    def seal(self, data: bytes, current_time: int, iv: bytes) -> bytes:
        pad = 16 - len(data) % 16
        padded = data + bytes((pad,)) * pad
        encipher = self._block.update
        parts = [b"\x80", current_time.to_bytes(8, "big"), iv]
        previous = int.from_bytes(iv, "big")
        for start in range(0, len(padded), 16):
            block = int.from_bytes(padded[start : start + 16], "big") ^ previous
            enciphered = encipher(block.to_bytes(16, "big"))
            parts.append(enciphered)
            previous = int.from_bytes(enciphered, "big")
        signed = b"".join(parts)
        return base64.urlsafe_b64encode(signed + hmac.digest(self._signing_key, signed, "sha256"))


def decrypt(token: str) -> str:
    """Decrypt a token made under any configured key. Raises cryptography's InvalidToken when no
    key fits or the token was tampered with."""
    return _fernet().decrypt(token.encode()).decode()


def rotate(token: str) -> str:
    """Re-encrypt a token under the newest key (for a key rotation command)."""
    return _fernet().rotate(token.encode()).decode()
