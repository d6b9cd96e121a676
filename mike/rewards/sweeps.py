"""The periodic sweep: whatever should have happened but did not (a dead worker, a broker
outage, a lost message, a web process that died after its commit) or can happen now (credit was
added, stock arrived) is moved on again.

Every row a reward can wait in has an owner here:

| waits in                                   | moved on by                                      |
|--------------------------------------------|--------------------------------------------------|
| delivery queued, or failed with a retry due | a task queued once per DELIVERY_STUCK_MINUTES   |
| delivery sending, its lease lapsed         | counted as a failed attempt, then retried        |
| recipient pending, client auto-approves    | approved (a reward is waiting)                   |
| approved, opt-in text never sent (or its   | the opt-in text (an attempt whose outcome is     |
| attempt's worker died mid-send)            | unknown asks Twilio first: request_opt_in)       |
| opt-in expired, re-ask never sent          | the re-ask                                       |
| reward pending, awaiting stock or credit,  | the claim (bought from the provider when the     |
| recipient ready                            | pool may, and stock or credit may have arrived)  |
| provider purchase pending                  | asked again with the same key                    |

Each step runs on its own, and each row in it too: one that fails is logged and the sweep goes on.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from giftcards.models import RecipientGiftCard
from giftcards.services.purchase import settle_pending_purchases
from giftcards.services.retries import deliveries_to_requeue
from recipients.models import REWARDABLE_APPROVALS, ApprovalStatus, Recipient, SmsOptInStatus

from .approval import advance_recipient
from .claims import claim_pending_rewards, queue_delivery, queue_stock_alerts

logger = logging.getLogger(__name__)

BATCH = 500


def _waiting_reward():
    return Exists(RecipientGiftCard.objects.claimable().filter(recipient=OuterRef("pk")))


def requeue_deliveries(now, stale) -> int:
    from .tasks import deliver_gift_card

    ids = deliveries_to_requeue(now)
    for pk in ids:
        deliver_gift_card.delay(str(pk))
    return len(ids)


def approve_automatically(now, stale) -> int:
    """Recipients of clients that approve automatically, left pending with a reward waiting (the
    step after their condition was met did not run)."""
    pending = (
        Recipient.objects.filter(
            _waiting_reward(),
            approval_status=ApprovalStatus.PENDING,
            audience__client__auto_approve_recipients=True,
            updated_at__lt=stale,
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:BATCH]
    )
    return _each(advance_recipient, list(pending))


def send_missing_opt_ins(now, stale) -> int:
    from .tasks import send_opt_in_sms

    never_asked = (
        Recipient.objects.filter(
            _waiting_reward(),
            approval_status__in=REWARDABLE_APPROVALS,
            sms_opt_in_status=SmsOptInStatus.NOT_SENT,
            approved_at__lt=stale,
        )
        .exclude(phone="")
        .values_list("pk", flat=True)[:BATCH]
    )
    ids = [str(pk) for pk in never_asked]
    for pk in ids:
        send_opt_in_sms.delay(pk)
    return len(ids)


def send_missing_reasks(now, stale) -> int:
    """Re-asks of an expired opt-in whose text never left: back to pending, but no opt-in text
    sent since their last reply (a recipient who was asked and has not answered is left alone)."""
    from .tasks import send_opt_in_sms

    reasks = (
        Recipient.objects.filter(
            sms_opt_in_status=SmsOptInStatus.PENDING,
            sms_opt_in_response_at__isnull=False,
            updated_at__lt=stale,
        )
        .filter(
            Q(sms_opt_in_sent_at__isnull=True)
            | Q(sms_opt_in_sent_at__lt=F("sms_opt_in_response_at"))
        )
        .values_list("pk", flat=True)[:BATCH]
    )
    ids = [str(pk) for pk in reasks]
    for pk in ids:
        send_opt_in_sms.delay(pk, reask=True)
    return len(ids)


def claim_ready_rewards(now, stale) -> int:
    """Every reward still owed a card whose recipient is ready for it (or opted in long ago, to be
    asked again): claimed, bought, or left waiting for stock or credit that has not come yet. The
    oldest-untouched first, so a batch that cannot be claimed does not hide the rest."""
    opted_in_once = Q(sms_opt_in_status=SmsOptInStatus.OPTED_IN)
    ready = Recipient.objects.ready_for_reward(now) | Recipient.objects.filter(
        opted_in_once, approval_status__in=REWARDABLE_APPROVALS
    )
    rewards = (
        RecipientGiftCard.objects.claimable()
        .filter(recipient__in=ready.values("pk"))
        .order_by("updated_at")
        .values_list("recipient_id", flat=True)[: BATCH * 4]
    )
    recipients = list(dict.fromkeys(rewards))[:BATCH]
    return _each(
        lambda pk: claim_pending_rewards(recipient=Recipient.objects.get(pk=pk)), recipients
    )


def settle_purchases(now, stale) -> int:
    settled = 0
    for outcome in settle_pending_purchases():
        if outcome.delivery is not None:
            queue_delivery(outcome.delivery.pk)
        if outcome.newly_waiting:
            queue_stock_alerts()
        settled += outcome.settled
    return settled


def _each(step, items) -> int:
    """Run `step` on each item; one that raises is logged and skipped. Returns how many ran."""
    done = 0
    for item in items:
        try:
            step(item)
        except Exception:  # noqa: BLE001 - one bad row must never stop the sweep
            logger.exception("Sweep step %s failed for %s", getattr(step, "__name__", step), item)
            continue
        done += 1
    return done


STEPS = {
    "deliveries": requeue_deliveries,
    "auto_approved": approve_automatically,
    "opt_ins": send_missing_opt_ins,
    "reasks": send_missing_reasks,
    "claims": claim_ready_rewards,
    "purchases_settled": settle_purchases,
}


def sweep_stuck_work() -> dict:
    """Run every step (see the module's docstring). Safe to run any time and concurrently: every
    step is idempotent and takes its rows under their own locks. A step that fails is logged and
    reported as None; the others run all the same."""
    now = timezone.now()
    stale = now - timedelta(minutes=settings.DELIVERY_STUCK_MINUTES)
    summary = {}
    for name, step in STEPS.items():
        try:
            summary[name] = step(now, stale)
        except Exception:  # noqa: BLE001 - one step's failure must not stop the others
            logger.exception("Sweep step %s failed", name)
            summary[name] = None
    if any(summary.values()):
        logger.info("Sweep moved on %s", summary)
    return summary
