"""Gift card services: the credit ledger, pool inventory and the atomic claim of a card.

Every function that changes a balance or a pool counter locks that row (`SELECT … FOR UPDATE`)
inside the caller's transaction and writes its ledger or audit row in the same transaction, so a
balance can always be recomputed from its ledger and a counter from its cards.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from calls.models import CallConditionMet, ConditionMetSource
from campaigns.events import record_event
from campaigns.models import EventSource, EventType
from mike.accounts.models import Organization, OrganizationKind
from recipients.models import (
    ApprovalStatus,
    Recipient,
    RecipientAuditAction,
    RecipientAuditLog,
    SmsOptInStatus,
)

from .crypto import code_hash
from .models import (
    AssignmentSource,
    CardDeliveryMethod,
    CardSource,
    CreditAccount,
    CreditEntityType,
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

CENT = Decimal("0.01")


class InsufficientCredit(Exception):
    """A debit would take an account below zero; nothing was changed."""

    def __init__(self, account: CreditAccount, amount: Decimal):
        self.account = account
        self.amount = amount
        super().__init__(
            f"{account} holds ${account.balance}, less than the ${-amount} this needs."
        )


def _money(amount) -> Decimal:
    if isinstance(amount, float):
        raise TypeError("Money must be a Decimal or a string, never a float.")
    return Decimal(amount).quantize(CENT)


def credit_account_for(organization: Organization) -> CreditAccount:
    """The organization's credit account, made (empty) on first use."""
    entity_type = (
        CreditEntityType.AGENCY
        if organization.kind == OrganizationKind.AGENCY
        else CreditEntityType.CLIENT
    )
    account, _ = CreditAccount.objects.get_or_create(
        organization=organization, defaults={"entity_type": entity_type}
    )
    return account


@transaction.atomic
def post_credit(
    account: CreditAccount,
    amount,
    *,
    transaction_type: str,
    description: str = "",
    reference_type: str = "",
    reference_id=None,
    created_by=None,
    metadata: dict | None = None,
) -> CreditTransaction:
    """Add `amount` (negative for a debit) to the account and write its ledger row.

    The account row is the hot row: it is locked only for the read-modify-write of the balance and
    the insert of one ledger row, nothing slower, so concurrent posts queue briefly instead of
    deadlocking. A debit past zero raises InsufficientCredit and changes nothing.
    """
    amount = _money(amount)
    locked = CreditAccount.objects.select_for_update().get(pk=account.pk)
    before = locked.balance
    after = before + amount
    if after < 0:
        raise InsufficientCredit(locked, amount)
    CreditAccount.objects.filter(pk=locked.pk).update(balance=after)
    account.balance = after
    return CreditTransaction.objects.create(
        account=locked,
        transaction_type=transaction_type,
        amount=amount,
        balance_before=before,
        balance_after=after,
        description=description,
        reference_type=reference_type,
        reference_id=reference_id,
        created_by=created_by,
        metadata=metadata or {},
    )


def allocate_credit(
    organization: Organization, amount, *, created_by=None, description: str = ""
) -> CreditTransaction:
    """Credit an organization's account (platform staff topping up a client or agency)."""
    amount = _money(amount)
    if amount <= 0:
        raise ValueError("An allocation must be a positive amount.")
    return post_credit(
        credit_account_for(organization),
        amount,
        transaction_type=TransactionType.ALLOCATION,
        description=description or "Credit allocated",
        created_by=created_by,
    )


@dataclass(frozen=True)
class CardImportResult:
    added: int
    duplicates: list[str]
    invalid: list[str]


