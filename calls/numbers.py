"""Tracked numbers bought through Twilio: search, buy, re-point, release.

Every call goes through the official `twilio` client on the client's own Twilio account, its
agency's, or the platform's (`mike.accounts.twilio_accounts.credentials_for`). Buying a number
points its voice URL, call status callback and SMS URL at Mike (`SITE_URL` + the webhooks' paths),
all POST, so nothing is configured by hand in Twilio's console.

Twilio answers become one exception family, `NumberError`: `TwilioRefused` carries Twilio's own
message (a 4xx: the number is no longer available, a bad area code), `TwilioUnavailable` a 5xx or
no answer in `TWILIO_TIMEOUT_SECONDS` ("try again"), `TwilioNotConfigured` no account anywhere in
the hierarchy, `NumberRefused` what Mike itself refuses before asking Twilio. On any of them
nothing is written locally.

No paid number is left behind unrecorded: when Twilio bought a number but Mike cannot record it
(the same number was tracked meanwhile, the campaign closed), the number is released on Twilio
at once; if even that fails, `NumberOrphaned` says so with the number's SID and it is logged as
an error for staff to release by hand.

Network calls are made outside any transaction, so no row lock is held while Twilio answers.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from mike.accounts import twilio_accounts
from mike.core.errors import DomainError
from mike.core.phones import normalize_phone

from .models import CallSession, CallStatus, TrackedNumberStatus, TrackedPhoneNumber
from .services import TrackedNumberUnavailable, assign_tracked_number

logger = logging.getLogger(__name__)

LIVE_CALL_STATUSES = (CallStatus.QUEUED, CallStatus.RINGING, CallStatus.IN_PROGRESS)
AREA_CODE = re.compile(r"^[2-9]\d{2}$")
SEARCH_LIMIT = 20
TRY_AGAIN = "Twilio did not answer, try again in a minute."


class NumberError(DomainError):
    """A tracked-number operation did not happen; `str()` is a sentence for the user."""


class NumberRefused(NumberError):
    """Mike refuses it before asking Twilio (a number already tracked, a live call, …)."""


class TwilioNotConfigured(NumberError):
    """No Twilio account for the client, its agency or the platform."""


class TwilioRefused(NumberError):
    """Twilio answered with a 4xx; the message is Twilio's own."""

    def __init__(self, message: str, *, status: int, code: str = ""):
        self.status = status
        self.code = code
        super().__init__(message)


class TwilioUnavailable(NumberError):
    """Twilio answered with a 5xx, or not at all in time. Trying again later may work."""


class NumberOrphaned(NumberError):
    """Twilio bought the number but Mike could neither record it nor release it."""

    def __init__(self, message: str, *, twilio_sid: str):
        self.twilio_sid = twilio_sid
        super().__init__(message)


@dataclass(frozen=True)
class AvailableNumber:
    phone_number: str
    friendly_name: str
    locality: str
    region: str
    postal_code: str
    voice: bool
    sms: bool
    mms: bool

    @property
    def place(self) -> str:
        return ", ".join(part for part in (self.locality, self.region) if part)


# --- Twilio, and what its answers become ---------------------------------------------------------


def _client(client):
    try:
        return twilio_accounts.twilio_client_for(client)
    except twilio_accounts.TwilioNotConfigured as missing:
        raise TwilioNotConfigured(str(missing)) from missing


def _client_of(number: TrackedPhoneNumber):
    """The Twilio client on the account the number was bought on (numbers bought before that was
    recorded: the client's account now)."""
    if not number.twilio_account_sid:
        return _client(number.client)
    try:
        return twilio_accounts.twilio_client_for_account(number.twilio_account_sid, number.client)
    except twilio_accounts.TwilioNotConfigured as missing:
        raise TwilioNotConfigured(
            f"{number.phone_number} was bought on Twilio account "
            f"{number.twilio_account_sid[:6]}…, whose credentials Mike no longer has: set them "
            "again to re-point or release it."
        ) from missing


