"""The call console's actions: what an agent does on a call, through the pipeline's services, each
one written to the call's step log (calls.models.CallStep) and moving the console's step on the
call (`CallSession.console_step`), so a reload or a second tab resumes where the flow stands.

The flow, one step a screen: the recipient and their conditions → consent (the opt-in text, or
delivery by email) → the next condition met → the reward → closing the call with a disposition.
The agent may go back and forth; only what the services allow happens (a condition is met once,
in order; an opt-in is texted only to a phone that may be texted).
"""

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from calls import selectors as call_selectors
from calls import services as call_services
from calls.models import (
    CallConditionMet,
    CallSession,
    ConditionMetSource,
    ConsoleStep,
    DispositionType,
    StepName,
    StepOutcome,
)
from calls.services import ConditionOrderError
from campaigns.models import CampaignStatus
from giftcards.models import RewardStatus
from giftcards.services import codes as card_codes
from mike.core import ratelimit
from mike.core.errors import DomainError
from recipients import services as recipient_services
from recipients.models import ApprovalStatus, Recipient, SmsDirection, SmsOptInLog, SmsOptInStatus

from . import conditions
from .approval import advance_after_commit
from .opt_in import queue_opt_in, reask_expired_opt_in

logger = logging.getLogger(__name__)

# A lookup is allowed only for recipients of campaigns whose mail is out (or about to be).
LOOKUP_CAMPAIGN_STATUSES = (CampaignStatus.IN_PRODUCTION, CampaignStatus.MAILED)
# A resend this soon after the last opt-in text is a double click, not a second ask.
RESEND_PAUSE = timedelta(seconds=30)


class ConsoleRefused(DomainError):
    """The console cannot do what the agent asked; `str()` says why, in plain words."""


@dataclass
class Lookup:
    """What a lookup found: the recipients the agent may work with, those of campaigns not open
    for calls (each with the reason), and a message when nothing was found or the agent is going
    too fast."""

    query: str
    found: list = field(default_factory=list)
    refused: list = field(default_factory=list)
    message: str = ""


def lookup(*, call_session: CallSession, agent, recipients, query: str) -> Lookup:
    """Look up recipients by redemption code or phone among `recipients` (the agent's reach:
    another client's recipient is simply not found), at most `CONSOLE_LOOKUP_RATE` per agent
    (about 20 a minute). A recipient whose campaign is not in production or mailed is refused
    with the reason. Logged on the call."""
    query = (query or "").replace("\x00", "").strip()[:64]
    result = Lookup(query=query)
    if not query:
        result.message = "Type a redemption code or a phone number."
        return result
    reservation = ratelimit.reserve(
        group="console-lookup", key=str(agent.pk), rate=settings.CONSOLE_LOOKUP_RATE
    )
    if reservation.exceeded:
        result.message = "Too many lookups in a minute. Wait a moment and try again."
        call_services.log_step(
            call_session, StepName.LOOKUP, StepOutcome.FAILED, agent=agent, detail="rate limited"
        )
        return result
    region = call_session.client.phone_region or "US"
    for recipient in call_selectors.find_recipients(recipients, query, region=region):
        campaign = recipient.campaign
        if campaign is None:
            result.refused.append((recipient, "is not on any campaign"))
        elif campaign.status not in LOOKUP_CAMPAIGN_STATUSES:
            result.refused.append(
                (
                    recipient,
                    f"belongs to {campaign.name}, which is "
                    f"{campaign.get_status_display().lower()}: lookups are open only while a "
                    "campaign is in production or mailed",
                )
            )
        else:
            result.found.append(recipient)
    if not result.found and not result.refused:
        result.message = f"No recipient found for “{query}”."
    outcome = StepOutcome.SUCCEEDED if result.found else StepOutcome.FAILED
    call_services.log_step(
        call_session,
        StepName.LOOKUP,
        outcome,
        agent=agent,
        detail=f"{len(result.found)} found, {len(result.refused)} refused",
    )
    return result


