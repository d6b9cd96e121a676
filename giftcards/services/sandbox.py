"""The sandbox: rewards of test recipients (pushed with a test API key, `Recipient.is_test`).

A test recipient goes through the same states as a live one (pending → claimed → delivered, a
delivery queued → sending → delivered), so an integrator can test against the real API, but no
side effect reaches the world or the books:

- its reward is never given a `GiftCard`: `claim_sandbox_card` marks the reward `is_sandbox` with
  a fake code (`TEST-XXXX-XXXX`) of the condition's brand and value. No pool counter, card row,
  credit ledger row, sale or provider purchase is written, so inventory, ledger and stock reports
  cannot count it (they read cards, pools and ledger rows, which it has none of);
- its delivery is a `GiftCardDelivery` with `is_sandbox` and no card, recorded as delivered by
  `record_sandbox_delivered` without a text or an email leaving.

The live services refuse a test recipient outright (`RefusedForTestData`): the claim, the
provider purchase and the send check it under their own locks, so whichever caller reaches them
(the pipeline, the call console, the admin, a sweep) cannot touch stock, credit, Tillo or
Twilio for test data.
"""

import secrets

from django.db import transaction
from django.utils import timezone

from campaigns.models import Event, EventSource, EventType
from mike import webhooks
from mike.core.errors import DomainError
from mike.webhooks import payloads
from mike.webhooks.catalogue import WebhookEventType
from recipients.models import Recipient, RecipientAuditAction, RecipientAuditLog

from ..models import (
    CLAIMABLE_REWARD_STATUSES,
    AssignmentSource,
    CardDeliveryMethod,
    DeliveryStatus,
    GiftCardDelivery,
    RecipientGiftCard,
    RewardDeliveryStatus,
    RewardStatus,
)
from .claim_rows import EVENT_SOURCE_FOR_ASSIGNMENT

# Crockford's base32 without the look-alikes: a fake code reads like a real one, but its
# TEST- prefix says what it is to anyone who sees it.
SANDBOX_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
SANDBOX_DELIVERED_STATUS = "delivered (test)"


class RefusedForTestData(DomainError):
    """A live side effect (a card claimed from stock, a provider purchase, a text or an email)
    was asked for a test recipient; nothing was done."""

    def __init__(self, what: str):
        super().__init__(f"Test data never {what}; it goes through the sandbox instead.")


def refuse_test_recipient(recipient_id, *, what: str) -> None:
    """Raise RefusedForTestData when the recipient is test data. Reads the row, not a copy the
    caller may hold."""
    if Recipient.objects.filter(pk=recipient_id, is_test=True).exists():
        raise RefusedForTestData(what)


def sandbox_code() -> str:
    """A clearly fake card code, `TEST-XXXX-XXXX`."""
    part = lambda: "".join(secrets.choice(SANDBOX_ALPHABET) for _ in range(4))  # noqa: E731
    return f"TEST-{part()}-{part()}"