def _twilio(call, *, not_found_ok: bool = False):
    """Run `call()` against Twilio; its failures as NumberErrors. With `not_found_ok`, a 404
    answers None (the resource is already gone)."""
    from twilio.base.exceptions import TwilioException, TwilioRestException

    try:
        return call()
    except TwilioRestException as exc:
        if not_found_ok and exc.status == 404:
            return None
        if exc.status >= 500 or exc.status == 429:
            raise TwilioUnavailable(TRY_AGAIN) from exc
        # The library puts "Unable to create record: " before Twilio's own words.
        message = re.sub(r"^Unable to \w+ record: ", "", str(exc.msg or "").strip())
        message = message or "Twilio refused the request."
        raise TwilioRefused(message, status=exc.status, code=str(exc.code or "")) from exc
    except (TwilioException, OSError) as exc:
        # Connection refused, reset, or no answer within TWILIO_TIMEOUT_SECONDS.
        raise TwilioUnavailable(TRY_AGAIN) from exc


def webhook_urls() -> dict[str, str]:
    """The URLs Twilio calls for a tracked number, absolute on `SITE_URL`, as the keyword
    arguments of incoming_phone_numbers create/update."""
    base = settings.SITE_URL.rstrip("/")
    return {
        "voice_url": base + reverse("twilio-voice"),
        "voice_method": "POST",
        "status_callback": base + reverse("twilio-voice-status"),
        "status_callback_method": "POST",
        "sms_url": base + reverse("twilio-sms"),
        "sms_method": "POST",
    }


def _twilio_name(client) -> str:
    # What the number is called in Twilio's console (at most 64 characters).
    return f"Mike · {client.name}"[:64]


def tracked_number_for(phone: str) -> TrackedPhoneNumber | None:
    """The tracked number `phone` is (any form Twilio sends), with its client; None if none."""
    e164 = normalize_phone(phone)
    if not e164:
        return None
    return TrackedPhoneNumber.objects.select_related("client").filter(phone_number=e164).first()


# --- Search --------------------------------------------------------------------------------------


def search_available(
    client, area_code: str, country: str | None = None, limit: int = SEARCH_LIMIT
) -> list[AvailableNumber]:
    """Local numbers Twilio has for sale in `area_code` (of `country`, default the client's phone
    region), at most `limit`. Writes nothing. Raises NumberError."""
    area_code = (area_code or "").strip()
    if not AREA_CODE.match(area_code):
        raise NumberRefused("An area code is three digits, the first 2 to 9 (as 415).")
    country = (country or client.phone_region or "US").upper()
    limit = max(1, min(int(limit), 50))
    twilio = _client(client)
    found = _twilio(
        lambda: twilio.available_phone_numbers(country).local.list(area_code=area_code, limit=limit)
    )
    numbers = []
    for item in found:
        capabilities = {
            key.lower(): bool(value) for key, value in (item.capabilities or {}).items()
        }
        numbers.append(
            AvailableNumber(
                phone_number=item.phone_number,
                friendly_name=item.friendly_name or item.phone_number,
                locality=item.locality or "",
                region=item.region or "",
                postal_code=item.postal_code or "",
                voice=capabilities.get("voice", False),
                sms=capabilities.get("sms", False),
                mms=capabilities.get("mms", False),
            )
        )
    return numbers


# --- Buy -----------------------------------------------------------------------------------------


def _check_campaign(client, campaign) -> None:
    if campaign is None:
        return
    if campaign.client_id != client.pk:
        raise NumberRefused("That campaign is not this client's.")
    if campaign.is_closed:
        raise NumberRefused(
            f"{campaign.name} is {campaign.get_status_display().lower()}: it takes no number."
        )


