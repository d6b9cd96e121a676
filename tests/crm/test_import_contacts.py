"""Importing contacts into a client's CRM: messy rows, exact counts, per-client duplicates, the
list filled, re-import, the command."""

import csv
import threading
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connections
from django.test import override_settings

from crm.models import Contact, ContactListMember, LifecycleStage
from mike.core.imports import ImportFileError
from mike.imports.models import ImportJob, ImportKind
from mike.imports.services import import_file, raise_if_refused, report_of
from tests.factories import (
    AgencyFactory,
    ClientFactory,
    ContactFactory,
    ContactListFactory,
    ContactListMemberFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

LONG = "X" * 101
MESSY = (
    "\ufeff First Name ,Last Name,Name,Phone,Mobile,E-mail,Company,Address,City,State,ZIP,"
    "Customer ID,Lifecycle Stage,Shirt Size\r\n"
    "Zoë,O'Neil,,(555) 201-0001,,zoe@example.com,Acme,1 Elm St,Austin,TX,78701,C-1,Customer,M\r\n"
    "José,Núñez,,555.201.0002,555-301-0002,,,2 Oak Ave,Austin,TX,787011234,,,L\r\n"
    "Ann,Lee,,+1 555 201 0003,,,,,,,,,MQL,\r\n"
    "Bob,Ray,,1-555-201-0004,,,,,,,,,,\r\n"
    "Cy,Day,,,5552010005,CY@Example.com,,,,,,,,\r\n"
    "\r\n"
    "Bad,Phone,,12345,,,,,,,,,,\r\n"
    "Bad,Mobile,,,999,,,,,,,,,\r\n"
    "No,Contact,,,,,,,,,,,,\r\n"
    "Bad,Email,,,,not-an-email,,,,,,,,\r\n"
    "Bad,Zip,,5552010012,,,,,,,ABCDE,,,\r\n"
    "Bad,Stage,,5552010013,,,,,,,,,prospect,\r\n"
    "Short,Row,,5552010014\r\n"
    "Zoe,Again,,555-201-0001,,,,,,,,,,\r\n"
    "Cy,Again,,,,cy@example.com,,,,,,,,\r\n"
    "Old,Phone,,555 201 0099,,,,,,,,,,\r\n"
    "Old,Email,,,,OLD@example.com,,,,,,,,\r\n"
    "Other,Client,,555-201-0077,,,,,,,,,,\r\n"
    f"{LONG},Long,,5552010020,,,,,,,,,,\r\n"
    ',,"Mary Ann O’Brien",(555) 201-0021,,,,,,,,,lead,\r\n'
    "Jo,Dup,,555 301 0002,,,,,,,,,,\r\n"
)
MESSY_PROBLEMS = [
    (8, "phone '12345' is not a valid number"),
    (9, "mobile_phone '999' is not a valid number"),
    (10, "has neither a phone number nor an email address"),
    (11, "email 'not-an-email' is not a valid address"),
    (12, "zip 'ABCDE' is not a US ZIP code (5 digits or ZIP+4)"),
    (
        13,
        "lifecycle_stage 'prospect' is not one of lead, mql, sql, opportunity, customer, "
        "evangelist",
    ),
    (14, "has 4 columns, the header has 14"),
    (15, "duplicate of line 2"),
    (16, "duplicate of line 6"),
    (17, "already a contact (phone +15552010099); added to the list"),
    (18, "already a contact (email old@example.com); added to the list"),
    (20, "first_name is longer than 100 characters"),
    (22, "duplicate of line 3"),
]
NEW_PHONES = [
    "+15552010001",
    "+15552010002",
    "+15552010003",
    "+15552010004",
    "+15552010077",
    "+15552010021",
]


def _write(tmp_path, text, name="contacts.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def _import(client, path, contact_list=None, user=None):
    job = import_file(
        ImportKind.CONTACTS, target=client, source=path, contact_list=contact_list, user=user
    )
    raise_if_refused(job)
    return report_of(job)


@pytest.fixture
def crm(db):
    """A client with a list and two contacts the messy file names again: one by phone (marked
    do-not-contact), one by email (opted out of texts); and another client with a contact of a
    phone the file has."""
    client = ClientFactory()
    by_phone = ContactFactory(
        client=client, phone="+15552010099", email="", do_not_contact=True, first_name="Olga"
    )
    by_email = ContactFactory(
        client=client, phone="", email="old@example.com", sms_opt_out=True, first_name="Otto"
    )
    other = ContactFactory(phone="+15552010077", first_name="Else")
    return {
        "client": client,
        "list": ContactListFactory(client=client, name="Spring leads"),
        "by_phone": by_phone,
        "by_email": by_email,
        "other": other,
    }


def test_messy_file_imports_good_rows_and_reports_each_bad_one(tmp_path, crm):
    user = UserFactory()
    client, contact_list = crm["client"], crm["list"]
    report = _import(client, _write(tmp_path, MESSY), contact_list, user=user)

    assert (report.rows, report.imported, report.duplicates, report.errors) == (20, 7, 5, 8)
    assert report.problems == MESSY_PROBLEMS

    new = Contact.objects.filter(client=client).exclude(
        pk__in=[crm["by_phone"].pk, crm["by_email"].pk]
    )
    assert new.count() == 7
    by_phone = {c.phone: c for c in new if c.phone}
    assert sorted(by_phone) == sorted(NEW_PHONES)
    zoe = by_phone["+15552010001"]
    assert (zoe.first_name, zoe.last_name, zoe.email, zoe.company) == (
        "Zoë",
        "O'Neil",
        "zoe@example.com",
        "Acme",
    )
    assert (zoe.address, zoe.city, zoe.state, zoe.zip) == ("1 Elm St", "Austin", "TX", "78701")
    assert zoe.customer_code == "C-1" and zoe.lifecycle_stage == LifecycleStage.CUSTOMER
    assert zoe.custom_fields == {"shirt_size": "M"}
    assert zoe.created_by == user and zoe.country == "US"
    jose = by_phone["+15552010002"]
    assert jose.mobile_phone == "+15553010002" and jose.zip == "78701-1234"
    assert jose.lifecycle_stage == LifecycleStage.LEAD
    assert by_phone["+15552010003"].lifecycle_stage == LifecycleStage.MQL
    mary = by_phone["+15552010021"]
    assert (mary.first_name, mary.last_name) == ("Mary Ann", "O’Brien")
    cy = new.get(mobile_phone="+15552010005")
    assert (cy.phone, cy.email) == ("", "cy@example.com")

    # The list holds the new contacts and the two already there; its count says so.
    members = set(
        ContactListMember.objects.filter(contact_list=contact_list).values_list(
            "contact_id", flat=True
        )
    )
    assert members == {*new.values_list("pk", flat=True), crm["by_phone"].pk, crm["by_email"].pk}
    contact_list.refresh_from_db()
    assert contact_list.contact_count == 9
    assert set(
        ContactListMember.objects.filter(contact_list=contact_list).values_list(
            "added_by", flat=True
        )
    ) == {user.pk}

    # The contacts already there are left as they were: do-not-contact and opt-out stay.
    crm["by_phone"].refresh_from_db()
    crm["by_email"].refresh_from_db()
    assert crm["by_phone"].do_not_contact and crm["by_phone"].first_name == "Olga"
    assert crm["by_email"].sms_opt_out and crm["by_email"].first_name == "Otto"


def test_another_clients_contacts_are_not_duplicates(tmp_path, crm):
    _import(crm["client"], _write(tmp_path, MESSY))
    assert Contact.objects.filter(phone="+15552010077").count() == 2
    crm["other"].refresh_from_db()
    assert crm["other"].first_name == "Else" and not crm["other"].lists.exists()


def test_reimporting_into_the_list_imports_nothing(tmp_path, crm):
    client, contact_list = crm["client"], crm["list"]
    path = _write(tmp_path, MESSY)
    _import(client, path, contact_list)
    before = Contact.objects.filter(client=client).count()

    again = _import(client, path, contact_list)
    assert (again.rows, again.imported, again.duplicates, again.errors) == (20, 0, 12, 8)
    assert again.summary().endswith("nothing new to import")
    assert (2, "already a contact (phone +15552010001); already in the list") in again.problems
    assert (18, "already a contact (email old@example.com); already in the list") in (
        again.problems
    )
    assert Contact.objects.filter(client=client).count() == before == 9
    contact_list.refresh_from_db()
    assert contact_list.contact_count == 9
    assert ContactListMember.objects.filter(contact_list=contact_list).count() == 9


def test_without_a_list_duplicates_are_only_reported(tmp_path, crm):
    report = _import(crm["client"], _write(tmp_path, MESSY))
    assert (report.imported, report.duplicates, report.errors) == (7, 5, 8)
    assert (17, "already a contact (phone +15552010099)") in report.problems
    assert not ContactListMember.objects.exists()


def test_importing_into_a_second_list_adds_the_contacts_to_it(tmp_path, crm):
    client = crm["client"]
    path = _write(tmp_path, MESSY)
    _import(client, path, crm["list"])
    second = ContactListFactory(client=client)
    report = _import(client, path, second)
    assert (report.imported, report.duplicates) == (0, 12)
    assert (2, "already a contact (phone +15552010001); added to the list") in report.problems
    second.refresh_from_db()
    assert second.contact_count == 9 == second.memberships.count()


def test_a_list_counts_the_members_it_had_before(tmp_path):
    contact_list = ContactListFactory(contact_count=1)
    ContactListMemberFactory(contact_list=contact_list)
    report = _import(
        contact_list.client, _write(tmp_path, "email\na@example.com\nb@example.com\n"), contact_list
    )
    assert report.imported == 2
    contact_list.refresh_from_db()
    assert contact_list.contact_count == 3


def test_customer_code_of_a_contact_already_there_is_a_duplicate(tmp_path):
    client = ClientFactory()
    ContactFactory(client=client, customer_code="C-7", phone="+15550000007", email="")
    text = "id,email\nC-7,new@example.com\nC-8,other@example.com\nC-8,third@example.com\n"
    report = _import(client, _write(tmp_path, text))
    assert (report.imported, report.duplicates) == (1, 2)
    assert report.problems == [
        (2, "already a contact (customer_code C-7)"),
        (4, "duplicate of line 3"),
    ]


def test_a_contact_typed_in_as_people_write_it_is_stored_as_the_import_compares_it(tmp_path):
    """The admin's form (full_clean) stores a contact's phones in E.164 and its email in lower
    case, so a file naming the same person is a duplicate, not a second contact."""
    client = ClientFactory()
    typed = Contact(
        client=client, first_name="Ines", phone="(512) 555-0141", email="Ines@Example.COM"
    )
    typed.full_clean()
    typed.save()
    assert (typed.phone, typed.email) == ("+15125550141", "ines@example.com")

    text = "first_name,phone,email\nInes,512.555.0141,\nInes,,INES@example.com\n"
    report = _import(client, _write(tmp_path, text))
    assert (report.imported, report.duplicates) == (0, 2)
    assert Contact.objects.filter(client=client).count() == 1


def test_a_phone_that_is_no_number_is_refused_by_the_contacts_form():
    from django.core.exceptions import ValidationError

    contact = Contact(client=ClientFactory(), phone="call me maybe")
    with pytest.raises(ValidationError) as refused:
        contact.full_clean()
    assert "is not a phone number" in refused.value.message_dict["phone"][0]


def test_one_mobile_column_windows_1252_and_semicolons(tmp_path):
    client = ClientFactory()
    text = "Full Name;Mobile;Job Title;Stage\r\nRené Côté;555 201 0001;Chef;Opportunity\r\n"
    report = _import(client, _write(tmp_path, text, encoding="cp1252"))
    assert report.imported == 1
    rene = Contact.objects.get(client=client)
    assert (rene.first_name, rene.last_name, rene.mobile_phone, rene.phone) == (
        "René",
        "Côté",
        "+15552010001",
        "",
    )
    assert rene.job_title == "Chef" and rene.lifecycle_stage == LifecycleStage.OPPORTUNITY


def test_duplicates_across_batches_are_found_in_the_database(tmp_path, settings):
    settings.IMPORT_BATCH_ROWS = 7
    client = ClientFactory()
    lines = ["phone"] + [f"555201{n:04d}" for n in range(30)] + ["5552010003"]
    report = _import(client, _write(tmp_path, "\n".join(lines)))
    assert (report.rows, report.imported, report.duplicates) == (31, 30, 1)
    assert report.problems == [(32, "already a contact (phone +15552010003)")]
    assert Contact.objects.filter(client=client).count() == 30


@pytest.mark.parametrize(
    "content", [b"", b"first_name,phone\r\n", b"\x00\x01binary\x00", "a,b\n".encode("utf-16")]
)
def test_refused_files_change_nothing(tmp_path, content):
    contact_list = ContactListFactory()
    path = tmp_path / "a.csv"
    path.write_bytes(content)
    with pytest.raises(ImportFileError):
        _import(contact_list.client, path, contact_list)
    assert not Contact.objects.exists() and not ImportJob.objects.exists()


def test_command_prints_counts_and_writes_the_report_beside_the_file(tmp_path, crm):
    client, contact_list = crm["client"], crm["list"]
    path = _write(tmp_path, MESSY)
    out = StringIO()
    call_command(
        "import_contacts",
        str(path),
        client=str(client.pk),
        contact_list=str(contact_list.pk),
        stdout=out,
        stderr=StringIO(),
    )
    assert "20 rows, 7 imported, 5 duplicates, 8 errors" in out.getvalue()
    assert "The list 'Spring leads' has 9 contacts." in out.getvalue()
    report = tmp_path / "contacts.csv.errors.csv"
    with report.open(newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0] == ["line", "kind", "error"] and len(rows) == 1 + len(MESSY_PROBLEMS)
    assert rows[1] == ["8", "error", "line 8: phone '12345' is not a valid number"]
    assert rows[10] == [
        "17",
        "duplicate",
        "line 17: already a contact (phone +15552010099); added to the list",
    ]
    job = ImportJob.objects.get()
    assert (job.client, job.contact_list, job.status) == (client, contact_list, "done")

    elsewhere = tmp_path / "out" / "report.csv"
    elsewhere.parent.mkdir()
    out = StringIO()
    call_command(
        "import_contacts",
        str(path),
        client=str(client.pk),
        contact_list=str(contact_list.pk),
        errors=str(elsewhere),
        stdout=out,
        stderr=StringIO(),
    )
    assert "0 imported, 12 duplicates" in out.getvalue() and "nothing new" in out.getvalue()
    assert len(elsewhere.read_text().splitlines()) == 21


@override_settings(IMPORT_MAX_BYTES=50)
def test_too_large_file_is_refused_by_the_command(tmp_path):
    client = ClientFactory()
    with pytest.raises(CommandError, match="the limit is"):
        call_command("import_contacts", str(_write(tmp_path, MESSY)), client=str(client.pk))
    assert not Contact.objects.exists()


def test_command_refuses_unknown_or_wrong_targets(tmp_path):
    path = str(_write(tmp_path, MESSY))
    client = ClientFactory()
    with pytest.raises(CommandError, match="No client with id nope"):
        call_command("import_contacts", path, client="nope")
    with pytest.raises(CommandError, match="is an agency"):
        call_command("import_contacts", path, client=str(AgencyFactory().pk))
    with pytest.raises(CommandError, match="No contact list with id"):
        call_command("import_contacts", path, client=str(client.pk), contact_list=str(client.pk))
    with pytest.raises(CommandError, match="belongs to another client"):
        call_command(
            "import_contacts",
            path,
            client=str(client.pk),
            contact_list=str(ContactListFactory().pk),
        )
    with pytest.raises(CommandError, match="No such file"):
        call_command("import_contacts", str(tmp_path / "missing.csv"), client=str(client.pk))
    assert not Contact.objects.exists() and not ImportJob.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_imports_of_one_file_at_once_store_each_contact_once(tmp_path):
    """Each batch locks the client's row, so the second import's batch checks for duplicates
    only after the first's has committed."""
    client = ClientFactory()
    lines = ["phone,email"] + [f"555201{n:04d},p{n}@example.com" for n in range(60)]
    path = _write(tmp_path, "\n".join(lines))
    start = threading.Barrier(2)
    reports, failures = [], []

    def run():
        try:
            start.wait()
            reports.append(_import(client, path))
        except Exception as exc:  # reported below
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    assert sorted((r.imported, r.duplicates) for r in reports) == [(0, 60), (60, 0)]
    assert Contact.objects.filter(client=client).count() == 60
