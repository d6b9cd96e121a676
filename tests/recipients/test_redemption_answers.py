"""What /redeem/ says about each reward is true of the rows that exist: a delivered card is shown,
every other reward still coming gets one line saying where it stands, and a code that earned
nothing is told how to earn a reward, never that one is on its way."""

import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from giftcards.models import (
    CardDeliveryMethod,
    DeliveryFailureReason,
    DeliveryStatus,
    GiftCardBrand,
    RewardStatus,
)
from recipients.models import ApprovalStatus, Recipient, SmsOptInStatus
from recipients.redemption import Standing, reward_answer
from tests import factories

URL = "/redeem/"
PHONE = "+15552011234"  # texts go to the phone ending in 1234
TRACKED = "+18005550101"  # the number on the mailer, shown as (800) 555-0101
CALL_US = "(800) 555-0101"

APPROVED, PENDING, REJECTED, REDEEMED = (
    ApprovalStatus.APPROVED,
    ApprovalStatus.PENDING,
    ApprovalStatus.REJECTED,
    ApprovalStatus.REDEEMED,
)
NOT_SENT, ASKED, OPTED_IN, OPTED_OUT, INVALID = (
    SmsOptInStatus.NOT_SENT,
    SmsOptInStatus.PENDING,
    SmsOptInStatus.OPTED_IN,
    SmsOptInStatus.OPTED_OUT,
    SmsOptInStatus.INVALID_RESPONSE,
)


# --- Rows ----------------------------------------------------------------------------------------


def brand(name: str) -> GiftCardBrand:
    # The shipped brands come by data migration; a transactional test may have flushed them.
    return GiftCardBrand.objects.filter(brand_name=name).first() or factories.GiftCardBrandFactory(
        brand_name=name, brand_code=name.lower(), logo_url=f"/static/brands/{name.lower()}.svg"
    )


def person(
    approval=APPROVED, opt_in=OPTED_IN, phone=PHONE, *, tracked=True, email="a@example.com"
) -> Recipient:
    campaign = factories.CampaignFactory()
    if tracked:
        factories.TrackedPhoneNumberFactory(campaign=campaign, phone_number=TRACKED)
    return factories.RecipientFactory(
        campaign=campaign,
        approval_status=approval,
        sms_opt_in_status=opt_in,
        phone=phone,
        email=email,
    )


def condition(recipient, number, brand_name, value):
    return factories.CampaignConditionFactory(
        campaign=recipient.campaign,
        condition_number=number,
        brand=brand(brand_name),
        card_value=Decimal(value),
    )


def waiting(status=RewardStatus.PENDING, number=1, brand_name="Target", value="15.00"):
    """A reward with no card yet."""

    def make(recipient):
        factories.RecipientGiftCardFactory(
            recipient=recipient,
            condition=condition(recipient, number, brand_name, value),
            status=status,
        )

    return make


def claimed(
    delivery=DeliveryStatus.QUEUED,
    number=1,
    *,
    reason="",
    by=CardDeliveryMethod.SMS,
    attempts_left=True,
    brand_name="Target",
    value="15.00",
):
    """A reward whose card is claimed, with its delivery in the given state."""

    def make(recipient):
        reward = factories.RecipientGiftCardFactory(
            recipient=recipient,
            condition=condition(recipient, number, brand_name, value),
            claimed=True,
        )
        factories.GiftCardDeliveryFactory(
            reward=reward,
            status=delivery,
            failure_reason=reason,
            delivery_method=by,
            delivery_address=recipient.email if by == CardDeliveryMethod.EMAIL else recipient.phone,
            retry_count=1 if attempts_left else 5,
            max_retries=5,
        )
        return reward

    return make


def delivered(number=1, brand_name="Starbucks", value="10.00", code="STAR-BUCK-1234"):
    def make(recipient):
        reward = claimed(DeliveryStatus.SENT, number, brand_name=brand_name, value=value)(recipient)
        card = reward.gift_card
        card.set_code(code)
        card.save()
        type(reward).objects.filter(pk=reward.pk).update(status=RewardStatus.DELIVERED)

    return make


# --- Cases ---------------------------------------------------------------------------------------


@dataclass
class Case:
    recipient: Callable[[], Recipient]
    rewards: list
    state: str
    standings: list[Standing] = field(default_factory=list)
    says: list[str] = field(default_factory=list)
    cards: int = 0


