"""Importing an audience file: messy rows, exact counts, duplicates, re-import, the command."""

import csv
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from mike.core.imports import ImportFileError
from recipients.models import Recipient
from recipients.services.imports import import_recipients
from tests.factories import AudienceFactory, RecipientFactory

pytestmark = pytest.mark.django_db

MESSY = (
    "\ufeff First Name ,Last Name,Phone Number,E-mail,Address,City,State,ZIP,Code,Shirt Size\r\n"
    "Zoë,O'Neil,(555) 201-0001,zoe@example.com,1 Elm St,Austin,TX,78701,,M\r\n"
    "José,Núñez,555.201.0002,,2 Oak Ave,Austin,TX,78701-1234,,L\r\n"
    "Ann,Lee,+1 555 201 0003,,,,,,,\r\n"
    "Bob,Ray,1-555-201-0004,,,,,,,\r\n"
    "Cy,Day,5552010005,CY@Example.com,,,,,,\r\n"
    "\r\n"
    "Bad,Phone,12345,,,,,,,\r\n"
    "No,Contact,,,,,,,,\r\n"
    "Bad,Email,,not-an-email,,,,,,\r\n"
    "Bad,Zip,5552010009,,,,,ABCDE,,\r\n"
    "Short,Row,5552010010\r\n"
    "Zoe,Again,555-201-0001,,,,,,,\r\n"
    "Cy,Again,,cy@example.com,,,,,,\r\n"
    'Multi,"Line\r\nName",5552010013,,,,,,AB-CD-EF-12,\r\n'
)


