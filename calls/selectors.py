"""Reads of the calls domain that other code shares: which condition comes before another, and
which conditions a finished call, a disposition, a CRM event or the passing of time meets; the
calls log the dashboards list."""

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce

from campaigns.models import MAILING_CAMPAIGN_STATUSES, CampaignCondition, TriggerType
from giftcards.models import RecipientGiftCard
from mike.core.phones import normalize_phone
from recipients.codes import normalize_code

from .models import (
    CallConditionMet,
    CallDisposition,
    CallSession,
    CallStatus,
    CallStep,
    ConsoleStep,
)

LIVE_CALL_STATUSES = (CallStatus.QUEUED, CallStatus.RINGING, CallStatus.IN_PROGRESS)


def previous_condition(condition: CampaignCondition) -> CampaignCondition | None:
    """The condition that must be met before `condition`: the nearest lower-numbered active one of
    the campaign (n−1 when the ladder has no gaps and nothing was switched off)."""
    return (
        CampaignCondition.objects.filter(
            campaign_id=condition.campaign_id,
            is_active=True,
            condition_number__lt=condition.condition_number,
        )
        .order_by("-condition_number")
        .first()
    )


def call_completed_conditions(session: CallSession) -> list[CampaignCondition]:
    """The active `call_completed` conditions of the caller's campaign this finished call is long
    enough for, in order (empty for an unmatched call)."""
    recipient = session.recipient
    if recipient is None or recipient.campaign_id is None:
        return []
    duration = session.call_duration_seconds
    conditions = CampaignCondition.objects.filter(
        campaign_id=recipient.campaign_id,
        is_active=True,
        trigger_type=TriggerType.CALL_COMPLETED,
    ).order_by("condition_number")
    return [
        condition
        for condition in conditions
        if condition.min_call_duration_seconds is None
        or (duration is not None and duration >= condition.min_call_duration_seconds)
    ]


def next_agent_condition(recipient) -> CampaignCondition | None:
    """The lowest-numbered active `manual_agent` condition the recipient has not met yet: what an
    agent's "interested" disposition meets."""
    if recipient is None or recipient.campaign_id is None:
        return None
    return (
        CampaignCondition.objects.filter(
            campaign_id=recipient.campaign_id,
            is_active=True,
            trigger_type=TriggerType.MANUAL_AGENT,
        )
        .exclude(met_by__recipient=recipient)
        .order_by("condition_number")
        .first()
    )


def crm_event_condition(recipient, event_name: str) -> CampaignCondition | None:
    """The recipient's campaign condition that the CRM event `event_name` meets, if any."""
    event_name = (event_name or "").strip()
    if not event_name or recipient.campaign_id is None:
        return None
    return (
        CampaignCondition.objects.filter(
            campaign_id=recipient.campaign_id,
            is_active=True,
            trigger_type=TriggerType.CRM_WEBHOOK,
            crm_event_name=event_name,
        )
        .order_by("condition_number")
        .first()
    )


def due_time_delays(now):
    """Every (time-delay condition, previous condition met) pair whose delay has passed: the
    recipient met the previous condition at least `time_delay_hours` ago and has not met this
    one. A first condition has nothing to wait after and is never due, and neither is one of a
    campaign not in production or mailed: a paused campaign's delays are met once it resumes."""
    conditions = (
        CampaignCondition.objects.filter(
            is_active=True,
            trigger_type=TriggerType.TIME_DELAY,
            campaign__status__in=MAILING_CAMPAIGN_STATUSES,
        )
        .select_related("campaign")
        .order_by("campaign_id", "condition_number")
    )
    for condition in conditions:
        previous = previous_condition(condition)
        if previous is None:
            continue
        cutoff = now - timedelta(hours=condition.time_delay_hours or 0)
        due = (
            CallConditionMet.objects.filter(condition=previous, met_at__lte=cutoff)
            .exclude(recipient__conditions_met__condition=condition)
            .select_related("recipient", "call_session")
            .order_by("met_at")
        )
        for previous_met in due.iterator():
            yield condition, previous_met


