"""POST /hooks/crm/<token>/: who may post, what is refused (and stores nothing), what is kept."""

import time

import pytest
from django.urls import reverse

from calls.models import CallConditionMet
from crm.models import CrmEvent
from crm.services import rotate_webhook_secret
from mike.core.signing import signature_header
from tests.crm.conftest import body_of, zapier_event
from tests.rewards.concurrency import in_thread

pytestmark = pytest.mark.django_db


def test_a_signed_event_is_stored_raw_and_meets_its_condition(
    world, post_event, django_capture_on_commit_callbacks
):
    payload = zapier_event(phone="(555) 201-0001")
    with django_capture_on_commit_callbacks(execute=True):
        response = post_event(world.integration, payload)

    assert response.status_code == 200
    answer = response.json()
    assert answer["status"] == "accepted"
    event = CrmEvent.objects.get()
    assert answer["events"] == [{"id": str(event.pk), "external_id": "evt-1", "status": "accepted"}]
    assert event.raw_payload == payload
    assert event.event_type == "appointment_booked"
    assert (event.processed, event.matched, event.condition_triggered) == (True, True, 1)
    assert event.recipient == world.recipient
    assert CallConditionMet.objects.filter(recipient=world.recipient).count() == 1
    world.integration.refresh_from_db()
    assert world.integration.last_event_at is not None


def test_the_event_is_stored_before_it_is_processed(world, post_event):
    """Processing waits for the commit: without it running, the event is kept, received."""
    response = post_event(world.integration, zapier_event(phone="5552010001"))

    assert response.status_code == 200
    event = CrmEvent.objects.get()
    assert not event.processed and event.outcome == "received"
    assert not CallConditionMet.objects.exists()


def test_missing_signature_is_401_and_stores_nothing(world, post_event):
    response = post_event(world.integration, zapier_event(), header="")

    assert response.status_code == 401
    assert response.json()["error"] == "bad_signature"
    assert "missing" in response.json()["message"]
    assert not CrmEvent.objects.exists()


@pytest.mark.parametrize(
    "header",
    [
        "garbage",
        "t=abc,v1=00",
        "v1=deadbeef",
        f"t={int(time.time())}",
        f"t={int(time.time())},v0=ab",
    ],
)
def test_malformed_signature_is_401(world, post_event, header):
    response = post_event(world.integration, zapier_event(), header=header)

    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert not CrmEvent.objects.exists()


def test_signature_with_another_secret_is_401(world, post_event):
    response = post_event(world.integration, zapier_event(), secret="not-the-secret")

    assert response.status_code == 401
    assert "does not match" in response.json()["message"]
    assert not CrmEvent.objects.exists()


def test_signature_of_another_body_is_401(world, post_event):
    """The signature covers the exact bytes: one changed character fails it."""
    body = body_of(zapier_event(phone="5552010001"))
    header = signature_header(world.integration.webhook_secret, body)

    response = post_event(world.integration, body.replace(b"0001", b"0002"), header=header)

    assert response.status_code == 401
    assert not CrmEvent.objects.exists()


def test_stale_signature_is_401(world, post_event):
    response = post_event(world.integration, zapier_event(), timestamp=int(time.time()) - 301)

    assert response.status_code == 401
    assert "5 minutes" in response.json()["message"]
    assert not CrmEvent.objects.exists()


def test_signature_from_the_future_is_401(world, post_event):
    response = post_event(world.integration, zapier_event(), timestamp=int(time.time()) + 360)

    assert response.status_code == 401
    assert not CrmEvent.objects.exists()


def test_a_signature_just_inside_the_window_passes(world, post_event):
    response = post_event(world.integration, zapier_event(), timestamp=int(time.time()) - 240)

    assert response.status_code == 200


def test_replaying_the_same_signed_body_after_five_minutes_is_refused(
    world, post_event, client, monkeypatch
):
    body = body_of(zapier_event(event_id="", phone="5552010001"))
    sent_at = int(time.time())
    header = signature_header(world.integration.webhook_secret, body, sent_at)
    assert post_event(world.integration, body, header=header).status_code == 200

    later = sent_at + 6 * 60
    monkeypatch.setattr(time, "time", lambda: later)
    response = post_event(world.integration, body, header=header)

    assert response.status_code == 401
    assert CrmEvent.objects.count() == 1


