"""A recipient's personal page in headless Chromium, from its QR code's link, on a phone and on a
desktop: their name, the offer and a tap-to-call link, the client's colour, and no CSP violation
(the colour's style block carries the nonce). Screenshots in .pytest_artifacts/browser/."""

import pytest
from playwright.sync_api import expect

from campaigns.models import Event, EventSource, EventType
from mike.landing.services import create_landing_page, set_published
from tests import factories

from .screens import DESKTOP, PHONE, screenshot_path

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("viewport,label", [(PHONE, "phone"), (DESKTOP, "desktop")])
def test_the_qr_link_opens_the_personal_page(open_page, viewport, label, request):
    client = factories.ClientFactory(name="Bayside Auto", brand_colors={"primary": "#0f766e"})
    campaign = factories.CampaignFactory(client=client)
    factories.CampaignConditionFactory(
        campaign=campaign,
        condition_name="Book an oil change",
        brand=factories.GiftCardBrandFactory(brand_name="Corner Cafe"),
        card_value="15.00",
    )
    factories.TrackedPhoneNumberFactory(campaign=campaign, phone_number="+18005550102")
    page_row = create_landing_page(
        client=client, campaign=campaign, name="Oil change", slug="bayside-oil", by=None
    )
    set_published(page=page_row, published=True)
    person = factories.RecipientFactory(campaign=campaign, first_name="Avery")

    page = open_page(viewport=viewport)
    problems = []
    page.on(
        "console",
        lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.on(
        "response",
        lambda r: (
            problems.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico")
            else None
        ),
    )
    page.goto(f"/p/bayside-oil/{person.token}/?src=qr")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Hi Avery, a thank-you from Bayside Auto"
    )
    expect(page.get_by_text("$15.00 Corner Cafe gift card")).to_be_visible()
    call = page.get_by_role("link", name="Call (800) 555-0102")
    expect(call).to_have_attribute("href", "tel:+18005550102")
    hero = page.locator(".lp-hero")
    assert hero.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(15, 118, 110)"
    page.screenshot(path=screenshot_path(request.node.name, label), full_page=True)
    assert problems == []
    event = Event.objects.get(event_type=EventType.PAGE_VIEWED)
    assert event.source == EventSource.QR and event.recipient_id == person.pk
