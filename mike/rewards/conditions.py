"""Conditions being met, whatever meets them (an agent, a finished call, a disposition, a CRM
event, time passing), and what follows: the reward the condition earns, then the recipient moved
on after commit (`approval.advance_recipient`)."""

import logging

from django.db import transaction
from django.utils import timezone

from calls import selectors as call_selectors
from calls import services as call_services
from calls.models import CallConditionMet, CallSession, ConditionMetSource, DispositionType
from calls.services import CampaignNotRunning, ConditionOrderError
from campaigns.models import (
    MAILING_CAMPAIGN_STATUSES,
    CampaignCondition,
    TriggerType,
)
from giftcards.services import ensure_reward
from mike.core.errors import DomainError
from recipients.models import Recipient

from .approval import advance_after_commit

logger = logging.getLogger(__name__)


def _meet(
    *,
    recipient: Recipient,
    condition: CampaignCondition,
    source: str,
    call_session: CallSession | None = None,
    agent=None,
    notes: str = "",
) -> tuple[CallConditionMet, bool]:
    with transaction.atomic():
        met, created = call_services.record_condition_met(
            recipient=recipient,
            condition=condition,
            source=source,
            call_session=call_session,
            agent=agent,
            notes=notes,
        )
        if created:
            # Under the recipient lock record_condition_met took: the reward and the condition
            # commit together, so a condition met always has its reward.
            ensure_reward(recipient=recipient, condition=condition)
            advance_after_commit(recipient.pk)
    return met, created


def mark_condition_met(
    *,
    recipient: Recipient,
    condition: CampaignCondition,
    source: str,
    call_session: CallSession | None = None,
    agent=None,
    notes: str = "",
) -> CallConditionMet:
    """Record that `recipient` met `condition`, with its pending reward (brand and value copied
    from the condition), audit row and event, in one transaction; after commit the recipient is
    moved on (auto-approval, the opt-in text or the claim: `approval.advance_recipient`).

    Idempotent: a second call for the same recipient and condition returns the first row and
    writes nothing. Locks the recipient row. Raises ValueError for an inactive condition or one of
    another campaign, and ConditionOrderError when the previous condition is not met yet.
    """
    met, _ = _meet(
        recipient=recipient,
        condition=condition,
        source=source,
        call_session=call_session,
        agent=agent,
        notes=notes,
    )
    return met


class ConditionRefused(DomainError):
    """The condition cannot be met as asked; the message says why."""


# A campaign's conditions are met only while its mail is out (as the console's lookups).
MEETABLE_CAMPAIGN_STATUSES = MAILING_CAMPAIGN_STATUSES


def mark_condition_met_by_api(
    *, recipient: Recipient, condition_number: int, notes: str = ""
) -> tuple[CallConditionMet, bool]:
    """Meet condition `condition_number` of the recipient's campaign for a system that knows it
    happened (a CRM, a booking tool) and says so through the API. Returns the row and whether it
    is new: a repeat returns the first row and writes nothing. Same guarantees as
    `mark_condition_met`; raises ConditionRefused (no campaign, no such active condition, a
    time-delay condition, which is Mike's own clock's to meet, or a campaign not mailed) and
    ConditionOrderError."""
    campaign = recipient.campaign
    if campaign is None:
        raise ConditionRefused("The recipient is in no campaign, so it has no conditions to meet.")
    if campaign.status not in MEETABLE_CAMPAIGN_STATUSES:
        raise ConditionRefused(
            f"The campaign is {campaign.get_status_display().lower()}: conditions are met only "
            "while it is in production or mailed."
        )
    condition = campaign.conditions.filter(
        condition_number=condition_number, is_active=True
    ).first()
    if condition is None:
        raise ConditionRefused(f"The campaign has no active condition {condition_number}.")
    if condition.trigger_type == TriggerType.TIME_DELAY:
        raise ConditionRefused(
            f"Condition {condition_number} is met by its time delay, not by a request."
        )
    return _meet(
        recipient=recipient,
        condition=condition,
        source=ConditionMetSource.API,
        notes=notes or "Marked met through the API",
    )


