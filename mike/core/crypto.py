"""Encryption at rest for secrets Mike must read back: gift card codes and PINs (giftcards.crypto)
and the Twilio auth tokens of organizations' own accounts (mike.accounts.twilio_accounts).

Fernet (AES-128-CBC + HMAC-SHA256) under `settings.CARD_CODE_KEYS`, newest key first: `encrypt`
always uses the first key, `decrypt` accepts any, so a key is rotated by prepending a new one,
re-encrypting with `rotate`, then dropping the old key.
"""

import functools

from cryptography.fernet import Fernet, MultiFernet
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
    """`encrypt` bound to the keys configured now, for a caller encrypting many values (an
    import): the keys are read and the Fernet objects found once, not for every value."""
    fernet = _fernet()

    def encrypt_value(value: str) -> str:
        return fernet.encrypt(value.encode()).decode()

    return encrypt_value


def decrypt(token: str) -> str:
    """Decrypt a token made under any configured key. Raises cryptography's InvalidToken when no
    key fits or the token was tampered with."""
    return _fernet().decrypt(token.encode()).decode()


def rotate(token: str) -> str:
    """Re-encrypt a token under the newest key (for a key rotation command)."""
    return _fernet().rotate(token.encode()).decode()
