"""The CRM integrations pages under /app/integrations/: the client admin connects a CRM, sees the
URL and secret, edits what Mike reads, and reprocesses the events that could not be used."""

import pytest
from django.urls import reverse

from calls.models import CallConditionMet
from campaigns.models import CampaignStatus, TriggerType
from crm.models import CrmEvent, CrmIntegration, CrmProvider
from crm.presets import PRESETS
from crm.services import create_integration, record_event
from mike.rewards.crm_events import process_crm_event
from tests import factories
from tests.crm.conftest import zapier_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def crm(tenants):
    campaign = factories.CampaignFactory(client=tenants.client_a, status=CampaignStatus.MAILED)
    factories.CampaignConditionFactory(
        campaign=campaign,
        trigger_type=TriggerType.CRM_WEBHOOK,
        crm_event_name="appointment_booked",
    )
    recipient = factories.RecipientFactory(campaign=campaign, phone="+15552010001")
    integration = create_integration(
        client=tenants.client_a, crm_provider=CrmProvider.ZAPIER, name="Zap"
    )
    return {"campaign": campaign, "recipient": recipient, "integration": integration}


def event_of(integration, outcome_payload, event_id):
    event, _ = record_event(
        integration=integration, payload=zapier_event(event_id, **outcome_payload), signed_at=1
    )
    process_crm_event(event.pk)
    event.refresh_from_db()
    return event


def test_the_client_admin_sees_their_integrations_only(login_as, people, tenants, crm):
    create_integration(client=tenants.client_b, crm_provider=CrmProvider.HUBSPOT, name="B's")

    response = login_as(people.client_admin).get(reverse("dashboard:integrations"))

    assert response.status_code == 200
    assert b"Zap" in response.content
    assert b"B&#x27;s" not in response.content and b"B's" not in response.content


def test_another_clients_integration_is_404(login_as, people, tenants):
    theirs = create_integration(client=tenants.client_b, crm_provider=CrmProvider.HUBSPOT)
    web = login_as(people.client_admin)

    for name in ("integration_detail", "integration_edit"):
        assert web.get(reverse(f"dashboard:{name}", args=[theirs.pk])).status_code == 404
    rotate = reverse("dashboard:integration_rotate_secret", args=[theirs.pk])
    assert web.post(rotate).status_code == 404
    theirs.refresh_from_db()
    assert CrmIntegration.objects.get(pk=theirs.pk).webhook_secret == theirs.webhook_secret


def test_another_clients_event_is_404_and_not_reprocessed(login_as, people, tenants):
    theirs = create_integration(client=tenants.client_b, crm_provider=CrmProvider.ZAPIER)
    event = event_of(theirs, {"phone": "5559990000"}, "b-1")
    web = login_as(people.client_admin)

    assert web.get(reverse("dashboard:crm_event_detail", args=[event.pk])).status_code == 404
    assert web.post(reverse("dashboard:crm_event_reprocess", args=[event.pk])).status_code == 404
    web.post(reverse("dashboard:crm_events_reprocess"), {"events": [str(event.pk)]})
    event.refresh_from_db()
    assert event.processed  # not put back for reprocessing


def test_a_client_user_may_not_open_the_integrations(login_as, people, crm):
    web = login_as(people.client_user)

    assert web.get(reverse("dashboard:integrations")).status_code == 403
    detail = reverse("dashboard:integration_detail", args=[crm["integration"].pk])
    assert web.get(detail).status_code == 403


def test_creating_from_a_preset_fills_the_mappings(login_as, people, tenants, crm):
    web = login_as(people.client_admin)
    assert web.get(reverse("dashboard:integration_create")).status_code == 200

    response = web.post(
        reverse("dashboard:integration_create"),
        {"crm_provider": "hubspot", "name": "Sales HubSpot", "campaign": crm["campaign"].pk},
    )

    integration = CrmIntegration.objects.get(name="Sales HubSpot")
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:integration_detail", args=[integration.pk])
    assert integration.client == tenants.client_a
    assert integration.campaign == crm["campaign"]
    assert integration.field_mappings == PRESETS[CrmProvider.HUBSPOT].field_mappings


def test_creating_with_a_path_of_ones_own_keeps_it(login_as, people):
    web = login_as(people.client_admin)

    web.post(
        reverse("dashboard:integration_create"),
        {"crm_provider": "salesforce", "phone": " lead.Phone | lead.MobilePhone "},
    )

    integration = CrmIntegration.objects.get(crm_provider="salesforce")
    assert integration.field_mappings["phone"] == "lead.Phone|lead.MobilePhone"
    assert integration.field_mappings["email"] == "contact.Email"