def attach(*, call_session: CallSession, agent, recipient: Recipient) -> CallSession:
    """Attach the call to a recipient the agent found (calls.services.attach_recipient); the
    recipient's campaign must be open for calls. Raises ConsoleRefused with the reason."""
    campaign = recipient.campaign
    if campaign is None or campaign.status not in LOOKUP_CAMPAIGN_STATUSES:
        raise ConsoleRefused("That recipient's campaign is not taking calls.")
    try:
        return call_services.attach_recipient(
            call_session=call_session, recipient=recipient, agent=agent
        )
    except call_services.AttachRefused as exc:
        call_services.log_step(
            call_session, StepName.ATTACH, StepOutcome.FAILED, agent=agent, detail=str(exc)
        )
        raise ConsoleRefused(str(exc)) from exc


def open_call(*, call_session: CallSession, agent) -> bool:
    """The agent opens the call: the first to open it takes it (calls.services.open_call)."""
    return call_services.open_call(call_session=call_session, agent=agent)


def _recipient_of(call_session: CallSession) -> Recipient:
    """The call's recipient, for an action on an open call."""
    if call_session.console_step == ConsoleStep.CLOSED:
        raise ConsoleRefused("This call is closed.")
    if call_session.recipient_id is None:
        raise ConsoleRefused("Find the caller first: this call is not matched to a recipient.")
    recipient = Recipient.objects.select_related("audience__client", "campaign").get(
        pk=call_session.recipient_id
    )
    campaign = recipient.campaign
    if campaign is None or campaign.status not in LOOKUP_CAMPAIGN_STATUSES:
        status = campaign.get_status_display().lower() if campaign else "on no campaign"
        raise ConsoleRefused(
            f"The caller's campaign is {status}: the console works only campaigns in "
            "production or mailed."
        )
    return recipient


def _refuse(call_session, step, agent, message):
    call_services.log_step(call_session, step, StepOutcome.FAILED, agent=agent, detail=message)
    raise ConsoleRefused(message)


def go_to(*, call_session: CallSession, agent, step: str) -> None:
    """Move the console to `step` (the agent's "next"/"back"); the step shown is logged as
    started. A step past the recipient needs a matched caller."""
    if step not in ConsoleStep.values or step == ConsoleStep.CLOSED:
        raise ConsoleRefused("There is no such step.")
    if call_session.console_step == ConsoleStep.CLOSED:
        raise ConsoleRefused("This call is closed.")
    if step not in (ConsoleStep.RECIPIENT, ConsoleStep.CLOSE) and call_session.recipient_id is None:
        raise ConsoleRefused("Find the caller first: this call is not matched to a recipient.")
    if call_session.console_step == step:
        return
    call_services.move_console_step(call_session=call_session, step=step)
    logged = {
        ConsoleStep.RECIPIENT: StepName.RECIPIENT,
        ConsoleStep.CONSENT: StepName.CONSENT,
        ConsoleStep.CONDITION: StepName.CONDITION,
        ConsoleStep.REWARD: StepName.REWARD,
        ConsoleStep.CLOSE: StepName.DISPOSITION,
    }[step]
    call_services.log_step(call_session, logged, StepOutcome.STARTED, agent=agent)


