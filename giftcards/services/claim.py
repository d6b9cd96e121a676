"""The atomic claim of one card for one reward (`claim_card_atomic`)."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from calls.models import ConditionMetSource
from campaigns.models import Event, EventSource, EventType
from mike.accounts.models import Organization
from recipients.models import (
    ApprovalStatus,
    Recipient,
    RecipientAuditAction,
    RecipientAuditLog,
)

from ..models import (
    AssignmentSource,
    CardDeliveryMethod,
    CreditTransaction,
    DeliveryStatus,
    GiftCard,
    GiftCardAuditLog,
    GiftCardDelivery,
    GiftCardPool,
    GiftCardSale,
    GiftCardStatus,
    PurchaseMethod,
    RecipientGiftCard,
    RewardStatus,
    TransactionType,
)
from . import claim_sql
from .credit import CENT, credit_account_for, post_credit

# --- Claiming a card for a reward --------------------------------------------------------------
#
# Lock order (every claim takes them in this order, so two claims never wait on each other in a
# cycle): the recipient row, the reward row, one card (SKIP LOCKED), the pool row, the credit
# account row. The recipient comes first because the approval and opt-in services lock the
# recipient and then claim its rewards; taking it first here too keeps that order everywhere.
#
# The pool row and the credit account row are hot: every claim of a client touches both. A claim
# reaches them last and holds them as briefly as a write can. On PostgreSQL the claim is two round
# trips and COMMIT: one batch that locks the recipient and the reward and reads the pools
# (claim_sql.lock_inputs), then one statement that writes every row of the claim, the two hot rows
# included (claim_sql.write_claim); claims of one pool queue on the hot rows only from that
# statement to COMMIT. The portable ORM writer (SQLite, or GIFTCARD_CLAIM_SQL=False) writes the
# hot rows last, by single UPDATEs, after every slower insert. The cards themselves are not hot:
# SKIP LOCKED hands concurrent claims different cards without waiting.

CLAIMABLE_REWARD_STATUSES = (RewardStatus.PENDING, RewardStatus.AWAITING_STOCK)
# A redeemed recipient was approved before redeeming; a later condition still earns its reward.
APPROVED_STATUSES = (ApprovalStatus.APPROVED, ApprovalStatus.REDEEMED)
COST_BASIS = Decimal("0.95")
# Pools that may buy from the provider when they hold no card.
PROVIDER_METHODS = (PurchaseMethod.API_ONLY, PurchaseMethod.FALLBACK)

EVENT_SOURCE_FOR_ASSIGNMENT = {
    AssignmentSource.CALL_CENTER: EventSource.CALL,
    AssignmentSource.LANDING_PAGE: EventSource.PURL,
    AssignmentSource.FORM_SUBMISSION: EventSource.FORM,
    AssignmentSource.API: EventSource.API,
    AssignmentSource.MANUAL: EventSource.ADMIN,
}

ASSIGNMENT_FOR_CONDITION_SOURCE = {
    ConditionMetSource.FORM_SUBMITTED: AssignmentSource.FORM_SUBMISSION,
    ConditionMetSource.CRM_WEBHOOK: AssignmentSource.API,
    ConditionMetSource.ADMIN: AssignmentSource.MANUAL,
}


class NoCardAvailable(Exception):
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


class RewardNotClaimable(Exception):
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


def _lock_card(pool_ids, card_id=None):
    """Lock the oldest available card of the pools (or exactly `card_id`), skipping cards other
    claims hold."""
    features = connection.features
    if features.has_select_for_update_skip_locked:
        cards = GiftCard.objects.select_for_update(skip_locked=True)
    else:
        # SQLite (development only) locks the whole database for a write anyway.
        cards = GiftCard.objects.select_for_update()
    cards = cards.filter(pool_id__in=pool_ids, status=GiftCardStatus.AVAILABLE)
    if card_id is not None:
        cards = cards.filter(pk=card_id)
    return cards.order_by("created_at").first()


@dataclass
class ClaimInputs:
    """What a claim reads under its locks: the recipient's addresses and client, its reward for
    the condition (brand loaded; None when missing) and the pools that may hold the card."""

    phone: str
    email: str
    client_id: object
    reward: RecipientGiftCard | None
    pool_ids: list


@dataclass
class ClaimRows:
    """Everything one claim writes, built in Python before any card is locked.

    Only what the database decides is left blank: which card (and so which pool), and the credit
    balance before and after. `attach_card` and `attach_ledger` fill those in for the portable
    writer; the PostgreSQL writer (claim_sql) computes them inside its single statement instead.
    Both write exactly these rows, so the two paths cannot drift apart.
    """

    now: datetime
    client_id: object
    recipient_id: object
    reward: RecipientGiftCard
    value: Decimal
    assignment_source: str
    call_session_id: object
    delivery: GiftCardDelivery
    card_audit: GiftCardAuditLog
    recipient_audit: RecipientAuditLog
    event: Event
    ledger: CreditTransaction
    sale: GiftCardSale

    @classmethod
    def build(
        cls,
        *,
        client_id,
        recipient_id,
        phone,
        email,
        reward,
        condition_number,
        source,
        call_session_id,
    ) -> "ClaimRows":
        now = timezone.now()
        value = reward.card_value
        method = CardDeliveryMethod.SMS if phone else CardDeliveryMethod.EMAIL
        address = phone or email
        delivery = GiftCardDelivery(
            reward_id=reward.pk,
            recipient_id=recipient_id,
            campaign_id=reward.campaign_id,
            call_session_id=call_session_id,
            condition_number=condition_number,
            delivery_method=method,
            delivery_address=address,
            status=DeliveryStatus.QUEUED,
            next_attempt_at=now,
        )
        ledger = CreditTransaction(
            transaction_type=TransactionType.PURCHASE,
            amount=-value,
            description=f"{reward.brand} ${value} gift card claimed",
            reference_type="reward",
            reference_id=reward.pk,
            metadata={},
        )
        cost = (value * COST_BASIS).quantize(CENT)
        return cls(
            now=now,
            client_id=client_id,
            recipient_id=recipient_id,
            reward=reward,
            value=value,
            assignment_source=source,
            call_session_id=call_session_id,
            delivery=delivery,
            card_audit=GiftCardAuditLog(
                client_id=client_id,
                action="card_claimed",
                entity_type="gift_card",
                changes={"status": [GiftCardStatus.AVAILABLE, GiftCardStatus.CLAIMED]},
                metadata={
                    "reward": str(reward.pk),
                    "recipient": str(recipient_id),
                    "delivery": str(delivery.pk),
                    "assignment_source": source,
                },
            ),
            recipient_audit=RecipientAuditLog(
                recipient_id=recipient_id,
                action=RecipientAuditAction.GIFT_CARD_ASSIGNED,
                call_session_id=call_session_id,
                metadata={
                    "reward": str(reward.pk),
                    "condition_number": condition_number,
                    "card_value": str(value),
                },
            ),
            event=Event(
                client_id=client_id,
                campaign_id=reward.campaign_id,
                recipient_id=recipient_id,
                event_type=EventType.CLAIMED,
                source=EVENT_SOURCE_FOR_ASSIGNMENT[source],
                event_data={
                    "reward": str(reward.pk),
                    "condition_number": condition_number,
                    "card_value": str(value),
                },
            ),
            ledger=ledger,
            sale=GiftCardSale(
                client_id=client_id,
                reward_id=reward.pk,
                quantity=1,
                price_per_card=value,
                total_amount=value,
                cost_per_card=cost,
                margin=value - cost,
                credit_transaction_id=ledger.pk,
            ),
        )

    def card_updates(self) -> dict:
        """The card's columns a claim sets (besides `status`)."""
        return {
            "claimed_at": self.now,
            "claimed_by_recipient_id": self.recipient_id,
            "claimed_by_call_session_id": self.call_session_id,
            "assignment_source": self.assignment_source,
            "assignment_campaign_id": self.reward.campaign_id,
            "assignment_condition_id": self.reward.condition_id,
            "updated_at": self.now,
        }

    def reward_updates(self) -> dict:
        """The reward's columns a claim sets (besides `gift_card`)."""
        return {
            "status": RewardStatus.CLAIMED,
            "assigned_at": self.now,
            "delivery_method": self.delivery.delivery_method,
            "delivery_address": self.delivery.delivery_address,
            "updated_at": self.now,
        }

    def attach_card(self, card: GiftCard) -> None:
        self.delivery.gift_card_id = card.pk
        self.card_audit.entity_id = card.pk
        self.card_audit.metadata["pool"] = str(card.pool_id)
        self.recipient_audit.metadata["gift_card"] = str(card.pk)
        self.event.event_data["gift_card"] = str(card.pk)
        self.sale.pool_id = card.pool_id

    def attach_ledger(self, ledger: CreditTransaction) -> None:
        self.ledger = ledger
        self.sale.credit_transaction_id = ledger.pk


