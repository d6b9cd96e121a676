"""Event webhooks' secrets. Deliveries are signed as every Mike webhook is (mike.core.signing:
`X-Mike-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}.{body}")>`), the scheme
the CRM webhooks in check, so a receiver verifies both the same way."""

import secrets

SECRET_PREFIX = "whsec_"  # noqa: S105 (the prefix, not a secret)


def generate_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)
