"""Reads of the recipients domain the dashboards share: the recipients list with each person's
latest reward and last activity, the approval queue, and one recipient's timeline (calls,
conditions met, texts, rewards, deliveries and audit rows in one list, newest first)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Exists, F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce, Greatest

from calls.models import CallConditionMet, CallSession
from campaigns.models import MAILING_CAMPAIGN_STATUSES, Campaign
from giftcards.models import GiftCardDelivery, RecipientGiftCard, SmsDeliveryLog
from mike.core.phones import normalize_phone

from .codes import normalize_code
from .models import ApprovalStatus, RecipientAuditLog, SmsDirection, SmsOptInLog

# A timeline lists at most this many rows of each kind: a recipient has a handful, and a runaway
# one (a number that texts all day) must not make the page unbounded.
TIMELINE_LIMIT_PER_KIND = 200
# Fewer digits than this is a name or a code, not a phone number.
MIN_PHONE_DIGITS = 7


def mailing_campaign_id(audience_id):
    """The id of the one campaign in production or mailed that mails the audience: the campaign
    a recipient added to the audience now belongs to. None when there is none, or several (then
    nothing says which; the recipient gets one when a campaign is named, as the API allows)."""
    ids = list(
        Campaign.objects.filter(
            audience_id=audience_id, status__in=MAILING_CAMPAIGN_STATUSES
        ).values_list("pk", flat=True)[:2]
    )
    return ids[0] if len(ids) == 1 else None


def with_list_facts(queryset):
    """`queryset` of recipients with what the list shows beside their own columns: the status of
    their latest reward (`reward_status`, None without one) and their last activity (the latest
    of their own last change and their latest call), each one subquery in the same statement."""
    latest_reward = RecipientGiftCard.objects.filter(recipient=OuterRef("pk")).order_by(
        "-created_at"
    )
    latest_call = CallSession.objects.filter(recipient=OuterRef("pk")).order_by("-created_at")
    return (
        queryset.select_related("campaign", "audience__client")
        .annotate(
            reward_status=Subquery(latest_reward.values("status")[:1]),
            last_call_at=Subquery(latest_call.values("created_at")[:1]),
        )
        .annotate(
            # Coalesce: SQLite's MAX() is NULL when any argument is (PostgreSQL skips NULLs).
            last_activity=Greatest(F("updated_at"), Coalesce(F("last_call_at"), F("updated_at")))
        )
    )


def search_recipients(queryset, term: str):
    """Recipients of `queryset` whose name, phone or code matches what a person typed.

    A name matches by parts ("ava ng" finds Ava Nguyen); a phone matches whole, in E.164 however it
    was typed; a code matches whole only, through the model's normalised lookup (a partial match
    would spell out a masked code one character at a time)."""
    term = (term or "").strip()
    if not term:
        return queryset
    name = Q()
    for part in term.split():
        name &= Q(first_name__icontains=part) | Q(last_name__icontains=part)
    found = queryset.filter(name)
    digits = sum(ch.isdigit() for ch in term)
    phone = normalize_phone(term) if digits >= MIN_PHONE_DIGITS else ""
    if phone:
        found = found | queryset.filter(phone=phone)
    if normalize_code(term):
        found = found | queryset.by_code(term)
    return found


def waiting_for_approval(queryset):
    """Recipients of `queryset` waiting for a decision: pending, with at least one condition met
    (nobody is approved before they earned something), oldest first as the queue is worked."""
    met = CallConditionMet.objects.filter(recipient=OuterRef("pk"))
    first_met = CallConditionMet.objects.filter(recipient=OuterRef("pk")).order_by("met_at")
    return (
        queryset.filter(approval_status=ApprovalStatus.PENDING)
        .filter(Exists(met))
        .select_related("campaign", "audience__client")
        .annotate(
            first_met_at=Subquery(first_met.values("met_at")[:1]),
            first_met_name=Subquery(first_met.values("condition__condition_name")[:1]),
        )
        .order_by("first_met_at", "pk")
    )


def conditions_met_of(recipient):
    return list(
        CallConditionMet.objects.filter(recipient=recipient)
        .select_related("condition__brand", "met_by_agent")
        .order_by("condition_number")
    )


# --- The timeline ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineEntry:
    """One thing that happened to a recipient. `kind` is one of call, condition, text_in,
    text_out, reward, delivery, audit; `tone` the badge's colour (ok, warn, bad, info, "")."""

    at: datetime
    kind: str
    title: str
    detail: str = ""
    tone: str = ""
    call_id: object = None


_TONES = {
    "delivered": "ok",
    "claimed": "ok",
    "sent": "info",
    "completed": "ok",
    "failed": "bad",
    "undelivered": "bad",
    "bounced": "bad",
    "rejected": "bad",
    "revoked": "bad",
    "opted_out": "bad",
    "approved": "ok",
    "opted_in": "ok",
}