def with_log_facts(queryset):
    """`queryset` of calls with what the calls log shows: its relations joined, the latest
    disposition an agent gave (`disposition`, None without one) and how many conditions the call
    met (`conditions_met_count`), each one subquery in the same statement (indexed on the call)."""
    latest_disposition = CallDisposition.objects.filter(call_session=OuterRef("pk")).order_by(
        "-created_at"
    )
    met = (
        CallConditionMet.objects.filter(call_session=OuterRef("pk"))
        .order_by()
        .values("call_session")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return queryset.select_related("campaign", "recipient", "tracked_number", "client").annotate(
        disposition=Subquery(latest_disposition.values("disposition_type")[:1]),
        conditions_met_count=Coalesce(
            Subquery(met, output_field=IntegerField()), Value(0), output_field=IntegerField()
        ),
    )


def call_details(call: CallSession) -> dict:
    """What a call's page shows besides the call: its dispositions (newest first, with the agent)
    and the conditions it met (in order, with the condition)."""
    return {
        "dispositions": list(call.dispositions.select_related("agent").order_by("-created_at")),
        "conditions_met": list(
            call.conditions_met.select_related("condition", "met_by_agent").order_by(
                "condition_number"
            )
        ),
    }


# --- The call console ----------------------------------------------------------------------------


def live_calls(queryset):
    """The calls of `queryset` still ringing or under way and not closed by an agent, newest
    first (the console's list; the partial index `callsession_live` holds the live ones)."""
    return (
        queryset.filter(call_status__in=LIVE_CALL_STATUSES)
        # A call an agent closed in the console is done there, whatever Twilio says yet.
        .exclude(console_step=ConsoleStep.CLOSED)
        .select_related("campaign", "recipient", "tracked_number", "client", "agent")
        .order_by("-created_at")
    )


@dataclass(frozen=True)
class LadderRung:
    """One condition of a recipient's campaign as the console shows it: `state` is "met",
    "next" (the one to meet now) or "locked" (an earlier one is still open); `met` the row that
    met it and `reward` the reward it earned, when there are."""

    condition: CampaignCondition
    state: str
    met: CallConditionMet | None
    reward: RecipientGiftCard | None

    @property
    def agent_can_meet(self) -> bool:
        return self.state == "next" and self.condition.trigger_type == TriggerType.MANUAL_AGENT


def condition_ladder(recipient) -> list[LadderRung]:
    """The active conditions of the recipient's campaign in order, each met, next or locked
    (conditions are met in order), with what met them and the rewards they earned."""
    if recipient is None or recipient.campaign_id is None:
        return []
    conditions = list(
        CampaignCondition.objects.filter(campaign_id=recipient.campaign_id, is_active=True)
        .select_related("brand")
        .order_by("condition_number")
    )
    met = {
        row.condition_id: row
        for row in CallConditionMet.objects.filter(recipient=recipient).select_related(
            "met_by_agent"
        )
    }
    rewards = {
        reward.condition_id: reward
        for reward in RecipientGiftCard.objects.filter(recipient=recipient).select_related(
            "brand", "gift_card__pool"
        )
    }
    rungs, next_given = [], False
    for condition in conditions:
        if condition.pk in met:
            state = "met"
        elif not next_given:
            state, next_given = "next", True
        else:
            state = "locked"
        rungs.append(LadderRung(condition, state, met.get(condition.pk), rewards.get(condition.pk)))
    return rungs


def find_recipients(queryset, query: str, *, region: str = "US"):
    """Recipients of `queryset` whose redemption code is `query` (as a person types it: case,
    dashes and spaces forgiven) or, when it reads as a phone number, whose phone it is. At most
    ten, newest first, with their campaign."""
    query = (query or "").strip()
    if not query:
        return queryset.none()
    matches = Q(redemption_code=normalize_code(query))
    phone = normalize_phone(query, region=region)
    if phone:
        matches |= Q(phone=phone)
    return (
        queryset.filter(matches)
        .select_related("campaign", "audience__client")
        .order_by("-created_at")[:10]
    )


def call_steps(call: CallSession) -> list[CallStep]:
    """The call's step log, oldest first, with who did each step."""
    return list(call.steps.select_related("agent").order_by("created_at"))
