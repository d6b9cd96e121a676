"""The dashboards as their users click through them, in headless Chromium: a client user signs in,
filters recipients (the table swaps in place), exports the filtered rows and opens a campaign's
funnel; an agency admin picks a client, switches client from the header and moves credit to it.
Screenshots of each page at phone and desktop width in .pytest_artifacts/browser/."""

import csv
import io
import re
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import expect

from giftcards.models import CreditAccount
from giftcards.services import allocate_credit
from mike.accounts.models import Role
from mike.accounts.services import grant_role
from recipients.models import ApprovalStatus
from tests import factories
from tests.factories_accounts import TEST_PASSWORD

from .screens import DESKTOP, PHONE, screenshot_path

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def agency_world():
    agency = factories.AgencyFactory(name="Northwind Direct")
    summit = factories.ClientFactory(name="Summit Roofing", parent=agency)
    bayside = factories.ClientFactory(name="Bayside Auto", parent=agency)
    campaign = factories.CampaignFactory(client=summit, name="Spring storm inspection")
    factories.CampaignConditionFactory(campaign=campaign, condition_number=1)
    for n in range(6):
        factories.RecipientFactory(
            campaign=campaign,
            first_name=f"Approved{n}",
            approval_status=ApprovalStatus.APPROVED,
        )
    for n in range(4):
        factories.RecipientFactory(
            campaign=campaign, first_name=f"Waiting{n}", approval_status=ApprovalStatus.PENDING
        )
    reader = factories.UserFactory(email="reader@summit.test", full_name="Riley Reader")
    grant_role(user=reader, role=Role.CLIENT_USER, organization=summit)
    boss = factories.UserFactory(email="boss@northwind.test", full_name="Blake Boss")
    grant_role(user=boss, role=Role.AGENCY_ADMIN, organization=agency)
    allocate_credit(agency, Decimal("500.00"))
    return {"agency": agency, "summit": summit, "bayside": bayside, "campaign": campaign}


def sign_in(page, email, lands_on):
    page.goto("/app/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(lands_on))


def shoot(page, request, label):
    page.screenshot(path=screenshot_path(request.node.name, label), full_page=True)


@pytest.mark.parametrize(("viewport", "size"), [(PHONE, "phone"), (DESKTOP, "desktop")])
def test_client_user_filters_exports_and_opens_a_funnel(
    open_page, agency_world, request, viewport, size
):
    page = open_page(viewport=viewport, accept_downloads=True)
    sign_in(page, "reader@summit.test", r"/app/$")
    shoot(page, request, f"home-{size}")

    page.goto("/app/recipients/")
    expect(page.locator("#table tbody tr")).to_have_count(10)
    page.locator("#id_approval_status").select_option(ApprovalStatus.PENDING)
    # htmx swaps the table and pushes the filter into the address.
    expect(page).to_have_url(re.compile(r"approval_status=pending"))
    expect(page.locator("#table tbody tr")).to_have_count(4)
    expect(page.locator("#table")).not_to_contain_text("Approved0")
    shoot(page, request, f"recipients-{size}")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export CSV").click()
    body = Path(download_info.value.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(body)))
    assert len(rows) == 4
    assert all(row["Name"].startswith("Waiting") for row in rows)

    page.goto("/app/campaigns/")
    page.get_by_role("link", name="Spring storm inspection").click()
    expect(page.get_by_role("heading", name="Spring storm inspection")).to_be_visible()
    expect(page.locator("#main")).to_contain_text("Mailed")
    expect(page.locator("svg").first).to_be_visible()
    shoot(page, request, f"campaign-{size}")
    # A reader sees no buttons that change the campaign.
    expect(page.get_by_role("button", name="Duplicate")).to_have_count(0)


@pytest.mark.parametrize(("viewport", "size"), [(PHONE, "phone"), (DESKTOP, "desktop")])
def test_agency_admin_switches_client_and_moves_credit(
    open_page, agency_world, request, viewport, size
):
    page = open_page(viewport=viewport)
    sign_in(page, "boss@northwind.test", r"/app/clients/$")
    shoot(page, request, f"choose-{size}")
    page.locator("form.card", has_text="Bayside Auto").get_by_role("button").click()
    expect(page).to_have_url(re.compile(r"/app/$"))
    expect(page.locator("#client-switch")).to_have_value(str(agency_world["bayside"].pk))

    page.goto("/app/credit/")
    # The header's switcher: htmx posts the choice and reloads the section's page.
    page.locator("#client-switch").select_option(str(agency_world["summit"].pk))
    expect(page.locator("#client-switch")).to_have_value(str(agency_world["summit"].pk))
    expect(page).to_have_url(re.compile(r"/app/credit/$"))
    expect(page.locator(".page-head")).to_contain_text("Summit Roofing")

    page.get_by_label("Amount ($)").fill("120.00")
    page.get_by_role("button", name="Move credit").click()
    expect(page.locator(".messages")).to_be_visible()
    shoot(page, request, f"credit-{size}")

    summit = CreditAccount.objects.get(organization=agency_world["summit"])
    agency = CreditAccount.objects.get(organization=agency_world["agency"])
    assert summit.balance == Decimal("120.00")
    assert agency.balance == Decimal("380.00")
