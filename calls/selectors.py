"""Reads of the calls domain that other code shares: which condition comes before another, and
which conditions a finished call, a disposition, a CRM event or the passing of time meets; the
calls log the dashboards list."""

from datetime import timedelta

from django.db.models import Count, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce

from campaigns.models import CampaignCondition, TriggerType

from .models import CallConditionMet, CallDisposition, CallSession


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
    one. A first condition has nothing to wait after and is never due."""
    conditions = (
        CampaignCondition.objects.filter(is_active=True, trigger_type=TriggerType.TIME_DELAY)
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