def test_replaying_a_request_without_event_id_within_the_window_is_a_duplicate(world, post_event):
    """An event the CRM gives no id is keyed by its signed body: the same request twice is one
    event, while the same body signed again later is a new one."""
    body = body_of(zapier_event(event_id="", phone="5552010001"))
    header = signature_header(world.integration.webhook_secret, body)

    first = post_event(world.integration, body, header=header)
    again = post_event(world.integration, body, header=header)

    assert first.json()["status"] == "accepted"
    assert again.json()["status"] == "duplicate"
    assert CrmEvent.objects.count() == 1
    assert CrmEvent.objects.get().external_id.startswith("sha256:")


def test_the_same_event_id_again_is_200_duplicate_and_stores_nothing(world, post_event):
    first = post_event(world.integration, zapier_event(event_id="evt-9", phone="5552010001"))
    again = post_event(world.integration, zapier_event(event_id="evt-9", phone="5552019999"))

    assert first.status_code == again.status_code == 200
    assert again.json()["status"] == "duplicate"
    assert again.json()["events"][0]["id"] == first.json()["events"][0]["id"]
    event = CrmEvent.objects.get()
    assert event.raw_payload["phone"] == "5552010001"


def test_the_same_event_id_at_another_integration_is_its_own_event(world, post_event):
    from crm.services import create_integration

    other = create_integration(client=world.client, crm_provider="zapier")

    post_event(world.integration, zapier_event(event_id="evt-9"))
    response = post_event(other, zapier_event(event_id="evt-9"))

    assert response.json()["status"] == "accepted"
    assert CrmEvent.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_redelivery_arriving_at_the_same_moment_is_stored_once(world):
    """Two deliveries of one event racing each other: the unique constraint lets one insert win,
    the other answers duplicate."""
    from django.test import Client

    body = body_of(zapier_event(event_id="evt-race", phone="5552010001"))
    header = signature_header(world.integration.webhook_secret, body)
    url = reverse("crm-webhook", kwargs={"webhook_token": world.integration.webhook_token})

    def deliver():
        return Client().post(
            url, body, content_type="application/json", HTTP_X_MIKE_SIGNATURE=header
        )

    runs = [in_thread(deliver) for _ in range(4)]
    for run in runs:
        run.join()

    assert not [error for run in runs for error in run.errors]
    statuses = sorted(run.results[0].json()["status"] for run in runs)
    assert statuses == ["accepted", "duplicate", "duplicate", "duplicate"]
    assert CrmEvent.objects.filter(external_id="evt-race").count() == 1
    assert CallConditionMet.objects.filter(recipient=world.recipient).count() == 1


def test_unknown_token_is_404(world, client):
    url = reverse("crm-webhook", kwargs={"webhook_token": "no-such-token"})
    body = body_of(zapier_event())

    response = client.post(
        url,
        body,
        content_type="application/json",
        HTTP_X_MIKE_SIGNATURE=signature_header("x", body),
    )

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_inactive_integration_is_404_and_stores_nothing(world, post_event):
    world.integration.is_active = False
    world.integration.save()

    response = post_event(world.integration, zapier_event())

    assert response.status_code == 404
    assert not CrmEvent.objects.exists()


def test_get_is_405_json(world, client):
    url = reverse("crm-webhook", kwargs={"webhook_token": world.integration.webhook_token})

    response = client.get(url)

    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[]", "empty"),
        (b'"a string"', "JSON object"),
        (b"[1, 2]", "JSON object"),
        (b"", "not JSON"),
        (b'{"id": "a", "score": NaN}', "not JSON"),
        (b'{"id": "a", "event": "x\\u0000y"}', "NUL"),
        (b'{"id\\u0000": "a"}', "NUL"),
        (b"[" * 50_000 + b"]" * 50_000, "nested too deeply"),
    ],
)
def test_a_signed_body_that_is_not_events_is_400(world, post_event, body, says):
    """Anything the database could not store is refused here, with a reason, never a 500."""
    response = post_event(world.integration, body)

    assert response.status_code == 400
    assert response.json()["error"] == "bad_body"
    assert says in response.json()["message"]
    assert not CrmEvent.objects.exists()