def add_cards_to_pool(
    pool: GiftCardPool,
    codes: Iterable[str],
    *,
    uploaded_by=None,
    source: str = CardSource.CSV,
) -> CardImportResult:
    """Add cards with the given codes to the pool: stored encrypted, counted, audited.

    A code already in any pool (same keyed hash), repeated in the batch, or blank is reported and
    skipped; the rest are added in one transaction together with the counter update.
    """
    seen: set[str] = set()
    cards: list[GiftCard] = []
    duplicates: list[str] = []
    invalid: list[str] = []
    for raw in codes:
        code = (raw or "").strip()
        if not code:
            invalid.append(raw or "")
            continue
        digest = code_hash(code)
        if digest in seen:
            duplicates.append(code)
            continue
        seen.add(digest)
        card = GiftCard(
            pool=pool,
            brand_id=pool.brand_id,
            card_value=pool.card_value,
            source=source,
            uploaded_by=uploaded_by,
        )
        card.set_code(code)
        cards.append(card)

    existing = set(
        GiftCard.objects.filter(code_hash__in=[c.code_hash for c in cards]).values_list(
            "code_hash", flat=True
        )
    )
    if existing:
        duplicates += [c.code for c in cards if c.code_hash in existing]
        cards = [c for c in cards if c.code_hash not in existing]

    with transaction.atomic():
        try:
            GiftCard.objects.bulk_create(cards, batch_size=1000)
        except IntegrityError as exc:
            # Another upload added one of these codes between our check and the insert.
            raise ValueError("A code in this batch was added concurrently; upload again.") from exc
        GiftCardPool.objects.filter(pk=pool.pk).update(
            total_cards=F("total_cards") + len(cards),
            available_cards=F("available_cards") + len(cards),
        )
        GiftCardAuditLog.objects.create(
            client_id=pool.client_id,
            action="cards_added",
            entity_type="gift_card_pool",
            entity_id=pool.pk,
            user=uploaded_by,
            changes={"added": len(cards)},
            metadata={"duplicates": len(duplicates), "invalid": len(invalid), "source": source},
        )
    pool.refresh_from_db(fields=["total_cards", "available_cards"])
    return CardImportResult(added=len(cards), duplicates=duplicates, invalid=invalid)


# --- Claiming a card for a reward --------------------------------------------------------------
#
# Lock order (every claim takes them in this order, so two claims never wait on each other in a
# cycle): the recipient row, the reward row, one card (SKIP LOCKED), the pool row, the credit
# account row. The recipient comes first because the approval and opt-in services lock the
# recipient and then claim its rewards; taking it first here too keeps that order everywhere.
#
# The pool row and the credit account row are hot: every claim of a client touches both. They are
# written last, by single UPDATEs (an F() expression for the pool counters, post_credit's short
# read-modify-write for the balance), after every slower insert of the claim, so each claim holds
# them only for those two statements, one ledger insert and the sale insert before COMMIT; claims
# for the same pool queue on them for that instant instead of for the whole transaction. The cards
# themselves are not hot: SKIP LOCKED hands concurrent claims different cards without waiting.

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


