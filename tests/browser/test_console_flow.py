"""The call console as an agent works a call, in headless Chromium against the live server: a
signed Twilio voice webhook and its status callback put the call in the live list (a second call
shows up on the next poll, without a reload); the agent opens it, texts the opt-in question, the
recipient's signed YES turns the consent panel to "Opted in" by itself, the condition is marked
met, the auto-approved recipient's card is claimed from the pool and the reward step shows the
text they receive (code masked); a reload and a second tab resume the step the call is at; the
call closes as "Call back later" with a date and notes and leaves the live list.
Screenshots at phone and desktop width in .pytest_artifacts/browser/ (console-*)."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
import requests
from django.utils import timezone
from playwright.sync_api import expect

from calls.models import CallDisposition, CallSession, CallStatus, ConsoleStep, DispositionType
from campaigns.models import CampaignStatus, TriggerType
from giftcards.models import GiftCardBrand, RecipientGiftCard, RewardStatus
from giftcards.services import add_cards_to_pool, allocate_credit
from mike.accounts.models import Role
from mike.accounts.services import grant_role
from mike.core import sms
from recipients.models import ApprovalStatus, Recipient, SmsOptInStatus
from tests import factories
from tests.factories_accounts import TEST_PASSWORD
from tests.fakes import twilio as fake_twilio

from .screens import DESKTOP, PHONE, screenshot_path

# Real commits: the live server's thread must see the test's rows, and the on-commit work (the
# opt-in text, the approval, the claim, the card's text; Celery runs eagerly in tests, and texts
# go to the in-process locmem outbox) runs as in production.
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TRACKED = "+18005550101"
CALL_CENTRE = "+18005550199"
DEV_PHONE = "+15552010003"
AVA_PHONE = "+15552010004"
CARD_CODES = ["CONS-SUMM-STA10-0001", "CONS-SUMM-STA10-0002"]
# Polls run every 3 s (live list) and 2 s (consent, reward): two rounds and some slack.
POLL_MS = 10_000


@pytest.fixture
def console_world():
    client = factories.ClientFactory(name="Summit Roofing", auto_approve_recipients=True)
    allocate_credit(client, Decimal("100.00"))
    campaign = factories.CampaignFactory(
        client=client, name="Spring storm inspection", status=CampaignStatus.MAILED
    )
    # The brands arrive by data migration, but an earlier transactional test may have flushed them.
    brand = GiftCardBrand.objects.filter(brand_code="starbucks").first() or (
        factories.GiftCardBrandFactory(
            brand_name="Starbucks", brand_code="starbucks", logo_url="/static/brands/starbucks.svg"
        )
    )
    condition = factories.CampaignConditionFactory(
        campaign=campaign,
        condition_number=1,
        condition_name="Booked an inspection",
        trigger_type=TriggerType.MANUAL_AGENT,
        brand=brand,
        card_value=Decimal("10.00"),
    )
    pool = factories.GiftCardPoolFactory(client=client, brand=brand, card_value=Decimal("10.00"))
    add_cards_to_pool(pool, CARD_CODES)
    factories.TrackedPhoneNumberFactory(
        campaign=campaign, phone_number=TRACKED, forward_to_number=CALL_CENTRE
    )
    dev = factories.RecipientFactory(
        campaign=campaign, phone=DEV_PHONE, first_name="Dev", last_name="Smith"
    )
    ava = factories.RecipientFactory(
        campaign=campaign, phone=AVA_PHONE, first_name="Ava", last_name="Jones"
    )
    agent = factories.UserFactory(email="agent@summit.test", full_name="Alex Agent")
    grant_role(user=agent, role=Role.CALL_CENTER_AGENT, organization=client)
    return {"client": client, "condition": condition, "dev": dev, "ava": ava, "agent": agent}


def twilio_hook(live_server, path, params):
    """POST a webhook to the live server as Twilio does: signed over the absolute URL it calls."""
    url = f"{live_server.url}{path}"
    response = requests.post(
        url,
        data=params,
        headers={"X-Twilio-Signature": fake_twilio.signature(url, params)},
        timeout=10,
    )
    assert response.status_code in (200, 204), response.text
    return response


def call_comes_in(live_server, sid, caller):
    """A call rings on the tracked number (the voice webhook), then is answered (its status
    callback says in-progress)."""
    base = {
        "AccountSid": fake_twilio.ACCOUNT_SID,
        "CallSid": sid,
        "From": caller,
        "Caller": caller,
        "To": TRACKED,
        "Called": TRACKED,
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
        "FromCity": "DENVER",
        "FromState": "CO",
        "FromCountry": "US",
    }
    voice = twilio_hook(live_server, "/hooks/twilio/voice/", {**base, "CallStatus": "ringing"})
    assert f">{CALL_CENTRE}</Dial>" in voice.text
    twilio_hook(live_server, "/hooks/twilio/voice/status/", {**base, "CallStatus": "in-progress"})
    call = CallSession.objects.get(twilio_call_sid=sid)
    assert call.call_status == CallStatus.IN_PROGRESS
    return call


def text_comes_in(live_server, sid, phone, body):
    twilio_hook(
        live_server,
        "/hooks/twilio/sms/",
        {
            "AccountSid": fake_twilio.ACCOUNT_SID,
            "MessageSid": sid,
            "SmsSid": sid,
            "SmsMessageSid": sid,
            "From": phone,
            "To": fake_twilio.FROM_NUMBER,
            "Body": body,
            "NumMedia": "0",
            "NumSegments": "1",
            "SmsStatus": "received",
            "ApiVersion": "2010-04-01",
        },
    )


def sign_in(page, email):
    page.goto("/app/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    # An agent's dashboard is the call console.
    expect(page).to_have_url(re.compile(r"/app/calls/$"))


def shoot_both(page, label):
    """Full-page screenshots of what the page shows, at phone then desktop width."""
    for viewport, size in ((PHONE, "phone"), (DESKTOP, "desktop")):
        page.set_viewport_size(viewport)
        page.screenshot(path=screenshot_path(f"console-{label}", size), full_page=True)
        # Nothing runs off the side of the screen (a phone would scroll sideways).
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= viewport["width"], f"{label} is {width}px wide at {size} width"


def mark_page(page):
    """A flag in the page's window: it survives htmx swaps and disappears on a reload."""
    page.evaluate("window.__notReloaded = true")


