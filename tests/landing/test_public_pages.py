"""The public and personal landing pages: what they show, what an unknown or foreign token gets,
an unpublished page, and the page-view events (one per recipient and day, also at once)."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connections
from django.urls import reverse

from campaigns.models import Event, EventSource, EventType
from mike.landing.services import record_page_view, set_published
from tests import factories

pytestmark = pytest.mark.django_db


def personal(page, token, **query):
    return reverse("landing-personal", args=[page.slug, token])


def test_the_personal_page_greets_the_recipient_with_the_offer_and_a_call_link(client, offer_page):
    page, recipient = offer_page
    response = client.get(personal(page, recipient.token))
    body = response.content.decode()
    assert response.status_code == 200
    assert "Hi Zoë, a thank-you from Summit Roofing" in body
    assert "$25.00 Acme Coffee gift card" in body and "$50.00 Acme Coffee gift card" in body
    assert 'href="tel:+18005550101"' in body
    assert "(800) 555-0101" in body
    assert response["Cache-Control"] == "private, no-store"


def test_the_public_page_greets_nobody_by_name(client, offer_page):
    page, recipient = offer_page
    body = client.get(reverse("landing-page", args=[page.slug])).content.decode()
    assert "Hi there," in body
    assert "Zoë" not in body
    assert Event.objects.filter(event_type=EventType.PAGE_VIEWED).count() == 0


def _strip_nonce(html: str) -> str:
    import re

    html = re.sub(r'nonce="[^"]*"', "", html)
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", html)


def test_an_unknown_or_foreign_token_gets_exactly_the_public_page(client, offer_page):
    page, recipient = offer_page
    stranger = factories.RecipientFactory(first_name="Mallory")  # another client's campaign
    other_campaign = factories.RecipientFactory(
        campaign=factories.CampaignFactory(client=page.client), first_name="Trent"
    )
    public = client.get(reverse("landing-page", args=[page.slug]))
    for token in (stranger.token, other_campaign.token, "x" * 32, "nope"):
        response = client.get(personal(page, token))
        assert response.status_code == 200
        assert _strip_nonce(response.content.decode()) == _strip_nonce(public.content.decode())
        assert response["Cache-Control"] == public["Cache-Control"]
    assert not Event.objects.filter(event_type=EventType.PAGE_VIEWED).exists()


def test_an_erased_recipient_gets_the_public_page(client, offer_page):
    page, recipient = offer_page
    recipient.erased_at = datetime.now(UTC)
    recipient.save()
    body = client.get(personal(page, recipient.token)).content.decode()
    assert "Hi there," in body


def test_an_unpublished_page_is_not_found(client, offer_page):
    page, recipient = offer_page
    set_published(page=page, published=False)
    assert client.get(reverse("landing-page", args=[page.slug])).status_code == 404
    assert client.get(personal(page, recipient.token)).status_code == 404
    assert client.get(reverse("landing-page", args=["no-such-page"])).status_code == 404


def test_the_campaigns_published_form_is_embedded_with_the_token(client, offer_page):
    page, recipient = offer_page
    factories.AceFormFactory(
        client=page.client, campaign=page.campaign, slug="draft-form", is_draft=True
    )
    assert "<iframe" not in client.get(personal(page, recipient.token)).content.decode()
    factories.AceFormFactory(
        client=page.client, campaign=page.campaign, slug="claim", is_draft=False, is_active=True
    )
    body = client.get(personal(page, recipient.token)).content.decode()
    assert f'src="/f/claim/embed/?t={recipient.token}"' in body
    public = client.get(reverse("landing-page", args=[page.slug])).content.decode()
    assert 'src="/f/claim/embed/"' in public


def test_a_personal_view_is_one_event_per_recipient_and_day(client, offer_page):
    page, recipient = offer_page
    for _ in range(3):
        client.get(personal(page, recipient.token))
    client.get(personal(page, recipient.token) + "?src=qr")
    events = Event.objects.filter(event_type=EventType.PAGE_VIEWED, recipient=recipient)
    assert events.count() == 1
    event = events.get()
    assert event.source == EventSource.PURL
    assert event.campaign_id == page.campaign_id and event.client_id == page.client_id


def test_the_qr_marker_records_the_qr_source(client, offer_page):
    page, recipient = offer_page
    client.get(personal(page, recipient.token) + "?src=qr")
    assert Event.objects.get(event_type=EventType.PAGE_VIEWED).source == EventSource.QR


def test_the_next_day_of_the_clients_calendar_counts_again(offer_page):
    page, recipient = offer_page
    page.client.timezone = "America/New_York"
    # 23:30 and 00:30 in New York: two days there, though both are the same UTC day.
    evening = datetime(2026, 6, 1, 3, 30, tzinfo=UTC)
    assert record_page_view(page=page, recipient=recipient, source=EventSource.PURL, now=evening)
    assert record_page_view(
        page=page, recipient=recipient, source=EventSource.PURL, now=evening + timedelta(hours=1)
    )
    assert not record_page_view(
        page=page, recipient=recipient, source=EventSource.QR, now=evening + timedelta(hours=2)
    )
    assert Event.objects.filter(event_type=EventType.PAGE_VIEWED).count() == 2


def test_other_events_of_a_recipient_are_not_limited(offer_page):
    page, recipient = offer_page
    Event.objects.record(EventType.CALLED, recipient=recipient, day="2026-06-01")
    Event.objects.record(EventType.CALLED, recipient=recipient, day="2026-06-01")
    assert Event.objects.filter(event_type=EventType.CALLED).count() == 2


@pytest.mark.django_db(transaction=True)
def test_two_views_at_once_write_one_event(offer_page):
    page, recipient = offer_page
    barrier = threading.Barrier(2)
    results = []

    def view():
        try:
            barrier.wait()
            results.append(
                record_page_view(page=page, recipient=recipient, source=EventSource.PURL)
            )
        finally:
            connections.close_all()

    threads = [threading.Thread(target=view) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, True]
    assert Event.objects.filter(event_type=EventType.PAGE_VIEWED).count() == 1


def test_the_page_carries_the_clients_colour_in_a_nonced_style(client, offer_page):
    page, recipient = offer_page
    page.client.brand_colors = {"primary": "#0F5C8C"}
    page.client.save()
    body = client.get(personal(page, recipient.token)).content.decode()
    assert "--brand:#0f5c8c" in body
    assert "style=" not in body
    page.client.brand_colors = {"primary": "red;}</style><script>alert(1)</script>"}
    page.client.save()
    body = client.get(personal(page, recipient.token)).content.decode()
    assert "<script>alert" not in body and "--brand:#2457d6" in body