CASES = {
    # The code earned nothing: it is valid, and the way to a reward is the number on the mailer.
    "approved-opted-in-no-reward": Case(
        lambda: person(APPROVED, OPTED_IN),
        [],
        "no_reward",
        says=["No reward on this code yet", f"Call {CALL_US} to find out how to earn one."],
    ),
    "pending-no-reward": Case(
        lambda: person(PENDING, NOT_SENT),
        [],
        "no_reward",
        says=[f"Call {CALL_US} to find out how to earn one."],
    ),
    "no-reward-no-tracked-number": Case(
        lambda: person(APPROVED, OPTED_IN, tracked=False),
        [],
        "no_reward",
        says=["Call the number on your mailer to find out how to earn one."],
    ),
    "only-revoked-and-rejected-rewards": Case(
        lambda: person(APPROVED, OPTED_IN),
        [waiting(RewardStatus.REVOKED, 1), waiting(RewardStatus.REJECTED, 2)],
        "no_reward",
        says=["No reward on this code yet"],
    ),
    "rejected": Case(
        lambda: person(REJECTED, NOT_SENT),
        [waiting(RewardStatus.REJECTED)],
        "not_eligible",
        says=["This code isn't eligible for a reward.", f"call {CALL_US}."],
    ),
    # Viewing card 1 made the recipient `redeemed`; condition 2 was met after that.
    "redeemed-then-condition-2-pending": Case(
        lambda: person(REDEEMED, OPTED_IN),
        [delivered(1), waiting(RewardStatus.PENDING, 2)],
        "cards",
        [Standing.PREPARING],
        ["STAR-BUCK-1234", "Still to come", "$15.00 Target gift card Getting it ready"],
        cards=1,
    ),
    "redeemed-then-condition-2-awaiting-stock": Case(
        lambda: person(REDEEMED, OPTED_IN),
        [delivered(1), waiting(RewardStatus.AWAITING_STOCK, 2)],
        "cards",
        [Standing.PREPARING],
        ["We're getting it ready, and we'll text it to you as soon as it is."],
        cards=1,
    ),
    "redeemed-then-condition-2-sending": Case(
        lambda: person(REDEEMED, OPTED_IN),
        [delivered(1), claimed(DeliveryStatus.SENDING, 2)],
        "cards",
        [Standing.SENDING],
        [
            "$15.00 Target gift card On its way",
            "It's on its way by text to your phone ending in 1234.",
        ],
        cards=1,
    ),
    "redeemed-then-condition-2-rejected": Case(
        lambda: person(REDEEMED, OPTED_IN),
        [delivered(1), waiting(RewardStatus.REJECTED, 2)],
        "cards",
        says=["STAR-BUCK-1234"],
        cards=1,
    ),
    "redeemed-opted-out-then-condition-2": Case(
        lambda: person(REDEEMED, OPTED_OUT),
        [delivered(1), waiting(RewardStatus.PENDING, 2)],
        "cards",
        [Standing.TEXT_START],
        ["Text START to the number that texted you to get it."],
        cards=1,
    ),
    # A claimed card goes out through its delivery.
    "claimed-queued": Case(
        lambda: person(APPROVED, OPTED_IN),
        [claimed(DeliveryStatus.QUEUED)],
        "waiting",
        [Standing.SENDING],
        [
            "$15.00 Target gift card On its way",
            "It's on its way by text to your phone ending in 1234.",
        ],
    ),
    "claimed-by-email": Case(
        lambda: person(APPROVED, OPTED_IN),
        [claimed(DeliveryStatus.SENDING, by=CardDeliveryMethod.EMAIL)],
        "waiting",
        [Standing.SENDING],
        ["It's on its way by email."],
    ),
    "claimed-failed-will-retry": Case(
        lambda: person(APPROVED, OPTED_IN),
        [claimed(DeliveryStatus.FAILED, reason=DeliveryFailureReason.SEND_ERROR)],
        "waiting",
        [Standing.SENDING],
        ["It's on its way by text"],
    ),
    "claimed-failed-for-good": Case(
        lambda: person(APPROVED, OPTED_IN),
        [
            claimed(
                DeliveryStatus.FAILED, reason=DeliveryFailureReason.SEND_ERROR, attempts_left=False
            )
        ],
        "waiting",
        [Standing.PROBLEM],
        [f"We couldn't send it. Call {CALL_US} and we'll sort it out."],
    ),
    "claimed-refused-opted-out": Case(
        lambda: person(APPROVED, OPTED_OUT),
        [
            claimed(
                DeliveryStatus.FAILED, reason=DeliveryFailureReason.OPTED_OUT, attempts_left=False
            )
        ],
        "waiting",
        [Standing.TEXT_START],
        ["You've opted out of our texts, so we can't send it. Text START"],
    ),
    "claimed-refused-at-the-carrier": Case(
        lambda: person(APPROVED, OPTED_OUT),
        [
            claimed(
                DeliveryStatus.FAILED,
                reason=DeliveryFailureReason.CARRIER_OPT_OUT,
                attempts_left=False,
            )
        ],
        "waiting",
        [Standing.TEXT_START],
        ["$15.00 Target gift card Text START", "Text START to the number that texted you"],
    ),
    "claimed-queued-but-opted-out-since": Case(
        lambda: person(APPROVED, OPTED_OUT),
        [claimed(DeliveryStatus.QUEUED)],
        "waiting",
        [Standing.TEXT_START],
        ["$15.00 Target gift card Text START"],
    ),
    # No card yet: approval, then the opt-in, then the claim.
    "waiting-opted-in": Case(
        lambda: person(APPROVED, OPTED_IN),
        [waiting(RewardStatus.PENDING)],
        "waiting",
        [Standing.PREPARING],
        ["$15.00 Target gift card Getting it ready", "we'll text it to you as soon as it is"],
    ),
    "waiting-for-stock": Case(
        lambda: person(APPROVED, OPTED_IN),
        [waiting(RewardStatus.AWAITING_STOCK)],
        "waiting",
        [Standing.PREPARING],
        ["We're getting it ready"],
    ),
    "waiting-for-a-purchase": Case(
        lambda: person(APPROVED, OPTED_IN),
        [waiting(RewardStatus.PURCHASE_PENDING)],
        "waiting",
        [Standing.PREPARING],
        ["We're getting it ready"],
    ),
    "waiting-for-yes": Case(
        lambda: person(APPROVED, ASKED),
        [waiting(RewardStatus.PENDING)],
        "waiting",
        [Standing.REPLY_YES],
        [
            "$15.00 Target gift card Reply YES",
            "Reply YES to the text we sent to your phone ending in 1234 to get it.",
        ],
    ),
    "waiting-for-yes-after-another-reply": Case(
        lambda: person(APPROVED, INVALID),
        [waiting(RewardStatus.PENDING)],
        "waiting",
        [Standing.REPLY_YES],
        ["Reply YES to the text we sent"],
    ),
    "waiting-for-the-opt-in-text": Case(
        lambda: person(APPROVED, NOT_SENT),
        [waiting(RewardStatus.PENDING)],
        "waiting",
        [Standing.TEXT_COMING],
        ["We'll text your phone ending in 1234 shortly; reply YES to that text to get it."],
    ),
    "waiting-opted-out": Case(
        lambda: person(APPROVED, OPTED_OUT),
        [waiting(RewardStatus.PENDING)],
        "waiting",
        [Standing.TEXT_START],
        ["$15.00 Target gift card Text START", "You've opted out of our texts"],
    ),
    "waiting-by-email": Case(
        lambda: person(APPROVED, NOT_SENT, phone=""),
        [waiting(RewardStatus.AWAITING_CREDIT)],
        "waiting",
        [Standing.PREPARING],
        ["We're getting it ready, and we'll email it to you as soon as it is."],
    ),
    "waiting-without-a-phone": Case(
        lambda: person(APPROVED, NOT_SENT, phone="", email=""),
        [waiting(RewardStatus.PENDING)],
        "waiting",
        [Standing.NO_PHONE],
        [f"we have no phone number to text it to. Call {CALL_US} to get it."],
    ),
    "under-review": Case(
        lambda: person(PENDING, NOT_SENT),
        [waiting(RewardStatus.PENDING)],
        "waiting",
        [Standing.UNDER_REVIEW],
        ["$15.00 Target gift card Under review", "It's under review."],
    ),
    "reward-failed": Case(
        lambda: person(APPROVED, OPTED_IN),
        [waiting(RewardStatus.FAILED)],
        "waiting",
        [Standing.PROBLEM],
        [f"Call {CALL_US} and we'll sort it out."],
    ),
    # Several rewards: one line each, in condition order (made here out of order).
    "two-rewards": Case(
        lambda: person(APPROVED, OPTED_IN),
        [waiting(RewardStatus.PENDING, 2, "Amazon", "25.00"), claimed(DeliveryStatus.QUEUED, 1)],
        "waiting",
        [Standing.SENDING, Standing.PREPARING],
        ["$15.00 Target gift card On its way", "$25.00 Amazon gift card Getting it ready"],
    ),
}