def buy_number(
    client,
    phone_number: str,
    by,
    campaign=None,
    *,
    friendly_name: str = "",
    forward_to_number: str = "",
) -> TrackedPhoneNumber:
    """Buy `phone_number` on the client's Twilio account, pointed at Mike's webhooks, and track
    it: available, or assigned to `campaign` (through `assign_tracked_number`).

    Refused before Twilio is asked (NumberRefused) when the number is already tracked (a number
    the same client released earlier is taken back into its old row, so its call history stays
    with it), or the campaign is another client's or closed. Twilio's refusals and failures raise
    TwilioRefused / TwilioUnavailable with nothing written. When the row cannot be written after
    Twilio bought the number, the number is released on Twilio and NumberRefused says why; if the
    release fails too, NumberOrphaned names the SID to release by hand."""
    e164 = normalize_phone(phone_number, client.phone_region or "US")
    if not e164:
        raise NumberRefused(f"{phone_number!r} is not a phone number.")
    forward = ""
    if forward_to_number:
        forward = normalize_phone(forward_to_number, client.phone_region or "US")
        if not forward:
            raise NumberRefused(f"{forward_to_number!r} is not a phone number to forward calls to.")
    _check_campaign(client, campaign)
    existing = TrackedPhoneNumber.objects.filter(phone_number=e164).first()
    if existing is not None and not (
        existing.client_id == client.pk and existing.status == TrackedNumberStatus.DECOMMISSIONED
    ):
        raise NumberRefused(f"{e164} is already tracked in Mike.")

    twilio = _client(client)
    account_sid = twilio_accounts.credentials_for(client).account_sid
    bought = _twilio(
        lambda: twilio.incoming_phone_numbers.create(
            phone_number=e164, friendly_name=_twilio_name(client), **webhook_urls()
        )
    )
    try:
        with transaction.atomic():
            number = _record_purchase(
                client=client,
                e164=e164,
                twilio_sid=bought.sid,
                twilio_account_sid=account_sid,
                friendly_name=friendly_name,
                forward_to_number=forward,
                revive=existing,
            )
            if campaign is not None:
                # Read again under lock: the campaign may have closed while Twilio answered.
                campaign = type(campaign).objects.select_for_update().get(pk=campaign.pk)
                _check_campaign(client, campaign)
                number = assign_tracked_number(number=number, campaign=campaign, by=by)
    except Exception as exc:
        # Whatever stopped the write, the number must not stay bought and unrecorded.
        if isinstance(exc, TrackedNumberUnavailable | NumberRefused):
            reason = str(exc)
        elif isinstance(exc, IntegrityError | ValidationError):
            reason = "it was tracked meanwhile"
        else:
            reason = "its row could not be saved"
            logger.exception("Recording the bought number %s (%s) failed", e164, bought.sid)
        _release_unrecorded(twilio, bought.sid, e164, reason)
        raise NumberRefused(
            f"Mike could not record {e164} ({reason}), so it was released on Twilio again."
        ) from exc
    logger.info(
        "Tracked number %s (%s) bought for client %s by user %s",
        number.pk,
        bought.sid,
        client.pk,
        getattr(by, "pk", None),
    )
    return number


def _record_purchase(
    *, client, e164, twilio_sid, twilio_account_sid, friendly_name, forward_to_number, revive
) -> TrackedPhoneNumber:
    now = timezone.now()
    fields = {
        "twilio_sid": twilio_sid,
        "twilio_account_sid": twilio_account_sid,
        "friendly_name": friendly_name[:100],
        "forward_to_number": forward_to_number,
        "status": TrackedNumberStatus.AVAILABLE,
        "campaign": None,
        "assigned_at": None,
        "purchased_at": now,
    }
    if revive is not None:
        # Locked and checked again: it must still be this client's, still released.
        row = TrackedPhoneNumber.objects.select_for_update().get(pk=revive.pk)
        if row.client_id != client.pk or row.status != TrackedNumberStatus.DECOMMISSIONED:
            raise TrackedNumberUnavailable(row, "was tracked again meanwhile.")
        for name, value in fields.items():
            setattr(row, name, value)
        if not forward_to_number:
            row.forward_to_number = revive.forward_to_number
        row.full_clean()
        row.save()
        return row
    row = TrackedPhoneNumber(client=client, phone_number=e164, **fields)
    row.full_clean(validate_unique=False)  # the unique index decides, under concurrency too
    row.save(force_insert=True)
    return row