def test_a_body_over_the_limit_is_400(world, post_event, settings):
    settings.CRM_WEBHOOK_MAX_BYTES = 1024
    payload = zapier_event(note="x" * 2000)

    response = post_event(world.integration, payload)

    assert response.status_code == 400
    assert response.json()["error"] == "too_large"
    assert "1 KB" in response.json()["message"]
    assert not CrmEvent.objects.exists()


def test_too_many_events_in_one_request_is_400(world, post_event, settings):
    settings.CRM_WEBHOOK_MAX_EVENTS = 2

    response = post_event(world.integration, [zapier_event(event_id=f"e{i}") for i in range(3)])

    assert response.status_code == 400
    assert "at most 2 events" in response.json()["message"]
    assert not CrmEvent.objects.exists()


def test_an_array_of_events_stores_each(world, post_event):
    post_event(world.integration, zapier_event(event_id="a"))

    response = post_event(
        world.integration, [zapier_event(event_id="a"), zapier_event(event_id="b")]
    )

    assert response.json()["status"] == "accepted"
    assert [e["status"] for e in response.json()["events"]] == ["duplicate", "accepted"]
    assert set(CrmEvent.objects.values_list("external_id", flat=True)) == {"a", "b"}


def test_requests_over_the_rate_are_429_with_retry_after(world, post_event, settings):
    settings.CRM_WEBHOOK_RATE = "3/m"

    answers = [post_event(world.integration, zapier_event(event_id=f"e{i}")) for i in range(5)]

    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    assert answers[-1]["Retry-After"] == "60"
    assert answers[-1].json()["error"] == "rate_limited"
    assert CrmEvent.objects.count() == 3


def test_the_rate_is_counted_per_integration(world, post_event, settings):
    from crm.services import create_integration

    settings.CRM_WEBHOOK_RATE = "1/m"
    other = create_integration(client=world.client, crm_provider="zapier")

    assert post_event(world.integration, zapier_event(event_id="a")).status_code == 200
    assert post_event(world.integration, zapier_event(event_id="b")).status_code == 429
    assert post_event(other, zapier_event(event_id="c")).status_code == 200


def test_after_rotation_the_previous_secret_still_works_for_a_while(world, post_event, settings):
    old = world.integration.webhook_secret
    integration = rotate_webhook_secret(integration=world.integration)

    assert integration.webhook_secret != old
    assert post_event(integration, zapier_event(event_id="new")).status_code == 200
    assert post_event(integration, zapier_event(event_id="old"), secret=old).status_code == 200

    settings.CRM_WEBHOOK_SECRET_GRACE_HOURS = 0
    assert post_event(integration, zapier_event(event_id="late"), secret=old).status_code == 401


def test_a_broker_outage_after_the_commit_still_answers_200_and_the_sweep_catches_up(
    world, post_event, django_capture_on_commit_callbacks, monkeypatch
):
    """The event is stored before its task is queued; queuing failing (Redis down) must not turn
    the answer into a 500, which would make the CRM send it again for nothing."""
    from datetime import timedelta

    from django.utils import timezone
    from kombu.exceptions import OperationalError

    from mike.rewards import tasks
    from mike.rewards.crm_events import sweep_crm_events

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.process_crm_event, "delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        response = post_event(world.integration, zapier_event(phone="5552010001"))

    assert response.status_code == 200
    event = CrmEvent.objects.get()
    assert event.outcome == "received"

    monkeypatch.undo()
    CrmEvent.objects.filter(pk=event.pk).update(updated_at=timezone.now() - timedelta(minutes=6))
    assert sweep_crm_events() == 1
    event.refresh_from_db()
    assert event.outcome == "processed"
    assert CallConditionMet.objects.filter(recipient=world.recipient).count() == 1
