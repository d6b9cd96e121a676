"""Exports at scale: the dashboard's CSV files stream row by row with formula escaping (10,000 rows
of recipients and of a mail file), an audience's mail file goes only to those who run the client's
mailings, and a pool's cards with their full codes only to those who may see codes, each such
export audited once."""

import csv
import io
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.http import StreamingHttpResponse
from django.urls import reverse

from giftcards.models import GiftCardAuditAction, GiftCardAuditLog, GiftCardStatus
from giftcards.services import allocate_credit
from mike.core.csvsafe import csv_safe
from recipients.codes import generate_recipient_token, generate_redemption_code
from recipients.models import Recipient
from tests import factories

pytestmark = pytest.mark.django_db

BOM = "\ufeff".encode()
FORMULA = '=HYPERLINK("http://evil.test","win")'
ESCAPED = "'" + FORMULA


def bulk_recipients(audience, count: int, **fields) -> None:
    """`count` recipients of `audience` in a few INSERTs (codes drawn without a look-up each: a
    collision in 2**50 would fail the insert, not pass silently)."""
    Recipient.objects.bulk_create(
        [
            Recipient(
                audience=audience,
                first_name=f"First{n}",
                last_name=f"Last{n}",
                address1=f"{n} Main St",
                city="Austin",
                state="TX",
                zip=f"{78000 + n % 700:05d}",
                phone=f"+1555{n:07d}",
                token=generate_recipient_token(),
                redemption_code=generate_redemption_code(is_taken=lambda code: False),
                **fields,
            )
            for n in range(count)
        ],
        batch_size=2000,
    )


def read_streamed(response) -> tuple[list[bytes], list[list[str]]]:
    """The response's chunks as they come, and the CSV rows they make (BOM removed)."""
    assert isinstance(response, StreamingHttpResponse)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    chunks = list(response.streaming_content)
    assert chunks[0] == BOM
    body = b"".join(chunks[1:]).decode("utf-8")
    return chunks, list(csv.reader(io.StringIO(body, newline="")))


def assert_no_formula(rows) -> None:
    """No cell is one csv_safe would have escaped (a plain number such as +15551230000 is not)."""
    for row in rows:
        for cell in row:
            assert csv_safe(cell) == cell, cell


# --- 10,000 rows, streamed -----------------------------------------------------------------------


def test_a_10000_row_recipients_export_streams_row_by_row_escaped(login_as, people, tenants):
    audience = factories.AudienceFactory(client=tenants.client_a)
    bulk_recipients(audience, 9_999)
    factories.RecipientFactory(audience=audience, first_name=FORMULA, last_name="")

    response = login_as(people.client_admin).get(reverse("dashboard:recipients"), {"export": "csv"})
    chunks, rows = read_streamed(response)

    assert len(rows) == 10_001  # the header and every recipient
    assert len(chunks) == 1 + 10_001  # the BOM, then one chunk a row: never the file at once
    assert rows[0][0] == "Name"
    assert [row[0] for row in rows if "HYPERLINK" in row[0]] == [ESCAPED]
    assert_no_formula(rows)


def test_a_10000_row_mail_file_streams_row_by_row_escaped(login_as, people, tenants):
    audience = factories.AudienceFactory(client=tenants.client_a)
    bulk_recipients(audience, 9_999)
    factories.RecipientFactory(audience=audience, first_name=FORMULA, zip="99999")

    response = login_as(people.client_admin).get(mail_file_url(audience))
    chunks, rows = read_streamed(response)

    assert len(rows) == 10_001
    assert len(chunks) == 1 + 10_001
    assert rows[0][:2] == ["first_name", "last_name"]
    assert rows[-1][0] == ESCAPED  # by ZIP: 99999 comes last
    zips = [row[7] for row in rows[1:]]
    assert zips == sorted(zips)
    assert_no_formula(rows)