def _release_unrecorded(twilio, sid: str, e164: str, reason: str) -> None:
    try:
        _twilio(lambda: twilio.incoming_phone_numbers(sid).delete(), not_found_ok=True)
    except NumberError as failure:
        logger.error(
            "Twilio number %s (%s) was bought but not recorded (%s), and releasing it failed: %s. "
            "Release it in Twilio's console.",
            e164,
            sid,
            reason,
            failure,
        )
        raise NumberOrphaned(
            f"Twilio bought {e164} but Mike could not record it ({reason}) nor release it: "
            f"release number {sid} in Twilio's console.",
            twilio_sid=sid,
        ) from failure
    logger.warning("Twilio number %s (%s) released again: not recorded (%s)", e164, sid, reason)


# --- Re-point, release ---------------------------------------------------------------------------


def _bought(number: TrackedPhoneNumber) -> None:
    if not number.twilio_sid:
        raise NumberRefused(f"{number.phone_number} was not bought through Twilio by Mike.")


def update_webhooks(number: TrackedPhoneNumber) -> TrackedPhoneNumber:
    """Point the number's voice URL, status callback and SMS URL at Mike's webhooks on the
    current `SITE_URL` (after a domain change). Idempotent; writes nothing locally. Raises
    NumberError (NumberRefused for a released number or one Mike did not buy)."""
    if number.status == TrackedNumberStatus.DECOMMISSIONED:
        raise NumberRefused(f"{number.phone_number} is released.")
    _bought(number)
    twilio = _client_of(number)
    _twilio(lambda: twilio.incoming_phone_numbers(number.twilio_sid).update(**webhook_urls()))
    return number


def has_live_calls(number: TrackedPhoneNumber) -> bool:
    return CallSession.objects.filter(
        tracked_number=number, call_status__in=LIVE_CALL_STATUSES
    ).exists()


def release_number(number: TrackedPhoneNumber, by) -> TrackedPhoneNumber:
    """Give the number back to Twilio and mark it decommissioned, off its campaign. Refused
    (NumberRefused) while a call to it is ringing or in progress. Twilio's 404 (already gone)
    counts as released. A Twilio failure leaves the row as it was. Idempotent: a released number
    stays released. The row is locked for the local write only, never across Twilio's answer."""
    if number.status == TrackedNumberStatus.DECOMMISSIONED:
        return number
    if has_live_calls(number):
        raise NumberRefused(
            f"{number.phone_number} has a call on it now; release it once the call has ended."
        )
    if number.twilio_sid:
        twilio = _client_of(number)
        _twilio(
            lambda: twilio.incoming_phone_numbers(number.twilio_sid).delete(), not_found_ok=True
        )
    with transaction.atomic():
        row = TrackedPhoneNumber.objects.select_for_update().get(pk=number.pk)
        row.status = TrackedNumberStatus.DECOMMISSIONED
        row.campaign = None
        row.assigned_at = None
        row.save(update_fields=["status", "campaign", "assigned_at", "updated_at"])
    logger.info(
        "Tracked number %s (%s) released by user %s",
        row.pk,
        row.twilio_sid,
        getattr(by, "pk", None),
    )
    return row


def set_forward_to_number(
    number: TrackedPhoneNumber, forward_to_number: str, by
) -> TrackedPhoneNumber:
    """Where calls to the number are forwarded (the client's call centre), E.164; blank stops
    forwarding (callers hear that the call cannot be taken). Raises NumberRefused for something
    that is not a phone number."""
    forward = ""
    if (forward_to_number or "").strip():
        forward = normalize_phone(forward_to_number, number.client.phone_region or "US")
        if not forward:
            raise NumberRefused(f"{forward_to_number!r} is not a phone number.")
    with transaction.atomic():
        row = TrackedPhoneNumber.objects.select_for_update().get(pk=number.pk)
        if row.forward_to_number != forward:
            row.forward_to_number = forward
            row.save(update_fields=["forward_to_number", "updated_at"])
            logger.info(
                "Tracked number %s forwards to %s, set by user %s",
                row.pk,
                forward or "nobody",
                getattr(by, "pk", None),
            )
    return row
