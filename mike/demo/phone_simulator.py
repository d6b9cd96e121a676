"""Playing a recipient's phone without Twilio, so the whole reward flow can be walked locally.

Both doors to it — `manage.py play_phone` and the admin's phone simulator page — come through
here, and every action goes through the same services the Twilio webhooks and the admin call
(the reward pipeline, `mike.rewards`): a call is `handle_incoming_call` then `apply_call_status`
(as the voice webhooks would), a text is `handle_inbound_sms` (as the SMS webhook would), approval
is `approve_recipient`. Nothing here writes a model itself.

With the `twilio` SMS backend every action refuses (`SimulatorDisabled`): a simulated YES would
text a real card to a real phone.
"""

import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q

from calls import services as calls_services
from calls.models import (
    CallConditionMet,
    CallSession,
    CallStatus,
    ConditionMetSource,
    DispositionType,
    TrackedPhoneNumber,
)
from campaigns.models import CampaignCondition
from giftcards.models import RecipientGiftCard, SmsDeliveryLog
from mike.core.errors import DomainError
from mike.core.phones import normalize_phone
from mike.core.sms import backend_name
from mike.rewards import approval, conditions, inbound
from recipients import services as recipient_services
from recipients.codes import normalize_code
from recipients.models import Recipient, SmsDirection, SmsOptInLog

MAX_CALL_SECONDS = 4 * 60 * 60
MAX_TEXT_LENGTH = 1600  # Twilio's limit for one (concatenated) message
# Digits as people type phone numbers; a redemption code has letters or is matched whole.
_LOOKS_LIKE_PHONE = re.compile(r"[\d\s+().-]*\d[\d\s+().-]*")


class SimulatorError(DomainError):
    """An action the simulator cannot take; the message is meant for the person who asked."""


class SimulatorDisabled(SimulatorError):
    """The SMS backend reaches real phones."""

    def __init__(self):
        super().__init__(
            "The phone simulator is off: SMS_BACKEND is 'twilio', so it would text real phones. "
            "Use the console backend to walk the flow."
        )


def is_enabled() -> bool:
    return backend_name() != "twilio"


def _ensure_enabled() -> None:
    if not is_enabled():
        raise SimulatorDisabled()


def _phone(raw: str) -> str:
    number = normalize_phone(raw)
    if not number:
        raise SimulatorError(f"{raw or 'An empty value'!r} is not a phone number.")
    return number


# --- Actions -------------------------------------------------------------------------------------


def simulate_call(
    *,
    tracked_number: str,
    caller: str,
    duration: int = 90,
    interested: bool = False,
    agent=None,
    live: bool = False,
) -> CallSession:
    """Call `tracked_number` from `caller` and hang up after `duration` seconds; with `live`,
    stay on the line (answered, in progress) for an agent to take in the call console.

    Runs the voice webhook's services in the order Twilio calls them: the incoming call (matched to
    a recipient of the number's campaign by caller phone, or unmatched), `in-progress`, then
    `completed` with the duration, which meets the campaign's call-completed conditions. With
    `interested`, the agent (`agent`, or nobody) closes the call as "interested". Raises
    SimulatorError for a caller that is not a phone number, a number Mike does not track or a
    duration out of range — before anything is written.
    """
    _ensure_enabled()
    caller_number = _phone(caller)
    if not 0 <= duration <= MAX_CALL_SECONDS:
        raise SimulatorError(f"A call lasts between 0 and {MAX_CALL_SECONDS} seconds.")
    call_sid = f"CAsim{uuid.uuid4().hex}"
    try:
        session = calls_services.handle_incoming_call(
            call_sid=call_sid, from_number=caller_number, to_number=tracked_number
        )
    except calls_services.UnknownTrackedNumber as exc:
        raise SimulatorError(str(exc)) from exc
    conditions.apply_call_status(call_sid=call_sid, status=CallStatus.IN_PROGRESS)
    if live:
        session.refresh_from_db()
        return session
    conditions.apply_call_status(call_sid=call_sid, status=CallStatus.COMPLETED, duration=duration)
    session.refresh_from_db()
    if interested:
        conditions.record_disposition(
            call_session=session, disposition_type=DispositionType.INTERESTED, agent=agent
        )
    return session


def call_from_recipient(
    *,
    recipient: Recipient,
    duration: int = 90,
    interested: bool = False,
    agent=None,
    live: bool = False,
) -> CallSession:
    """The recipient calls the tracked number of their campaign (see `simulate_call`)."""
    tracked = tracked_number_of(recipient)
    if tracked is None:
        raise SimulatorError(f"{recipient.campaign or 'Their campaign'} has no tracked number.")
    return simulate_call(
        tracked_number=tracked.phone_number,
        caller=recipient.phone,
        duration=duration,
        interested=interested,
        agent=agent,
        live=live,
    )


def mark_next_condition_met(*, recipient: Recipient, agent=None) -> CallConditionMet:
    """Mark the recipient's next unmet condition met, as an agent would in the call console,
    whatever its trigger (a time delay is skipped rather than waited for). The latest call of the
    recipient is recorded with it. Raises SimulatorError when every condition is met."""
    _ensure_enabled()
    condition = next_condition(recipient)
    if condition is None:
        raise SimulatorError(f"{recipient} has met every condition of their campaign.")
    try:
        return conditions.mark_condition_met(
            recipient=recipient,
            condition=condition,
            source=ConditionMetSource.AGENT,
            call_session=recipient.call_sessions.order_by("-created_at").first(),
            agent=agent,
            notes="Marked in the phone simulator.",
        )
    except (ValueError, calls_services.ConditionOrderError) as exc:
        raise SimulatorError(str(exc)) from exc


