"""The demo flow as people click through it, in headless Chromium: staff play a recipient's phone in
the admin's simulator, and the customer redeems the code on a phone-sized screen."""

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from campaigns.models import TriggerType
from giftcards.models import GiftCardBrand, RewardStatus
from giftcards.services import add_cards_to_pool, allocate_credit
from tests import factories
from tests.factories_accounts import TEST_PASSWORD
from tests.two_factor import authenticator_for, current_code

from .screens import PHONE, screenshot_path

# Real commits: the live server's thread must see the test's rows, and the on-commit work (opt-in
# text, claim, delivery; Celery runs eagerly in tests) must run as it does in production.
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo(db):
    """A Summit-Roofing-like campaign: an agent marks the first condition, a $10 card rewards it."""
    client = factories.ClientFactory(name="Summit Roofing")
    allocate_credit(client, Decimal("100.00"))
    campaign = factories.CampaignFactory(client=client, name="Spring storm inspection")
    # The brands arrive by data migration, but an earlier transactional test may have flushed them.
    brand = GiftCardBrand.objects.filter(brand_code="starbucks").first() or (
        factories.GiftCardBrandFactory(
            brand_name="Starbucks", brand_code="starbucks", logo_url="/static/brands/starbucks.svg"
        )
    )
    factories.CampaignConditionFactory(
        campaign=campaign,
        condition_number=1,
        condition_name="Booked an inspection",
        trigger_type=TriggerType.MANUAL_AGENT,
        brand=brand,
        card_value=Decimal("10.00"),
    )
    pool = factories.GiftCardPoolFactory(client=client, brand=brand, card_value=Decimal("10.00"))
    add_cards_to_pool(pool, ["DEMO-SUMM-STA10-0001", "DEMO-SUMM-STA10-0002"])
    factories.TrackedPhoneNumberFactory(campaign=campaign, phone_number="+18005550101")
    recipient = factories.RecipientFactory(
        campaign=campaign, phone="+15552010003", first_name="Dev", last_name="Smith"
    )
    staff = factories.UserFactory(email="admin@mike.test", is_staff=True, is_superuser=True)
    return {"recipient": recipient, "staff": staff}


def test_staff_walk_the_reward_flow_in_the_simulator_and_the_customer_redeems_on_a_phone(
    open_page, demo
):
    recipient = demo["recipient"]
    device = authenticator_for(demo["staff"])  # set up before signing in, as a staff member has
    page = open_page()
    page.goto("/admin/")
    page.locator("#id_username").fill(demo["staff"].email)
    page.locator("#id_password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    # The admin's second step (the staff member's authenticator app).
    page.locator("#id_code").fill(current_code(device))
    page.get_by_role("button", name="Verify").click()
    page.get_by_role("link", name="Phone simulator").click()
    expect(page.get_by_role("heading", name="Phone simulator")).to_be_visible()

    page.get_by_label("Phone or code").fill("555 201 0003")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="Dev Smith").click()
    panel = page.locator(".sim-recipient")
    expect(panel.locator("#sim-recipient-title")).to_contain_text("Dev Smith")
    expect(page.get_by_label("From")).to_have_value("+15552010003")

    messages = page.locator(".messagelist")
    page.get_by_role("button", name="Call", exact=True).click()
    expect(messages).to_contain_text("matched Dev Smith")
    page.get_by_role("button", name="Mark condition 1 met").click()
    expect(messages).to_contain_text("Condition 1 (Booked an inspection) is met")
    page.get_by_role("button", name="Approve").click()
    expect(messages).to_contain_text("Approved")
    thread = page.locator(".sim-thread")
    expect(thread).to_contain_text("Reply YES to receive your gift card")

    page.get_by_label("Text back").fill("YES")
    page.get_by_role("button", name="Send").click()
    expect(messages).to_contain_text("Mike replied")
    expect(thread).to_contain_text("gift card")
    expect(panel.locator(".sim-table").first).to_contain_text("Delivered")
    code = panel.locator(".sim-code").inner_text()
    assert code == recipient.display_code
    page.screenshot(path=screenshot_path("simulator", "desktop"), full_page=True)
    page.set_viewport_size(PHONE)
    page.screenshot(path=screenshot_path("simulator", "phone"), full_page=True)

    reward = recipient.rewards.select_related("gift_card").get()
    assert reward.status == RewardStatus.DELIVERED

    phone = open_page(viewport=PHONE, is_mobile=True, has_touch=True)
    phone.goto("/redeem/")
    phone.get_by_label("Code from your mailer").fill(code.lower().replace("-", " "))
    phone.get_by_role("button", name="Check my code").click()
    card = phone.get_by_role("region", name="Your gift card")
    expect(card).to_contain_text("Starbucks gift card")
    expect(card).to_contain_text("$10.00")
    expect(card.locator(".code")).to_have_text(reward.gift_card.code)
    expect(card.get_by_role("img", name="Starbucks")).to_be_visible()
    phone.screenshot(path=screenshot_path("redeem", "phone"), full_page=True)


def test_an_unknown_code_on_the_redeem_page_gets_the_generic_message(open_page):
    page = open_page(viewport=PHONE, is_mobile=True, has_touch=True)
    page.goto("/redeem/")
    page.get_by_label("Code from your mailer").fill("7KQ4-M2XD-9P")
    page.get_by_role("button", name="Check my code").click()
    expect(page.get_by_role("alert")).to_have_text(
        "We couldn't find that code. Check it against your mailer and try again."
    )
    expect(page.get_by_label("Code from your mailer")).to_be_visible()
