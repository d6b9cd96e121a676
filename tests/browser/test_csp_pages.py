"""No Content Security Policy violation in Chromium on the dashboard home, a table filtered by
htmx, the call console, the API docs and the admin (each page's `securitypolicyviolation` events
and console errors are collected). A page that breaks the policy on purpose shows the listener
works."""

import re

import pytest
from playwright.sync_api import expect

from mike.accounts.models import Role
from mike.accounts.services import grant_role
from tests import factories
from tests.factories_accounts import TEST_PASSWORD
from tests.two_factor import authenticator_for, current_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LISTEN = (
    "document.addEventListener('securitypolicyviolation', e => "
    "console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI))"
)


def watched(open_page):
    page = open_page()
    problems = []
    page.add_init_script(LISTEN)
    page.on(
        "console",
        lambda m: (
            problems.append(m.text)
            if "Content Security Policy" in m.text or "CSP" in m.text
            else None
        ),
    )
    return page, problems


def settle(page, path):
    page.goto(path)
    page.wait_for_load_state("networkidle")


def test_dashboard_console_and_docs_run_without_violations(open_page):
    client = factories.ClientFactory()
    user = factories.UserFactory(email="csp@summit.test")
    grant_role(user=user, role=Role.CLIENT_ADMIN, organization=client)
    page, problems = watched(open_page)

    page.goto("/app/login/")
    page.get_by_label("Email").fill("csp@summit.test")
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/app/"))
    settle(page, "/app/")
    settle(page, "/app/recipients/")
    with page.expect_response(re.compile(r"/app/recipients/\?")):
        page.locator("input[type=search]").first.press_sequentially(
            "nobody"
        )  # htmx filters the table
    settle(page, "/app/calls/")
    settle(page, "/api/v1/docs/")
    expect(page.locator(".swagger-ui .info")).to_be_visible()  # Swagger UI ran its set-up
    assert problems == []

    # The listener sees a violation when there is one.
    page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = '1'; "
        "document.body.appendChild(s); }"
    )
    page.wait_for_timeout(200)
    assert any("script-src" in text for text in problems)


def test_the_admin_runs_without_violations(open_page):
    staff = factories.UserFactory(email="staff@mike.test", is_staff=True, is_superuser=True)
    device = authenticator_for(staff)
    page, problems = watched(open_page)
    page.goto("/admin/login/")
    page.fill("input[name=username]", staff.email)
    page.fill("input[name=password]", TEST_PASSWORD)
    page.locator("input[type=submit]").click()
    # The admin's second step, under the same policy.
    page.locator("#id_code").fill(current_code(device))
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(re.compile(r"/admin/$"))
    settle(page, "/admin/giftcards/giftcard/")
    settle(page, "/admin/campaigns/campaign/add/")
    assert problems == []