def approve(*, recipient: Recipient, by=None) -> Recipient:
    """Approve the recipient as staff would in the admin (`by`: the staff user, None for the
    command line). Idempotent; raises SimulatorError for a rejected recipient."""
    _ensure_enabled()
    try:
        return approval.approve_recipient(recipient=recipient, by=by)
    except recipient_services.ApprovalError as exc:
        raise SimulatorError(str(exc)) from exc


def simulate_reply(*, phone: str, body: str) -> str:
    """Text `body` to Mike from `phone`, as the SMS webhook receives it; returns Mike's reply ("" for
    none). YES opts in and, for an approved recipient, claims and delivers the card after commit.
    Raises SimulatorError for an invalid phone or an empty or over-long message."""
    _ensure_enabled()
    number = _phone(phone)
    body = (body or "").strip()
    if not body:
        raise SimulatorError("Type the text to send.")
    if len(body) > MAX_TEXT_LENGTH:
        raise SimulatorError(f"A text is at most {MAX_TEXT_LENGTH} characters.")
    return inbound.handle_inbound_sms(
        from_number=number, body=body, message_sid=f"SMsim{uuid.uuid4().hex}"
    )


# --- Reads ---------------------------------------------------------------------------------------


def simulated_recipients():
    """Recipients who can call in: those of a campaign."""
    return Recipient.objects.filter(campaign__isnull=False).select_related(
        "campaign", "audience__client"
    )


def recipient_by_phone(phone: str) -> Recipient:
    """The most recent campaign recipient at `phone`; SimulatorError when there is none."""
    number = _phone(phone)
    recipient = simulated_recipients().filter(phone=number).order_by("-created_at").first()
    if recipient is None:
        raise SimulatorError(f"No recipient of any campaign has the phone {phone}.")
    return recipient


def search_recipients(query: str, *, limit: int = 20) -> list[Recipient]:
    """Campaign recipients whose phone or redemption code matches what was typed (any part of the
    phone's digits, or the whole code as printed); the first few when nothing was typed."""
    recipients = simulated_recipients().order_by("campaign__name", "phone")
    query = (query or "").strip()
    if query:
        match = Q(redemption_code=normalize_code(query))
        if _LOOKS_LIKE_PHONE.fullmatch(query):
            match |= Q(phone__contains=re.sub(r"\D", "", query))
        recipients = recipients.filter(match)
    return list(recipients[:limit])


def tracked_numbers():
    """The numbers a simulated call can dial: tracked numbers of a campaign."""
    return TrackedPhoneNumber.objects.filter(campaign__isnull=False).select_related("campaign")


def tracked_number_of(recipient: Recipient) -> TrackedPhoneNumber | None:
    return tracked_numbers().filter(campaign_id=recipient.campaign_id).first()


def next_condition(recipient: Recipient) -> CampaignCondition | None:
    """The lowest-numbered active condition of the recipient's campaign they have not met."""
    return (
        CampaignCondition.objects.filter(campaign_id=recipient.campaign_id, is_active=True)
        .exclude(met_by__recipient=recipient)
        .order_by("condition_number")
        .first()
    )


@dataclass(frozen=True)
class ConditionState:
    condition: CampaignCondition
    met: CallConditionMet | None
    reward: RecipientGiftCard | None
    is_next: bool


def condition_states(recipient: Recipient) -> list[ConditionState]:
    """Each active condition of the recipient's campaign, in order, with when it was met and the
    reward it earned."""
    conditions = CampaignCondition.objects.filter(
        campaign_id=recipient.campaign_id, is_active=True
    ).select_related("brand")
    met = {m.condition_id: m for m in recipient.conditions_met.all()}
    rewards = {r.condition_id: r for r in recipient.rewards.select_related("brand")}
    upcoming = next_condition(recipient)
    return [
        ConditionState(
            condition=condition,
            met=met.get(condition.pk),
            reward=rewards.get(condition.pk),
            is_next=upcoming is not None and condition.pk == upcoming.pk,
        )
        for condition in conditions.order_by("condition_number")
    ]


@dataclass(frozen=True)
class Message:
    at: datetime
    inbound: bool
    body: str
    status: str
    about: str


def conversation(phone: str, *, limit: int = 50) -> list[Message]:
    """The texts exchanged with `phone`, oldest first: the opt-in conversation (both ways) and the
    card deliveries (their codes masked, as logged)."""
    if not phone:
        return []
    opt_in = [
        Message(
            at=log.created_at,
            inbound=log.direction == SmsDirection.INBOUND,
            body=log.message_text,
            status=log.get_status_display(),
            about="opt-in",
        )
        for log in SmsOptInLog.objects.filter(phone=phone).order_by("-created_at")[:limit]
    ]
    cards = [
        Message(
            at=log.created_at,
            inbound=False,
            body=log.message_body,
            status=log.get_delivery_status_display(),
            about="gift card",
        )
        for log in SmsDeliveryLog.objects.filter(phone_number=phone).order_by("-created_at")[:limit]
    ]
    return sorted(opt_in + cards, key=lambda m: m.at)[-limit:]


def recent_calls(recipient: Recipient, *, limit: int = 5) -> list[CallSession]:
    return list(
        recipient.call_sessions.select_related("tracked_number").order_by("-created_at")[:limit]
    )
