"""Import jobs in the admin: uploading a file (it runs as a job with the guessed columns), the
read-only job pages with progress and report, the Cancel action."""

import csv
import io
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from giftcards.models import GiftCard
from mike.imports import services
from mike.imports.admin import ADMIN_KINDS, UploadForm
from mike.imports.models import ImportJob, ImportStatus
from recipients.models import Recipient
from tests import factories

pytestmark = pytest.mark.django_db

UPLOAD = reverse("admin:imports_importjob_upload")
CHANGELIST = reverse("admin:imports_importjob_changelist")

PEOPLE = (
    b"Name,Phone,Email\r\n"
    b"Ada Lovelace,(555) 201-0101,ada@example.com\r\n"
    b"Bad Phone,12345,\r\n"
    b"Ada Lovelace,(555) 201-0101,ada@example.com\r\n"
    b"Grace Hopper,555-201-0102,grace@example.com\r\n"
)


def change_url(job):
    return reverse("admin:imports_importjob_change", args=[job.pk])


def a_file(content=PEOPLE, name="people.csv"):
    return SimpleUploadedFile(name, content, content_type="text/csv")


@pytest.fixture
def superuser(db):
    return factories.UserFactory(is_staff=True, is_superuser=True, full_name="Staff Person")


@pytest.fixture
def staff(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def audience(db):
    return factories.AudienceFactory(name="Spring mailing")


def queued_job(audience):
    job = services.create_job(
        "recipients", target=audience, file=io.BytesIO(PEOPLE), file_name="q.csv", via="admin"
    )
    return services.start_job(job)  # the worker would run it once the test's transaction commits


def test_staff_upload_a_file_and_land_on_the_jobs_page(
    staff, superuser, audience, django_capture_on_commit_callbacks
):
    assert staff.get(UPLOAD).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = staff.post(
            UPLOAD, {"kind": "recipients", "audience": audience.pk, "file": a_file()}
        )
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == change_url(job)
    job.refresh_from_db()
    assert (job.via, job.created_by, job.file_name) == ("admin", superuser, "people.csv")
    assert job.mapping == {"full_name": "name", "phone": "phone", "email": "email"}
    assert job.status == ImportStatus.DONE
    assert (job.rows_total, job.imported, job.duplicates, job.errors) == (4, 2, 1, 1)
    assert Recipient.objects.filter(audience=audience).count() == 2

    page = staff.get(change_url(job))
    body = page.content.decode()
    assert page.status_code == 200
    assert "100 % · 4 of 4 rows" in body
    assert reverse("admin:imports_importjob_report", args=[job.pk]) in body
    assert 'name="_save"' not in body  # nothing to save: the page is read-only
    assert 'http-equiv="refresh"' not in body  # ended: no reloading


def test_cards_go_into_a_master_pool_too(staff, django_capture_on_commit_callbacks):
    master = factories.GiftCardPoolFactory(client=None, is_master_pool=True)
    cards = a_file(b"card_code,pin\nMASTER-0001,1111\nMASTER-0002,2222\n", "cards.csv")
    with django_capture_on_commit_callbacks(execute=True):
        staff.post(UPLOAD, {"kind": "cards", "pool": master.pk, "file": cards})
    job = ImportJob.objects.get()
    assert (job.status, job.imported, job.client_id) == (ImportStatus.DONE, 2, None)
    assert GiftCard.objects.filter(pool=master).count() == 2


def test_a_running_job_reloads_its_page_with_its_progress(staff, audience):
    job = queued_job(audience)
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportStatus.RUNNING, rows_total=4000, rows_done=1000
    )
    body = staff.get(change_url(job)).content.decode()
    assert 'http-equiv="refresh"' in body
    assert "25 % · 1,000 of 4,000 rows" in body


@pytest.mark.parametrize(
    ("kind", "content", "message"),
    [
        ("recipients", b"name,phone\n", "The file has a header but no rows."),
        ("recipients", b"", "The file is empty."),
        ("cards", b"pin,balance\n1111,25\n", "The file has no card_code column"),
    ],
    ids=["header-only", "empty", "cards-without-codes"],
)
def test_a_refused_file_is_shown_on_the_form_and_nothing_is_kept(
    staff, audience, settings, kind, content, message
):
    pool = factories.GiftCardPoolFactory()
    target = {"audience": audience.pk} if kind == "recipients" else {"pool": pool.pk}
    response = staff.post(UPLOAD, {"kind": kind, **target, "file": a_file(content)})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert ImportJob.objects.count() == 0
    assert [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()] == []


