"""Importing an audience file from the dashboard in headless Chromium: a client admin uploads a
file with bad rows, confirms the columns, sees the job reach 100 %, reads what was not imported
and downloads the report; and a job's page follows a running import without being reloaded.
Screenshots in .pytest_artifacts/browser/ (import-*)."""

import csv
import io
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from mike.accounts.models import Role
from mike.accounts.services import grant_role
from mike.imports import services
from mike.imports.models import ImportJob, ImportStatus
from recipients.models import Recipient
from tests import factories
from tests.factories_accounts import TEST_PASSWORD

from .screens import DESKTOP, PHONE, screenshot_path

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AUDIENCE_FILE = (
    "\ufeffFirst Name,Last Name,Phone,Email,Zip,Favourite colour\r\n"
    "Zoë,O'Brien,(555) 201-0101,zoe@example.com,62701,blue\r\n"
    "Bad,Phone,12345,bad@example.com,62703,red\r\n"
    "Zoë,O'Brien,(555) 201-0101,zoe@example.com,62701,blue\r\n"
    "No,Contact,,,62706,purple\r\n"
    "José,Núñez,+1 555 201 0107,jose@example.com,62707-1234,black\r\n"
).encode()


@pytest.fixture
def summit():
    client = factories.ClientFactory(name="Summit Roofing")
    admin = factories.UserFactory(email="admin@summit.test", full_name="Sam Admin")
    grant_role(user=admin, role=Role.CLIENT_ADMIN, organization=client)
    audience = factories.AudienceFactory(client=client, name="Spring mailing")
    return {"client": client, "admin": admin, "audience": audience}


def sign_in(page, email):
    page.goto("/app/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/app/$"))


@pytest.mark.parametrize(("viewport", "size"), [(PHONE, "phone"), (DESKTOP, "desktop")])
def test_a_client_admin_imports_an_audience_file_and_downloads_the_report(
    open_page, summit, tmp_path, viewport, size
):
    source = tmp_path / "spring-mailing.csv"
    source.write_bytes(AUDIENCE_FILE)
    page = open_page(viewport=viewport)
    sign_in(page, summit["admin"].email)
    page.get_by_role("link", name="Audiences").click()
    page.get_by_role("link", name="Spring mailing").click()
    page.get_by_role("link", name="Import recipients").first.click()
    expect(page.get_by_role("heading", name="Import recipients")).to_be_visible()
    page.screenshot(path=screenshot_path(f"import-{size}", "1-upload"), full_page=True)

    page.get_by_label("CSV file").set_input_files(str(source))
    page.get_by_role("button", name="Upload and check").click()
    expect(page.get_by_role("heading", name="Confirm the columns")).to_be_visible()
    expect(page.locator(".preview-table")).to_contain_text("O'Brien")
    expect(page.get_by_label("Phone")).to_have_value("phone")
    expect(page.get_by_label("Company")).to_have_value("")
    page.screenshot(path=screenshot_path(f"import-{size}", "2-columns"), full_page=True)

    page.get_by_role("button", name="Start the import").click()
    expect(page.get_by_role("heading", name="spring-mailing.csv")).to_be_visible()
    progress = page.locator("#job-progress")
    expect(progress).to_contain_text("100 %")
    expect(progress).to_contain_text("Done")
    expect(progress.locator(".stat").nth(1)).to_contain_text("2")  # imported
    expect(progress).to_contain_text("line 3: phone '12345' is not a valid number")
    expect(progress).to_contain_text("line 4: duplicate of line 2")
    page.screenshot(path=screenshot_path(f"import-{size}", "3-done"), full_page=True)

    with page.expect_download() as download:
        page.get_by_role("link", name="Download the report (CSV)").click()
    assert download.value.suggested_filename == "spring-mailing-report.csv"
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    lines = [row[2] for row in list(csv.reader(io.StringIO(text)))[1:]]
    assert lines == [
        "line 3: phone '12345' is not a valid number",
        "line 4: duplicate of line 2",
        "line 5: has neither a phone number nor an email address",
    ]
    assert Recipient.objects.filter(audience=summit["audience"]).count() == 2

    page.get_by_role("link", name="All imports").click()
    expect(page.locator("table")).to_contain_text("spring-mailing.csv")
    page.screenshot(path=screenshot_path(f"import-{size}", "4-list"), full_page=True)


def test_the_job_page_follows_a_running_import_until_it_ends(open_page, summit):
    job = services.create_job(
        "recipients",
        target=summit["audience"],
        file=io.BytesIO(AUDIENCE_FILE),
        file_name="spring.csv",
        via="dashboard",
        user=summit["admin"],
    )
    job = services.start_job(job, queue=False)  # queued; nobody runs it until the test does
    page = open_page(viewport=DESKTOP)
    sign_in(page, summit["admin"].email)
    page.goto(f"/app/imports/{job.pk}/")
    progress = page.locator("#job-progress")
    expect(progress).to_contain_text("Queued")
    expect(progress).to_have_attribute("hx-trigger", "every 1s")
    page.screenshot(path=screenshot_path("import-desktop", "5-queued"), full_page=True)

    services.run_in_foreground(job)
    assert ImportJob.objects.get(pk=job.pk).status == ImportStatus.DONE
    # The partial polls itself: the page shows the end without a reload, then stops polling.
    expect(progress).to_contain_text("100 %", timeout=5_000)
    expect(progress).not_to_have_attribute("hx-trigger", "every 1s")
    expect(page.locator(".stat").nth(1)).to_contain_text("2")
