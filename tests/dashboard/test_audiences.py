"""The audiences pages: the list with counts and the campaigns using each, a new audience, one
audience's page with its campaigns and imports; and the service that creates an audience."""

import io

import pytest
from django.urls import reverse

from mike.imports import services as imports
from recipients.models import Audience, AudienceStatus
from recipients.services.audiences import AudienceInvalid, create_audience
from tests import factories

pytestmark = pytest.mark.django_db

AUDIENCES = reverse("dashboard:audiences")
NEW = reverse("dashboard:audience_new")


def detail_url(audience):
    return reverse("dashboard:audience", kwargs={"audience_id": audience.pk})


def import_url(audience):
    return reverse("dashboard:audience_import", kwargs={"audience_id": audience.pk})


# --- The list ------------------------------------------------------------------------------------


def test_the_list_shows_the_clients_audiences_with_counts_and_campaigns(login_as, people, tenants):
    mine = factories.AudienceFactory(
        client=tenants.client_a, name="Spring mailing", total_count=120, valid_count=118
    )
    factories.CampaignFactory(client=tenants.client_a, audience=mine)
    factories.CampaignFactory(client=tenants.client_a, audience=mine)
    factories.AudienceFactory(client=tenants.client_b, name="Other tenant list")
    response = login_as(people.client_user).get(AUDIENCES)
    body = response.content.decode()
    assert response.status_code == 200
    assert "Spring mailing" in body and "Other tenant list" not in body
    (row,) = response.context["table"].page.object_list
    assert row.record == mine and row.record.campaigns_count == 2
    assert ">120<" in body and ">118<" in body
    assert ">Client<" not in body  # one client selected: no client column
    assert "New audience" not in body  # a client user may not create one


def test_all_clients_show_the_client_column_and_the_filters_apply(login_as, people, tenants):
    factories.AudienceFactory(client=tenants.client_a, name="Spring mailing")
    factories.AudienceFactory(
        client=tenants.client_a2, name="Autumn mailing", status=AudienceStatus.PROCESSING
    )
    client = login_as(people.agency_admin, select="all")
    body = client.get(AUDIENCES).content.decode()
    assert "Client A2" in body and "Spring mailing" in body and "Autumn mailing" in body
    assert "New audience" in body
    by_name = client.get(AUDIENCES, {"name": "autumn"}).content.decode()
    assert "Autumn mailing" in by_name and "Spring mailing" not in by_name
    by_status = client.get(AUDIENCES, {"status": "ready"}).content.decode()
    assert "Spring mailing" in by_status and "Autumn mailing" not in by_status


def test_the_list_exports_as_csv(login_as, people, tenants):
    factories.AudienceFactory(client=tenants.client_a, name="Spring mailing")
    response = login_as(people.client_admin).get(AUDIENCES, {"export": "csv"})
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    assert "Spring mailing" in body


# --- New -----------------------------------------------------------------------------------------


def test_a_client_admin_creates_an_empty_audience(login_as, people, tenants):
    client = login_as(people.client_admin)
    form = client.get(NEW)
    assert form.status_code == 200 and "client" not in form.context["form"].fields
    response = client.post(NEW, {"name": "  Spring   mailing  "})
    audience = Audience.objects.get()
    assert response.status_code == 302 and response["Location"] == detail_url(audience)
    assert (audience.client, audience.name) == (tenants.client_a, "Spring mailing")
    assert audience.status == AudienceStatus.READY and audience.total_count == 0


def test_a_blank_or_taken_name_is_a_field_error(login_as, people, tenants):
    factories.AudienceFactory(client=tenants.client_a, name="Spring mailing")
    client = login_as(people.client_admin)
    blank = client.post(NEW, {"name": "   "})
    assert blank.status_code == 200 and blank.context["form"].errors["name"]
    taken = client.post(NEW, {"name": "spring MAILING"})
    assert taken.context["form"].errors["name"] == [
        "Client A already has an audience named “spring MAILING”."
    ]
    assert Audience.objects.count() == 1


