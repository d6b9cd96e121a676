"""Buying a card from the provider when a pool that may (`api_only`, `fallback`) holds none.

A purchase is written on the reward before the provider is called: `provider_request_id` (the
idempotency key, fixed once and reused by every later ask), `purchase_status = pending` and
`purchase_pool`. The purchase then lives apart from the reward's own status, because it can
outlive what the reward needs: a reward rejected or revoked while the provider answers still has
a card paid for. The provider's answer settles it:

- issued: the card is stored in the pool (counted and audited, like any card) and, in the same
  transaction, claimed for the reward if the reward can still take it. Otherwise (the reward was
  rejected or revoked, the recipient is not ready for it, the client's credit does not cover it)
  the card stays in the pool as stock, with a `purchased_card_stocked` audit row: never lost and
  never texted, and the next claim of that brand and value takes it.
- refused: the purchase is `refused`; a reward still waiting on it waits for stock.
- uncertain (a timeout, a 5xx): the purchase stays pending, and the sweep asks again with the same
  key (`settle_pending_purchases`): the provider answers with the card it already issued, if any,
  so a lost answer never buys twice.

Lock order, as in the claim: the recipient, then the reward, then the card, the pool and the
credit account.
"""

import logging
from dataclasses import dataclass

from django.db import transaction

from campaigns.models import Event, EventType
from recipients.models import READY, ApprovalStatus, Recipient

from ..crypto import code_hash
from ..models import (
    CLAIMABLE_REWARD_STATUSES,
    AssignmentSource,
    CardSource,
    CreditAccount,
    GiftCard,
    GiftCardAuditAction,
    GiftCardAuditLog,
    GiftCardDelivery,
    GiftCardPool,
    GiftCardStatus,
    PurchaseStatus,
    RecipientGiftCard,
    RewardStatus,
)
from ..providers import IssuedCard, ProviderRefused, ProviderUncertain, get_provider
from .claim import NoCardAvailable, claim_reward_card
from .credit import InsufficientCredit
from .inventory import add_card_to_pool
from .rewards import mark_awaiting_credit
from .sandbox import RefusedForTestData

logger = logging.getLogger(__name__)


@dataclass
class PurchaseOutcome:
    """What one ask to the provider did. `delivery` is the claimed card's delivery (the caller
    queues it); `newly_waiting` says the reward has just begun waiting for stock (the caller tells
    staff)."""

    delivery: GiftCardDelivery | None = None
    settled: bool = False
    refused: bool = False
    newly_waiting: bool = False


def idempotency_key(reward: RecipientGiftCard) -> str:
    """The key of the reward's next purchase: `mike-reward-<id>` for the first, then `-2`, `-3`, …
    for a purchase made after an earlier one was settled (its card went to stock and was taken
    by another reward), since the provider would replay the settled purchase for its key."""
    base = f"mike-reward-{reward.pk}"
    previous = reward.provider_request_id
    if not previous:
        return base
    suffix = previous.removeprefix(base).lstrip("-")
    return f"{base}-{int(suffix) + 1 if suffix.isdigit() else 2}"


def _lock(reward_id) -> tuple[Recipient, RecipientGiftCard]:
    recipient_id = RecipientGiftCard.objects.values_list("recipient_id", flat=True).get(
        pk=reward_id
    )
    recipient = Recipient.objects.select_for_update(of=("self",)).get(pk=recipient_id)
    reward = (
        RecipientGiftCard.objects.select_for_update(of=("self",))
        .select_related("brand", "condition", "campaign", "purchase_pool")
        .get(pk=reward_id)
    )
    return recipient, reward


