"""The admin pages staff read most, in headless Chromium: a recipient's page with their story, a
stocked pool, and the recipient list on a phone. Screenshots of each are kept in ARTIFACTS."""

from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from calls.models import ConditionMetSource
from giftcards.models import DeliveryStatus, GiftCardBrand
from giftcards.services import add_cards_to_pool
from recipients.admin import masked_code
from recipients.models import ApprovalStatus, RecipientAuditAction, SmsDirection, SmsOptInStatus
from tests import factories
from tests.factories_accounts import TEST_PASSWORD
from tests.two_factor import authenticator_for, current_code

from .screens import DESKTOP, PHONE, screenshot_path

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def story(db):
    client = factories.ClientFactory(name="Summit Roofing")
    campaign = factories.CampaignFactory(client=client, name="Spring storm inspection")
    brand = GiftCardBrand.objects.filter(brand_code="starbucks").first() or (
        factories.GiftCardBrandFactory(brand_name="Starbucks", brand_code="starbucks")
    )
    condition = factories.CampaignConditionFactory(
        campaign=campaign,
        condition_number=1,
        condition_name="Booked an inspection",
        brand=brand,
        card_value=Decimal("10.00"),
    )
    pool = factories.GiftCardPoolFactory(
        client=client, brand=brand, card_value=Decimal("10.00"), pool_name="Summit Starbucks $10"
    )
    add_cards_to_pool(pool, [f"DEMO-SUMM-STA10-{n:04d}" for n in range(1, 13)])
    staff = factories.UserFactory(
        email="admin@mike.test", full_name="Platform Admin", is_staff=True, is_superuser=True
    )
    recipient = factories.RecipientFactory(
        campaign=campaign,
        first_name="Dev",
        last_name="Smith",
        phone="+15552010003",
        approval_status=ApprovalStatus.APPROVED,
        approved_by=staff,
        approved_at=timezone.now(),
        sms_opt_in_status=SmsOptInStatus.OPTED_IN,
        sms_opt_in_response="YES",
    )
    factories.RecipientFactory.create_batch(4, campaign=campaign)
    call = factories.CallSessionFactory(recipient=recipient, campaign=campaign, agent=staff)
    factories.CallConditionMetFactory(
        recipient=recipient,
        condition=condition,
        call_session=call,
        met_by_agent=staff,
        source=ConditionMetSource.AGENT,
    )
    card = pool.cards.order_by("created_at").first()
    reward = factories.RecipientGiftCardFactory(
        recipient=recipient, condition=condition, claimed=True, gift_card=card
    )
    delivery = factories.GiftCardDeliveryFactory(
        reward=reward, gift_card=card, status=DeliveryStatus.DELIVERED, delivered_at=timezone.now()
    )
    factories.SmsDeliveryLogFactory(delivery=delivery, delivery_status=DeliveryStatus.DELIVERED)
    factories.SmsOptInLogFactory(
        recipient=recipient,
        message_text="Summit Roofing: you've earned a reward! Reply YES to receive your gift "
        "card, STOP to opt out. Msg & data rates may apply.",
    )
    factories.SmsOptInLogFactory(
        recipient=recipient, direction=SmsDirection.INBOUND, message_text="YES", status="received"
    )
    for action in (
        RecipientAuditAction.CONDITION_MET,
        RecipientAuditAction.APPROVED,
        RecipientAuditAction.OPTED_IN,
        RecipientAuditAction.GIFT_CARD_ASSIGNED,
    ):
        factories.RecipientAuditLogFactory(recipient=recipient, action=action, performed_by=staff)
    return {"staff": staff, "recipient": recipient, "pool": pool, "card": card}


def _signed_in(open_page, staff, viewport):
    device = authenticator_for(staff)  # set up before signing in, as a staff member has
    page = open_page(viewport=viewport)
    page.goto("/admin/")
    page.locator("#id_username").fill(staff.email)
    page.locator("#id_password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    # The admin's second step (the staff member's authenticator app).
    page.locator("#id_code").fill(current_code(device))
    page.get_by_role("button", name="Verify").click()
    return page


def test_the_recipient_page_shows_the_story_with_codes_masked(open_page, story):
    recipient, card = story["recipient"], story["card"]
    page = _signed_in(open_page, story["staff"], DESKTOP)

    page.goto(f"/admin/recipients/recipient/{recipient.pk}/change/")

    for heading in ("Calls", "Conditions met", "Rewards", "Deliveries", "Audit log"):
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    expect(page.locator("#rewards-group")).to_contain_text(card.masked_code)
    expect(page.locator("#rewards-group")).not_to_contain_text(card.code)
    page.screenshot(path=screenshot_path("admin", "recipient-change"), full_page=True)


def test_a_stocked_pool_shows_its_label_read_only(open_page, story):
    page = _signed_in(open_page, story["staff"], DESKTOP)

    page.goto(f"/admin/giftcards/giftcardpool/{story['pool'].pk}/change/")

    expect(page.locator(".field-card_value .readonly")).to_contain_text("10")
    expect(page.locator("#id_card_value")).to_have_count(0)
    page.screenshot(path=screenshot_path("admin", "pool-change"), full_page=True)


def test_the_recipient_list_on_a_phone_masks_the_codes(open_page, story):
    recipient = story["recipient"]
    page = _signed_in(open_page, story["staff"], PHONE)

    page.goto("/admin/recipients/recipient/")

    expect(page.locator("#result_list")).to_contain_text(masked_code(recipient.redemption_code))
    expect(page.locator("#result_list")).not_to_contain_text(recipient.display_code)
    page.screenshot(path=screenshot_path("admin", "recipient-list-phone"), full_page=True)