def test_the_kind_needs_its_target(staff, audience):
    pool = factories.GiftCardPoolFactory()
    response = staff.post(UPLOAD, {"kind": "recipients", "pool": pool.pk, "file": a_file()})
    assert response.status_code == 400
    assert response.context["form"].errors["audience"] == ["Choose the audience."]
    assert ImportJob.objects.count() == 0


def test_the_upload_form_is_built_from_the_kinds_table():
    from django.contrib import admin

    form = UploadForm(admin_site=admin.site)
    assert [value for value, _ in form.fields["kind"].choices] == list(ADMIN_KINDS)
    for entry in ADMIN_KINDS.values():
        assert entry.target in form.fields


def test_the_audience_chooser_autocompletes(staff, audience):
    response = staff.get(
        reverse("admin:autocomplete"),
        {
            "app_label": "imports",
            "model_name": "importjob",
            "field_name": "audience",
            "term": "spr",
        },
    )
    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [str(audience.pk)]


def test_staff_without_the_permission_cannot_upload_or_cancel(client, audience):
    viewer = factories.UserFactory(is_staff=True)
    viewer.user_permissions.add(
        Permission.objects.get(content_type__app_label="imports", codename="view_importjob")
    )
    client.force_login(viewer)
    assert client.get(CHANGELIST).status_code == 200
    assert "Upload a file" not in client.get(CHANGELIST).content.decode()
    assert client.get(UPLOAD).status_code == 403
    job = queued_job(audience)
    response = client.post(CHANGELIST, {"action": "cancel_imports", "_selected_action": [job.pk]})
    assert response.status_code == 403
    job.refresh_from_db()
    assert job.status == ImportStatus.QUEUED


def test_the_changelist_links_the_upload_and_filters(staff, audience):
    job = queued_job(audience)
    body = staff.get(CHANGELIST).content.decode()
    assert UPLOAD in body and "Upload a file" in body
    assert "q.csv" in body and "Spring mailing" in body
    for query in ({"kind__exact": "cards"}, {"status__exact": "done"}, {"q": "nothing"}):
        assert "q.csv" not in staff.get(CHANGELIST, query).content.decode(), query
    assert "q.csv" in staff.get(CHANGELIST, {"via__exact": "admin", "q": "q."}).content.decode()
    assert job.pk


def test_the_change_page_changes_nothing(staff, audience):
    job = queued_job(audience)
    assert staff.post(change_url(job), {"status": "done"}).status_code == 403
    job.refresh_from_db()
    assert job.status == ImportStatus.QUEUED
    delete = reverse("admin:imports_importjob_delete", args=[job.pk])
    assert staff.post(delete, {"post": "yes"}).status_code == 403
    assert staff.get(reverse("admin:imports_importjob_add")).status_code == 403


def test_the_cancel_action_cancels_a_queued_job_and_leaves_an_ended_one(staff, audience):
    job = queued_job(audience)
    ended = queued_job(audience)
    services.run_in_foreground(ended)
    ended.refresh_from_db()
    assert ended.status == ImportStatus.DONE
    response = staff.post(
        CHANGELIST,
        {"action": "cancel_imports", "_selected_action": [job.pk, ended.pk]},
        follow=True,
    )
    assert "Imports: 1 cancelled." in response.content.decode()
    job.refresh_from_db()
    ended.refresh_from_db()
    assert job.status == ImportStatus.CANCELLED
    assert ended.status == ImportStatus.DONE


def test_the_report_downloads_from_the_admin(staff, audience):
    job = queued_job(audience)
    services.run_in_foreground(job)
    response = staff.get(reverse("admin:imports_importjob_report", args=[job.pk]))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(body))) == [
        ["line", "kind", "error"],
        ["3", "error", "line 3: phone '12345' is not a valid number"],
        ["4", "duplicate", "line 4: duplicate of line 2"],
    ]


def test_the_changelist_queries_do_not_grow_with_jobs(staff, audience):
    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert staff.get(CHANGELIST).status_code == 200
        return len(captured)

    queued_job(audience)
    few = queries()
    for _ in range(10):
        queued_job(factories.AudienceFactory())
    assert queries() == few