def test_another_clients_campaign_cannot_be_chosen(login_as, people, tenants):
    theirs = factories.CampaignFactory(client=tenants.client_b)

    response = login_as(people.client_admin).post(
        reverse("dashboard:integration_create"), {"crm_provider": "zapier", "campaign": theirs.pk}
    )

    assert response.status_code == 200
    assert "campaign" in response.context["form"].errors
    assert not CrmIntegration.objects.exists()


def test_the_detail_shows_the_url_and_the_secret_behind_a_click(login_as, people, crm):
    integration = crm["integration"]

    response = login_as(people.client_admin).get(
        reverse("dashboard:integration_detail", args=[integration.pk])
    )

    body = response.content.decode()
    assert f"http://testserver/hooks/crm/{integration.webhook_token}/" in body
    assert "<details>" in body and "Show the secret" in body
    assert integration.webhook_secret in body.split("<details>", 1)[1]


def test_rotating_the_secret_makes_a_new_one_and_shows_it(login_as, people, crm):
    integration = crm["integration"]
    url = reverse("dashboard:integration_rotate_secret", args=[integration.pk])

    response = login_as(people.client_admin).post(url)

    fresh = CrmIntegration.objects.get(pk=integration.pk)
    assert fresh.webhook_secret != integration.webhook_secret
    assert fresh.previous_webhook_secret == integration.webhook_secret
    assert response["Location"].endswith("?secret=shown#secret")


def test_editing_the_mappings_and_event_names(login_as, people, crm):
    integration = crm["integration"]
    url = reverse("dashboard:integration_edit", args=[integration.pk])
    web = login_as(people.client_admin)
    assert web.get(url).status_code == 200

    response = web.post(
        url,
        {
            "name": "Zapier main",
            "is_active": "on",
            "event_id": "id",
            "event_name": "data.event",
            "phone": "data.contact.phone",
            "email": "",
            "redemption_code": "",
            "event_mappings": "Meeting Booked = appointment_booked\n\n Demo done=appointment_kept ",
        },
    )

    assert response.status_code == 302
    integration.refresh_from_db()
    assert integration.name == "Zapier main"
    assert integration.field_mappings == {
        "event_id": "id",
        "event_name": "data.event",
        "phone": "data.contact.phone",
    }
    assert integration.event_mappings == {
        "Meeting Booked": "appointment_booked",
        "Demo done": "appointment_kept",
    }


def test_mappings_that_could_find_nobody_are_refused_per_field(login_as, people, crm):
    integration = crm["integration"]

    response = login_as(people.client_admin).post(
        reverse("dashboard:integration_edit", args=[integration.pk]),
        {"event_name": "", "phone": "", "email": "", "event_mappings": "only a name"},
    )

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert {"event_name", "phone", "event_mappings"} <= set(errors)
    integration.refresh_from_db()
    assert integration.field_mappings["phone"] == "phone"


def test_pausing_an_integration(login_as, people, crm):
    integration = crm["integration"]
    data = {**integration.field_mappings, "name": "Zap"}  # is_active unticked

    login_as(people.client_admin).post(
        reverse("dashboard:integration_edit", args=[integration.pk]), data
    )

    integration.refresh_from_db()
    assert not integration.is_active


def test_the_events_list_filters_by_outcome(login_as, people, crm):
    integration = crm["integration"]
    ok = event_of(integration, {"phone": "5552010001"}, "ok-1")
    lost = event_of(integration, {"phone": "5559990000"}, "lost-1")
    failed = event_of(integration, {"phone": "5552010001", "event": "x"}, "failed-1")
    CrmEvent.objects.filter(pk=failed.pk).update(error_message="Condition 2 waits for 1.")
    web = login_as(people.client_admin)
    url = reverse("dashboard:crm_events")

    def listed(query):
        response = web.get(url, query)
        assert response.status_code == 200
        return {row.record.pk for row in response.context["table"].paginated_rows}

    assert listed({}) == {ok.pk, lost.pk, failed.pk}
    assert listed({"outcome": "unmatched"}) == {lost.pk}
    assert listed({"outcome": "failed"}) == {failed.pk}
    assert listed({"outcome": "processed"}) == {ok.pk}
    assert listed({"q": "lost-1"}) == {lost.pk}