def test_under_all_clients_the_agency_admin_picks_one_of_its_clients(login_as, people, tenants):
    client = login_as(people.agency_admin, select="all")
    form = client.get(NEW).context["form"]
    choices = [label for _, label in form.fields["client"].choices]
    assert choices == ["Choose a client", "Client A", "Client A2"]
    missing = client.post(NEW, {"name": "Spring"})
    assert missing.context["form"].errors["client"]
    foreign = client.post(NEW, {"name": "Spring", "client": str(tenants.client_b.pk)})
    assert foreign.context["form"].errors["client"]
    response = client.post(NEW, {"name": "Spring", "client": str(tenants.client_a2.pk)})
    assert response.status_code == 302
    assert Audience.objects.get().client == tenants.client_a2


def test_users_who_may_not_change_the_client_cannot_create_audiences(login_as, people):
    for user, select in ((people.client_user, None), (people.agency_user, "all")):
        client = login_as(user, select=select)
        assert client.get(NEW).status_code == 403
        assert client.post(NEW, {"name": "Spring"}).status_code == 403
    assert Audience.objects.count() == 0


# --- One audience --------------------------------------------------------------------------------


def test_the_audience_page_shows_counts_campaigns_and_imports(login_as, people, tenants):
    audience = factories.AudienceFactory(
        client=tenants.client_a, name="Spring mailing", total_count=3, invalid_count=2
    )
    campaign = factories.CampaignFactory(
        client=tenants.client_a, audience=audience, name="Storm check"
    )
    job = imports.create_job(
        "recipients",
        target=audience,
        file=io.BytesIO(b"name,phone\nAda,5552010101\n"),
        file_name="spring.csv",
        via="dashboard",
        user=people.client_admin,
    )
    response = login_as(people.client_admin).get(detail_url(audience))
    body = response.content.decode()
    assert response.status_code == 200
    assert "Storm check" in body and reverse("dashboard:campaign", args=[campaign.pk]) in body
    assert "spring.csv" in body and reverse("dashboard:import_job", args=[job.pk]) in body
    assert "Waiting for its columns" in body
    assert import_url(audience) in body

    reader = login_as(people.client_user).get(detail_url(audience)).content.decode()
    assert "spring.csv" in reader and import_url(audience) not in reader


def test_another_clients_audience_is_not_found(login_as, people, tenants):
    theirs = factories.AudienceFactory(client=tenants.client_b)
    assert login_as(people.client_admin).get(detail_url(theirs)).status_code == 404


def test_anonymous_visitors_are_sent_to_sign_in(client, tenants):
    audience = factories.AudienceFactory(client=tenants.client_a)
    for url in (AUDIENCES, NEW, detail_url(audience)):
        response = client.get(url)
        assert response.status_code == 302 and "/app/login/" in response["Location"]


def test_the_navigation_has_audiences_after_recipients(login_as, people):
    nav = login_as(people.client_user).get(AUDIENCES).context["nav"]
    labels = [label for _, items in nav for label, _, _ in items]
    assert labels.index("Audiences") == labels.index("Recipients") + 1
    current = [label for _, items in nav for label, _, is_current in items if is_current]
    assert current == ["Audiences"]


# --- The service ---------------------------------------------------------------------------------


def test_create_audience_refuses_what_is_not_an_active_client(tenants):
    with pytest.raises(AudienceInvalid, match="active client"):
        create_audience(client=tenants.agency_a, name="Spring")
    tenants.client_a.archived_at = tenants.client_a.created_at
    with pytest.raises(AudienceInvalid, match="active client"):
        create_audience(client=tenants.client_a, name="Spring")
    with pytest.raises(AudienceInvalid, match="200 characters"):
        create_audience(client=tenants.client_a2, name="x" * 201)
    assert Audience.objects.count() == 0


def test_the_same_name_may_be_used_by_two_clients(tenants):
    create_audience(client=tenants.client_a, name="Spring")
    create_audience(client=tenants.client_b, name="Spring")
    assert Audience.objects.filter(name="Spring").count() == 2
