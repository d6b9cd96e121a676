"""What a claim reads under its locks (ClaimInputs) and every row it writes (ClaimRows), built
once in Python and written by either claim writer (claim_orm or claim_sql)."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from campaigns.models import Event, EventSource, EventType
from recipients.models import (
    RecipientAuditAction,
    RecipientAuditLog,
)

from ..models import (
    AssignmentSource,
    CardDeliveryMethod,
    CreditTransaction,
    DeliveryStatus,
    GiftCard,
    GiftCardAuditAction,
    GiftCardAuditLog,
    GiftCardDelivery,
    GiftCardSale,
    GiftCardStatus,
    RecipientGiftCard,
    RewardStatus,
    TransactionType,
)
from .credit import CENT

COST_BASIS = Decimal("0.95")

EVENT_SOURCE_FOR_ASSIGNMENT = {
    AssignmentSource.CALL_CENTER: EventSource.CALL,
    AssignmentSource.LANDING_PAGE: EventSource.PURL,
    AssignmentSource.FORM_SUBMISSION: EventSource.FORM,
    AssignmentSource.API: EventSource.API,
    AssignmentSource.MANUAL: EventSource.ADMIN,
}


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
            # The claim's caller queues the task right after commit (mike.rewards.claims).
            enqueued_at=now,
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
                action=GiftCardAuditAction.CARD_CLAIMED,
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