def expect_not_reloaded(page):
    assert page.evaluate("window.__notReloaded === true"), "the page was reloaded"


def step_heading(page):
    return page.locator("#step-title")


def test_an_agent_works_a_call_from_ringing_to_closed(open_page, live_server, console_world):
    dev, ava, condition = console_world["dev"], console_world["ava"], console_world["condition"]
    dev_call = call_comes_in(live_server, "CA" + "d" * 32, DEV_PHONE)
    assert dev_call.recipient == dev

    page = open_page(viewport=DESKTOP)
    sign_in(page, console_world["agent"].email)
    live = page.locator("#live-calls")
    expect(live.locator("li")).to_have_count(1)
    expect(live).to_contain_text("Dev Smith")
    expect(live).to_contain_text("In progress")

    # A second call rings after the page loaded: the next poll brings it, without a reload.
    mark_page(page)
    call_comes_in(live_server, "CA" + "a" * 32, AVA_PHONE)
    expect(live.locator("li", has_text="Ava Jones")).to_be_visible(timeout=POLL_MS)
    expect(live.locator("li")).to_have_count(2)
    expect_not_reloaded(page)
    shoot_both(page, "list")

    live.locator("li", has_text="Dev Smith").get_by_role("link", name="Open").click()
    expect(page).to_have_url(re.compile(rf"/app/calls/{dev_call.pk}/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Dev Smith")
    expect(step_heading(page)).to_have_text("The caller")
    dev_call.refresh_from_db()
    assert dev_call.agent == console_world["agent"]

    # Consent: the opt-in question goes out as a text while the caller is on the line.
    page.locator(".console-steps").get_by_role("button", name="Consent").click()
    expect(step_heading(page)).to_have_text("Consent")
    page.get_by_role("button", name="Send the opt-in text", exact=True).click()
    expect(page.locator(".messages")).to_contain_text("Opt-in text on its way")
    expect(page.get_by_role("button", name="Resend the opt-in text", exact=True)).to_be_visible()
    consent = page.locator("#consent-status")
    expect(consent).to_contain_text("Watching for the reply")
    texts_to_dev = [m.body for m in sms.outbox if m.to == DEV_PHONE]
    assert len(texts_to_dev) == 1
    assert "YES" in texts_to_dev[0]
    shoot_both(page, "consent")

    # The recipient answers YES: the panel, polled, says so without a reload.
    mark_page(page)
    text_comes_in(live_server, "SM" + "1" * 32, DEV_PHONE, "YES")
    expect(consent).to_contain_text("Opted in", timeout=POLL_MS)
    expect(consent).to_contain_text("YES")
    expect(consent).not_to_contain_text("Watching for the reply")
    expect_not_reloaded(page)
    # The poll swaps the status only: the resend button goes once the page is drawn again.
    page.reload()
    expect(consent).to_contain_text("Opted in")
    expect(page.get_by_role("button", name=re.compile("opt-in text"))).to_have_count(0)
    dev.refresh_from_db()
    assert dev.sms_opt_in_status == SmsOptInStatus.OPTED_IN
    shoot_both(page, "consent-opted-in")

    page.get_by_role("button", name="Next: condition").click()
    expect(step_heading(page)).to_have_text("Condition")

    # Resume: a reload, and a second tab on the same call, both show the step the call is at.
    page.reload()
    expect(step_heading(page)).to_have_text("Condition")
    expect(page.locator(".console-steps [aria-current=step]")).to_have_text("Condition")
    tab = page.context.new_page()
    tab.goto(f"/app/calls/{dev_call.pk}/")
    expect(step_heading(tab)).to_have_text("Condition")
    expect(tab.get_by_role("button", name="Mark condition 1 met")).to_be_visible()
    tab.close()
    dev_call.refresh_from_db()
    assert dev_call.console_step == ConsoleStep.CONDITION

    # The condition met: the client approves automatically, a card is claimed from the pool and
    # texted; the reward step shows what the recipient receives, the code masked.
    page.get_by_role("button", name="Mark condition 1 met").click()
    expect(page.locator(".messages")).to_contain_text("Condition 1 met")
    expect(step_heading(page)).to_have_text("Reward")
    reward_panel = page.locator("#reward-status")
    expect(reward_panel).to_contain_text("$10.00 Starbucks")
    expect(reward_panel).to_contain_text("for condition 1")
    expect(reward_panel.locator(".reward-head .badge").first).to_have_text(
        re.compile(r"Claimed|Delivered"), timeout=POLL_MS
    )
    bubble = reward_panel.locator(".sms-bubble")
    expect(bubble).to_be_visible(timeout=POLL_MS)
    reward = RecipientGiftCard.objects.select_related("gift_card").get(
        recipient=dev, condition=condition
    )
    assert reward.status in (RewardStatus.CLAIMED, RewardStatus.DELIVERED)
    card = reward.gift_card
    assert card is not None and card.code in CARD_CODES
    expect(bubble).to_contain_text(card.masked_code)
    expect(bubble).not_to_contain_text(card.code)
    dev.refresh_from_db()
    assert dev.approval_status == ApprovalStatus.APPROVED
    card_texts = [m.body for m in sms.outbox if m.to == DEV_PHONE and card.code in m.body]
    assert len(card_texts) == 1, [m.body for m in sms.outbox]
    shoot_both(page, "reward")

    # Close: "Call back later" needs its day; with it and notes the call leaves the live list.
    page.get_by_role("button", name="Next: close the call").click()
    expect(step_heading(page)).to_have_text("Close the call")
    page.get_by_label("Call back later").check()
    page.get_by_role("button", name="Close the call").click()
    expect(page.locator(".field", has_text="Call back on")).to_contain_text(
        "Pick the day to call back on."
    )
    expect(step_heading(page)).to_have_text("Close the call")
    callback_day = timezone.localdate() + timedelta(days=3)
    page.get_by_label("Call back later").check()
    page.get_by_label("Call back on").fill(callback_day.isoformat())
    page.get_by_label("Notes").fill("Wants a call after the roof inspection on Friday.")
    page.get_by_role("button", name="Close the call").click()
    expect(page).to_have_url(re.compile(r"/app/calls/$"))
    expect(page.locator(".messages")).to_contain_text("Call closed: Call back later.")
    live = page.locator("#live-calls")
    expect(live.locator("li")).to_have_count(1)
    expect(live).to_contain_text("Ava Jones")
    expect(live).not_to_contain_text("Dev Smith")
    # The side panel keeps the agent's closed call and the reward it earned.
    side = page.locator(".console-side")
    expect(side.locator("li", has_text="Dev Smith").first).to_contain_text("closed")
    expect(side).to_contain_text("Dev Smith · $10.00 Starbucks")
    shoot_both(page, "list-after-close")

    dev_call.refresh_from_db()
    assert dev_call.console_step == ConsoleStep.CLOSED
    disposition = CallDisposition.objects.get(call_session=dev_call)
    assert disposition.disposition_type == DispositionType.CALLBACK_REQUESTED
    assert disposition.follow_up_date == callback_day
    assert disposition.notes == "Wants a call after the roof inspection on Friday."
    assert disposition.agent == console_world["agent"]
    # Ava was never texted nor touched.
    assert not [m for m in sms.outbox if m.to == AVA_PHONE]
    assert Recipient.objects.get(pk=ava.pk).sms_opt_in_status == SmsOptInStatus.NOT_SENT