def send_opt_in(*, call_session: CallSession, agent, resend: bool = False) -> str:
    """Text the recipient the opt-in question now, from the call (a recipient awaiting approval
    may be asked, as they agree on the phone); `resend` sends it again. Returns what to tell the
    agent; raises ConsoleRefused when the recipient cannot be texted."""
    recipient = _recipient_of(call_session)
    status = recipient.sms_opt_in_status
    if not recipient.phone:
        _refuse(call_session, StepName.OPT_IN_SENT, agent, "The recipient has no phone to text.")
    if recipient.approval_status == ApprovalStatus.REJECTED:
        _refuse(call_session, StepName.OPT_IN_SENT, agent, "The recipient was rejected.")
    if status == SmsOptInStatus.OPTED_OUT:
        _refuse(
            call_session,
            StepName.OPT_IN_SENT,
            agent,
            "The recipient opted out of texts: they can text START to the number to come back.",
        )
    if status == SmsOptInStatus.OPTED_IN and recipient.opt_in_is_current():
        call_services.log_step(
            call_session,
            StepName.OPT_IN_SENT,
            StepOutcome.SKIPPED,
            agent=agent,
            detail="already opted in",
        )
        return "The recipient is opted in already: nothing to send."
    if status == SmsOptInStatus.OPTED_IN:
        # An opt-in too old to text a new card on (TCPA recency): asked again, once.
        asked = reask_expired_opt_in(recipient=recipient)
        call_services.log_step(
            call_session,
            StepName.OPT_IN_SENT,
            StepOutcome.SUCCEEDED if asked else StepOutcome.SKIPPED,
            agent=agent,
            detail="opt-in expired: asked again" if asked else "asked again already",
        )
        return "Their opt-in had expired: asked again. Ask the caller to reply YES."
    just_sent = SmsOptInLog.objects.filter(
        recipient=recipient,
        direction=SmsDirection.OUTBOUND,
        created_at__gte=timezone.now() - RESEND_PAUSE,
    ).exclude(message_sid="")
    if resend and just_sent.exists():
        _refuse(
            call_session,
            StepName.OPT_IN_SENT,
            agent,
            "The opt-in text went out moments ago: give it a minute before resending.",
        )
    force = resend or status == SmsOptInStatus.FAILED
    with transaction.atomic():
        queued = queue_opt_in(recipient=recipient, force=force, call_session=call_session)
        if not queued:
            _refuse(call_session, StepName.OPT_IN_SENT, agent, "The opt-in text cannot be sent.")
        call_services.log_step(
            call_session,
            StepName.OPT_IN_SENT,
            StepOutcome.SUCCEEDED,
            agent=agent,
            detail="resent" if resend else "sent",
        )
    return "Opt-in text on its way. Ask the caller to reply YES."


def choose_email(*, call_session: CallSession, agent) -> str:
    """Deliver the recipient's cards by email instead of text (no SMS consent is needed then);
    the recipient must have an email address. Idempotent."""
    recipient = _recipient_of(call_session)
    if not recipient.email:
        _refuse(call_session, StepName.EMAIL_CHOSEN, agent, "The recipient has no email address.")
    with transaction.atomic():
        changed = recipient_services.choose_email_delivery(
            recipient=recipient, by=agent, call_session=call_session
        )
        call_services.log_step(
            call_session,
            StepName.EMAIL_CHOSEN,
            StepOutcome.SUCCEEDED if changed else StepOutcome.SKIPPED,
            agent=agent,
            detail=recipient.email,
        )
        if changed:
            # A reward already waiting for the opt-in can go by email now.
            advance_after_commit(recipient.pk)
    return f"Cards will be emailed to {recipient.email}."


def meet_next_condition(*, call_session: CallSession, agent, condition_id) -> str:
    """Meet the condition the agent picked, which must be the recipient's next one in order and
    one an agent marks (`manual_agent`), through the pipeline (`conditions.mark_condition_met`:
    once per recipient and condition, however many agents press at once). Returns what
    happened."""
    recipient = _recipient_of(call_session)
    ladder = call_selectors.condition_ladder(recipient)
    rung = next((r for r in ladder if str(r.condition.pk) == str(condition_id)), None)
    if rung is None:
        _refuse(call_session, StepName.CONDITION, agent, "That condition is not this campaign's.")
    if rung.state == "met":
        call_services.log_step(
            call_session,
            StepName.CONDITION,
            StepOutcome.SKIPPED,
            agent=agent,
            detail=f"condition {rung.condition.condition_number} met already",
        )
        return f"Condition {rung.condition.condition_number} was met already."
    if not rung.agent_can_meet:
        reason = (
            "Conditions are met in order: an earlier one is still open."
            if rung.state == "locked"
            else f"Condition {rung.condition.condition_number} is met by "
            f"{rung.condition.get_trigger_type_display().lower()}, not by an agent."
        )
        _refuse(call_session, StepName.CONDITION, agent, reason)
    try:
        with transaction.atomic():
            # The call's row before the recipient's (the calls domain's lock order): an attach
            # to someone else cannot slip in between this check and the condition met.
            locked = CallSession.objects.select_for_update().get(pk=call_session.pk)
            if locked.recipient_id != recipient.pk:
                raise ConsoleRefused("The call was attached to someone else meanwhile.")
            met = conditions.mark_condition_met(
                recipient=recipient,
                condition=rung.condition,
                source=ConditionMetSource.AGENT,
                call_session=locked,
                agent=agent,
            )
    except (ConditionOrderError, ValueError) as exc:
        _refuse(call_session, StepName.CONDITION, agent, str(exc))
    mine = met.call_session_id == call_session.pk and met.met_by_agent_id == agent.pk
    call_services.log_step(
        call_session,
        StepName.CONDITION,
        StepOutcome.SUCCEEDED if mine else StepOutcome.SKIPPED,
        agent=agent,
        detail=f"condition {met.condition_number}" + ("" if mine else " met meanwhile"),
    )
    call_services.move_console_step(call_session=call_session, step=ConsoleStep.REWARD)
    return f"Condition {met.condition_number} met."


