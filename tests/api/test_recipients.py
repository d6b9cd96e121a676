"""Pushing recipients: per-row checks like the CSV import's, idempotent by external id and by
Idempotency-Key, and the reads by id, external id and code."""

import time

import pytest
from django.db import connection, transaction

from recipients.models import Audience, Recipient
from tests.api.conftest import api_for
from tests.factories import CampaignFactory, ClientFactory, RecipientFactory
from tests.rewards.concurrency import in_thread

pytestmark = pytest.mark.django_db

ROWS = [
    {"external_id": "crm-1", "first_name": "Ann", "last_name": "Lee", "phone": "(555) 201-0001"},
    {
        "external_id": "crm-2",
        "full_name": "Bo Ray Smith",
        "email": "BO@EXAMPLE.COM",
        "zip": "12345-6789",
    },
    {"external_id": "crm-3", "phone": "12345"},
    {"external_id": "crm-4", "email": "not-an-email"},
    {"external_id": "crm-5"},
    {"external_id": "crm-6", "phone": "5552010001"},
    {"external_id": "crm-7", "email": "c@example.com", "zip": "1234"},
    {"external_id": "crm-8", "email": "d@example.com", "redemption_code": "no spaces!"},
    {"external_id": "crm-9", "email": "e@example.com", "custom_fields": {"plan": "gold"}},
    {"first_name": ["not", "text"], "email": "f@example.com"},
]


def push(api, audience, rows, **extra):
    return api.post(f"audiences/{audience.pk}/recipients/", {"recipients": rows}, **extra)


def test_push_reports_each_row_and_keeps_the_good_ones(api, mailed_campaign):
    audience = mailed_campaign.audience
    response = push(api, audience, ROWS)
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["created"], body["existing"], body["errors"]) == (3, 0, 7)
    results = body["results"]
    assert [r["index"] for r in results] == list(range(len(ROWS)))
    assert results[0]["status"] == "created" and results[0]["external_id"] == "crm-1"
    assert results[1]["status"] == "created"
    assert results[2]["errors"] == {"phone": ["phone '12345' is not a valid number"]}
    assert "email" in results[3]["errors"]
    assert "non_field_errors" in results[4]["errors"]
    assert results[5]["errors"] == {"non_field_errors": ["duplicate of row 0 of this batch"]}
    assert "zip" in results[6]["errors"]
    assert "redemption_code" in results[7]["errors"]
    assert results[8]["status"] == "created"
    assert "first_name" in results[9]["errors"]
    ann = Recipient.objects.get(pk=results[0]["id"])
    assert ann.phone == "+15552010001" and ann.campaign == mailed_campaign
    assert ann.custom_fields == {"external_id": "crm-1"}
    bo = Recipient.objects.get(pk=results[1]["id"])
    assert (bo.first_name, bo.last_name, bo.email, bo.zip, bo.zip4) == (
        "Bo Ray",
        "Smith",
        "bo@example.com",
        "12345",
        "6789",
    )
    assert Recipient.objects.get(pk=results[8]["id"]).custom_fields["plan"] == "gold"
    assert Audience.objects.get(pk=audience.pk).total_count == 3


def test_pushing_the_same_batch_again_creates_nobody(api, mailed_campaign):
    audience = mailed_campaign.audience
    first = push(api, audience, ROWS[:2]).json()
    again = push(api, audience, ROWS[:2]).json()
    assert (again["created"], again["existing"]) == (0, 2)
    assert [r["id"] for r in again["results"]] == [r["id"] for r in first["results"]]
    assert Recipient.objects.filter(audience=audience).count() == 2


def test_a_phone_already_in_the_audience_without_the_external_id_is_a_row_error(
    api, mailed_campaign
):
    RecipientFactory(campaign=mailed_campaign, phone="+15552010001")
    result = push(api, mailed_campaign.audience, ROWS[:1]).json()["results"][0]
    assert result["status"] == "error" and "phone" in result["errors"]


def test_batch_limits_and_shape(api, mailed_campaign):
    audience = mailed_campaign.audience
    too_many = push(api, audience, [{"email": f"p{i}@example.com"} for i in range(1001)])
    assert too_many.status_code == 400 and "recipients" in too_many.json()["error"]["fields"]
    assert push(api, audience, []).status_code == 400
    not_rows = api.post(f"audiences/{audience.pk}/recipients/", {"recipients": ["x"]})
    assert not_rows.status_code == 400
    other_campaign = CampaignFactory()
    wrong = api.post(
        f"audiences/{audience.pk}/recipients/",
        {"campaign": str(other_campaign.pk), "recipients": ROWS[:1]},
    )
    assert wrong.status_code == 400 and "campaign" in wrong.json()["error"]["fields"]
    assert not Recipient.objects.filter(audience=audience).exists()


def test_idempotency_key_replays_the_first_answer(api, mailed_campaign):
    audience = mailed_campaign.audience
    first = push(api, audience, ROWS[:1], idempotency_key="batch-1")
    # Meanwhile the recipient changed audience-side: a replay still answers as the first time.
    second = push(api, audience, ROWS[:1], idempotency_key="batch-1")
    assert second.json() == first.json() and second["Idempotent-Replayed"] == "true"
    other_body = push(api, audience, ROWS[1:2], idempotency_key="batch-1")
    assert other_body.status_code == 422
    assert "another request" in other_body.json()["error"]["message"]
    assert Recipient.objects.filter(audience=audience).count() == 1


