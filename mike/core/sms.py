"""Sending text messages through the backend `settings.SMS_BACKEND` names.

- `twilio`: the official Twilio client. `TWILIO_API_BASE_URL`, when set, sends its HTTP requests to
  another host (a local fake in tests) — the client code that builds and signs them still runs.
- `console`: prints the message (the demo; no phone is reached).
- `locmem`: appends it to `outbox` (tests).

`send_sms` returns the provider's message SID and status, or raises `SmsError`, whose `retryable`
says whether trying again later may succeed (a 5xx or a timeout) or not (an invalid number).

Twilio's message statuses are folded in one place, `provider_status()`: every table that records a
text (the opt-in log, card deliveries and their log) maps the folded `MessageStatus` onto its own
statuses, and moves a row only forward (`MessageStatus.rank`).
"""

import logging
import sys
import threading
import uuid
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.db import models

from .errors import DomainError

logger = logging.getLogger(__name__)

outbox: list["SentSms"] = []
_outbox_lock = threading.Lock()


@dataclass(frozen=True)
class SentSms:
    to: str
    body: str
    sid: str
    status: str
    provider: str
    status_callback: str = ""


class SmsProvider(models.TextChoices):
    """Who sent (or would have sent) a text: the SMS backends, and Infobip from the original."""

    TWILIO = "twilio", "Twilio"
    CONSOLE = "console", "Console"
    LOCMEM = "locmem", "Local memory (tests)"
    INFOBIP = "infobip", "Infobip"
    SANDBOX = "sandbox", "Sandbox (test data, never sent)"

    @classmethod
    def of(cls, name: str) -> str:
        return name if name in cls.values else cls.TWILIO


class MessageStatus(models.TextChoices):
    """How far a text Mike sent has got, as the provider reports it."""

    ACCEPTED = "accepted", "Accepted by the provider"
    SENT = "sent", "Sent to the carrier"
    DELIVERED = "delivered", "Delivered"
    UNDELIVERED = "undelivered", "Undelivered"
    FAILED = "failed", "Failed"

    @property
    def rank(self) -> int:
        """Accepted < sent < the final statuses: a status only ever moves a row forward."""
        return {MessageStatus.ACCEPTED: 0, MessageStatus.SENT: 1}.get(self, 2)

    @property
    def is_failure(self) -> bool:
        return self in (MessageStatus.UNDELIVERED, MessageStatus.FAILED)


# Twilio's message statuses (https://www.twilio.com/docs/messaging/api/message-resource), folded.
TWILIO_STATUS = {
    "accepted": MessageStatus.ACCEPTED,
    "scheduled": MessageStatus.ACCEPTED,
    "queued": MessageStatus.ACCEPTED,
    "sending": MessageStatus.ACCEPTED,
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "read": MessageStatus.DELIVERED,
    "undelivered": MessageStatus.UNDELIVERED,
    "failed": MessageStatus.FAILED,
    "canceled": MessageStatus.FAILED,
}


# Twilio's "Attempt to send to unsubscribed recipient": the number replied STOP to our sender
# (perhaps to a text Mike never saw answered), and Twilio will not text it until it sends START.
CARRIER_OPT_OUT_ERROR = "21610"


def is_carrier_opt_out(error_code) -> bool:
    """True when a Twilio error code says the number opted out at the carrier (21610)."""
    return str(error_code or "").strip() == CARRIER_OPT_OUT_ERROR


def provider_status(status: str) -> MessageStatus | None:
    """The folded status of a status string Twilio reports (None for one it does not define)."""
    return TWILIO_STATUS.get((status or "").strip().lower())


class SmsError(DomainError):
    """A text not sent. `retryable`: a later attempt may succeed. `outcome_unknown`: the request
    may have reached the provider (a timeout, a connection dropped mid-answer), so the text may
    have left: the next attempt asks first (`find_sent`)."""

    def __init__(
        self, message: str, *, retryable: bool, code: str = "", outcome_unknown: bool = False
    ):
        super().__init__(message)
        self.retryable = retryable
        self.code = code
        self.outcome_unknown = outcome_unknown


def backend_name() -> str:
    return settings.SMS_BACKEND


def send_sms(to: str, body: str, *, status_callback: str = "") -> SentSms:
    """Send `body` to `to` (E.164). Raises SmsError."""
    if not to:
        raise SmsError("No phone number to text.", retryable=False)
    name = backend_name()
    if name == "twilio":
        return _send_twilio(to, body, status_callback)
    # Random, not counted: the web server and a `play_phone` command each send texts, and the
    # SMS log holds every SID once. Twilio's shape (SM + 32 hex) so anything that reads SIDs
    # treats these like real ones; the provider field says which backend made it.
    sid = f"SM{uuid.uuid4().hex}"
    sent = SentSms(to, body, sid, "sent", name, status_callback)
    if name == "locmem":
        with _outbox_lock:
            outbox.append(sent)
    elif name == "console":
        sys.stdout.write(f"\n[SMS to {to}] {body}\n")
        sys.stdout.flush()
    else:
        raise SmsError(f"Unknown SMS_BACKEND {name!r}.", retryable=False)
    return sent