def _list_exports(tenants):
    """One row on each of the other exported lists, each naming FORMULA somewhere."""
    campaign = factories.CampaignFactory(client=tenants.client_a)
    recipient = factories.RecipientFactory(campaign=campaign, first_name=FORMULA, last_name="")
    reward = factories.RecipientGiftCardFactory(
        claimed=True, condition__campaign=campaign, recipient=recipient
    )
    factories.GiftCardDeliveryFactory(reward=reward)
    factories.CallSessionFactory(campaign=campaign, recipient=recipient)
    allocate_credit(tenants.client_a, Decimal("100.00"), description=FORMULA)


@pytest.mark.parametrize("name", ["calls_log", "giftcard_rewards", "deliveries", "credit"])
def test_the_other_lists_export_streamed_and_escaped(login_as, people, tenants, name):
    _list_exports(tenants)
    client = login_as(people.client_admin, tenants.client_a)

    _, rows = read_streamed(client.get(reverse(f"dashboard:{name}"), {"export": "csv"}))

    assert len(rows) >= 2
    assert any(ESCAPED in row for row in rows[1:]), rows
    assert_no_formula(rows)


# --- The mail file in the dashboard --------------------------------------------------------------


def mail_file_url(audience):
    return reverse("dashboard:audience_mail_file", kwargs={"audience_id": audience.pk})


@pytest.mark.parametrize("who", ["client_admin", "agency_admin", "staff"])
def test_those_who_run_the_clients_mailings_download_its_mail_file(login_as, people, tenants, who):
    audience = factories.AudienceFactory(client=tenants.client_a, name="Spring mailing")
    recipient = factories.RecipientFactory(audience=audience, zip="78701", zip4="1234")

    response = login_as(getattr(people, who)).get(mail_file_url(audience))
    _, rows = read_streamed(response)

    assert response["Cache-Control"] == "no-store"
    assert 'filename="mail-file-spring-mailing-' in response["Content-Disposition"]
    assert rows[1][7:9] == ["78701-1234", recipient.display_code]


def test_another_clients_audience_is_not_found(login_as, people, tenants):
    audience = factories.AudienceFactory(client=tenants.client_b)
    factories.RecipientFactory(audience=audience)
    for user in (people.client_admin, people.agency_admin):
        assert login_as(user).get(mail_file_url(audience)).status_code == 404


@pytest.mark.parametrize("who", ["client_user", "agency_user"])
def test_read_only_users_may_not_download_the_mail_file(login_as, people, tenants, who):
    audience = factories.AudienceFactory(client=tenants.client_a)
    recipient = factories.RecipientFactory(audience=audience)
    response = login_as(getattr(people, who)).get(mail_file_url(audience))
    assert response.status_code == 403
    assert recipient.display_code not in response.content.decode()


def test_anonymous_visitors_are_sent_to_sign_in_for_the_mail_file(client, tenants):
    audience = factories.AudienceFactory(client=tenants.client_a)
    response = client.get(mail_file_url(audience))
    assert response.status_code == 302
    assert response["Location"].startswith("/app/login/?next=")


# --- A pool's cards with their full codes ---------------------------------------------------------


def pool_url(pool):
    return reverse("dashboard:giftcard_pool", kwargs={"pool_id": pool.pk})


def export_url(pool):
    return reverse("dashboard:giftcard_pool_export_codes", kwargs={"pool_id": pool.pk})


def code_exports():
    return GiftCardAuditLog.objects.filter(action=GiftCardAuditAction.CARD_CODES_EXPORTED)


@pytest.fixture
def code_viewer(people):
    """Staff holding the permission to see card codes."""
    people.staff.user_permissions.add(
        Permission.objects.get(content_type__app_label="giftcards", codename="view_card_code")
    )
    return people.staff


@pytest.fixture
def pool(tenants):
    pool = factories.GiftCardPoolFactory(client=tenants.client_a, pool_name="Target $25")
    factories.GiftCardFactory(pool=pool, code="AVAIL-CODE-0042", pin="1111", card_number="4000")
    factories.GiftCardFactory(pool=pool, code="=FORMULA-CODE-7731")
    factories.GiftCardFactory(pool=pool, code="CLAIMED-CODE-9001", pin="2222", claimed=True)
    return pool


