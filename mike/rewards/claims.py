"""Claiming a card for every waiting reward of a recipient, buying one from the provider when
the pool may and holds none, and queuing each claimed card's delivery."""

import logging

from django.db import transaction

from calls.models import CallConditionMet
from giftcards.models import AssignmentSource, RecipientGiftCard, RewardStatus
from giftcards.services import (
    ASSIGNMENT_FOR_CONDITION_SOURCE,
    PROVIDER_METHODS,
    InsufficientCredit,
    NoCardAvailable,
    RewardNotClaimable,
    claim_reward_card,
    mark_awaiting_credit,
    mark_awaiting_stock,
)
from giftcards.services.purchase import purchase_for_reward
from giftcards.services.sandbox import claim_sandbox_card
from recipients.models import READY, Readiness, Recipient

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
    """Claim the recipient's waiting rewards once the caller's transaction commits. robust: a
    failure is logged, and the sweep claims them later (sweeps.claim_ready_rewards)."""

    def claim():
        claim_pending_rewards(recipient=Recipient.objects.get(pk=recipient_id))

    transaction.on_commit(claim, robust=True)


def claim_pending_rewards(*, recipient) -> list[RecipientGiftCard]:
    """Claim a card for every reward of the recipient still waiting for one (pending, or awaiting
    stock or credit), if the recipient is ready for it (Recipient.readiness: approved or
    redeemed, and opted in to texts, or reachable by email only); otherwise do nothing. An opt-in
    older than OPT_IN_MAX_AGE_DAYS claims nothing: the recipient is asked to opt in again
    (`opt_in.reask_expired_opt_in`) and the rewards wait for the new YES.

    Each reward is claimed in its own transaction (giftcards.services.claim_reward_card). A reward
    with no card in stock is bought from the provider when its pool may (`api_only`, `fallback`),
    or waits for stock (a low-stock audit row and a staff alert when it starts waiting); one the
    client's credit does not cover waits for credit (`awaiting_credit`, claimed again once credit
    is added). Each new delivery is queued after commit. Returns the rewards this call claimed.
    """
    state = Recipient.objects.get(pk=recipient.pk)
    readiness = state.readiness()
    if readiness == Readiness.OPT_IN_STALE:
        # TCPA recency: no new reward is texted on a stale opt-in.
        reask_expired_opt_in(recipient=state)
        return []
    if readiness not in READY:
        return []
    rewards = (
        RecipientGiftCard.objects.claimable()
        .filter(recipient=recipient)
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
        call_session = how.call_session if how is not None else None
        if _claim_one(reward, recipient=state, source=source, call_session=call_session):
            reward.refresh_from_db()
            claimed.append(reward)
    return claimed


def _claim_one(reward: RecipientGiftCard, *, recipient, source: str, call_session) -> bool:
    """Claim (or buy) one reward's card and queue its delivery; True when a card was claimed.
    A test recipient's reward gets its sandbox card instead (giftcards.services.sandbox)."""
    if recipient.is_test:
        try:
            _, delivery = claim_sandbox_card(
                recipient=recipient,
                condition=reward.condition,
                assignment_source=source,
                call_session=call_session,
            )
        except RewardNotClaimable:
            return False
        if delivery is None:
            return False
        queue_delivery(delivery.pk)
        return True
    try:
        _, delivery = claim_reward_card(
            recipient=recipient,
            condition=reward.condition,
            assignment_source=source,
            call_session=call_session,
        )
    except NoCardAvailable as exc:
        if exc.pool is not None and exc.purchase_method in PROVIDER_METHODS:
            outcome = purchase_for_reward(reward=reward, pool=exc.pool)
            if outcome.newly_waiting:
                queue_stock_alerts()
            delivery = outcome.delivery
        else:
            if mark_awaiting_stock(reward, reason=exc).newly_waiting:
                queue_stock_alerts()
            return False
    except InsufficientCredit as exc:
        if mark_awaiting_credit(reward, reason=exc).newly_waiting:
            queue_stock_alerts()
        return False
    except RewardNotClaimable:
        return False
    if delivery is None:
        return False  # no card after all, or another claim got there first and queued it
    queue_delivery(delivery.pk)
    return True


def claim_waiting_for_credit(*, client_id) -> int:
    """Claim the client's rewards that waited for credit, now that some was added; returns how
    many were claimed. Each recipient's claim is its own, so one that fails (logged) does not
    stop the others, and what is still not covered waits again."""
    waiting = (
        Recipient.objects.filter(
            rewards__status=RewardStatus.AWAITING_CREDIT, audience__client_id=client_id
        )
        .distinct()
        .order_by("pk")
    )
    claimed = 0
    for recipient in waiting:
        try:
            claimed += len(claim_pending_rewards(recipient=recipient))
        except Exception:  # noqa: BLE001 - one recipient's failure must not stop the others
            logger.exception("Claim for recipient %s after a credit top-up failed", recipient.pk)
    return claimed


def allocate_credit(organization, amount, *, created_by=None, description: str = ""):
    """Top up an organization's credit (giftcards.services.allocate_credit) and, for a client,
    claim after commit the rewards that waited for credit. Returns the ledger row."""
    from giftcards.services import allocate_credit as post_allocation

    with transaction.atomic():
        entry = post_allocation(
            organization, amount, created_by=created_by, description=description
        )
        if organization.is_client:
            transaction.on_commit(
                lambda: claim_waiting_for_credit(client_id=organization.pk), robust=True
            )
    return entry


def transfer_credit(*, agency, client, amount, by=None, description: str = ""):
    """Move credit from an agency to one of its clients (giftcards.services.credit.transfer_credit)
    and claim, after commit, the client's rewards that waited for credit. Returns the client's
    ledger row."""
    from giftcards.services.credit import transfer_credit as post_transfer

    with transaction.atomic():
        _, entry = post_transfer(
            agency=agency, client=client, amount=amount, by=by, description=description
        )
        transaction.on_commit(lambda: claim_waiting_for_credit(client_id=client.pk), robust=True)
    return entry
