"""The dashboard's CSV exports resolve each column once per file, and every cell is still exactly
what django-tables2 gives for it (`BoundRow.get_cell_value`), checked for every exported table
over the demo data; and the export of each table runs as many queries for many rows as for few."""

import csv
import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django_tables2.rows import BoundRow

from giftcards.models import DeliveryStatus, GiftCardPool
from giftcards.services import credit_account_for
from mike.accounts.models import Organization, User
from mike.core.csvsafe import csv_safe
from tests import factories

pytestmark = pytest.mark.django_db

SAMPLE = 8


@pytest.fixture
def demo(client):
    call_command("seed_demo", allow_production=True, stdout=io.StringIO())
    client.force_login(User.objects.get(email="admin@mike.test"))
    return client


def export_urls():
    pool = GiftCardPool.objects.filter(cards__isnull=False).order_by("pool_name").first()
    return {
        "recipients": reverse("dashboard:recipients"),
        "approvals": reverse("dashboard:approvals"),
        "calls": reverse("dashboard:calls_log"),
        "campaigns": reverse("dashboard:campaigns"),
        "giftcard pools": reverse("dashboard:giftcards"),
        "pool cards": reverse("dashboard:giftcard_pool", args=[pool.pk]),
        "rewards": reverse("dashboard:giftcard_rewards"),
        "deliveries": reverse("dashboard:deliveries"),
        "credit ledger": reverse("dashboard:credit"),
    }


def exported(client, url):
    response = client.get(url, {"export": "csv"})
    assert response.status_code == 200, (url, response.status_code)
    body = b"".join(response.streaming_content)
    assert body.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))
    return response, rows


def test_every_export_matches_django_tables2_cell_by_cell(demo):
    for name, url in export_urls().items():
        response, rows = exported(demo, url)
        table, queryset = response.export_table, response.export_queryset
        columns = [c for c in table.columns if c.name not in table.not_exported and c.visible]
        assert rows[0] == [csv_safe(c.header) for c in columns], name
        records = list(queryset.iterator())
        assert len(rows) - 1 == len(records), name
        assert records, f"{name}: the demo data has no rows to compare"
        for index, record in enumerate(records[:SAMPLE]):
            bound = BoundRow(record, table=table)
            expected = [csv_safe(bound.get_cell_value(c.name)) for c in columns]
            # As csv.writer writes them: None as an empty cell, anything else as str().
            expected = ["" if v is None else str(v) for v in expected]
            assert rows[index + 1] == expected, (name, index)


# --- Queries: the same for 50 rows as for 5 ---------------------------------------------------


def export_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, {"export": "csv"})
        assert response.status_code == 200, (url, response.status_code)
        b"".join(response.streaming_content)  # the rows are read while streaming
    return len(ctx.captured_queries)


def assert_export_queries_do_not_grow(client, url, add_rows, *, few=5, many=50):
    add_rows(few)
    export_queries(client, url)  # once first: the session's own first-request work is not counted
    small = export_queries(client, url)
    add_rows(many - few)
    large = export_queries(client, url)
    assert large == small, f"{url}: {small} queries with {few} rows, {large} with {many}"


def test_each_export_runs_as_many_queries_for_50_rows_as_for_5(login_as, people, tenants):
    client = login_as(people.client_admin)
    Organization.objects.filter(pk=tenants.client_a.pk).update(client_approvals=True)
    account = credit_account_for(tenants.client_a)

    def recipients(n):
        campaign = factories.CampaignFactory(client=tenants.client_a)
        condition = factories.CampaignConditionFactory(campaign=campaign)
        for _ in range(n):
            recipient = factories.RecipientFactory(campaign=campaign)
            factories.RecipientGiftCardFactory(recipient=recipient, condition=condition)
            factories.CallSessionFactory(campaign=campaign, recipient=recipient)

    def approvals(n):
        condition = factories.CampaignConditionFactory(campaign__client=tenants.client_a)
        for _ in range(n):
            factories.CallConditionMetFactory(
                condition=condition, recipient__campaign=condition.campaign
            )

    def calls(n):
        condition = factories.CampaignConditionFactory(campaign__client=tenants.client_a)
        for _ in range(n):
            call = factories.CallSessionFactory(campaign=condition.campaign)
            factories.CallDispositionFactory(call_session=call)
            factories.CallConditionMetFactory(
                recipient=call.recipient, condition=condition, call_session=call
            )

    def campaigns(n):
        for _ in range(n):
            campaign = factories.CampaignFactory(client=tenants.client_a)
            condition = factories.CampaignConditionFactory(campaign=campaign)
            factories.CallSessionFactory(campaign=campaign)
            factories.RecipientGiftCardFactory(condition=condition)

    def pools(n):
        factories.GiftCardPoolFactory.create_batch(n, client=tenants.client_a)

    pool = factories.GiftCardPoolFactory(client=tenants.client_a)

    def pool_cards(n):
        for _ in range(n):
            reward = factories.RecipientGiftCardFactory(
                claimed=True,
                condition__campaign__client=tenants.client_a,
                brand=pool.brand,
                card_value=pool.card_value,
            )
            reward.gift_card.pool = pool
            reward.gift_card.save(update_fields=["pool"])

    def rewards(n):
        condition = factories.CampaignConditionFactory(campaign__client=tenants.client_a)
        for _ in range(n):
            factories.RecipientGiftCardFactory(claimed=True, condition=condition)

    def deliveries(n):
        condition = factories.CampaignConditionFactory(campaign__client=tenants.client_a)
        for _ in range(n):
            factories.GiftCardDeliveryFactory(
                reward__condition=condition, status=DeliveryStatus.FAILED
            )

    def ledger(n):
        for _ in range(n):
            factories.CreditTransactionFactory(account=account, created_by=people.client_admin)

    for url, add_rows in (
        (reverse("dashboard:recipients"), recipients),
        (reverse("dashboard:approvals"), approvals),
        (reverse("dashboard:calls_log"), calls),
        (reverse("dashboard:campaigns"), campaigns),
        (reverse("dashboard:giftcards"), pools),
        (reverse("dashboard:giftcard_pool", args=[pool.pk]), pool_cards),
        (reverse("dashboard:giftcard_rewards"), rewards),
        (reverse("dashboard:deliveries"), deliveries),
        (reverse("dashboard:credit"), ledger),
    ):
        assert_export_queries_do_not_grow(client, url, add_rows)