def test_those_who_may_see_codes_export_the_pool_with_full_codes_once_audited(
    login_as, code_viewer, tenants, pool
):
    client = login_as(code_viewer, tenants.client_a)
    assert "Export with full codes" in client.get(pool_url(pool)).content.decode()

    response = client.post(export_url(pool))
    _, rows = read_streamed(response)

    assert response["Cache-Control"] == "no-store"
    assert rows[0] == ["card_code", "card_number", "pin", "balance", "status", "expiration_date"]
    by_code = {row[0]: row for row in rows[1:]}
    assert set(by_code) == {"AVAIL-CODE-0042", "'=FORMULA-CODE-7731", "CLAIMED-CODE-9001"}
    assert by_code["AVAIL-CODE-0042"] == [
        "AVAIL-CODE-0042",
        "4000",
        "1111",
        "25.00",
        "available",
        "",
    ]
    assert by_code["CLAIMED-CODE-9001"][2:5] == ["2222", "25.00", "claimed"]
    audit = code_exports().get()
    assert (audit.user, audit.client, audit.entity_id) == (code_viewer, tenants.client_a, pool.pk)
    assert audit.metadata["count"] == 3 and audit.metadata["filters"] == {}
    assert "CODE" not in str(audit.metadata)


def test_the_pages_filters_choose_the_cards_exported_and_are_on_the_record(
    login_as, code_viewer, tenants, pool
):
    client = login_as(code_viewer, tenants.client_a)

    _, rows = read_streamed(client.post(export_url(pool), {"status": GiftCardStatus.AVAILABLE}))
    assert sorted(row[0] for row in rows[1:]) == ["'=FORMULA-CODE-7731", "AVAIL-CODE-0042"]
    _, rows = read_streamed(client.post(export_url(pool), {"last4": "9001"}))
    assert [row[0] for row in rows[1:]] == ["CLAIMED-CODE-9001"]

    first, second = code_exports().order_by("created_at")
    assert (first.metadata["filters"], first.metadata["count"]) == ({"status": "available"}, 2)
    assert (second.metadata["filters"], second.metadata["count"]) == ({"last4": "9001"}, 1)


def test_the_export_form_carries_the_filters_also_after_an_htmx_swap(
    login_as, code_viewer, tenants, pool
):
    client = login_as(code_viewer, tenants.client_a)
    page = client.get(pool_url(pool), {"status": "claimed"}).content.decode()
    assert 'name="status" value="claimed"' in page

    fragment = client.get(
        pool_url(pool), {"last4": "0042"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="table"
    ).content.decode()
    assert 'id="full-export"' in fragment and 'hx-swap-oob="true"' in fragment
    assert 'name="last4" value="0042"' in fragment


def test_an_invalid_filter_exports_nothing(login_as, code_viewer, tenants, pool):
    response = login_as(code_viewer, tenants.client_a).post(export_url(pool), {"status": "bogus"})
    assert response.status_code == 302
    assert not code_exports().exists()


@pytest.mark.parametrize("who", ["client_admin", "agency_admin", "staff"])
def test_no_one_else_may_export_full_codes(login_as, people, tenants, pool, who):
    client = login_as(getattr(people, who), tenants.client_a)
    assert "Export with full codes" not in client.get(pool_url(pool)).content.decode()

    response = client.post(export_url(pool))

    assert response.status_code == 403
    assert "CODE" not in response.content.decode()
    assert not code_exports().exists()


def test_the_full_code_export_is_a_post(login_as, code_viewer, tenants, pool):
    assert login_as(code_viewer).get(export_url(pool)).status_code == 405
    assert not code_exports().exists()


def test_a_pool_outside_the_scope_is_not_found(login_as, people, tenants):
    other = factories.GiftCardPoolFactory(client=tenants.client_b)
    factories.GiftCardFactory(pool=other)
    assert login_as(people.client_admin).post(export_url(other)).status_code == 404
    assert not code_exports().exists()
