"""Importing from the dashboard: upload a file into an audience or a pool, confirm its columns,
start it and read the job's page (progress, counts, problems, the report), cancel it; the list of
imports; and who may do which of it."""

import csv
import io
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from giftcards.models import GiftCard
from mike.imports import services
from mike.imports.models import ImportJob, ImportStatus
from recipients.models import Recipient
from tests import factories

pytestmark = pytest.mark.django_db

IMPORTS = reverse("dashboard:imports")

# As Excel on Windows saves it: a BOM, CRLF, accents and apostrophes, US phones written every way,
# a bad phone, a short row, a duplicate row, a row with no way to reach the person, an extra
# column (kept as a custom field) and a blank line.
MESSY = (
    "\ufeffFirst Name , Last Name,Phone,EMAIL,Zip,Favourite Colour\r\n"
    "Zoë,O'Brien,(555) 201-0101,zoe@example.com,62701,blue\r\n"
    "Renée,D'Arcy,555.201.0102,,62702,green\r\n"
    "Bad,Phone,12345,bad@example.com,62703,red\r\n"
    "Zoë,O'Brien,(555) 201-0101,zoe@example.com,62701,blue\r\n"
    "Short,Row,5552010105\r\n"
    "No,Contact,,,62706,purple\r\n"
    "\r\n"
    "José,Núñez,+1 555 201 0107,jose@example.com,62707-1234,black\r\n"
).encode()

GUESSED = {
    "first_name": "first_name",
    "last_name": "last_name",
    "phone": "phone",
    "email": "email",
    "zip": "zip",
}


def upload_url(audience):
    return reverse("dashboard:audience_import", kwargs={"audience_id": audience.pk})


def pool_upload_url(pool):
    return reverse("dashboard:pool_import", kwargs={"pool_id": pool.pk})


def columns_url(job):
    return reverse("dashboard:import_columns", kwargs={"job_id": job.pk})


def job_url(job):
    return reverse("dashboard:import_job", kwargs={"job_id": job.pk})


def cancel_url(job):
    return reverse("dashboard:import_cancel", kwargs={"job_id": job.pk})


def report_url(job):
    return reverse("dashboard:import_report", kwargs={"job_id": job.pk})


def a_file(content: bytes = MESSY, name: str = "audience.csv"):
    return SimpleUploadedFile(name, content, content_type="text/csv")


def mapping_form(mapping: dict, fields=GUESSED) -> dict:
    """The columns form as posted: every recipient field, "" for the ones not in the file."""
    from recipients.services.imports import RecipientImporter

    return {item.name: mapping.get(item.name, "") for item in RecipientImporter.fields}


def stored_files(settings) -> list[Path]:
    return [path for path in Path(settings.MEDIA_ROOT).rglob("*") if path.is_file()]


@pytest.fixture
def audience(tenants):
    return factories.AudienceFactory(client=tenants.client_a, name="Spring mailing")


@pytest.fixture
def admin_client(login_as, people):
    return login_as(people.client_admin)


def pending_job(audience, content=MESSY, user=None):
    return services.create_job(
        "recipients",
        target=audience,
        file=io.BytesIO(content),
        file_name="audience.csv",
        via="dashboard",
        user=user,
    )


def run_import(client, audience, django_capture_on_commit_callbacks, content=MESSY):
    """Upload, confirm the guessed columns and run the job as the worker would (tasks are eager
    in tests; the job starts once the request's transaction commits)."""
    response = client.post(upload_url(audience), {"file": a_file(content)})
    assert response.status_code == 302, response.content.decode()
    job = ImportJob.objects.get(audience=audience, status=ImportStatus.PENDING)
    assert response["Location"] == columns_url(job)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(columns_url(job), mapping_form(job.mapping))
    assert response.status_code == 302
    assert response["Location"] == job_url(job)
    job.refresh_from_db()
    return job


# --- The whole flow ------------------------------------------------------------------------------