def build(case: Case) -> Recipient:
    recipient = case.recipient()
    for make in case.rewards:
        make(recipient)
    return Recipient.objects.get(pk=recipient.pk)


def page_text(response) -> str:
    text = re.sub(r"<[^>]+>", " ", response.content.decode())
    return re.sub(r"\s+", " ", html.unescape(text)).replace(" .", ".").replace(" ;", ";")


@pytest.mark.django_db
@pytest.mark.parametrize("name", CASES)
def test_the_answer_for_each_reward(name):
    case = CASES[name]
    answer = reward_answer(build(case))
    assert answer.state == case.state
    assert [line.standing for line in answer.lines] == case.standings
    assert len(answer.cards) == case.cards


@pytest.mark.django_db
@pytest.mark.parametrize("name", CASES)
def test_the_page_says_where_each_reward_stands(client, name):
    case = CASES[name]
    recipient = build(case)
    response = client.post(URL, {"code": recipient.redemption_code}, REMOTE_ADDR="203.0.113.5")
    assert response.status_code == 200
    text = page_text(response)
    for sentence in case.says:
        assert sentence in text
    # Nothing is "on its way" unless a card exists and is being sent.
    if Standing.SENDING not in case.standings:
        assert "on its way" not in text.lower()
    shown = response.content.decode().count('aria-label="Your gift card"')
    assert shown == case.cards
    if case.state in ("no_reward", "not_eligible"):
        assert "Your reward" not in text and "Still to come" not in text