def reveal_code(*, call_session: CallSession, agent, reward) -> str:
    """The full code of the reward's card, for the agent to read to the caller, where the client
    allows it; each reveal is audited (giftcards.services.codes.reveal_code_on_call) and logged
    on the call. Raises ConsoleRefused."""
    _recipient_of(call_session)
    if (
        reward.recipient_id != call_session.recipient_id
        or reward.gift_card_id is None
        or reward.status not in (RewardStatus.CLAIMED, RewardStatus.DELIVERED)
    ):
        _refuse(call_session, StepName.CODE_REVEALED, agent, "That reward has no card to show.")
    try:
        code = card_codes.reveal_code_on_call(
            card=reward.gift_card, by=agent, call_session=call_session
        )
    except card_codes.CodeRevealRefused as exc:
        _refuse(call_session, StepName.CODE_REVEALED, agent, str(exc))
    call_services.log_step(
        call_session,
        StepName.CODE_REVEALED,
        StepOutcome.SUCCEEDED,
        agent=agent,
        detail=reward.gift_card.masked_code,
    )
    return code


def close_call(
    *, call_session: CallSession, agent, disposition_type: str, notes: str = "", follow_up_date=None
):
    """Close the call with a disposition and notes (conditions.record_disposition: "interested"
    meets the next agent condition). "Do not call" also stops every further text to the
    recipient (an opt-out on their request). The console shows the call as closed after; a call
    is closed once (ConsoleRefused the second time)."""
    if disposition_type not in DispositionType.values:
        raise ConsoleRefused("Pick how the call ended.")
    if disposition_type == DispositionType.CALLBACK_REQUESTED and follow_up_date is None:
        raise ConsoleRefused("A call back needs the day to call back on.")
    with transaction.atomic():
        # The call's row first (the calls domain's lock order): a double click, or a second
        # tab, finds the call closed and records nothing twice.
        locked = CallSession.objects.select_for_update().get(pk=call_session.pk)
        if locked.console_step == ConsoleStep.CLOSED:
            raise ConsoleRefused("This call is closed already.")
        # "Interested" meets the next agent condition only on a call that met none yet: a call
        # whose condition the agent marked in the console earns that one reward, not two.
        met_here = CallConditionMet.objects.filter(call_session=locked).exists()
        disposition = conditions.record_disposition(
            call_session=locked,
            disposition_type=disposition_type,
            agent=agent,
            notes=notes,
            follow_up_date=follow_up_date,
            meet_condition=not met_here,
        )
        if disposition_type == DispositionType.DO_NOT_CALL and locked.recipient_id:
            recipient_services.opt_out_on_request(
                recipient=locked.recipient,
                by=agent,
                reason="do_not_call",
                call_session=call_session,
            )
        call_services.log_step(
            call_session,
            StepName.DISPOSITION,
            StepOutcome.SUCCEEDED,
            agent=agent,
            detail=disposition.get_disposition_type_display(),
        )
        call_services.move_console_step(call_session=call_session, step=ConsoleStep.CLOSED)
    return disposition