def _write_claim_portable(rows: ClaimRows, *, pool_ids, card_id) -> GiftCard | None:
    """Write a claim with the ORM, a statement per row: the reference path, used on SQLite (the
    development default). None when no card is available; raises InsufficientCredit."""
    card = _lock_card(pool_ids, card_id)
    if card is None:
        return None
    for name, value in {"status": GiftCardStatus.CLAIMED, **rows.card_updates()}.items():
        setattr(card, name, value)
    card.save()
    rows.attach_card(card)
    RecipientGiftCard.objects.filter(pk=rows.reward.pk).update(
        gift_card_id=card.pk, **rows.reward_updates()
    )
    Recipient.objects.filter(pk=rows.recipient_id).update(
        gift_card_assigned_id=card.pk, updated_at=rows.now
    )
    for row in (rows.delivery, rows.card_audit, rows.recipient_audit, rows.event):
        row.save(force_insert=True)
    # The hot rows, last (see the lock-order note above).
    GiftCardPool.objects.filter(pk=card.pool_id).update(
        available_cards=F("available_cards") - 1, claimed_cards=F("claimed_cards") + 1
    )
    ledger = rows.ledger
    rows.attach_ledger(
        post_credit(
            credit_account_for(Organization.objects.get(pk=rows.client_id)),
            ledger.amount,
            transaction_type=ledger.transaction_type,
            description=ledger.description,
            reference_type=ledger.reference_type,
            reference_id=ledger.reference_id,
        )
    )
    rows.sale.save(force_insert=True)
    return card