def purchase_for_reward(
    *, reward: RecipientGiftCard, pool: GiftCardPool, provider=None
) -> PurchaseOutcome:
    """Buy the card of a reward that found none in stock, from the provider into `pool`, and claim
    it (see the module's docstring). A reward that no longer needs one (it has a card, is
    rejected or revoked, or its purchase is pending or was refused) changes nothing; a pending
    purchase is settled by `settle_purchase`. Raises RefusedForTestData, buying nothing, for
    a test recipient's reward (test data never reaches the provider)."""
    with transaction.atomic():
        recipient, locked = _lock(reward.pk)
        if recipient.is_test:
            raise RefusedForTestData("buys from the gift card provider")
        if (
            locked.gift_card_id is not None
            or locked.status not in CLAIMABLE_REWARD_STATUSES
            or locked.purchase_status in (PurchaseStatus.PENDING, PurchaseStatus.REFUSED)
        ):
            return PurchaseOutcome()
        account = CreditAccount.objects.filter(organization_id=pool.client_id).first()
        if account is None or account.balance < locked.card_value:
            # Nothing is bought that the client cannot pay for: the reward waits for credit and
            # is claimed (from stock, or bought then) once staff top the client up.
            short = account or CreditAccount(organization_id=pool.client_id, balance=0)
            mark_awaiting_credit(locked, reason=InsufficientCredit(short, -locked.card_value))
            return PurchaseOutcome()
        RecipientGiftCard.objects.filter(pk=locked.pk).update(
            provider_request_id=idempotency_key(locked),
            status=RewardStatus.PURCHASE_PENDING,
            purchase_status=PurchaseStatus.PENDING,
            purchase_pool=pool,
        )
        Event.objects.record(
            EventType.PURCHASE_PENDING, recipient=recipient, campaign=locked.campaign
        )
    return settle_purchase(reward=locked, provider=provider)


def settle_purchase(*, reward: RecipientGiftCard, provider=None) -> PurchaseOutcome:
    """Ask the provider about the reward's pending purchase, with its key, and settle it: the card
    issued is stored and claimed (or kept as stock), a refusal recorded; an uncertain answer
    leaves it pending for the next ask. A purchase settled meanwhile changes nothing."""
    with transaction.atomic():
        _, locked = _lock(reward.pk)
        if locked.purchase_status != PurchaseStatus.PENDING:
            return PurchaseOutcome()
        locked.purchase_attempts += 1
        RecipientGiftCard.objects.filter(pk=locked.pk).update(
            purchase_attempts=locked.purchase_attempts
        )
    pool = locked.purchase_pool
    provider = provider or get_provider(pool.provider or "tillo")
    try:
        issued = provider.issue_card(
            brand=locked.brand.tillo_brand_code or locked.brand.brand_code,
            value=locked.card_value,
            currency=pool.currency,
            idempotency_key=locked.provider_request_id,
        )
    except ProviderUncertain as exc:
        logger.warning("Purchase for reward %s uncertain, settles later: %s", locked.pk, exc)
        return PurchaseOutcome()
    except ProviderRefused as exc:
        return _record_refusal(locked.pk, exc)
    return _store_issued_card(locked.pk, issued)


def _record_refusal(reward_id, error: ProviderRefused) -> PurchaseOutcome:
    with transaction.atomic():
        _, reward = _lock(reward_id)
        if reward.purchase_status != PurchaseStatus.PENDING:
            return PurchaseOutcome()
        changes = {"purchase_status": PurchaseStatus.REFUSED}
        # Only a reward still waiting on this purchase goes back to waiting for stock; one
        # rejected or revoked meanwhile stays as it is.
        waiting = reward.status == RewardStatus.PURCHASE_PENDING
        if waiting:
            changes["status"] = RewardStatus.AWAITING_STOCK
        RecipientGiftCard.objects.filter(pk=reward.pk).update(**changes)
        GiftCardAuditLog.objects.create(
            client_id=reward.campaign.client_id,
            action=GiftCardAuditAction.PURCHASE_REFUSED,
            entity_type="recipient_gift_card",
            entity_id=reward.pk,
            metadata={"message": str(error), "key": reward.provider_request_id},
        )
    return PurchaseOutcome(settled=True, refused=True, newly_waiting=waiting)


