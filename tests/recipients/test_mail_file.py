"""An audience's mail file: its columns and order, the link it prints, escaping, and the command."""

import csv
import io

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from recipients.exports import MAIL_FILE_COLUMNS, full_zip, mail_file_csv
from recipients.models import ValidationStatus
from tests.factories import AudienceFactory, RecipientFactory

pytestmark = pytest.mark.django_db

BOM = "\ufeff"


def parse(text: str) -> list[dict]:
    assert text.startswith(BOM)
    return list(csv.DictReader(io.StringIO(text[len(BOM) :], newline="")))


def mail_file(audience) -> list[dict]:
    return parse("".join(mail_file_csv(audience)))


@override_settings(SITE_URL="https://mike.example.com/")
def test_a_row_holds_the_address_the_printed_code_and_the_redemption_link():
    audience = AudienceFactory()
    RecipientFactory(
        audience=audience,
        first_name="Zoë",
        last_name="O'Neil",
        company="Acme, Inc.",
        address1="1 Elm St",
        address2="Apt 4",
        city="Austin",
        state="TX",
        zip="78701",
        zip4="1234",
        redemption_code="7KQ4M2XD9P",
    )

    (row,) = mail_file(audience)

    assert list(row) == list(MAIL_FILE_COLUMNS)
    assert row == {
        "first_name": "Zoë",
        "last_name": "O'Neil",
        "company": "Acme, Inc.",
        "address1": "1 Elm St",
        "address2": "Apt 4",
        "city": "Austin",
        "state": "TX",
        "zip": "78701-1234",
        "redemption_code": "7KQ4-M2XD-9P",
        "url": "https://mike.example.com/redeem/?code=7KQ4-M2XD-9P",
        "personal_url": "",
        "qr_url": "",
    }


def test_rows_go_by_zip_then_recipient_and_leave_out_other_audiences_and_suppressed_people():
    audience = AudienceFactory()
    late = RecipientFactory(audience=audience, zip="90210")
    first = RecipientFactory(audience=audience, zip="10001")
    second = RecipientFactory(audience=audience, zip="10001")
    RecipientFactory(audience=audience, zip="00501", validation_status=ValidationStatus.SUPPRESSED)
    RecipientFactory(zip="00000")  # another audience

    codes = [row["redemption_code"] for row in mail_file(audience)]

    same_zip = sorted([first, second], key=lambda r: r.pk)
    assert codes == [r.display_code for r in [*same_zip, late]]
    assert mail_file(audience) == mail_file(audience)


def test_cells_a_spreadsheet_would_run_as_formulas_are_escaped():
    audience = AudienceFactory()
    RecipientFactory(
        audience=audience, first_name='=HYPERLINK("http://evil.test","win")', company="+1 Corp"
    )

    (row,) = mail_file(audience)

    assert row["first_name"] == '\'=HYPERLINK("http://evil.test","win")'
    assert row["company"] == "'+1 Corp"


def test_an_empty_audience_is_a_header_alone():
    text = "".join(mail_file_csv(AudienceFactory()))
    assert text == BOM + ",".join(MAIL_FILE_COLUMNS) + "\r\n"


@pytest.mark.parametrize(
    ("zip_code", "zip4", "expected"),
    [("78701", "1234", "78701-1234"), ("78701", "", "78701"), ("78701-1234", "1234", "78701-1234")],
)
def test_zip_plus_four_is_joined_once(zip_code, zip4, expected):
    assert full_zip(zip_code, zip4) == expected


def test_the_printed_link_fills_the_code_in_on_the_redemption_page(client):
    response = client.get("/redeem/", {"code": "7KQ4-M2XD-9P"})
    assert response.status_code == 200
    assert 'value="7KQ4-M2XD-9P"' in response.content.decode()


# --- The command ---------------------------------------------------------------------------------


def test_the_command_writes_the_file_to_standard_output():
    audience = AudienceFactory(name="Spring mailing")
    RecipientFactory(audience=audience, zip="10001")
    RecipientFactory(audience=audience, zip="10002")
    out, err = io.StringIO(), io.StringIO()

    call_command("export_mail_file", audience=str(audience.pk), stdout=out, stderr=err)

    assert out.getvalue() == "".join(mail_file_csv(audience))
    assert [row["zip"] for row in parse(out.getvalue())] == ["10001", "10002"]
    assert "2 recipients of Spring mailing" in err.getvalue()


def test_the_command_writes_the_file_given_with_out(tmp_path):
    audience = AudienceFactory(name="Spring mailing")
    RecipientFactory(audience=audience, first_name="Line\nbreak")
    target = tmp_path / "mail.csv"
    out = io.StringIO()

    call_command("export_mail_file", audience=str(audience.pk), out=str(target), stdout=out)

    text = target.read_bytes().decode("utf-8")
    assert text == "".join(mail_file_csv(audience))
    assert parse(text)[0]["first_name"] == "Line\nbreak"
    assert f"1 recipient of Spring mailing written to {target}" in out.getvalue()
    assert [p.name for p in tmp_path.iterdir()] == ["mail.csv"]


@pytest.mark.parametrize("audience", ["00000000-0000-0000-0000-000000000000", "not-an-id"])
def test_an_unknown_audience_is_a_command_error(tmp_path, audience):
    target = tmp_path / "mail.csv"
    with pytest.raises(CommandError, match="No audience with id"):
        call_command("export_mail_file", audience=audience, out=str(target))
    assert not target.exists()


def test_a_missing_folder_is_a_command_error(tmp_path):
    audience = AudienceFactory()
    with pytest.raises(CommandError, match="No folder"):
        call_command("export_mail_file", audience=str(audience.pk), out=str(tmp_path / "no/x.csv"))