def test_the_event_page_shows_the_payload_as_it_came(login_as, people, crm):
    event = event_of(crm["integration"], {"phone": "5559990000"}, "lost-1")

    response = login_as(people.client_admin).get(
        reverse("dashboard:crm_event_detail", args=[event.pk])
    )

    assert response.status_code == 200
    assert b"5559990000" in response.content
    assert b"Unmatched" in response.content


def test_reprocess_one_event_from_the_dashboard(
    login_as, people, crm, django_capture_on_commit_callbacks
):
    """Unmatched because the recipient was not imported yet; after the import, reprocess."""
    event = event_of(crm["integration"], {"phone": "5552013333"}, "early-1")
    factories.RecipientFactory(campaign=crm["campaign"], phone="+15552013333")

    with django_capture_on_commit_callbacks(execute=True):
        response = login_as(people.client_admin).post(
            reverse("dashboard:crm_event_reprocess", args=[event.pk]),
            {"next": reverse("dashboard:crm_events") + "?outcome=unmatched"},
        )

    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:crm_events") + "?outcome=unmatched"
    event.refresh_from_db()
    assert event.outcome == "processed" and event.condition_triggered == 1
    assert CallConditionMet.objects.count() == 1


def test_reprocess_the_selection(login_as, people, crm, django_capture_on_commit_callbacks):
    integration = crm["integration"]
    events = [event_of(integration, {"phone": "5552014444"}, f"sel-{i}") for i in range(3)]
    factories.RecipientFactory(campaign=crm["campaign"], phone="+15552014444")

    with django_capture_on_commit_callbacks(execute=True):
        login_as(people.client_admin).post(
            reverse("dashboard:crm_events_reprocess"),
            {"events": [str(events[0].pk), str(events[1].pk), "not-a-uuid"]},
        )

    outcomes = [CrmEvent.objects.get(pk=e.pk).outcome for e in events]
    assert outcomes == ["processed", "processed", "unmatched"]
    assert CallConditionMet.objects.count() == 1


def test_the_nav_links_to_the_integrations_for_managers(login_as, people, crm):
    page = login_as(people.client_admin).get(reverse("dashboard:home"))

    assert reverse("dashboard:integrations").encode() in page.content


def test_the_events_list_runs_as_many_queries_for_many_rows(login_as, people, crm):
    from tests.dashboard.helpers import assert_queries_do_not_grow

    web = login_as(people.client_admin)
    web.get(reverse("dashboard:crm_events"))  # the first request fills per-process caches
    counter = iter(range(10_000))

    def add(n):
        for _ in range(n):
            i = next(counter)
            phone = "5552010001" if i % 2 else "5559990000"
            event_of(crm["integration"], {"phone": phone}, f"many-{i}")

    assert_queries_do_not_grow(web, reverse("dashboard:crm_events"), add, few=2, many=20)


def test_the_events_export_lists_the_filtered_rows(login_as, people, crm):
    from tests.dashboard.helpers import read_csv

    event_of(crm["integration"], {"phone": "5552010001"}, "ok-1")
    event_of(crm["integration"], {"phone": "5559990000"}, "lost-1")

    rows = read_csv(
        login_as(people.client_admin).get(
            reverse("dashboard:crm_events"), {"outcome": "unmatched", "export": "csv"}
        )
    )

    assert [(row["Event id"], row["Outcome"]) for row in rows] == [("lost-1", "unmatched")]


def test_reprocess_returns_to_the_filtered_list_it_was_asked_from(login_as, people, crm):
    event = event_of(crm["integration"], {"phone": "5559990000"}, "lost-1")
    shown = "/app/integrations/events/?outcome=unmatched&q=lost"

    response = login_as(people.client_admin).post(
        reverse("dashboard:crm_events_reprocess"),
        {"events": [str(event.pk)], "next": "/app/integrations/events/"},
        HTTP_REFERER=f"http://testserver{shown}",
    )

    assert response["Location"] == shown


def test_reprocess_never_returns_to_another_site(login_as, people, crm):
    event = event_of(crm["integration"], {"phone": "5559990000"}, "lost-1")

    response = login_as(people.client_admin).post(
        reverse("dashboard:crm_event_reprocess", args=[event.pk]),
        {"next": "https://evil.example/"},
        HTTP_REFERER="https://evil.example/x",
    )

    assert response["Location"] == reverse("dashboard:crm_events")
