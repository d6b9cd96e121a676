"""Claiming a card for every waiting reward of a recipient, buying one from the provider when
the pool may and holds none, and queuing each claimed card's delivery."""

import logging

from django.db import transaction

from calls.models import CallConditionMet
from giftcards.models import AssignmentSource, GiftCardAuditLog, RecipientGiftCard
from giftcards.services import (
    APPROVED_STATUSES,
    ASSIGNMENT_FOR_CONDITION_SOURCE,
    CLAIMABLE_REWARD_STATUSES,
    PROVIDER_METHODS,
    InsufficientCredit,
    NoCardAvailable,
    RewardNotClaimable,
    claim_reward_card,
    mark_awaiting_stock,
)
from giftcards.services.purchase import purchase_for_reward
from recipients.models import Recipient, SmsOptInStatus

from .opt_in import reask_expired_opt_in

logger = logging.getLogger(__name__)


def queue_delivery(delivery_id) -> None:
    """After commit, hand the delivery to `tasks.deliver_gift_card`. A failure to queue (broker
    down) is logged and harmless: the row stays queued for the sweep."""
    from .tasks import deliver_gift_card

    transaction.on_commit(lambda: deliver_gift_card.delay(str(delivery_id)), robust=True)


def queue_stock_alerts() -> None:
    """Staff hear about an empty pool now rather than at the next beat; the monitor's dedupe keeps
    repeated triggers from repeating the email."""
    from .tasks import send_stock_alerts

    transaction.on_commit(send_stock_alerts.delay, robust=True)


def claim_after_commit(recipient_id) -> None:
    def claim():
        claim_pending_rewards(recipient=Recipient.objects.get(pk=recipient_id))

    transaction.on_commit(claim, robust=True)


def claim_pending_rewards(*, recipient) -> list[RecipientGiftCard]:
    """Claim a card for every reward of the recipient still waiting for one (pending or awaiting
    stock), if the recipient is approved and opted in to SMS; otherwise do nothing. An opt-in
    older than OPT_IN_MAX_AGE_DAYS claims nothing: the recipient is asked to opt in again
    (`opt_in.reask_expired_opt_in`) and the rewards wait for the new YES.

    Each reward is claimed in its own transaction (giftcards.services.claim_reward_card). A reward
    with no card in stock is bought from the provider when its pool may (`api_only`, `fallback`),
    or marked awaiting stock (with a low-stock audit row and a staff alert); one the client's
    credit does not cover stays pending with an audit row. Each new delivery is queued after
    commit. Returns the rewards this call claimed.
    """
    state = Recipient.objects.only(
        "approval_status", "sms_opt_in_status", "sms_opt_in_response_at"
    ).get(pk=recipient.pk)
    if (
        state.approval_status not in APPROVED_STATUSES
        or state.sms_opt_in_status != SmsOptInStatus.OPTED_IN
    ):
        return []
    if not state.opt_in_is_current():
        # TCPA recency: no new reward is texted on a stale opt-in.
        reask_expired_opt_in(recipient=state)
        return []
    rewards = (
        RecipientGiftCard.objects.filter(
            recipient=recipient, status__in=CLAIMABLE_REWARD_STATUSES, gift_card__isnull=True
        )
        .select_related("condition", "campaign")
        .order_by("condition__condition_number", "created_at")
    )
    met = {
        row.condition_id: row
        for row in CallConditionMet.objects.filter(recipient=recipient).only(
            "condition_id", "call_session_id", "source"
        )
    }
    claimed = []
    for reward in rewards:
        how = met.get(reward.condition_id)
        source = AssignmentSource.CALL_CENTER
        if how is not None:
            source = ASSIGNMENT_FOR_CONDITION_SOURCE.get(how.source, source)
        try:
            _, delivery = claim_reward_card(
                recipient=recipient,
                condition=reward.condition,
                assignment_source=source,
                call_session=how.call_session if how is not None else None,
            )
        except NoCardAvailable as exc:
            if exc.pool is not None and exc.purchase_method in PROVIDER_METHODS:
                delivery = purchase_for_reward(reward=reward, pool=exc.pool)
                if delivery is not None:
                    queue_delivery(delivery.pk)
                    reward.refresh_from_db()
                    claimed.append(reward)
                continue
            if mark_awaiting_stock(reward, reason=exc).newly_waiting:
                queue_stock_alerts()
            continue
        except InsufficientCredit as exc:
            GiftCardAuditLog.objects.create(
                client_id=reward.campaign.client_id,
                action="claim_refused_insufficient_credit",
                entity_type="recipient_gift_card",
                entity_id=reward.pk,
                metadata={"card_value": str(reward.card_value), "message": str(exc)},
            )
            continue
        except RewardNotClaimable:
            continue
        if delivery is None:
            continue  # another claim got there first; it queued the delivery
        queue_delivery(delivery.pk)
        reward.refresh_from_db()
        claimed.append(reward)
    return claimed