def test_a_messy_file_goes_from_upload_to_done_with_exact_counts(
    admin_client, audience, people, django_capture_on_commit_callbacks
):
    response = admin_client.post(upload_url(audience), {"file": a_file()})
    job = ImportJob.objects.get(audience=audience)
    assert response.status_code == 302
    assert job.status == ImportStatus.PENDING
    assert job.via == "dashboard"
    assert job.created_by == people.client_admin
    assert job.file_name == "audience.csv"

    page = admin_client.get(columns_url(job))
    body = page.content.decode()
    assert page.status_code == 200
    # The first rows, as read (BOM gone, accents kept), and the guesses chosen.
    assert "O&#x27;Brien" in body and "Zoë" in body
    form = page.context["form"]
    assert {name: form[name].value() for name in GUESSED} == GUESSED
    assert form["company"].value() == ""
    assert "— not in the file —" in body
    assert "kept on each recipient as custom fields" in body
    assert "favourite_colour" in page.context["unmapped"]

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(columns_url(job), mapping_form(GUESSED))
    assert response.status_code == 302
    assert response["Location"] == job_url(job)
    job.refresh_from_db()
    assert job.status == ImportStatus.DONE
    assert (job.rows_total, job.imported, job.duplicates, job.errors) == (7, 3, 1, 3)
    assert Recipient.objects.filter(audience=audience).count() == 3
    zoe = Recipient.objects.get(audience=audience, phone="+15552010101")
    assert (zoe.first_name, zoe.last_name) == ("Zoë", "O'Brien")
    assert zoe.custom_fields["favourite_colour"] == "blue"
    audience.refresh_from_db()
    assert (audience.total_count, audience.invalid_count) == (3, 3)

    page = admin_client.get(job_url(job))
    body = page.content.decode()
    assert page.status_code == 200
    assert "100 %" in body
    assert "line 4: phone &#x27;12345&#x27; is not a valid number" in body
    assert "line 5: duplicate of line 2" in body
    assert "hx-trigger" not in body  # finished: the progress no longer polls
    assert report_url(job) in body


def test_importing_the_same_file_again_imports_nothing(
    admin_client, audience, django_capture_on_commit_callbacks
):
    run_import(admin_client, audience, django_capture_on_commit_callbacks)
    again = run_import(admin_client, audience, django_capture_on_commit_callbacks)
    assert (again.imported, again.duplicates, again.errors) == (0, 4, 3)
    assert Recipient.objects.filter(audience=audience).count() == 3


def test_the_confirmed_columns_are_offered_for_the_next_file_of_the_same_shape(
    admin_client, audience, django_capture_on_commit_callbacks
):
    content = "Given,Family,Mobile Number,Mail\nAda,Lovelace,5552010101,ada@example.com\n"
    admin_client.post(upload_url(audience), {"file": a_file(content.encode(), "first.csv")})
    first = ImportJob.objects.get(file_name="first.csv")
    assert first.mapping == {}  # nothing in this header is a known name
    chosen = {
        "first_name": "given",
        "last_name": "family",
        "phone": "mobile_number",
        "email": "mail",
    }
    page = admin_client.get(columns_url(first))
    assert page.context["is_remembered"] is False
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(columns_url(first), mapping_form(chosen))
    first.refresh_from_db()
    assert first.status == ImportStatus.DONE and first.imported == 1

    content = "Given,Family,Mobile Number,Mail\nGrace,Hopper,5552010102,grace@example.com\n"
    admin_client.post(upload_url(audience), {"file": a_file(content.encode(), "second.csv")})
    second = ImportJob.objects.get(file_name="second.csv")
    page = admin_client.get(columns_url(second))
    form = page.context["form"]
    assert {name: form[name].value() for name in chosen} == chosen
    assert page.context["is_remembered"] is True
    assert "the columns you confirmed for the last file" in page.content.decode()


def test_a_cards_file_goes_into_a_pool(
    login_as, people, tenants, django_capture_on_commit_callbacks
):
    pool = factories.GiftCardPoolFactory(client=tenants.client_a)
    client = login_as(people.client_admin)
    content = b"Card Code,PIN\nCODE-0001,1111\nCODE-0002,2222\nCODE-0001,1111\n"
    response = client.post(pool_upload_url(pool), {"file": a_file(content, "cards.csv")})
    job = ImportJob.objects.get(pool=pool)
    assert response["Location"] == columns_url(job)
    page = client.get(columns_url(job))
    assert "required" in page.content.decode()
    assert page.context["keeps_other_columns"] is False
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            columns_url(job),
            {"card_code": "card_code", "pin": "pin", "card_number": "", "balance": ""},
        )
    job.refresh_from_db()
    assert (job.status, job.imported, job.duplicates) == (ImportStatus.DONE, 2, 1)
    assert GiftCard.objects.filter(pool=pool).count() == 2
    pool.refresh_from_db()
    assert pool.available_cards == 2
    page = client.get(job_url(job))
    assert reverse("dashboard:giftcard_pool", args=[pool.pk]) in page.content.decode()


