"""/api/v1/webhooks/: subscriptions made, read, changed and deleted with an API key; the secret
shown once; idempotent creation; each key's reach and kind of data."""

import pytest

from mike.webhooks.models import WebhookSubscription
from tests.api.conftest import api_for
from tests.factories import AgencyFactory, ClientFactory

pytestmark = pytest.mark.django_db

BODY = {"url": "https://example.com/hooks/mike", "events": ["condition.met", "sms.opt_in"]}


def test_create_returns_the_secret_once_and_reads_never_show_it(api, client_org):
    created = api.post("webhooks/", BODY)
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["secret"].startswith("whsec_")
    assert body["events"] == ["condition.met", "sms.opt_in"]
    assert body["client"] == str(client_org.pk)
    assert body["is_active"] is True and body["is_test"] is False
    subscription = WebhookSubscription.objects.get(pk=body["id"])
    assert subscription.secret == body["secret"]
    assert subscription.created_by_key == api.key
    read = api.get(f"webhooks/{body['id']}/").json()
    assert "secret" not in read
    listed = api.get("webhooks/").json()["results"]
    assert [row["id"] for row in listed] == [body["id"]] and "secret" not in listed[0]


def test_a_repeated_create_with_the_same_key_makes_one_subscription(api):
    first = api.post("webhooks/", BODY, idempotency_key="hook-1")
    again = api.post("webhooks/", BODY, idempotency_key="hook-1")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again["Idempotent-Replayed"] == "true"
    assert WebhookSubscription.objects.count() == 1
    # The kept answer holds the secret, so it is kept encrypted, not as readable JSON.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT response_encrypted FROM api_idempotencyrecord")
        (stored,) = cursor.fetchone()
    assert first.json()["secret"] not in stored and "whsec_" not in stored
    other = api.post("webhooks/", {**BODY, "events": ["call.completed"]}, idempotency_key="hook-1")
    assert other.status_code == 422


def test_bad_input_gets_an_error_per_field_and_writes_nothing(api):
    for body, field in (
        ({**BODY, "events": ["recipient.deleted"]}, "events"),
        ({**BODY, "events": []}, "events"),
        ({**BODY, "url": "ftp://example.com/x"}, "url"),
        ({**BODY, "url": "not a url"}, "url"),
        ({"events": ["condition.met"]}, "url"),
    ):
        response = api.post("webhooks/", body)
        assert response.status_code == 400, (body, response.content)
        assert field in response.json()["error"]["fields"], response.json()
    assert WebhookSubscription.objects.count() == 0


def test_patch_changes_url_events_and_switches_it_on_and_off(api):
    created = api.post("webhooks/", BODY).json()
    path = f"webhooks/{created['id']}/"
    changed = api.patch(path, {"url": "https://example.org/in", "events": ["call.completed"]})
    assert changed.status_code == 200, changed.content
    assert changed.json()["url"] == "https://example.org/in"
    assert changed.json()["events"] == ["call.completed"]
    assert api.patch(path, {"is_active": False}).json()["is_active"] is False
    # Mike disabled it; switching it on clears the disabling.
    WebhookSubscription.objects.filter(pk=created["id"]).update(disabled_reason="failing")
    on = api.patch(path, {"is_active": True}).json()
    assert on["is_active"] is True and on["disabled_reason"] == ""
    refused = api.patch(path, {"events": ["nope"]})
    assert refused.status_code == 400 and "events" in refused.json()["error"]["fields"]


def test_delete_removes_it(api):
    created = api.post("webhooks/", BODY).json()
    assert api.delete(f"webhooks/{created['id']}/").status_code == 204
    assert api.get(f"webhooks/{created['id']}/").status_code == 404
    assert WebhookSubscription.objects.count() == 0


def test_a_read_only_key_may_read_but_not_write(api, read_api):
    created = api.post("webhooks/", BODY).json()
    path = f"webhooks/{created['id']}/"
    assert read_api.get(path).status_code == 200
    assert read_api.post("webhooks/", BODY).status_code == 403
    assert read_api.patch(path, {"is_active": False}).status_code == 403
    assert read_api.delete(path).status_code == 403
    assert WebhookSubscription.objects.get().is_active is True


def test_another_tenants_subscription_is_404_for_every_method(api):
    other = api_for(ClientFactory()).post("webhooks/", BODY).json()
    path = f"webhooks/{other['id']}/"
    assert api.get(path).status_code == 404
    assert api.patch(path, {"is_active": False}).status_code == 404
    assert api.delete(path).status_code == 404
    assert WebhookSubscription.objects.get().is_active is True


def test_a_test_key_makes_test_subscriptions_and_sees_only_those(api, test_api):
    live = api.post("webhooks/", BODY).json()
    sandbox = test_api.post("webhooks/", BODY).json()
    assert sandbox["is_test"] is True
    assert test_api.get(f"webhooks/{live['id']}/").status_code == 404
    assert api.get(f"webhooks/{sandbox['id']}/").status_code == 404
    assert [row["id"] for row in test_api.get("webhooks/").json()["results"]] == [sandbox["id"]]


def test_an_agency_key_names_the_client(db):
    agency = AgencyFactory()
    own, stranger = ClientFactory(parent=agency), ClientFactory()
    api = api_for(agency)
    assert "client" in api.post("webhooks/", BODY).json()["error"]["fields"]
    refused = api.post("webhooks/", {**BODY, "client": str(stranger.pk)})
    assert refused.status_code == 400
    created = api.post("webhooks/", {**BODY, "client": str(own.pk)})
    assert created.status_code == 201 and created.json()["client"] == str(own.pk)


def test_odd_bodies_are_400_with_fields_never_500(api):
    created = api.post("webhooks/", BODY).json()
    path = f"webhooks/{created['id']}/"
    for body in (
        {"url": None, "events": ["sms.opt_in"]},
        {"url": "https://example.com/\x00", "events": ["sms.opt_in"]},
        {"url": "https://example.com/x", "events": "sms.opt_in"},
        {"url": "https://example.com/x", "events": [["sms.opt_in"]]},
        {"url": "https://example.com/x" + "a" * 2100, "events": ["sms.opt_in"]},
        {"url": "https://example.com/x", "events": ["sms.opt_in"], "client": "nope"},
    ):
        response = api.post("webhooks/", body)
        assert response.status_code == 400, (body, response.content)
        assert response.json()["error"]["fields"]
    for body in ({"is_active": "maybe"}, {"events": None}, {"url": ""}, {"events": {}}):
        response = api.patch(path, body)
        assert response.status_code == 400, (body, response.content)
    assert WebhookSubscription.objects.count() == 1
