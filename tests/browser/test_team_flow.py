"""The team in headless Chromium: a client admin invites someone, the invitation's link from the
email sets a password and lands signed in on the dashboard; the settings page previews a text
as it is typed. Screenshots in .pytest_artifacts/browser/ (team-*, invite-*, accept-*,
settings-*)."""

import re

import pytest
from django.core import mail
from playwright.sync_api import expect

from mike.accounts.models import Role, User
from mike.accounts.services import grant_role, has_role
from tests import factories
from tests.factories_accounts import TEST_PASSWORD

from .screens import DESKTOP, PHONE, screenshot_path

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-and-unusual-passphrase-42"


@pytest.fixture
def client_admin():
    client = factories.ClientFactory(name="Summit Roofing")
    admin = factories.UserFactory(email="admin@summit.test", full_name="Sam Admin")
    grant_role(user=admin, role=Role.CLIENT_ADMIN, organization=client)
    return admin


def sign_in(page, email):
    page.goto("/app/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/app/$"))


@pytest.mark.parametrize(("viewport", "size"), [(PHONE, "phone"), (DESKTOP, "desktop")])
def test_an_invitation_is_sent_and_accepted(open_page, client_admin, viewport, size):
    admin_page = open_page(viewport=viewport)
    sign_in(admin_page, client_admin.email)
    admin_page.goto("/app/team/")
    admin_page.get_by_role("link", name="Invite someone").click()
    admin_page.screenshot(path=screenshot_path(f"invite-{size}", "form"), full_page=True)
    admin_page.get_by_label("Email address").fill("casey@summit.test")
    admin_page.get_by_label("Role").select_option(label="Client user")
    admin_page.get_by_role("button", name="Send invitation").click()
    expect(admin_page.locator(".message.success")).to_contain_text("Invitation sent")
    expect(admin_page.locator("table").last).to_contain_text("casey@summit.test")
    admin_page.screenshot(path=screenshot_path(f"team-{size}", "invited"), full_page=True)

    link = re.search(r"https?://\S+/app/invitations/\S+/", mail.outbox[-1].body).group(0)
    invited = open_page(viewport=viewport)
    invited.goto(link[link.index("/app/") :])
    expect(invited.get_by_role("heading", name="Join Summit Roofing")).to_be_visible()
    invited.get_by_label("Your name").fill("Casey Doe")
    invited.get_by_label("Choose a password").fill(PASSWORD)
    invited.get_by_label("The password again").fill(PASSWORD)
    invited.screenshot(path=screenshot_path(f"accept-{size}", "form"), full_page=True)
    invited.get_by_role("button", name="Accept and sign in").click()
    expect(invited).to_have_url(re.compile(r"/app/$"))
    expect(invited.locator(".message.success")).to_contain_text("Welcome to Summit Roofing")
    user = User.objects.get(email="casey@summit.test")
    assert has_role(user, Role.CLIENT_USER, user.memberships.get().organization)


def test_the_settings_preview_follows_the_typing(open_page, client_admin):
    page = open_page(viewport=DESKTOP)
    sign_in(page, client_admin.email)
    page.goto("/app/settings/")
    page.get_by_label("Opt-in text").fill("Reply YES for your {brand} card")
    preview = page.locator("#text-preview")
    expect(preview).to_contain_text("Reply YES for your")
    expect(preview).to_contain_text("must name the company")
    page.screenshot(path=screenshot_path("settings-desktop", "preview"), full_page=True)