def sandbox_sms(to: str, body: str) -> SentSms:
    """A text to a test recipient (test data, made with a test API key): recorded like a sent
    one, with a sandbox SID (`SB…`), and sent nowhere, whatever SMS_BACKEND says."""
    return SentSms(to, body, f"SB{uuid.uuid4().hex}", "sent", SmsProvider.SANDBOX)


def clear_outbox() -> None:
    with _outbox_lock:
        outbox.clear()


def _send_twilio(to: str, body: str, status_callback: str) -> SentSms:
    from twilio.base.exceptions import TwilioException, TwilioRestException

    kwargs = {"to": to, "from_": settings.TWILIO_FROM_NUMBER, "body": body}
    if status_callback:
        kwargs["status_callback"] = status_callback
    try:
        message = twilio_client().messages.create(**kwargs)
    except TwilioRestException as exc:
        # 4xx other than 429 means Twilio refused this message (bad number, opted out): final.
        retryable = exc.status >= 500 or exc.status == 429
        raise SmsError(str(exc.msg), retryable=retryable, code=str(exc.code or exc.status)) from exc
    except (TwilioException, OSError) as exc:
        # Connection errors and timeouts: the message may or may not have left; retry later.
        raise SmsError(f"Twilio unreachable: {exc}", retryable=True, outcome_unknown=True) from exc
    return SentSms(to, body, message.sid, message.status or "queued", "twilio", status_callback)


# How many of the newest texts to a number `find_sent` reads: a card's attempts are a handful.
FIND_SENT_LIMIT = 50


def find_sent(to: str, body: str, *, since) -> SentSms | None:
    """The text with exactly this `body` sent to `to` since `since` (aware datetime), as the
    provider knows it, or None. Twilio has no idempotency key, so an attempt whose outcome is
    unknown (its worker died after Twilio took the text, or Twilio's answer never came) is
    settled by asking Twilio's message list before sending again. A text the provider reports
    failed or undelivered is not a sent one. Raises SmsError (retryable) when the provider
    cannot be asked: sending blind could text the card twice."""
    name = backend_name()
    if name == "twilio":
        return _find_twilio(to, body, since)
    if name == "locmem":
        with _outbox_lock:
            found = [sent for sent in outbox if sent.to == to and sent.body == body]
        return found[-1] if found else None
    # console: printed, never kept; a demo process that died mid-print has nothing to ask.
    return None


def _find_twilio(to: str, body: str, since) -> SentSms | None:
    from twilio.base.exceptions import TwilioException

    # Twilio's DateSent filter is by day and leaves out texts still queued; the newest texts
    # to the number, filtered here by creation time, are what the question needs.
    try:
        messages = twilio_client().messages.list(
            to=to, from_=settings.TWILIO_FROM_NUMBER, limit=FIND_SENT_LIMIT
        )
    except (TwilioException, OSError) as exc:
        raise SmsError(
            f"Twilio could not be asked what it sent: {exc}", retryable=True, outcome_unknown=True
        ) from exc
    margin = since - timedelta(minutes=5)  # the provider's clock against ours
    for message in messages:  # newest first
        if message.body != body:
            continue
        if message.date_created is not None and message.date_created < margin:
            continue
        status = provider_status(message.status)
        if status is not None and status.is_failure:
            continue
        return SentSms(to, body, message.sid, message.status or "queued", "twilio")
    return None


def twilio_client(*, account_sid: str = "", auth_token: str = ""):
    """The official Twilio REST client, on the platform's account unless another account's SID
    and token are given (an organization's own: mike.accounts.twilio_accounts)."""
    from twilio.rest import Client

    return Client(
        account_sid or settings.TWILIO_ACCOUNT_SID,
        auth_token or settings.TWILIO_AUTH_TOKEN,
        http_client=_http_client(),
    )


def _http_client():
    from twilio.http.http_client import TwilioHttpClient

    base = settings.TWILIO_API_BASE_URL
    timeout = settings.TWILIO_TIMEOUT_SECONDS

    class RedirectingHttpClient(TwilioHttpClient):
        # The twilio library fixes its hosts (api.twilio.com); this sends the same requests to
        # TWILIO_API_BASE_URL instead, so tests exercise the real client against a local fake.
        def request(self, method, url, *args, **kwargs):
            if base:
                parts, target = urlsplit(url), urlsplit(base)
                url = urlunsplit((target.scheme, target.netloc, parts.path, parts.query, ""))
            return super().request(method, url, *args, **kwargs)

    return RedirectingHttpClient(timeout=timeout)