def mark_condition_met_by_crm_event(
    *, recipient: Recipient, event_name: str, crm_event=None
) -> CallConditionMet | None:
    """Meet the recipient's campaign condition triggered by the CRM event `event_name`; None when
    the campaign has no active condition for that event. Same guarantees as `mark_condition_met`."""
    condition = call_selectors.crm_event_condition(recipient, event_name)
    if condition is None:
        return None
    notes = f"CRM event {event_name.strip()}"
    if crm_event is not None:
        notes += f" ({crm_event.external_id or crm_event.pk})"
    return mark_condition_met(
        recipient=recipient,
        condition=condition,
        source=ConditionMetSource.CRM_WEBHOOK,
        call_session=getattr(crm_event, "call_session", None),
        notes=notes,
    )


def record_disposition(
    *,
    call_session: CallSession,
    disposition_type: str,
    agent=None,
    notes: str = "",
    follow_up_date=None,
    meet_condition: bool = True,
):
    """Record how an agent closed a call (calls.services.record_disposition).

    "interested" on a matched call meets the lowest-numbered active `manual_agent` condition the
    recipient has not met yet (unless `meet_condition` is False: the call met one already, in
    the console). When the order forbids it (an earlier condition is still open) the
    disposition is kept and the refusal logged: the agent's record of the call is never lost.
    """
    with transaction.atomic():
        disposition = call_services.record_disposition(
            call_session=call_session,
            disposition_type=disposition_type,
            agent=agent,
            notes=notes,
            follow_up_date=follow_up_date,
        )
        recipient = call_session.recipient
        if meet_condition and disposition_type == DispositionType.INTERESTED and recipient:
            condition = call_selectors.next_agent_condition(recipient)
            if condition is not None:
                try:
                    mark_condition_met(
                        recipient=recipient,
                        condition=condition,
                        source=ConditionMetSource.DISPOSITION,
                        call_session=call_session,
                        agent=agent,
                        notes=notes,
                    )
                except (ConditionOrderError, CampaignNotRunning) as exc:
                    logger.info("Disposition on %s met no condition: %s", call_session, exc)
    return disposition


def apply_call_status(**callback) -> CallSession | None:
    """Apply one Twilio call status or recording callback (calls.services.apply_call_status; same
    arguments) and, the first time the call completes, meet each `call_completed` condition it is
    long enough for, in the same transaction (the session row is locked before the recipient's,
    the calls domain's lock order). Returns the session, or None for an unknown call."""
    with transaction.atomic():
        session, completed = call_services.apply_call_status(**callback)
        if completed:
            for condition in call_selectors.call_completed_conditions(session):
                try:
                    mark_condition_met(
                        recipient=session.recipient,
                        condition=condition,
                        source=ConditionMetSource.CALL_COMPLETED,
                        call_session=session,
                    )
                except (ConditionOrderError, CampaignNotRunning) as exc:
                    logger.info(
                        "Call %s did not meet %s: %s", session.twilio_call_sid, condition, exc
                    )
    return session


def apply_time_delays(now=None) -> int:
    """Meet every active `time_delay` condition whose delay has passed since the recipient met the
    previous condition. Returns how many conditions were met. Safe to run concurrently and
    repeatedly: each mark is idempotent and locks its recipient."""
    now = now or timezone.now()
    count = 0
    for condition, previous_met in call_selectors.due_time_delays(now):
        try:
            _, created = _meet(
                recipient=previous_met.recipient,
                condition=condition,
                source=ConditionMetSource.TIME_DELAY,
                call_session=previous_met.call_session,
            )
        except (ConditionOrderError, ValueError) as exc:
            logger.warning(
                "Time delay %s not met for %s: %s", condition, previous_met.recipient_id, exc
            )
            continue
        count += created
    return count
