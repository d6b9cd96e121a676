"""The atomic claim of one card for one reward (`claim_card_atomic`)."""

from django.conf import settings
from django.db import IntegrityError, connection, transaction

from calls.models import ConditionMetSource
from mike import webhooks
from mike.accounts.models import Organization
from mike.core.errors import DomainError
from mike.webhooks import payloads
from mike.webhooks.catalogue import WebhookEventType

from ..models import (
    CLAIMABLE_REWARD_STATUSES,
    AssignmentSource,
    GiftCard,
    GiftCardDelivery,
    GiftCardPool,
    PurchaseMethod,
    RecipientGiftCard,
    RewardStatus,
)
from . import claim_sql
from .claim_orm import _lock_inputs_portable, _write_claim_portable
from .claim_rows import ClaimRows
from .sandbox import refuse_test_recipient

# --- Claiming a card for a reward --------------------------------------------------------------
#
# Lock order (every claim takes them in this order, so two claims never wait on each other in a
# cycle): the recipient row, the reward row, one card (SKIP LOCKED), the pool row, the credit
# account row. The recipient comes first because the approval and opt-in services lock the
# recipient and then claim its rewards; taking it first here too keeps that order everywhere.
#
# The pool row and the credit account row are hot: every claim of a client touches both. A claim
# reaches them last and holds them as briefly as a write can. On PostgreSQL the claim is two round
# trips and COMMIT: one statement that locks the recipient and the reward and reads the pools
# (claim_sql.lock_inputs), then one statement that writes every row of the claim, the two hot rows
# included, after every insert (claim_sql.write_claim); claims of one pool queue on the hot rows
# only from the end of that statement to COMMIT. The portable ORM writer (SQLite, or
# GIFTCARD_CLAIM_SQL=False) writes the hot rows last, by single UPDATEs, after every slower
# insert. The cards themselves are not hot: SKIP LOCKED hands concurrent claims different cards
# without waiting.

# Pools that may buy from the provider when they hold no card.
PROVIDER_METHODS = (PurchaseMethod.API_ONLY, PurchaseMethod.FALLBACK)

ASSIGNMENT_FOR_CONDITION_SOURCE = {
    ConditionMetSource.FORM_SUBMITTED: AssignmentSource.FORM_SUBMISSION,
    ConditionMetSource.CRM_WEBHOOK: AssignmentSource.API,
    ConditionMetSource.ADMIN: AssignmentSource.MANUAL,
}


class NoCardAvailable(DomainError):
    """The client's pool for a reward's brand and value has no available card (or no such active
    pool exists). Raised before anything was changed."""

    def __init__(self, *, client, brand, card_value, pool=None):
        self.client = client
        self.brand = brand
        self.card_value = card_value
        self.pool = pool
        self.purchase_method = pool.purchase_method if pool is not None else None
        where = f"pool {pool.pool_name}" if pool is not None else "no active pool"
        super().__init__(f"No {brand} ${card_value} gift card is available ({where}).")


class RewardNotClaimable(DomainError):
    """The reward is rejected, revoked or waiting on a provider purchase: no card is assigned."""

    def __init__(self, reward: RecipientGiftCard):
        self.reward = reward
        super().__init__(
            f"This reward is {reward.get_status_display().lower()}; no card can be assigned."
        )


def get_recipient_gift_card_for_condition(*, recipient, condition) -> RecipientGiftCard | None:
    """The recipient's reward for the condition (with its card loaded), or None."""
    return (
        RecipientGiftCard.objects.select_related("gift_card")
        .filter(recipient=recipient, condition=condition)
        .first()
    )


def ensure_reward(*, recipient, condition) -> RecipientGiftCard:
    """The recipient's reward for the condition, created `pending` (brand and value copied from
    the condition) when missing. Safe under races: the unique (recipient, condition) constraint
    decides, and the loser reads the winner's row."""
    reward = RecipientGiftCard.objects.filter(recipient=recipient, condition=condition).first()
    if reward is not None:
        return reward
    try:
        with transaction.atomic():
            return RecipientGiftCard.objects.create(
                recipient=recipient,
                condition=condition,
                campaign_id=condition.campaign_id,
                brand_id=condition.brand_id,
                card_value=condition.card_value,
            )
    except IntegrityError:
        return RecipientGiftCard.objects.get(recipient=recipient, condition=condition)