def claim_sandbox_card(
    *,
    recipient,
    condition,
    assignment_source: str = AssignmentSource.API,
    call_session=None,
) -> tuple[RecipientGiftCard, GiftCardDelivery | None]:
    """Give a test recipient's reward for `condition` its sandbox card and queue its sandbox
    delivery, as `claim_card_atomic` does for a live one, minus the card, the pool, the credit
    and the sale. Returns the reward and the delivery it queued (None when the reward had its
    sandbox card already: idempotent).

    Locks the recipient, then the reward (the claim's lock order). Raises ValueError for a live
    recipient, and RewardNotClaimable (changing nothing) for a reward rejected or revoked."""
    from .claim import RewardNotClaimable, ensure_reward

    with transaction.atomic():
        locked = (
            Recipient.objects.select_for_update(of=("self",))
            .select_related("audience")
            .get(pk=recipient.pk)
        )
        if not locked.is_test:
            raise ValueError("Only a test recipient's reward is claimed in the sandbox.")
        ensure_reward(recipient=locked, condition=condition)
        reward = (
            RecipientGiftCard.objects.select_for_update(of=("self",))
            .select_related("brand")
            .get(recipient=locked, condition=condition)
        )
        if reward.is_sandbox:
            return reward, None
        if reward.status not in CLAIMABLE_REWARD_STATUSES:
            raise RewardNotClaimable(reward)
        now = timezone.now()
        phone = "" if locked.reward_by_email and locked.email else locked.phone
        method = CardDeliveryMethod.SMS if phone else CardDeliveryMethod.EMAIL
        address = phone or locked.email
        reward.is_sandbox = True
        reward.sandbox_code = sandbox_code()
        reward.status = RewardStatus.CLAIMED
        reward.assigned_at = now
        reward.delivery_method = method
        reward.delivery_address = address
        reward.save(
            update_fields=[
                "is_sandbox",
                "sandbox_code",
                "status",
                "assigned_at",
                "delivery_method",
                "delivery_address",
                "updated_at",
            ]
        )
        delivery = GiftCardDelivery.objects.create(
            reward=reward,
            gift_card=None,
            is_sandbox=True,
            recipient=locked,
            campaign_id=reward.campaign_id,
            call_session=call_session,
            condition_number=condition.condition_number,
            delivery_method=method,
            delivery_address=address,
            status=DeliveryStatus.QUEUED,
            next_attempt_at=now,
            enqueued_at=now,
        )
        RecipientAuditLog.objects.create(
            recipient=locked,
            action=RecipientAuditAction.GIFT_CARD_ASSIGNED,
            call_session=call_session,
            metadata={
                "reward": str(reward.pk),
                "condition_number": condition.condition_number,
                "card_value": str(reward.card_value),
                "sandbox": True,
            },
        )
        Event.objects.record(
            EventType.CLAIMED,
            recipient=locked,
            source=EVENT_SOURCE_FOR_ASSIGNMENT.get(assignment_source, EventSource.API),
            reward=str(reward.pk),
            condition_number=condition.condition_number,
            card_value=str(reward.card_value),
            sandbox=True,
        )
        # Test subscriptions hear of it as of a live card, so an integration can be built on it.
        webhooks.emit(
            WebhookEventType.GIFT_CARD_PROVISIONED,
            client=locked.audience.client_id,
            payload=lambda: payloads.provisioned(
                reward, delivery=delivery, source=assignment_source, sandbox=True
            ),
            is_test=True,
        )
    return reward, delivery


@transaction.atomic
def record_sandbox_delivered(delivery: GiftCardDelivery, *, message: str) -> None:
    """Record a sandbox delivery the caller took (`delivery.begin_delivery`) as delivered, without
    sending anything: the delivery delivered ("delivered (test)"), the reward delivered, with
    the audit row and the `delivered` event a live delivery writes. `message` is the text a live
    delivery would have sent (its fake code is no secret). Only while the caller's lease holds,
    so a second attempt records nothing twice."""
    from .delivery import holding

    now = timezone.now()
    changed = holding(delivery).update(
        status=DeliveryStatus.DELIVERED,
        sms_message=message,
        sms_status=SANDBOX_DELIVERED_STATUS,
        sms_sent_at=now,
        delivered_at=now,
        error_message="",
        failure_reason="",
        next_attempt_at=None,
        lease_expires_at=None,
        updated_at=now,
    )
    if not changed:
        return
    reward_changed = RecipientGiftCard.objects.filter(
        pk=delivery.reward_id, status=RewardStatus.CLAIMED, is_sandbox=True
    ).update(
        status=RewardStatus.DELIVERED,
        delivered_at=now,
        delivery_method=delivery.delivery_method,
        delivery_status=RewardDeliveryStatus.DELIVERED,
        delivery_address=delivery.delivery_address,
        updated_at=now,
    )
    RecipientAuditLog.objects.create(
        recipient=delivery.recipient,
        action=RecipientAuditAction.SMS_SENT
        if delivery.delivery_method == CardDeliveryMethod.SMS
        else RecipientAuditAction.EMAIL_SENT,
        metadata={"delivery": str(delivery.pk), "sandbox": True},
    )
    if reward_changed:
        reward = delivery.reward
        Event.objects.record(
            EventType.DELIVERED,
            recipient=delivery.recipient,
            campaign=delivery.campaign,
            source=EventSource.SYSTEM,
            delivery=str(delivery.pk),
            method=delivery.delivery_method,
            brand=reward.brand.brand_name,
            value=str(reward.card_value),
            sandbox=True,
        )
        webhooks.emit(
            WebhookEventType.GIFT_CARD_DELIVERED,
            client=delivery.recipient.audience.client_id,
            payload=lambda: payloads.delivered(
                delivery,
                brand_name=reward.brand.brand_name,
                value=reward.card_value,
                delivered_at=now,
                sandbox=True,
            ),
            is_test=True,
        )