def _tone(status: str) -> str:
    return _TONES.get(status, "")


def _by_recipient(model, recipient, *related, order="-created_at"):
    return list(
        model.objects.filter(recipient=recipient)
        .select_related(*related)
        .order_by(order)[:TIMELINE_LIMIT_PER_KIND]
    )


def recipient_timeline(recipient) -> list[TimelineEntry]:
    """Everything that happened to `recipient`, newest first, in one list: calls, conditions met,
    texts in and out (opt-in and card texts), rewards, card deliveries and audit rows.

    Seven queries whatever the recipient's history (one per kind, each with its relations joined),
    at most TIMELINE_LIMIT_PER_KIND rows of each kind. Texts and codes are as stored: card texts
    hold the code masked."""
    entries: list[TimelineEntry] = []

    for call in _by_recipient(CallSession, recipient, "tracked_number", "agent"):
        duration = (
            f"{call.call_duration_seconds // 60}m {call.call_duration_seconds % 60:02d}s"
            if call.call_duration_seconds is not None
            else ""
        )
        detail = " · ".join(
            part
            for part in (
                call.get_match_status_display(),
                duration,
                f"answered by {call.agent.get_short_name()}" if call.agent else "",
            )
            if part
        )
        entries.append(
            TimelineEntry(
                at=call.call_started_at or call.created_at,
                kind="call",
                title=f"Call: {call.get_call_status_display().lower()}",
                detail=detail,
                tone=_tone(call.call_status),
                call_id=call.pk,
            )
        )

    for met in _by_recipient(
        CallConditionMet, recipient, "condition", "met_by_agent", order="-met_at"
    ):
        by = f" by {met.met_by_agent.get_short_name()}" if met.met_by_agent else ""
        entries.append(
            TimelineEntry(
                at=met.met_at,
                kind="condition",
                title=f"Condition {met.condition_number} met: {met.condition.condition_name}",
                detail=f"{met.get_source_display()}{by}" + (f" · {met.notes}" if met.notes else ""),
                tone="ok",
                call_id=met.call_session_id,
            )
        )

    for text in _by_recipient(SmsOptInLog, recipient):
        incoming = text.direction == SmsDirection.INBOUND
        entries.append(
            TimelineEntry(
                at=text.created_at,
                kind="text_in" if incoming else "text_out",
                title="Text received"
                if incoming
                else f"Opt-in text {text.get_status_display().lower()}",
                detail=text.message_text
                + (f" · {text.error_message}" if text.error_message else ""),
                tone="info" if incoming else _tone(text.status),
            )
        )

    for text in _by_recipient(SmsDeliveryLog, recipient):
        entries.append(
            TimelineEntry(
                at=text.created_at,
                kind="text_out",
                title=f"Card text {text.get_delivery_status_display().lower()}",
                detail=text.message_body
                + (f" · {text.error_message}" if text.error_message else ""),
                tone=_tone(text.delivery_status),
            )
        )

    for reward in _by_recipient(RecipientGiftCard, recipient, "brand", "condition"):
        detail = reward.get_status_display()
        if reward.revoked_reason:
            detail += f" · {reward.revoked_reason}"
        entries.append(
            TimelineEntry(
                at=reward.created_at,
                kind="reward",
                title=f"Reward earned: {reward.brand.brand_name} ${reward.card_value}",
                detail=detail,
                tone=_tone(reward.status),
            )
        )

    for delivery in _by_recipient(GiftCardDelivery, recipient):
        detail = delivery.get_status_display()
        if delivery.failure_reason:
            detail += f" · {delivery.get_failure_reason_display()}"
        elif delivery.error_message:
            detail += f" · {delivery.error_message}"
        entries.append(
            TimelineEntry(
                at=delivery.created_at,
                kind="delivery",
                title=f"Card sent by {delivery.get_delivery_method_display()}",
                detail=detail,
                tone=_tone(delivery.status),
                call_id=delivery.call_session_id,
            )
        )

    for row in _by_recipient(RecipientAuditLog, recipient, "performed_by"):
        by = row.performed_by.get_short_name() if row.performed_by else "Mike"
        reason = (row.metadata or {}).get("reason", "")
        entries.append(
            TimelineEntry(
                at=row.created_at,
                kind="audit",
                title=row.get_action_display(),
                detail=f"by {by}" + (f" · {reason}" if reason else ""),
                tone=_tone(row.action),
                call_id=row.call_session_id,
            )
        )

    # Newest first; at the same instant the kinds keep the order a reader expects (the call,
    # then what it met, then what followed).
    order = {"audit": 0, "delivery": 1, "text_out": 2, "reward": 3, "text_in": 4, "condition": 5}
    entries.sort(key=lambda e: (e.at, -order.get(e.kind, 6)), reverse=True)
    return entries