def test_a_refused_request_is_replayed_as_refused_and_a_new_key_tries_again(api):
    first = api.post("audiences/", {"name": ""}, idempotency_key="a")
    assert first.status_code == 400
    assert api.post("audiences/", {"name": ""}, idempotency_key="a").status_code == 400
    assert api.post("audiences/", {"name": "Spring"}, idempotency_key="b").status_code == 201
    assert api.post("audiences/", {"name": "Spring"}, idempotency_key="b").status_code == 201
    assert api.post("audiences/", {"name": "Spring"}, idempotency_key="c").status_code == 400
    assert Audience.objects.filter(name="Spring").count() == 1


def test_idempotency_keys_are_per_api_key(client_org, mailed_campaign):
    one, two = api_for(client_org), api_for(client_org)
    assert push(one, mailed_campaign.audience, ROWS[:1], idempotency_key="k").status_code == 200
    # Another key may use the same string: its request is its own (and finds crm-1 existing).
    response = push(two, mailed_campaign.audience, ROWS[:1], idempotency_key="k")
    assert response.json()["existing"] == 1 and not response.has_header("Idempotent-Replayed")


def test_bad_idempotency_key_is_400(api):
    response = api.post("audiences/", {"name": "x"}, idempotency_key="k" * 300)
    assert response.status_code == 400


def test_reads_by_id_external_id_and_code(api, mailed_campaign):
    created = push(api, mailed_campaign.audience, ROWS[:2]).json()["results"]
    ann = api.get(f"recipients/{created[0]['id']}/").json()
    assert ann["external_id"] == "crm-1" and ann["approval_status"] == "pending"
    assert ann["rewards"] == [] and ann["conditions_met"] == []
    by_external = api.get("recipients/lookup/", {"external_id": "crm-2"}).json()
    assert by_external["id"] == created[1]["id"]
    code = created[0]["redemption_code"].lower().replace("-", " ")
    assert api.get("recipients/lookup/", {"redemption_code": code}).json()["id"] == ann["id"]
    assert api.get("recipients/lookup/", {"external_id": "nobody"}).status_code == 404
    assert api.get("recipients/lookup/").status_code == 400
    listed = api.get("recipients/", {"external_id": "crm-1"}).json()["results"]
    assert [r["id"] for r in listed] == [ann["id"]]
    assert api.get("recipients/", {"approval_status": "bogus"}).status_code == 400


def test_an_external_id_in_two_audiences_asks_for_the_audience(api, client_org, mailed_campaign):
    second = CampaignFactory(client=client_org, status="mailed")
    push(api, mailed_campaign.audience, ROWS[:1])
    push(api, second.audience, ROWS[:1])
    assert api.get("recipients/lookup/", {"external_id": "crm-1"}).status_code == 409
    found = api.get(
        "recipients/lookup/", {"external_id": "crm-1", "audience": str(second.audience_id)}
    )
    assert found.status_code == 200 and found.json()["audience"] == str(second.audience_id)


def test_cursor_pagination_walks_every_recipient_once(api, mailed_campaign):
    push(api, mailed_campaign.audience, [{"email": f"p{i}@example.com"} for i in range(7)])
    seen, page = [], api.get("recipients/", {"limit": 3}).json()
    while True:
        seen += [row["id"] for row in page["results"]]
        if not page["next"]:
            break
        page = api.http.get(page["next"], HTTP_AUTHORIZATION=f"Bearer {api.raw_key}").json()
    assert len(seen) == len(set(seen)) == 7


def test_a_test_key_pushes_test_recipients_into_its_own_audiences(test_api, mailed_campaign):
    audience = test_api.post("audiences/", {"name": "Sandbox"}).json()
    live = test_api.post(
        f"audiences/{mailed_campaign.audience_id}/recipients/", {"recipients": ROWS[:1]}
    )
    assert live.status_code == 404
    pushed = test_api.post(
        f"audiences/{audience['id']}/recipients/",
        {"campaign": str(mailed_campaign.pk), "recipients": ROWS[:1]},
    ).json()
    recipient = Recipient.objects.get(pk=pushed["results"][0]["id"])
    assert recipient.is_test and recipient.campaign == mailed_campaign


@pytest.mark.django_db(transaction=True)
def test_concurrent_pushes_of_one_external_id_create_one_recipient():
    client = ClientFactory()
    campaign = CampaignFactory(client=client, status="mailed")
    api = api_for(client)
    with transaction.atomic():
        Audience.objects.select_for_update().get(pk=campaign.audience_id)
        runs = [
            in_thread(lambda: push(api_for(client), campaign.audience, ROWS[:1])) for _ in range(2)
        ]
        _wait_for_waiters(2)
    for run in runs:
        run.join()
        assert not run.errors
    answers = sorted(run.results[0].json()["created"] for run in runs)
    assert answers == [0, 1]
    assert Recipient.objects.filter(audience_id=campaign.audience_id).count() == 1
    assert api.get("recipients/").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_idempotency_key_do_the_work_once():
    client = ClientFactory()
    campaign = CampaignFactory(client=client, status="mailed")
    api = api_for(client)
    with transaction.atomic():
        Audience.objects.select_for_update().get(pk=campaign.audience_id)
        runs = [
            in_thread(lambda: push(api, campaign.audience, ROWS[:2], idempotency_key="same"))
            for _ in range(2)
        ]
        _wait_for_waiters(2)
    for run in runs:
        run.join()
        assert not run.errors
    bodies = [run.results[0].json() for run in runs]
    assert bodies[0] == bodies[1] and bodies[0]["created"] == 2
    assert sorted(run.results[0].get("Idempotent-Replayed", "") for run in runs) == ["", "true"]
    assert Recipient.objects.filter(audience_id=campaign.audience_id).count() == 2


def _wait_for_waiters(count: int, timeout: float = 20) -> None:
    """Until `count` other backends wait for a lock (the pushes, queued behind ours)."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0] >= count:
                return
            time.sleep(0.05)
    raise AssertionError(f"{count} requests never queued for the lock")
