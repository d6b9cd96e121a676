"""Claiming every waiting reward of a recipient, and what happens when stock runs out."""

from django.db import transaction

from calls.models import CallConditionMet
from recipients.models import (
    Recipient,
    SmsOptInStatus,
)

from ..models import (
    AssignmentSource,
    GiftCardAuditLog,
    RecipientGiftCard,
    RewardStatus,
)
from .claim import (
    APPROVED_STATUSES,
    ASSIGNMENT_FOR_CONDITION_SOURCE,
    CLAIMABLE_REWARD_STATUSES,
    PROVIDER_METHODS,
    NoCardAvailable,
    RewardNotClaimable,
    _claim,
)
from .credit import InsufficientCredit


def mark_awaiting_stock(reward: RecipientGiftCard, *, reason: NoCardAvailable | None = None):
    """Move a pending reward to `awaiting_stock` after a claim found no card, write the low-stock
    audit row and, after commit, queue the staff alert task (giftcards.alerts). Only the first
    miss is recorded; a reward in any other status is left alone. Returns the reward as it now
    is."""
    with transaction.atomic():
        locked = RecipientGiftCard.objects.select_for_update().get(pk=reward.pk)
        if locked.status == RewardStatus.PENDING and locked.gift_card_id is None:
            locked.status = RewardStatus.AWAITING_STOCK
            locked.save(update_fields=["status", "updated_at"])
            pool = reason.pool if reason is not None else None
            GiftCardAuditLog.objects.create(
                client_id=locked.campaign.client_id,
                action="low_stock",
                entity_type="gift_card_pool" if pool is not None else "recipient_gift_card",
                entity_id=pool.pk if pool is not None else locked.pk,
                metadata={
                    "reward": str(locked.pk),
                    "brand": str(locked.brand_id),
                    "card_value": str(locked.card_value),
                    "purchase_method": reason.purchase_method if reason is not None else None,
                    "message": str(reason) if reason is not None else "",
                },
            )
            # Staff hear about an empty pool now rather than at the next beat; the monitor's
            # dedupe keeps repeated triggers from repeating the email.
            from ..tasks import send_stock_alerts

            transaction.on_commit(send_stock_alerts.delay, robust=True)
    reward.status = locked.status
    return locked


def _queue_delivery_task(delivery_id) -> None:
    """After commit, hand the delivery to `giftcards.tasks.deliver_gift_card`. A failure to queue
    (broker down) is logged and harmless: the row stays queued for the sweep."""
    from ..tasks import deliver_gift_card

    transaction.on_commit(lambda: deliver_gift_card.delay(str(delivery_id)), robust=True)


def claim_pending_rewards(*, recipient) -> list[RecipientGiftCard]:
    """Claim a card for every reward of the recipient still waiting for one (pending or awaiting
    stock), if the recipient is approved and opted in to SMS; otherwise do nothing. An opt-in
    older than OPT_IN_MAX_AGE_DAYS claims nothing: the recipient is asked to opt in again
    (recipients.services.reask_expired_opt_in) and the rewards wait for the new YES.

    Each reward is claimed in its own transaction (claim_card_atomic). A reward with no card in
    stock is marked awaiting stock (with a low-stock audit row); one the client's credit does not
    cover stays pending with an audit row, to be claimed again once credit is added. Each new
    delivery is queued to `giftcards.tasks.deliver_gift_card` after commit when that task exists.
    Returns the rewards this call claimed.
    """
    # Local import: recipients.services hands its claims to this module.
    from recipients.services import reask_expired_opt_in

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
            _, delivery = _claim(
                recipient=recipient,
                condition=reward.condition,
                assignment_source=source,
                call_session=how.call_session if how is not None else None,
            )
        except NoCardAvailable as exc:
            if exc.pool is not None and exc.purchase_method in PROVIDER_METHODS:
                from ..purchase import purchase_for_reward

                delivery = purchase_for_reward(reward=reward, pool=exc.pool)
                if delivery is not None:
                    _queue_delivery_task(delivery.pk)
                    reward.refresh_from_db()
                    claimed.append(reward)
                continue
            mark_awaiting_stock(reward, reason=exc)
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
        _queue_delivery_task(delivery.pk)
        reward.refresh_from_db()
        claimed.append(reward)
    return claimed