def _store_issued_card(reward_id, issued: IssuedCard) -> PurchaseOutcome:
    with transaction.atomic():
        recipient, reward = _lock(reward_id)
        if reward.purchase_status != PurchaseStatus.PENDING:
            return PurchaseOutcome()
        RecipientGiftCard.objects.filter(pk=reward.pk).update(purchase_status=PurchaseStatus.ISSUED)
        card = GiftCard.objects.filter(code_hash=code_hash(issued.code)).first()
        if card is None:
            card = add_card_to_pool(
                pool=reward.purchase_pool,
                code=issued.code,
                pin=issued.pin,
                provider_order_id=issued.order_id,
                source=CardSource.PROVIDER,
                audit={"order": issued.order_id, "key": reward.provider_request_id},
            )
        kept_because = _why_not_claim(recipient, reward, card)
        delivery = None
        if kept_because is None:
            try:
                with transaction.atomic():
                    _, delivery = claim_reward_card(
                        recipient=recipient,
                        condition=reward.condition,
                        assignment_source=AssignmentSource.CALL_CENTER,
                        call_session=None,
                        card_id=card.pk,
                    )
            except InsufficientCredit as exc:
                kept_because = "the client's credit does not cover it"
                RecipientGiftCard.objects.filter(pk=reward.pk).update(status=RewardStatus.PENDING)
                mark_awaiting_credit(reward, reason=exc)
            except NoCardAvailable:
                kept_because = "the card is not of the reward's brand and value"
                RecipientGiftCard.objects.filter(pk=reward.pk).update(status=RewardStatus.PENDING)
        if kept_because is not None:
            _keep_as_stock(recipient, reward, card, kept_because)
    return PurchaseOutcome(delivery=delivery, settled=True)


def _why_not_claim(recipient: Recipient, reward: RecipientGiftCard, card: GiftCard) -> str | None:
    """Why the card just bought cannot go to the reward now (None: it can). Moves a reward that
    was waiting on the purchase on to where it now stands."""
    if card.status != GiftCardStatus.AVAILABLE:
        return "the provider's card is already used"
    if reward.gift_card_id is not None:
        return "the reward already has a card"
    if reward.status != RewardStatus.PURCHASE_PENDING:
        return f"the reward is {reward.get_status_display().lower()}"
    if recipient.approval_status == ApprovalStatus.REJECTED:
        RecipientGiftCard.objects.filter(pk=reward.pk).update(status=RewardStatus.REJECTED)
        return "the recipient was rejected"
    if recipient.readiness() not in READY:
        # Claimed from stock once the recipient is ready (approved, opted in): the sweep.
        RecipientGiftCard.objects.filter(pk=reward.pk).update(status=RewardStatus.PENDING)
        return f"the recipient is not ready for it ({recipient.readiness()})"
    return None


def _keep_as_stock(recipient, reward, card: GiftCard, why: str) -> None:
    GiftCardAuditLog.objects.create(
        client_id=reward.campaign.client_id,
        action=GiftCardAuditAction.PURCHASED_CARD_STOCKED,
        entity_type="gift_card",
        entity_id=card.pk,
        metadata={
            "reward": str(reward.pk),
            "recipient": str(recipient.pk),
            "key": reward.provider_request_id,
            "reason": why,
        },
    )
    logger.info("Card bought for reward %s kept as stock: %s", reward.pk, why)


def settle_pending_purchases(limit: int = 200) -> list[PurchaseOutcome]:
    """Ask the provider again, with the same keys, about every purchase still pending (whatever
    its reward's status now), oldest first. One purchase that fails to settle (an error of any
    kind) is logged and skipped: it must not stop the others. Returns the outcomes."""
    outcomes = []
    pending = RecipientGiftCard.objects.filter(purchase_status=PurchaseStatus.PENDING).order_by(
        "updated_at"
    )[:limit]
    for reward in pending:
        try:
            outcomes.append(settle_purchase(reward=reward))
        except Exception:  # noqa: BLE001 - one bad row must never stop the sweep
            logger.exception("Settling the purchase of reward %s failed", reward.pk)
    return outcomes
