"""Gift card providers: buying a card when a pool has none.

A provider issues one digital card per call, keyed by an idempotency key that Mike keeps on the
reward (`RecipientGiftCard.provider_request_id`). Asking again with the same key returns the same
card instead of buying a second one, which is what makes an uncertain answer (a timeout, a 5xx)
safe: the purchase is left pending and settled later by asking again with the same key.

`ProviderUncertain` means "may or may not have bought"; `ProviderRefused` means "did not buy"
(unknown brand, bad value, no float). Nothing else leaves this module.
"""

import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from decimal import Decimal

import requests
from django.conf import settings

from mike.core.errors import DomainError

logger = logging.getLogger(__name__)


class ProviderError(DomainError):
    pass


class ProviderUncertain(ProviderError):
    """The request may have been carried out: keep the key and ask again later."""


class ProviderRefused(ProviderError):
    """The provider said no: nothing was bought."""


@dataclass(frozen=True)
class IssuedCard:
    code: str
    pin: str
    order_id: str
    expiration_date: str = ""


class TilloClient:
    """Tillo's v2 API: `POST /api/v2/digital/issue`, authenticated with the headers API-Key,
    Signature (hex HMAC-SHA256 under the secret of a dash-joined string of the request's key
    fields) and Timestamp (milliseconds). `client_request_id` is Tillo's idempotency key."""

    ISSUE_PATH = "/api/v2/digital/issue"

    def __init__(self, *, base_url=None, api_key=None, secret=None, timeout=None, retries=None):
        self.base_url = (base_url or settings.TILLO_BASE_URL).rstrip("/")
        self.api_key = api_key if api_key is not None else settings.TILLO_API_KEY
        self.secret = secret if secret is not None else settings.TILLO_SECRET
        self.timeout = timeout if timeout is not None else settings.TILLO_TIMEOUT_SECONDS
        self.retries = retries if retries is not None else settings.TILLO_MAX_RETRIES
        self.session = requests.Session()

    def signature(self, *parts: str) -> str:
        message = "-".join([self.api_key, *parts])
        return hmac.new(self.secret.encode(), message.encode(), hashlib.sha256).hexdigest()

    def issue_card(
        self, *, brand: str, value: Decimal, currency: str, idempotency_key: str
    ) -> IssuedCard:
        """Buy (or, with a key already used, fetch) one card. Retries a timeout or a 5xx up to
        `retries` more times with the same key, then raises ProviderUncertain."""
        if not (self.api_key and self.secret):
            raise ProviderRefused("TILLO_API_KEY and TILLO_SECRET are not set.")
        amount = f"{Decimal(value):.2f}"
        body = {
            "client_request_id": idempotency_key,
            "brand": brand,
            "face_value": {"amount": amount, "currency": currency},
            "delivery_method": "code",
            "fulfilment_by": "partner",
            "sector": "other",
        }
        last_error = ""
        for attempt in range(self.retries + 1):
            timestamp = str(int(time.time() * 1000))
            headers = {
                "API-Key": self.api_key,
                "Timestamp": timestamp,
                "Signature": self.signature(
                    "POST", "digital-issue", idempotency_key, brand, currency, amount, timestamp
                ),
                "Content-Type": "application/json",
                "Accept": "application/json",
            }
            try:
                response = self.session.post(
                    self.base_url + self.ISSUE_PATH,
                    data=json.dumps(body),
                    headers=headers,
                    timeout=self.timeout,
                )
            except requests.RequestException as exc:
                last_error = f"{type(exc).__name__}: {exc}"
                logger.warning("Tillo attempt %s for %s: %s", attempt + 1, idempotency_key, exc)
                continue
            if response.status_code >= 500 or response.status_code == 429:
                last_error = f"HTTP {response.status_code}"
                continue
            return self._parse(response, idempotency_key)
        raise ProviderUncertain(f"Tillo did not answer for {idempotency_key}: {last_error}")

    def _parse(self, response, idempotency_key: str) -> IssuedCard:
        try:
            payload = response.json()
        except ValueError as exc:
            raise ProviderUncertain(f"Tillo answered with no JSON for {idempotency_key}") from exc
        if response.status_code >= 400 or payload.get("code") not in ("000", None):
            raise ProviderRefused(payload.get("message") or f"HTTP {response.status_code}")
        data = payload.get("data") or {}
        url = data.get("url") or {}
        code = data.get("code") or (url.get("code") if isinstance(url, dict) else "")
        if not code:
            raise ProviderUncertain(f"Tillo answered without a code for {idempotency_key}")
        return IssuedCard(
            code=code,
            pin=data.get("pin") or "",
            order_id=str(data.get("reference") or data.get("order_id") or idempotency_key),
            expiration_date=data.get("expiration_date") or "",
        )


def get_provider(name: str = "tillo") -> TilloClient:
    if name != "tillo":
        raise ProviderRefused(f"Unknown gift card provider {name!r}.")
    return TilloClient()