# --- Refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The file is empty."),
        (b"name,phone\r\n", "The file has a header but no rows."),
        (b"PK\x03\x04\x00\x00binary", "This is not a CSV file (it holds binary data)."),
    ],
    ids=["empty", "header-only", "binary"],
)
def test_a_refused_file_shows_the_engines_message_and_keeps_nothing(
    admin_client, audience, settings, content, message
):
    response = admin_client.post(upload_url(audience), {"file": a_file(content)})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert ImportJob.objects.count() == 0
    assert stored_files(settings) == []


def test_a_file_is_required(admin_client, audience):
    response = admin_client.post(upload_url(audience), {})
    assert response.status_code == 400
    assert "Choose the CSV file to import." in response.content.decode()


def test_a_required_field_without_a_column_is_an_error_on_that_field(login_as, people, tenants):
    pool = factories.GiftCardPoolFactory(client=tenants.client_a)
    job = services.create_job(
        "cards",
        target=pool,
        file=io.BytesIO(b"serial,pin\n123,1111\n"),
        file_name="cards.csv",
        via="dashboard",
    )
    response = login_as(people.client_admin).post(columns_url(job), {"card_number": "serial"})
    assert response.status_code == 400
    assert response.context["form"].errors["card_code"] == [
        "Choose the column that holds the Card code."
    ]
    job.refresh_from_db()
    assert job.status == ImportStatus.PENDING


def test_one_column_for_two_fields_is_an_error_and_starts_nothing(admin_client, audience):
    job = pending_job(audience)
    mapping = {**GUESSED, "last_name": "first_name"}
    response = admin_client.post(columns_url(job), mapping_form(mapping))
    assert response.status_code == 400
    assert response.context["form"].errors["last_name"] == [
        "Column 'first_name' is already chosen for First name."
    ]
    job.refresh_from_db()
    assert job.status == ImportStatus.PENDING


def test_the_columns_of_a_started_job_cannot_be_changed(admin_client, audience):
    job = pending_job(audience)
    services.start_job(job)
    response = admin_client.post(columns_url(job), mapping_form({"phone": "phone"}))
    assert response.status_code == 302
    assert response["Location"] == job_url(job)
    job.refresh_from_db()
    assert job.mapping == GUESSED


# --- The job's page ------------------------------------------------------------------------------


def test_a_running_job_polls_its_progress_and_htmx_gets_the_partial(admin_client, audience):
    job = pending_job(audience)
    services.start_job(job)  # queued: the worker runs it once the test's transaction commits
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportStatus.RUNNING, rows_total=200, rows_done=50
    )
    page = admin_client.get(job_url(job))
    body = page.content.decode()
    assert 'hx-trigger="every 1s"' in body
    assert "25 %" in body and "50 of 200 rows read" in body
    assert "Cancel the import" in body
    partial = admin_client.get(job_url(job), HTTP_HX_REQUEST="true")
    assert partial.status_code == 200
    fragment = partial.content.decode()
    assert fragment.lstrip().startswith("{#") is False
    assert "<html" not in fragment and 'id="job-progress"' in fragment
    assert 'hx-trigger="every 1s"' in fragment
    assert "HX-Request" in partial["Vary"]

    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.DONE, rows_done=200)
    fragment = admin_client.get(job_url(job), HTTP_HX_REQUEST="true").content.decode()
    assert "hx-trigger" not in fragment and "100 %" in fragment
    assert "Cancel the import" not in fragment


def test_the_report_downloads_as_csv_with_every_problem(
    admin_client, audience, django_capture_on_commit_callbacks
):
    job = run_import(admin_client, audience, django_capture_on_commit_callbacks)
    response = admin_client.get(report_url(job))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == 'attachment; filename="audience-report.csv"'
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0] == ["line", "kind", "error"]
    assert [row[2] for row in rows[1:]] == [
        "line 4: phone '12345' is not a valid number",
        "line 5: duplicate of line 2",
        "line 6: has 3 columns, the header has 6",
        "line 7: has neither a phone number nor an email address",
    ]


def test_the_reports_name_is_safe_in_a_header(admin_client, audience):
    job = services.create_job(
        "recipients",
        target=audience,
        file=io.BytesIO(MESSY),
        file_name='Spring "final"; v2.csv',
        via="dashboard",
    )
    response = admin_client.get(report_url(job))
    assert response["Content-Disposition"] == 'attachment; filename="Spring-final-v2-report.csv"'