def _write(tmp_path, text, name="audience.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_messy_file_imports_good_rows_and_reports_each_bad_one(tmp_path):
    audience = AudienceFactory()
    report = import_recipients(audience=audience, source=_write(tmp_path, MESSY))

    assert (report.rows, report.imported, report.duplicates, report.errors) == (13, 6, 2, 5)
    assert report.problems == [
        (8, "phone '12345' is not a valid number"),
        (9, "has neither a phone number nor an email address"),
        (10, "email 'not-an-email' is not a valid address"),
        (11, "zip 'ABCDE' is not a US ZIP code (5 digits or ZIP+4)"),
        (12, "has 3 columns, the header has 10"),
        (13, "duplicate of line 2"),
        (14, "duplicate of line 6"),
    ]
    by_phone = {r.phone: r for r in Recipient.objects.filter(audience=audience)}
    assert sorted(by_phone) == [f"+1555201000{n}" for n in range(1, 6)] + ["+15552010013"]
    zoe = by_phone["+15552010001"]
    assert (zoe.first_name, zoe.last_name, zoe.email) == ("Zoë", "O'Neil", "zoe@example.com")
    assert zoe.custom_fields == {"shirt_size": "M"}
    assert (by_phone["+15552010002"].zip, by_phone["+15552010002"].zip4) == ("78701", "1234")
    assert by_phone["+15552010005"].email == "cy@example.com"
    multi = by_phone["+15552010013"]
    assert multi.last_name == "Line\r\nName" and multi.redemption_code == "ABCDEF12"
    assert all(len(r.redemption_code) == 10 and r.token for r in by_phone.values() if r != multi)

    audience.refresh_from_db()
    assert (audience.total_count, audience.valid_count, audience.invalid_count) == (6, 6, 5)


def test_reimporting_the_same_file_imports_nothing_and_says_so(tmp_path):
    audience = AudienceFactory()
    path = _write(tmp_path, MESSY)
    import_recipients(audience=audience, source=path)
    again = import_recipients(audience=audience, source=path)
    assert (again.rows, again.imported, again.duplicates, again.errors) == (13, 0, 8, 5)
    assert again.summary().endswith("nothing new to import")
    assert (2, "already in the audience (phone +15552010001)") in again.problems
    assert Recipient.objects.filter(audience=audience).count() == 6


def test_windows_1252_semicolons_full_name_and_external_id(tmp_path):
    audience = AudienceFactory()
    text = (
        "Full Name;Mobile;External ID;Postal Code\r\n"
        "Mary Ann O’Brien;555 201 0001;C-1;02134\r\n"
        "René Côté;555 201 0002;C-1;02134\r\n"
        "Élise;555 201 0003;C-3;\r\n"
    )
    report = import_recipients(audience=audience, source=_write(tmp_path, text, encoding="cp1252"))
    assert (report.imported, report.duplicates, report.errors) == (2, 1, 0)
    assert report.problems == [(3, "duplicate of line 2")]
    mary = Recipient.objects.get(audience=audience, phone="+15552010001")
    assert (mary.first_name, mary.last_name) == ("Mary Ann", "O’Brien")
    assert mary.custom_fields == {"external_id": "C-1"}
    assert Recipient.objects.get(phone="+15552010003").first_name == "Élise"


def test_tab_file_and_codes_taken_elsewhere_or_malformed(tmp_path):
    RecipientFactory(redemption_code="TAKEN12345")
    audience = AudienceFactory()
    text = "email\tcode\na@example.com\ttaken-12345\nb@example.com\tab\nc@example.com\tOK_CODE_1\n"
    report = import_recipients(audience=audience, source=_write(tmp_path, text, "a.tsv"))
    assert (report.imported, report.errors) == (1, 2)
    assert sorted(report.problems) == [
        (2, "redemption code 'TAKEN12345' is already in use"),
        (3, "redemption code 'ab' must be 3 to 50 letters, digits, - or _"),
    ]
    assert Recipient.objects.get(audience=audience).redemption_code == "0KC0DE1"


def test_already_in_the_audience_by_email(tmp_path):
    audience = AudienceFactory()
    RecipientFactory(audience=audience, email="x@example.com", phone="")
    report = import_recipients(
        audience=audience, source=_write(tmp_path, "email\nX@example.com\ny@example.com\n")
    )
    assert (report.imported, report.duplicates) == (1, 1)
    assert report.problems == [(2, "already in the audience (email x@example.com)")]


def test_batches_of_more_than_one_batch(tmp_path, settings):
    settings.IMPORT_BATCH_ROWS = 7
    audience = AudienceFactory()
    lines = ["phone"] + [f"555201{n:04d}" for n in range(30)] + ["5552010003"]
    report = import_recipients(audience=audience, source=_write(tmp_path, "\n".join(lines)))
    assert (report.rows, report.imported, report.duplicates) == (31, 30, 1)
    assert Recipient.objects.filter(audience=audience).count() == 30


@pytest.mark.parametrize(
    "content", [b"", b"first_name,phone\r\n", b"\x00\x01binary\x00", "a,b\n".encode("utf-16")]
)
def test_refused_files_change_nothing(tmp_path, content):
    audience = AudienceFactory(total_count=3)
    path = tmp_path / "a.csv"
    path.write_bytes(content)
    with pytest.raises(ImportFileError):
        import_recipients(audience=audience, source=path)
    audience.refresh_from_db()
    assert audience.total_count == 3 and not Recipient.objects.filter(audience=audience).exists()


@override_settings(IMPORT_MAX_BYTES=50)
def test_too_large_file_is_refused_by_the_command(tmp_path):
    audience = AudienceFactory()
    path = _write(tmp_path, MESSY)
    with pytest.raises(CommandError, match="the limit is"):
        call_command("import_recipients", str(path), audience=str(audience.pk))
    assert not Recipient.objects.filter(audience=audience).exists()


def test_command_prints_counts_and_writes_the_report_beside_the_file(tmp_path):
    audience = AudienceFactory()
    path = _write(tmp_path, MESSY)
    out = StringIO()
    call_command(
        "import_recipients", str(path), audience=str(audience.pk), stdout=out, stderr=StringIO()
    )
    assert "13 rows, 6 imported, 2 duplicates, 5 errors" in out.getvalue()
    report = tmp_path / "audience.csv.errors.csv"
    with report.open(newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0] == ["line", "kind", "error"] and len(rows) == 8
    assert rows[1] == ["8", "error", "line 8: phone '12345' is not a valid number"]

    elsewhere = tmp_path / "out" / "report.csv"
    elsewhere.parent.mkdir()
    out = StringIO()
    call_command(
        "import_recipients",
        str(path),
        audience=str(audience.pk),
        errors=str(elsewhere),
        stdout=out,
        stderr=StringIO(),
    )
    assert "0 imported, 8 duplicates" in out.getvalue() and "nothing new" in out.getvalue()
    assert len(elsewhere.read_text().splitlines()) == 14


def test_command_refuses_an_unknown_audience(tmp_path):
    with pytest.raises(CommandError, match="No audience"):
        call_command("import_recipients", str(_write(tmp_path, MESSY)), audience="nope")


def test_already_in_the_audience_by_external_id(tmp_path):
    audience = AudienceFactory()
    RecipientFactory(audience=audience, custom_fields={"external_id": "C-9"})
    RecipientFactory(custom_fields={"external_id": "C-8"})  # another audience's: no duplicate
    report = import_recipients(
        audience=audience,
        source=_write(tmp_path, "customer_id,phone\nC-9,5552019001\nC-8,5552019002\n"),
    )
    assert (report.imported, report.duplicates) == (1, 1)
    assert report.problems == [(2, "already in the audience (external_id C-9)")]


def test_numbers_without_a_country_code_are_read_as_the_clients_country(tmp_path):
    british = AudienceFactory(client__phone_region="GB")
    american = AudienceFactory()
    text = "email,phone\na@example.com,020 7946 0018\nb@example.com,+1 555 201 0009\n"
    report = import_recipients(audience=british, source=_write(tmp_path, text))
    assert report.imported == 2
    assert set(Recipient.objects.filter(audience=british).values_list("phone", flat=True)) == {
        "+442079460018",
        "+15552010009",
    }
    report = import_recipients(audience=american, source=_write(tmp_path, text, "us.csv"))
    assert report.problems == [(2, "phone '020 7946 0018' is not a valid number")]


def test_a_drawn_code_already_taken_rolls_the_batch_back_and_it_is_drawn_anew(
    tmp_path, monkeypatch
):
    from recipients.services import imports

    RecipientFactory(redemption_code="TAKEN00000")
    real = imports.draw_codes

    def draws_a_taken_code(count):
        # The reader draws a batch's worth ahead, the first of them for the first row; the
        # write that follows the conflict draws its own, fewer.
        codes = real(count)
        return ["TAKEN00000", *codes[1:]] if count >= 100 else codes

    monkeypatch.setattr(imports, "draw_codes", draws_a_taken_code)
    audience = AudienceFactory()
    text = "name,phone\r\n" + "".join(f"P{n},555201{n:04d}\r\n" for n in range(3))
    report = import_recipients(audience=audience, source=_write(tmp_path, text))

    assert (report.rows, report.imported, report.errors) == (3, 3, 0)
    codes = set(
        Recipient.objects.filter(audience=audience).values_list("redemption_code", flat=True)
    )
    assert len(codes) == 3 and "TAKEN00000" not in codes