def _claim(
    *, recipient, condition, assignment_source: str, call_session, card_id=None
) -> tuple[GiftCard, GiftCardDelivery | None]:
    """claim_card_atomic's body; also returns the delivery it queued (None when the reward already
    had its card)."""
    if assignment_source not in AssignmentSource.values:
        raise ValueError(f"Unknown assignment source {assignment_source!r}.")
    with transaction.atomic():
        # of=("self",): lock the recipient only, not the audience and client rows joined in.
        recipient = (
            Recipient.objects.select_for_update(of=("self",))
            .select_related("audience__client")
            .get(pk=recipient.pk)
        )
        reward_id = ensure_reward(recipient=recipient, condition=condition).pk
        reward = RecipientGiftCard.objects.select_for_update().get(pk=reward_id)
        if reward.gift_card_id is not None:
            return GiftCard.objects.get(pk=reward.gift_card_id), None
        settling = card_id is not None and reward.status == RewardStatus.PURCHASE_PENDING
        if reward.status not in CLAIMABLE_REWARD_STATUSES and not settling:
            raise RewardNotClaimable(reward)

        client = recipient.audience.client
        pools = list(
            GiftCardPool.objects.filter(
                client=client,
                brand_id=reward.brand_id,
                card_value=reward.card_value,
                is_master_pool=False,
                is_active=True,
            ).order_by("created_at")
        )
        card = _lock_card([p.pk for p in pools], card_id) if pools else None
        if card is None:
            # Only stock is taken here; for api_only and fallback pools the caller
            # (claim_pending_rewards) buys from the provider (giftcards.purchase).
            raise NoCardAvailable(
                client=client,
                brand=reward.brand,
                card_value=reward.card_value,
                pool=pools[0] if pools else None,
            )
        pool = next(p for p in pools if p.pk == card.pool_id)
        now = timezone.now()
        value = reward.card_value

        card.status = GiftCardStatus.CLAIMED
        card.claimed_at = now
        card.claimed_by_recipient = recipient
        card.claimed_by_call_session = call_session
        card.assignment_source = assignment_source
        card.assignment_campaign_id = reward.campaign_id
        card.assignment_condition_id = reward.condition_id
        card.save(
            update_fields=[
                "status",
                "claimed_at",
                "claimed_by_recipient",
                "claimed_by_call_session",
                "assignment_source",
                "assignment_campaign",
                "assignment_condition",
                "updated_at",
            ]
        )

        method = CardDeliveryMethod.SMS if recipient.phone else CardDeliveryMethod.EMAIL
        address = recipient.phone if recipient.phone else recipient.email
        reward.gift_card = card
        reward.status = RewardStatus.CLAIMED
        reward.assigned_at = now
        reward.delivery_method = method
        reward.delivery_address = address
        reward.save(
            update_fields=[
                "gift_card",
                "status",
                "assigned_at",
                "delivery_method",
                "delivery_address",
                "updated_at",
            ]
        )
        recipient.gift_card_assigned = card
        recipient.save(update_fields=["gift_card_assigned", "updated_at"])

        delivery = GiftCardDelivery.objects.create(
            reward=reward,
            gift_card=card,
            recipient=recipient,
            campaign_id=reward.campaign_id,
            call_session=call_session,
            condition_number=condition.condition_number,
            delivery_method=method,
            delivery_address=address,
            status=DeliveryStatus.QUEUED,
            next_attempt_at=now,
        )
        GiftCardAuditLog.objects.create(
            client=client,
            action="card_claimed",
            entity_type="gift_card",
            entity_id=card.pk,
            changes={"status": [GiftCardStatus.AVAILABLE, GiftCardStatus.CLAIMED]},
            metadata={
                "reward": str(reward.pk),
                "recipient": str(recipient.pk),
                "pool": str(pool.pk),
                "delivery": str(delivery.pk),
                "assignment_source": assignment_source,
            },
        )
        RecipientAuditLog.objects.create(
            recipient=recipient,
            action=RecipientAuditAction.GIFT_CARD_ASSIGNED,
            call_session=call_session,
            metadata={
                "reward": str(reward.pk),
                "gift_card": str(card.pk),
                "condition_number": condition.condition_number,
                "card_value": str(value),
            },
        )
        record_event(
            EventType.CLAIMED,
            client=client,
            campaign=reward.campaign,
            recipient=recipient,
            source=EVENT_SOURCE_FOR_ASSIGNMENT[assignment_source],
            reward=str(reward.pk),
            gift_card=str(card.pk),
            condition_number=condition.condition_number,
            card_value=str(value),
        )

        # The hot rows, last (see the lock-order note above).
        GiftCardPool.objects.filter(pk=pool.pk).update(
            available_cards=F("available_cards") - 1, claimed_cards=F("claimed_cards") + 1
        )
        ledger_row = post_credit(
            credit_account_for(client),
            -value,
            transaction_type=TransactionType.PURCHASE,
            description=f"{reward.brand} ${value} gift card claimed",
            reference_type="reward",
            reference_id=reward.pk,
        )
        cost = (value * COST_BASIS).quantize(CENT)
        GiftCardSale.objects.create(
            client=client,
            pool=pool,
            reward=reward,
            quantity=1,
            price_per_card=value,
            total_amount=value,
            cost_per_card=cost,
            margin=value - cost,
            credit_transaction=ledger_row,
        )
    return card, delivery


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


def mark_awaiting_stock(reward: RecipientGiftCard, *, reason: NoCardAvailable | None = None):
    """Move a pending reward to `awaiting_stock` after a claim found no card, and write the
    low-stock audit row that alerts staff. Only the first miss is recorded; a reward in any other
    status is left alone. Returns the reward as it now is."""
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
    reward.status = locked.status
    return locked


def _queue_delivery_task(delivery_id) -> None:
    """After commit, hand the delivery to `giftcards.tasks.deliver_gift_card`. A failure to queue
    (broker down) is logged and harmless: the row stays queued for the sweep."""
    from .tasks import deliver_gift_card

    transaction.on_commit(lambda: deliver_gift_card.delay(str(delivery_id)), robust=True)


def claim_pending_rewards(*, recipient) -> list[RecipientGiftCard]:
    """Claim a card for every reward of the recipient still waiting for one (pending or awaiting
    stock), if the recipient is approved and opted in to SMS; otherwise do nothing.

    Each reward is claimed in its own transaction (claim_card_atomic). A reward with no card in
    stock is marked awaiting stock (with a low-stock audit row); one the client's credit does not
    cover stays pending with an audit row, to be claimed again once credit is added. Each new
    delivery is queued to `giftcards.tasks.deliver_gift_card` after commit when that task exists.
    Returns the rewards this call claimed.
    """
    state = Recipient.objects.filter(pk=recipient.pk).values(
        "approval_status", "sms_opt_in_status"
    )[0]
    if (
        state["approval_status"] not in APPROVED_STATUSES
        or state["sms_opt_in_status"] != SmsOptInStatus.OPTED_IN
    ):
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
                from .purchase import purchase_for_reward

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