def test_a_queued_job_is_cancelled_and_imports_nothing(
    admin_client, audience, django_capture_on_commit_callbacks
):
    job = pending_job(audience)
    services.start_job(job)
    job.refresh_from_db()
    assert job.status == ImportStatus.QUEUED
    response = admin_client.post(cancel_url(job))
    assert response.status_code == 302 and response["Location"] == job_url(job)
    job.refresh_from_db()
    assert job.status == ImportStatus.CANCELLED
    page = admin_client.get(job_url(job)).content.decode()
    assert "Cancelled before it started." in page
    assert "hx-trigger" not in page
    with django_capture_on_commit_callbacks(execute=True):
        services.run_in_foreground(job)
    assert Recipient.objects.filter(audience=audience).count() == 0


# --- The list ------------------------------------------------------------------------------------


def test_the_imports_list_shows_the_jobs_in_scope_newest_first(login_as, people, tenants, audience):
    older = pending_job(audience)
    newer = services.create_job(
        "recipients",
        target=audience,
        file=io.BytesIO(MESSY),
        file_name="newer.csv",
        via="dashboard",
        user=people.client_admin,
    )
    theirs = factories.AudienceFactory(client=tenants.client_b)
    services.create_job(
        "recipients",
        target=theirs,
        file=io.BytesIO(MESSY),
        file_name="other-tenant.csv",
        via="dashboard",
    )
    page = login_as(people.client_user).get(IMPORTS)
    body = page.content.decode()
    assert page.status_code == 200
    assert [row.record for row in page.context["table"].page.object_list] == [newer, older]
    assert "other-tenant.csv" not in body
    assert "Spring mailing" in body and people.client_admin.full_name in body
    assert ">Client<" not in body  # one client: no client column

    everyone = login_as(people.agency_admin, select="all").get(IMPORTS)
    assert "Client A" in everyone.content.decode()


# --- Who may do what -----------------------------------------------------------------------------


def test_another_clients_audience_pool_and_job_are_not_found(login_as, people, audience):
    job = pending_job(audience)
    pool = factories.GiftCardPoolFactory(client=audience.client)
    client = login_as(people.other_client_admin)
    for url in (upload_url(audience), pool_upload_url(pool), columns_url(job)):
        assert client.get(url).status_code == 404, url
        assert client.post(url, {"file": a_file()}).status_code == 404, url
    assert client.get(job_url(job)).status_code == 404
    assert client.get(report_url(job)).status_code == 404
    assert client.post(cancel_url(job)).status_code == 404
    assert ImportJob.objects.count() == 1


def test_a_master_pool_takes_no_dashboard_upload(login_as, people):
    master = factories.GiftCardPoolFactory(client=None, is_master_pool=True)
    assert login_as(people.staff).get(pool_upload_url(master)).status_code == 404


def test_a_user_who_cannot_manage_the_client_may_read_but_not_import(
    login_as, people, audience, django_capture_on_commit_callbacks
):
    done = run_import(login_as(people.client_admin), audience, django_capture_on_commit_callbacks)
    job = pending_job(audience)
    pool = factories.GiftCardPoolFactory(client=audience.client)
    reader = login_as(people.client_user)
    assert reader.get(upload_url(audience)).status_code == 403
    assert reader.post(upload_url(audience), {"file": a_file()}).status_code == 403
    assert reader.get(pool_upload_url(pool)).status_code == 403
    assert reader.get(columns_url(job)).status_code == 403
    assert reader.post(columns_url(job), mapping_form(GUESSED)).status_code == 403
    services.start_job(job)
    assert reader.post(cancel_url(job)).status_code == 403
    job.refresh_from_db()
    assert job.status == ImportStatus.QUEUED
    # Reading is fine.
    page = reader.get(job_url(done))
    assert page.status_code == 200
    assert "Cancel the import" not in reader.get(job_url(job)).content.decode()
    assert reader.get(report_url(done)).status_code == 200
    assert ImportJob.objects.count() == 2


def test_the_agency_admin_imports_for_its_clients(
    login_as, people, audience, django_capture_on_commit_callbacks
):
    client = login_as(people.agency_admin, select="all")
    job = run_import(client, audience, django_capture_on_commit_callbacks)
    assert job.imported == 3


def test_anonymous_visitors_are_sent_to_sign_in(client, audience):
    job = pending_job(audience)
    for url in (upload_url(audience), columns_url(job), job_url(job), report_url(job), IMPORTS):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("dashboard:login"))