def _claim(
    *,
    recipient,
    condition,
    assignment_source: str,
    call_session,
    card_id=None,
) -> tuple[GiftCard, GiftCardDelivery | None]:
    """claim_card_atomic's body; also returns the delivery it queued (None when the reward already
    had its card)."""
    if assignment_source not in AssignmentSource.values:
        raise ValueError(f"Unknown assignment source {assignment_source!r}.")
    portable = connection.vendor != "postgresql" or not settings.GIFTCARD_CLAIM_SQL
    lock = _lock_inputs_portable if portable else claim_sql.lock_inputs
    with transaction.atomic():
        inputs = lock(recipient_id=recipient.pk, condition_id=condition.pk)
        if inputs.reward is None:
            ensure_reward(recipient=recipient, condition=condition)
            inputs = lock(recipient_id=recipient.pk, condition_id=condition.pk)
        phone, email, client_id, reward, pool_ids = (
            inputs.phone,
            inputs.email,
            inputs.client_id,
            inputs.reward,
            inputs.pool_ids,
        )
        if reward.gift_card_id is not None:
            return GiftCard.objects.get(pk=reward.gift_card_id), None
        settling = card_id is not None and reward.status == RewardStatus.PURCHASE_PENDING
        if reward.status not in CLAIMABLE_REWARD_STATUSES and not settling:
            raise RewardNotClaimable(reward)

        rows = ClaimRows.build(
            client_id=client_id,
            recipient_id=recipient.pk,
            phone=phone,
            email=email,
            reward=reward,
            condition_number=condition.condition_number,
            source=assignment_source,
            call_session_id=call_session.pk if call_session is not None else None,
        )
        card = None
        if pool_ids:
            write = _write_claim_portable if portable else claim_sql.write_claim
            card = write(rows, pool_ids=pool_ids, card_id=card_id)
        if card is None:
            # Only stock is taken here; for api_only and fallback pools the caller
            # (claim_pending_rewards) buys from the provider (giftcards.purchase).
            raise NoCardAvailable(
                client=Organization.objects.get(pk=client_id),
                brand=reward.brand,
                card_value=reward.card_value,
                pool=GiftCardPool.objects.get(pk=pool_ids[0]) if pool_ids else None,
            )
    return card, rows.delivery


def _lock_inputs_portable(*, recipient_id, condition_id) -> ClaimInputs:
    """Lock the recipient, then its reward for the condition (None when it has none yet), and
    list the client's active pools of the reward's brand and value, oldest first, with the ORM."""
    # of=("self",): lock the recipient only, not the audience row joined in.
    phone, email, client_id = (
        Recipient.objects.select_for_update(of=("self",))
        .filter(pk=recipient_id)
        .values_list("phone", "email", "audience__client_id")
        .get()
    )
    reward = (
        RecipientGiftCard.objects.select_for_update(of=("self",))
        .select_related("brand")
        .filter(recipient_id=recipient_id, condition_id=condition_id)
        .first()
    )
    pool_ids = []
    if reward is not None:
        pool_ids = list(
            GiftCardPool.objects.filter(
                client_id=client_id,
                brand_id=reward.brand_id,
                card_value=reward.card_value,
                is_master_pool=False,
                is_active=True,
            )
            .order_by("created_at")
            .values_list("pk", flat=True)
        )
    return ClaimInputs(phone, email, client_id, reward, pool_ids)


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
    delivery task; claim_pending_rewards does, and the delivery sweep finds the queued row anyway.

    Idempotent: a reward that already has a card returns that card and changes nothing. Concurrent
    claims of the same reward serialise on its row lock; concurrent claims of different rewards
    take different cards (SELECT … FOR UPDATE SKIP LOCKED).

    Raises, having changed nothing:
    - NoCardAvailable when no active pool of the client holds an available card, whatever the
      pool's purchase method: this function only takes stock. Nothing is written, not even a
      reward this call would have created. claim_pending_rewards then buys from the provider for
      `api_only` and `fallback` pools (giftcards.purchase) or marks the reward awaiting stock.
    - InsufficientCredit when the client's credit does not cover the card.
    - RewardNotClaimable when the reward is rejected, revoked or has a provider purchase pending.
    """
    card, _ = _claim(
        recipient=recipient,
        condition=condition,
        assignment_source=assignment_source,
        call_session=call_session,
    )
    return card