def claim_reward_card(
    *,
    recipient,
    condition,
    assignment_source: str,
    call_session,
    card_id=None,
) -> tuple[GiftCard, GiftCardDelivery | None]:
    """claim_card_atomic, also returning the delivery it queued (None when the reward already had
    its card). `card_id` claims exactly that card (a provider purchase's, see services.purchase),
    which a reward waiting on that purchase (`purchase_pending`) may take.

    Raises RefusedForTestData, having changed nothing, for a test recipient: test data never
    takes stock (its rewards are claimed in the sandbox: services.sandbox)."""
    if assignment_source not in AssignmentSource.values:
        raise ValueError(f"Unknown assignment source {assignment_source!r}.")
    refuse_test_recipient(recipient.pk, what="takes a card from stock or debits credit")
    portable = connection.vendor != "postgresql" or not settings.GIFTCARD_CLAIM_SQL
    lock = _lock_inputs_portable if portable else claim_sql.lock_inputs
    with transaction.atomic():
        inputs = lock(recipient_id=recipient.pk, condition_id=condition.pk)
        if inputs.reward is None:
            ensure_reward(recipient=recipient, condition=condition)
            inputs = lock(recipient_id=recipient.pk, condition_id=condition.pk)
        reward, pool_ids = inputs.reward, inputs.pool_ids
        if reward.gift_card_id is not None:
            return GiftCard.objects.get(pk=reward.gift_card_id), None
        settling = card_id is not None and reward.status == RewardStatus.PURCHASE_PENDING
        if reward.status not in CLAIMABLE_REWARD_STATUSES and not settling:
            raise RewardNotClaimable(reward)

        rows = ClaimRows.build(
            client_id=inputs.client_id,
            recipient_id=recipient.pk,
            phone=inputs.phone,
            email=inputs.email,
            reward=reward,
            condition_number=condition.condition_number,
            source=assignment_source,
            call_session_id=call_session.pk if call_session is not None else None,
        )
        card = None
        write = _write_claim_portable if portable else claim_sql.write_claim
        for pool_id in pool_ids:  # the oldest pool first; a pool with no card writes nothing
            card = write(rows, pool_id=pool_id, card_id=card_id)
            if card is not None:
                break
        if card is None:
            # Only stock is taken here; for api_only and fallback pools the caller
            # (mike.rewards.claims) buys from the provider (services.purchase).
            raise NoCardAvailable(
                client=Organization.objects.get(pk=inputs.client_id),
                brand=reward.brand,
                card_value=reward.card_value,
                pool=GiftCardPool.objects.get(pk=pool_ids[0]) if pool_ids else None,
            )
        webhooks.emit(
            WebhookEventType.GIFT_CARD_PROVISIONED,
            client=inputs.client_id,
            payload=lambda: payloads.provisioned(
                reward, delivery=rows.delivery, source=assignment_source
            ),
            is_test=recipient.is_test,
        )
    return card, rows.delivery


def claim_card_atomic(
    *,
    recipient,
    condition,
    assignment_source: str = AssignmentSource.CALL_CENTER,
    call_session=None,
) -> GiftCard:
    """Assign one available card of the reward's brand and value from the client's pool to the
    recipient's reward for `condition` (the reward is created pending first if missing).

    One transaction changes everything or nothing: the card (claimed, who, when, why), the reward
    (claimed, its card), the recipient's latest card, the pool counters, one ledger debit of the
    card's face value from the client's credit account, a GiftCardSale, a GiftCardAuditLog, a
    RecipientAuditLog, a `claimed` Event and a queued GiftCardDelivery. It does not queue the
    delivery task; the reward pipeline does (mike.rewards.claims), and its sweep finds the queued
    row anyway.

    Idempotent: a reward that already has a card returns that card and changes nothing. Concurrent
    claims of the same reward serialise on its row lock; concurrent claims of different rewards
    take different cards (SELECT … FOR UPDATE SKIP LOCKED).

    Raises, having changed nothing:
    - NoCardAvailable when no active pool of the client holds an available card, whatever the
      pool's purchase method: this function only takes stock. Nothing is written, not even a
      reward this call would have created. The reward pipeline then buys from the provider for
      `api_only` and `fallback` pools (services.purchase) or marks the reward awaiting stock.
    - InsufficientCredit when the client's credit does not cover the card.
    - RewardNotClaimable when the reward is rejected, revoked or has a provider purchase pending.
    """
    card, _ = claim_reward_card(
        recipient=recipient,
        condition=condition,
        assignment_source=assignment_source,
        call_session=call_session,
    )
    return card
