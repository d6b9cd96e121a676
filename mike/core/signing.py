"""Signed webhook bodies, Stripe-style: `X-Mike-Signature: t=<unix seconds>,v1=<hex>`.

`v1` is HMAC-SHA256, keyed with the shared secret, of the timestamp, a dot and the raw body bytes
(`f"{t}.{body}"`). Signing the timestamp with the body means an old request cannot be replayed
with a fresh `t`; refusing a `t` more than the tolerance away from now (in either direction: a
clock far ahead is as suspect as one behind) bounds how long a captured request stays usable.
A header may carry several `v1` values (a sender signing with an old and a new secret while one
is rotated); one matching is enough. Every comparison is constant-time (`hmac.compare_digest`).

Written by hand rather than with a library: it is twenty lines of the standard library, and the
format must match what CRMs and Zapier code steps can compute themselves.
"""

import hashlib
import hmac
import time
from collections.abc import Iterable

from .errors import DomainError

SIGNATURE_HEADER = "X-Mike-Signature"
SCHEME = "v1"
DEFAULT_TOLERANCE_SECONDS = 5 * 60


class SignatureError(DomainError):
    """The signature is missing, malformed, stale or wrong; the message says which (safe to show
    the sender: it never reveals the expected value)."""


def compute_signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex `v1` of `body` sent at `timestamp` (unix seconds)."""
    message = str(int(timestamp)).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The whole header value for `body`, as a sender writes it."""
    timestamp = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={timestamp},{SCHEME}={compute_signature(secret, timestamp, body)}"


def parse_header(header: str) -> tuple[int, list[str]]:
    """(timestamp, [v1 signatures]) of a header value. Raises SignatureError."""
    if not header or not header.strip():
        raise SignatureError(f"The {SIGNATURE_HEADER} header is missing.")
    timestamp, signatures = None, []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == SCHEME and value:
            signatures.append(value.strip().lower())
    if timestamp is None or not signatures:
        raise SignatureError(
            f"The {SIGNATURE_HEADER} header must read t=<unix seconds>,{SCHEME}=<hex HMAC-SHA256>."
        )
    return timestamp, signatures


def verify(
    *,
    header: str,
    body: bytes,
    secrets: Iterable[str],
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> int:
    """Check `header` against `body` with any of `secrets`; returns the signed timestamp.

    Raises SignatureError when the header is missing or malformed, its timestamp is more than
    `tolerance` seconds from now, or no signature matches any secret.
    """
    timestamp, signatures = parse_header(header)
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        raise SignatureError(
            f"The signature's timestamp is more than {tolerance // 60} minutes from Mike's clock: "
            "sign each request when it is sent (and check the sender's clock)."
        )
    for secret in secrets:
        if not secret:
            continue
        expected = compute_signature(secret, timestamp, body)
        matched = False
        # Every candidate is compared, so the time taken does not tell which one matched.
        for candidate in signatures:
            matched |= hmac.compare_digest(expected, candidate)
        if matched:
            return timestamp
    raise SignatureError("The signature does not match the body with this integration's secret.")
