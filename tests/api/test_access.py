"""Who may call what: every endpoint answers JSON 401 without a usable key, 403 to a read-only key
writing, and 404 for another tenant's object (or the other kind of data: test against live)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from mike.accounts.models import ApiKey
from mike.accounts.services import revoke_api_key
from mike.webhooks.services import create_subscription
from tests.api.conftest import Api, api_for
from tests.factories import (
    AgencyFactory,
    AudienceFactory,
    ClientFactory,
    GiftCardDeliveryFactory,
)

pytestmark = pytest.mark.django_db


def objects_of(client):
    """One of everything the API reads, for `client`."""
    delivery = GiftCardDeliveryFactory(
        reward__condition__campaign__client=client,
        reward__condition__campaign__audience=AudienceFactory(client=client),
    )
    reward = delivery.reward
    webhook, _ = create_subscription(
        client=client, url="https://example.com/hooks", events=["condition.met"]
    )
    return {
        "campaign": reward.campaign,
        "audience": reward.recipient.audience,
        "recipient": reward.recipient,
        "reward": reward,
        "delivery": delivery,
        "webhook": webhook,
    }


def detail_paths(objects):
    return [
        f"campaigns/{objects['campaign'].pk}/",
        f"audiences/{objects['audience'].pk}/",
        f"recipients/{objects['recipient'].pk}/",
        f"rewards/{objects['reward'].pk}/",
        f"deliveries/{objects['delivery'].pk}/",
        f"webhooks/{objects['webhook'].pk}/",
    ]


def write_requests(objects):
    return [
        ("audiences/", {"name": "New list"}),
        (
            f"audiences/{objects['audience'].pk}/recipients/",
            {"recipients": [{"phone": "5552010101"}]},
        ),
        (f"recipients/{objects['recipient'].pk}/conditions/", {"condition_number": 1}),
    ]


LISTS = ["campaigns/", "audiences/", "recipients/", "rewards/", "deliveries/", "webhooks/"]


def assert_json_error(response, status):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"]["message"]
    return body


def test_the_owner_reads_every_object():
    client = ClientFactory()
    mine = objects_of(client)
    api = api_for(client)
    for path in detail_paths(mine):
        assert api.get(path).status_code == 200, path
    for path in LISTS:
        response = api.get(path)
        assert response.status_code == 200 and len(response.json()["results"]) == 1, path


def test_another_tenants_objects_are_404_and_absent_from_lists():
    mine, theirs = ClientFactory(), ClientFactory()
    objects_of(mine)
    other = objects_of(theirs)
    api = api_for(mine)
    for path in detail_paths(other):
        assert_json_error(api.get(path), 404)
    for path in LISTS:
        ids = {row["id"] for row in api.get(path).json()["results"]}
        assert not ids & {str(obj.pk) for obj in other.values()}, path
    for path, body in write_requests(other)[1:]:
        assert_json_error(api.post(path, body), 404)


def test_an_agency_key_reaches_its_clients_only():
    agency = AgencyFactory()
    own, stranger = ClientFactory(parent=agency), ClientFactory()
    mine, other = objects_of(own), objects_of(stranger)
    api = api_for(agency)
    for path in detail_paths(mine):
        assert api.get(path).status_code == 200, path
    for path in detail_paths(other):
        assert api.get(path).status_code == 404, path
    refused = api.post("audiences/", {"name": "List", "client": str(stranger.pk)})
    assert assert_json_error(refused, 400)["error"]["fields"]["client"]
    needs_client = api.post("audiences/", {"name": "List"})
    assert "client" in assert_json_error(needs_client, 400)["error"]["fields"]
    created = api.post("audiences/", {"name": "List", "client": str(own.pk)})
    assert created.status_code == 201 and created.json()["client"] == str(own.pk)


def test_no_key_a_malformed_key_and_a_wrong_scheme_are_401():
    objects = objects_of(ClientFactory())
    for api in (Api(None), Api("mk_0000_not-a-key"), Api("not even close")):
        for path in [*LISTS, *detail_paths(objects)]:
            response = api.get(path)
            assert_json_error(response, 401)
            assert response["WWW-Authenticate"].startswith("Bearer")
        for path, body in write_requests(objects):
            assert_json_error(api.post(path, body), 401)
    basic = Api(None).get("campaigns/", HTTP_AUTHORIZATION="Basic dXNlcjpwYXNz")
    assert_json_error(basic, 401)


def test_revoked_and_expired_keys_are_401():
    client = ClientFactory()
    objects_of(client)
    revoked, expired = api_for(client), api_for(client)
    revoke_api_key(api_key=revoked.key)
    ApiKey.objects.filter(pk=expired.key.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    for api in (revoked, expired):
        assert_json_error(api.get("campaigns/"), 401)


def test_archived_client_is_out_of_reach():
    client = ClientFactory()
    objects = objects_of(client)
    api = api_for(client)
    client.archived_at = timezone.now()
    client.save(update_fields=["archived_at"])
    assert_json_error(api.get(f"campaigns/{objects['campaign'].pk}/"), 404)


def test_a_read_only_key_writing_is_403_and_changes_nothing():
    client = ClientFactory()
    objects = objects_of(client)
    api = api_for(client, scopes=("read",))
    for path, body in write_requests(objects):
        assert_json_error(api.post(path, body), 403)
    assert objects["recipient"].conditions_met.count() == 0


def test_test_and_live_data_do_not_see_each_other():
    client = ClientFactory()
    live = objects_of(client)
    test_api = api_for(client, is_test=True)
    for path in detail_paths(live)[1:]:
        assert test_api.get(path).status_code == 404, path
    # Campaigns are shared: a test key drives the real campaign with test recipients.
    assert test_api.get(f"campaigns/{live['campaign'].pk}/").status_code == 200
    audience = test_api.post("audiences/", {"name": "Sandbox list"}).json()
    assert audience["is_test"] is True
    assert api_for(client).get(f"audiences/{audience['id']}/").status_code == 404


def test_unknown_paths_methods_and_bodies_answer_json():
    api = api_for(ClientFactory())
    assert_json_error(api.get("nothing-here/"), 404)
    assert_json_error(api.get("campaigns/not-a-uuid/"), 404)
    assert_json_error(api.delete("campaigns/"), 405)
    broken = api.http.post(
        "/api/v1/audiences/",
        "{not json",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {api.raw_key}",
    )
    assert_json_error(broken, 400)
    form = api.http.post(
        "/api/v1/audiences/", {"name": "x"}, HTTP_AUTHORIZATION=f"Bearer {api.raw_key}"
    )
    assert_json_error(form, 415)
    # A POST to no route is a JSON 404 as well, not the CSRF page; a newline in a path too.
    assert_json_error(api.post("campaigns/x/y/"), 404)
    assert_json_error(api.get("campaigns/%0A/"), 404)


def test_unknown_or_empty_query_parameters_are_400_naming_them():
    api = api_for(ClientFactory())
    body = assert_json_error(api.get("recipients/", {"stauts": "approved"}), 400)
    assert "stauts" in body["error"]["fields"]
    body = assert_json_error(api.get("rewards/", {"campaign": ""}), 400)
    assert body["error"]["fields"]["campaign"] == ["Give a value, or leave the parameter out."]
    body = assert_json_error(api.get("campaigns/", {"limit": "0"}), 400)
    assert "limit" in body["error"]["fields"]
    assert_json_error(api.get("campaigns/", {"limit": "many"}), 400)
    assert api.get("campaigns/", {"limit": "200", "status": "mailed"}).status_code == 200
    # Still 401 before 400 for a caller without a key.
    assert_json_error(Api(None).get("recipients/", {"stauts": "x"}), 401)


def test_an_offset_past_what_the_database_takes_is_converted_not_a_500():
    api = api_for(ClientFactory())
    ok = api.get("recipients/", {"created_after": "0892-03-16T05:11:26-19:12"})
    assert ok.status_code == 200, ok.content


def api_routes():
    """(path, view class) of every API route but the document, the docs and the catch-all, with
    each `<uuid:…>` filled by an id no object has: a sweep that covers routes added later."""
    from uuid import uuid4

    from django.urls import URLPattern

    from mike.api import urls

    routes = []
    for pattern in urls.urlpatterns:
        if not isinstance(pattern, URLPattern) or pattern.name in (None, "schema", "docs"):
            continue
        route = str(pattern.pattern)
        for converter in ("<uuid:pk>", "<uuid:id>"):
            route = route.replace(converter, str(uuid4()))
        assert "<" not in route, f"fill the parameters of {route}"
        routes.append((route, pattern.callback.view_class))
    return routes


def methods_of(view_class):
    return [
        method
        for method in ("get", "post", "patch", "put", "delete")
        if hasattr(view_class, method)
    ]


def test_every_route_is_401_without_a_key_and_404_for_an_unknown_id():
    from mike.api.auth import TestKeyOnly

    client = ClientFactory()
    live, test = api_for(client), api_for(client, is_test=True)
    for route, view_class in api_routes():
        test_only = TestKeyOnly in getattr(view_class, "permission_classes", ())
        for method in methods_of(view_class):
            anonymous = getattr(Api(None), method)(route)
            assert_json_error(anonymous, 401)
            if any(part.count("-") == 4 for part in route.split("/")):
                assert_json_error(getattr(test if test_only else live, method)(route), 404)
            if test_only:
                assert_json_error(getattr(live, method)(route), 403)


def test_every_write_route_is_403_to_a_read_only_key():
    read_only = api_for(ClientFactory(), scopes=("read",))
    for route, view_class in api_routes():
        for method in methods_of(view_class):
            if method != "get":
                assert_json_error(getattr(read_only, method)(route), 403)
