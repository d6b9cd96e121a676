"""An ACE form in headless Chromium: a client admin builds a form, reorders a field (htmx),
publishes it; a recipient opens it by their token, sends it with a mistake, then correctly, and
sees the condition met and their reward revealed. Screenshots in .pytest_artifacts/browser/
(ace-form-*)."""

import re
import time

import pytest
from playwright.sync_api import expect

from calls.models import CallConditionMet
from campaigns.models import AceForm, CampaignStatus, TriggerType
from mike.accounts.models import Role
from mike.accounts.services import grant_role
from tests import factories
from tests.factories_accounts import TEST_PASSWORD

from .screens import DESKTOP, PHONE, screenshot_path

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def setting(settings):
    settings.FORM_MIN_FILL_SECONDS = 1
    client = factories.ClientFactory(name="Summit Roofing")
    admin = factories.UserFactory(email="admin@summit.test")
    grant_role(user=admin, role=Role.CLIENT_ADMIN, organization=client)
    campaign = factories.CampaignFactory(
        client=client, name="Spring storm", status=CampaignStatus.MAILED
    )
    recipient = factories.RecipientFactory(
        campaign=campaign, audience=campaign.audience, first_name="Ava"
    )
    return admin, campaign, recipient


def add_field(page, label, name, kind, required=False):
    adding = page.locator("form.field-add")
    adding.get_by_label("Label").fill(label)
    adding.get_by_label("Name", exact=True).fill(name)
    adding.get_by_label("Type").select_option(label=kind)
    if required:
        adding.get_by_label("Required").check()
    adding.get_by_role("button", name="Add the field").click()
    expect(page.locator(".message.success")).to_contain_text(f"The field {label} is added")


def test_build_publish_fill_and_reveal(open_page, setting):
    admin, campaign, recipient = setting
    page = open_page(viewport=DESKTOP)
    page.goto("/app/login/")
    page.get_by_label("Email").fill(admin.email)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/app/$"))

    page.goto("/app/forms/")
    page.get_by_role("link", name="New form").click()
    page.get_by_label("Name").fill("Book your inspection")
    page.get_by_label("Slug").fill("book")
    page.get_by_label("Campaign").select_option(label="Spring storm")
    page.get_by_label("Reveal the reward").check()
    page.get_by_role("button", name="Create the form").click()
    expect(page.get_by_role("heading", name=re.compile("Book your inspection"))).to_be_visible()

    add_field(page, "Email", "email", "Email", required=True)
    add_field(page, "First name", "first_name", "Text", required=True)
    add_field(page, "Your code", "code", "Redemption code")
    # htmx swaps the list: First name moves above Email without a page load.
    page.get_by_role("button", name="Move First name up").click()
    expect(page.locator(".field-row").first).to_contain_text("First name")
    page.get_by_role("button", name="Publish").click()
    expect(page.locator(".message.success")).to_contain_text("is live at /f/book/")
    page.screenshot(path=screenshot_path("ace-form-builder", "desktop"), full_page=True)

    form = AceForm.objects.get(slug="book")
    condition = factories.CampaignConditionFactory(
        campaign=campaign, trigger_type=TriggerType.FORM_SUBMITTED, form=form
    )

    public = open_page(viewport=PHONE)
    public.goto(f"/f/book/?t={recipient.token}")
    expect(public.get_by_label("First name")).to_have_value("Ava")
    expect(public.get_by_label("Your code")).to_have_value(recipient.display_code)
    public.get_by_label("Email").fill("not-an-email")
    time.sleep(1.1)  # the minimum fill time (FORM_MIN_FILL_SECONDS) is what is tested next
    public.get_by_role("button", name="Send").click()
    expect(public.locator(".error")).to_contain_text("Enter an email address")
    public.screenshot(path=screenshot_path("ace-form-public", "error"), full_page=True)
    assert not CallConditionMet.objects.exists()

    public.get_by_label("Email").fill("ava@example.com")
    time.sleep(1.1)
    public.get_by_role("button", name="Send").click()
    expect(public.get_by_role("status")).to_contain_text("Thank you")
    expect(public.locator(".standing")).to_contain_text("under review")
    public.screenshot(path=screenshot_path("ace-form-public", "revealed"), full_page=True)
    met = CallConditionMet.objects.get()
    assert met.recipient == recipient and met.condition == condition
