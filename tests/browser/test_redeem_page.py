"""/redeem/ in headless Chromium, on a phone and on a desktop, in each of its main answers: the
page says where each reward stands and stays one readable column. Screenshots of every answer
are saved in .pytest_artifacts/browser/ (redeem-<answer>-phone.png, -desktop.png)."""

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from giftcards.models import DeliveryStatus, GiftCardBrand, RewardStatus
from recipients.models import ApprovalStatus, SmsOptInStatus
from tests import factories

from .screens import DESKTOP, PHONE, screenshot_path

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def brand(name):
    return GiftCardBrand.objects.filter(brand_name=name).first() or factories.GiftCardBrandFactory(
        brand_name=name, brand_code=name.lower(), logo_url=f"/static/brands/{name.lower()}.svg"
    )


def recipient(approval, opt_in):
    client = factories.ClientFactory(name="Bayside Auto")
    campaign = factories.CampaignFactory(client=client)
    factories.TrackedPhoneNumberFactory(campaign=campaign, phone_number="+18005550101")
    return factories.RecipientFactory(
        campaign=campaign, approval_status=approval, sms_opt_in_status=opt_in, phone="+15552011234"
    )


def reward(person, number, brand_name, value, **kwargs):
    condition = factories.CampaignConditionFactory(
        campaign=person.campaign,
        condition_number=number,
        brand=brand(brand_name),
        card_value=Decimal(value),
    )
    return factories.RecipientGiftCardFactory(recipient=person, condition=condition, **kwargs)


def card_on_its_way(person, number, brand_name, value):
    sent = reward(person, number, brand_name, value, claimed=True)
    factories.GiftCardDeliveryFactory(reward=sent, status=DeliveryStatus.QUEUED)
    return sent


def no_reward():
    return recipient(ApprovalStatus.APPROVED, SmsOptInStatus.OPTED_IN)


def under_review():
    person = recipient(ApprovalStatus.PENDING, SmsOptInStatus.NOT_SENT)
    reward(person, 1, "Target", "15.00")
    return person


def reply_yes():
    person = recipient(ApprovalStatus.APPROVED, SmsOptInStatus.PENDING)
    reward(person, 1, "Target", "15.00")
    return person


def on_its_way():
    person = recipient(ApprovalStatus.APPROVED, SmsOptInStatus.OPTED_IN)
    card_on_its_way(person, 1, "Target", "15.00")
    reward(person, 2, "Amazon", "25.00", status=RewardStatus.AWAITING_STOCK)
    return person


def card_and_more():
    person = recipient(ApprovalStatus.REDEEMED, SmsOptInStatus.OPTED_IN)
    shown = reward(person, 1, "Starbucks", "10.00", claimed=True)
    card = shown.gift_card
    card.set_code("STAR-BUCK-1234-5678")
    card.set_pin("4321")
    card.save()
    type(shown).objects.filter(pk=shown.pk).update(status=RewardStatus.DELIVERED)
    reward(person, 2, "Target", "15.00")
    return person


def not_eligible():
    person = recipient(ApprovalStatus.REJECTED, SmsOptInStatus.NOT_SENT)
    reward(person, 1, "Target", "15.00", status=RewardStatus.REJECTED)
    return person


ANSWERS = {
    "no-reward": (no_reward, "No reward on this code yet"),
    "under-review": (under_review, "It's under review."),
    "reply-yes": (reply_yes, "Reply YES to the text we sent to your phone ending in 1234"),
    "on-its-way": (on_its_way, "It's on its way by text to your phone ending in 1234."),
    "card-and-more": (card_and_more, "We're getting it ready"),
    "not-eligible": (not_eligible, "This code isn't eligible for a reward."),
}


@pytest.mark.parametrize("answer", ANSWERS)
def test_each_answer_reads_well_on_a_phone_and_a_desktop(open_page, answer):
    make, says = ANSWERS[answer]
    code = make().display_code
    for label, viewport, options in (
        ("phone", PHONE, {"is_mobile": True, "has_touch": True}),
        ("desktop", DESKTOP, {}),
    ):
        page = open_page(viewport=viewport, **options)
        page.goto("/redeem/")
        page.get_by_label("Code from your mailer").fill(code)
        page.get_by_role("button", name="Check my code").click()
        expect(page.locator("main")).to_contain_text(says)
        # One column that fits the screen: nothing scrolls sideways.
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        page.screenshot(path=screenshot_path(f"redeem-{answer}", label), full_page=True)


def test_the_empty_form_and_a_wrong_code(open_page):
    for label, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        page = open_page(viewport=viewport)
        page.goto("/redeem/")
        page.screenshot(path=screenshot_path("redeem-form", label), full_page=True)
        page.get_by_label("Code from your mailer").fill("7KQ4-M2XD-9P")
        page.get_by_role("button", name="Check my code").click()
        expect(page.get_by_role("alert")).to_contain_text("We couldn't find that code.")
        page.screenshot(path=screenshot_path("redeem-not-found", label), full_page=True)
