"""The dashboard's landing pages: the client admin creates one for a campaign, edits it (cleaned)
beside a preview, generates it again and publishes it; another tenant gets 404; the QR sheet."""

import pytest
from django.urls import reverse

from campaigns.models import AiProvider, LandingPage
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign(tenants):
    campaign = factories.CampaignFactory(client=tenants.client_a, name="Storm check")
    factories.CampaignConditionFactory(campaign=campaign)
    return campaign


def test_a_client_admin_creates_edits_and_publishes_a_page(
    login_as, people, tenants, campaign, django_capture_on_commit_callbacks
):
    client = login_as(people.client_admin, tenants.client_a)
    assert client.get(reverse("dashboard:pages")).status_code == 200
    response = client.post(
        reverse("dashboard:page_new"), {"campaign": campaign.pk, "name": "Storm offer", "slug": ""}
    )
    page = LandingPage.objects.get(slug="storm-offer")
    assert response.url == reverse("dashboard:page", args=[page.pk])
    assert not page.published and "{offer}" in page.html_content
    assert client.get(f"/p/{page.slug}/").status_code == 404

    client.post(
        reverse("dashboard:page", args=[page.pk]),
        {"html": '<h1 onclick="x()">Hi {first_name}</h1><script>alert(1)</script>{offer}'},
    )
    page.refresh_from_db()
    assert page.html_content == "<h1>Hi {first_name}</h1>{offer}"
    assert page.ai_provider == AiProvider.MANUAL and page.version_number == 2
    preview = client.get(reverse("dashboard:page_preview", args=[page.pk]))
    assert preview.status_code == 200 and "Hi there" in preview.content.decode()
    assert "frame-ancestors 'self'" in preview["Content-Security-Policy"]

    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("dashboard:page_generate", args=[page.pk]), {"generator": "default"})
    page.refresh_from_db()
    assert page.ai_provider == AiProvider.TEMPLATE and "How it works" in page.html_content

    client.post(reverse("dashboard:page_publish", args=[page.pk]), {"published": "1"})
    assert client.get(f"/p/{page.slug}/").status_code == 200


def test_a_taken_address_is_a_field_error(login_as, people, tenants, campaign):
    factories.LandingPageFactory(slug="taken")
    client = login_as(people.client_admin, tenants.client_a)
    response = client.post(
        reverse("dashboard:page_new"), {"campaign": campaign.pk, "name": "X", "slug": "taken"}
    )
    assert response.status_code == 200
    assert "That address is taken" in response.content.decode()


def test_the_ai_generator_is_refused_when_none_is_configured(
    login_as, people, tenants, campaign, settings
):
    settings.LANDING_AI_BASE_URL = ""
    page = factories.LandingPageFactory(client=tenants.client_a, campaign=campaign)
    client = login_as(people.client_admin, tenants.client_a)
    response = client.post(
        reverse("dashboard:page_generate", args=[page.pk]), {"generator": "ai"}, follow=True
    )
    assert "No AI service is configured" in response.content.decode()


def test_another_tenants_page_is_not_found(login_as, people, tenants):
    page = factories.LandingPageFactory(client=tenants.client_a)
    client = login_as(people.other_client_admin, tenants.client_b)
    for name in ("dashboard:page", "dashboard:page_preview"):
        assert client.get(reverse(name, args=[page.pk])).status_code == 404
    assert client.post(reverse("dashboard:page_publish", args=[page.pk])).status_code == 404


def test_anonymous_is_sent_to_sign_in(client, tenants):
    assert client.get(reverse("dashboard:pages")).status_code == 302


def test_the_qr_sheet_shows_a_sample_of_the_audience(login_as, people, tenants, campaign):
    page = factories.LandingPageFactory(client=tenants.client_a, campaign=campaign, slug="s")
    recipients = [factories.RecipientFactory(campaign=campaign) for _ in range(14)]
    client = login_as(people.client_admin, tenants.client_a)
    body = client.get(reverse("dashboard:audience_qr_sheet", args=[campaign.audience_id]))
    html = body.content.decode()
    assert html.count('class="qr-card"') == 12
    shown = [r for r in recipients if f"/p/{page.slug}/{r.token}/qr.svg" in html]
    assert len(shown) == 12
    other = login_as(people.other_client_admin, tenants.client_b)
    assert (
        other.get(reverse("dashboard:audience_qr_sheet", args=[campaign.audience_id])).status_code
        == 404
    )
