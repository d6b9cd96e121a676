"""Every URL under /app/, walked as the wrong people, so a new page cannot forget its scoping.

For each pattern in the dashboard's URLconf, with client A's objects in its arguments:
- staff open it (so the objects are real: a 404 below means "not yours", not "not there");
- anonymous visitors are sent to sign in (the public sign-in and invitation pages aside);
- a client admin of client B gets 404, reading or writing;
- a client *user* of client A, who may read but not change, gets 403, 404 or 405 from a POST
  (the header's switcher, table settings and sign-out aside).

A pattern whose argument the sweep does not know fails here: add a client A object for it to
`sweep_objects` below (named by the argument, e.g. `campaign_id`).
"""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

# Pages anyone may open.
PUBLIC = {
    "login",
    "logout",
    "password_reset",
    "password_reset_done",
    "password_reset_confirm",
    "password_reset_complete",
    "accept_invitation",
}
# POSTs a read-only user may make: about their own session and screen, not the client's data.
SELF_SERVICE = {
    "switch_client",
    "table_prefs",
    "logout",
    "login",
    "choose_client",
    # The user's own second factor (tests/dashboard/test_two_factor.py).
    "two_factor_verify",
    "two_factor_setup",
    "two_factor_recovery_codes",
    "two_factor_disable",
}
# Pages that answer a GET with a redirect by design (a section's entry point).
REDIRECTS = {"calls"}


def dashboard_patterns():
    """(url name, pattern, converter kwargs) of every named pattern under the dashboard."""
    resolver = get_resolver()
    found = []

    def walk(patterns, namespace):
        for entry in patterns:
            if isinstance(entry, URLResolver):
                ns = entry.namespace or namespace
                walk(entry.url_patterns, ns)
            elif isinstance(entry, URLPattern) and namespace == "dashboard" and entry.name:
                found.append((entry.name, entry))

    walk(resolver.url_patterns, None)
    return found


PATTERNS = dashboard_patterns()


@pytest.fixture
def sweep_objects(tenants, people):
    """One object of client A per URL argument name."""
    from django.core.files.base import ContentFile

    from mike.accounts.invitations import invite
    from mike.accounts.models import Membership
    from mike.accounts.services import create_api_key
    from mike.imports.services import create_job
    from tests import factories

    campaign = factories.CampaignFactory(client=tenants.client_a)
    card = factories.GiftCardFactory(pool__client=tenants.client_a)
    delivery = factories.GiftCardDeliveryFactory(
        reward__condition__campaign__client=tenants.client_a
    )
    recipient = factories.RecipientFactory(campaign=campaign)
    call = factories.CallSessionFactory(campaign=campaign, recipient=recipient)
    invitation, token = invite(
        email="new.person@a.test",
        organization=tenants.client_a,
        role="client_user",
        by=people.client_admin,
    )
    audience = factories.AudienceFactory(client=tenants.client_a)
    from mike.webhooks.services import create_subscription, send_test_event

    webhook, _ = create_subscription(
        client=tenants.client_a, url="https://example.com/hooks", events=["condition.met"]
    )
    webhook_delivery = send_test_event(subscription=webhook)
    job = create_job(
        "recipients",
        target=audience,
        file=ContentFile(b"name,phone\nAda Lovelace,5552010001\n", name="people.csv"),
        via="dashboard",
        user=people.client_admin,
    )
    crm_event = factories.CrmEventFactory(integration__client=tenants.client_a)
    ace_form = factories.AceFormFactory(client=tenants.client_a, campaign=campaign)
    return {
        "page_id": factories.LandingPageFactory(client=tenants.client_a, campaign=campaign).pk,
        "form_id": ace_form.pk,
        "field_id": factories.AceFormFieldFactory(form=ace_form).pk,
        "name": "RecipientTable",
        "integration_id": crm_event.integration_id,
        "event_id": crm_event.pk,
        "audience_id": audience.pk,
        "job_id": job.pk,
        "campaign_id": campaign.pk,
        "pool_id": card.pool_id,
        "card_id": card.pk,
        "reward_id": delivery.reward_id,
        "delivery_id": delivery.pk,
        "recipient_id": recipient.pk,
        "call_id": call.pk,
        "number_id": factories.TrackedPhoneNumberFactory(campaign=campaign).pk,
        "member_id": Membership.objects.get(user=people.client_user).pk,
        "invitation_id": invitation.pk,
        "key_id": create_api_key(organization=tenants.client_a, name="sweep")[0].pk,
        "token": token,
        "webhook_id": webhook.pk,
        "webhook_delivery_id": webhook_delivery.pk,
        "tab": "conditions",
        "step": "details",
    }


def url_for(name, pattern, objects):
    kwargs = {}
    for arg in pattern.pattern.converters:
        assert arg in objects, (
            f"The sweep does not know the URL argument {arg!r} of dashboard:{name}; add a client "
            "A object for it to sweep_objects in tests/dashboard/test_url_sweep.py."
        )
        kwargs[arg] = objects[arg]
    return reverse(f"dashboard:{name}", kwargs=kwargs)


def test_the_sweep_sees_the_dashboard():
    names = {name for name, _ in PATTERNS}
    assert {"home", "login", "switch_client"} <= names


@pytest.mark.parametrize(("name", "pattern"), PATTERNS, ids=[n for n, _ in PATTERNS])
def test_staff_can_open_it(client, people, sweep_objects, name, pattern):
    if name in {"logout", "password_reset_confirm"}:
        pytest.skip("signs out / needs a token")
    client.force_login(people.staff)
    response = client.get(url_for(name, pattern, sweep_objects))
    assert response.status_code in (200, 302, 405), response.status_code
    if name not in REDIRECTS and response.status_code == 302:
        assert "/login/" not in response["Location"]


@pytest.mark.parametrize(("name", "pattern"), PATTERNS, ids=[n for n, _ in PATTERNS])
def test_anonymous_is_sent_to_sign_in(client, sweep_objects, name, pattern):
    if name in PUBLIC:
        return
    url = url_for(name, pattern, sweep_objects)
    for response in (client.get(url), client.post(url)):
        assert response.status_code in (302, 405)
        if response.status_code == 302:
            assert response["Location"].startswith("/app/login/?next=")


@pytest.mark.parametrize(("name", "pattern"), PATTERNS, ids=[n for n, _ in PATTERNS])
def test_another_clients_admin_gets_404(client, people, tenants, sweep_objects, name, pattern):
    if name in PUBLIC or not pattern.pattern.converters or name == "table_prefs":
        return
    url = url_for(name, pattern, sweep_objects)
    client.force_login(people.other_client_admin)
    assert client.get(url).status_code in (404, 405)
    assert client.post(url).status_code in (404, 405)


@pytest.mark.parametrize(("name", "pattern"), PATTERNS, ids=[n for n, _ in PATTERNS])
def test_a_read_only_user_cannot_change_anything(client, people, sweep_objects, name, pattern):
    if name in PUBLIC or name in SELF_SERVICE:
        return
    url = url_for(name, pattern, sweep_objects)
    client.force_login(people.client_user)
    response = client.post(url, {})
    assert response.status_code in (403, 404, 405), (name, response.status_code)
