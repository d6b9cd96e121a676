"""Call scripts: client admins write the client's script and a campaign's own, cleaned of
anything that could run in an agent's browser; the campaign's wins for its calls; other roles and
other tenants cannot change them."""

import pytest

from calls.models import CallScript
from calls.scripts import ScriptRefused, clean, editable, save_script, script_for, sections_of
from tests import factories

SCRIPTS = "/app/call-scripts/"
EDIT = "/app/call-scripts/edit/"

pytestmark = pytest.mark.django_db


def test_clean_keeps_simple_formatting_and_drops_what_runs():
    dirty = (
        '<p onclick="x()">Hello <strong>{first}</strong></p><script>steal()</script>'
        '<a href="javascript:alert(1)">bad</a> <a href="https://example.com">good</a>'
        "<img src=x onerror=alert(1)><style>p{}</style>"
    )
    assert clean(dirty) == (
        '<p>Hello <strong>{first}</strong></p><a rel="noopener noreferrer">bad</a> '
        '<a href="https://example.com" rel="noopener noreferrer">good</a>'
    )
    assert clean("Hi <b>there</b>") == "Hi <b>there</b>"
    assert clean("Line one\nLine 2 & 3 > 2") == "Line one<br>Line 2 &amp; 3 &gt; 2"
    assert clean("   ") == ""


def test_a_plain_text_section_is_edited_as_the_text_it_was():
    written = "Line one\nLine 2 & 3 > 2"
    assert editable(clean(written)) == written
    assert clean(editable(clean(written))) == clean(written)
    assert editable("Hi <b>there</b><br>again") == "Hi <b>there</b><br>again"


def test_a_campaign_script_wins_over_the_clients_and_empty_sections_are_dropped():
    client = factories.ClientFactory()
    campaign = factories.CampaignFactory(client=client)
    other = factories.CampaignFactory(client=client)
    admin = factories.UserFactory()
    save_script(
        client=client,
        campaign=None,
        sections={"greeting": "Hi from the client", "closing": ""},
        by=admin,
    )
    save_script(client=client, campaign=campaign, sections={"greeting": "Hi, campaign"}, by=admin)

    assert script_for(client_id=client.pk, campaign_id=campaign.pk).sections == {
        "greeting": "Hi, campaign"
    }
    assert script_for(client_id=client.pk, campaign_id=other.pk).campaign is None
    assert script_for(client_id=client.pk).sections == {"greeting": "Hi from the client"}
    assert script_for(client_id=factories.ClientFactory().pk) is None
    assert [s["label"] for s in sections_of(script_for(client_id=client.pk))] == ["Greeting"]
    # Saving again changes the same row.
    save_script(client=client, campaign=None, sections={"escalation": "Call Sam"}, by=admin)
    assert CallScript.objects.filter(client=client, campaign=None).count() == 1
    assert script_for(client_id=client.pk).sections == {"escalation": "Call Sam"}


def test_a_campaign_of_another_client_or_an_unknown_section_is_refused():
    client = factories.ClientFactory()
    foreign = factories.CampaignFactory()
    with pytest.raises(ScriptRefused, match="not this client's"):
        save_script(client=client, campaign=foreign, sections={}, by=None)
    with pytest.raises(ScriptRefused, match="no section 'jokes'"):
        save_script(client=client, campaign=None, sections={"jokes": "…"}, by=None)
    assert not CallScript.objects.exists()


def test_a_client_admin_writes_the_clients_script_and_a_campaigns(login_as, people, tenants):
    campaign = factories.CampaignFactory(client=tenants.client_a, name="Spring service")
    browser = login_as(people.client_admin)
    page = browser.get(SCRIPTS)
    assert page.status_code == 200
    assert "No script yet" in page.content.decode() and "Spring service" in page.content.decode()

    response = browser.post(
        EDIT, {"greeting": "Hello <script>x()</script><em>there</em>", "closing": "Thanks!"}
    )
    assert response.status_code == 302
    script = CallScript.objects.get(client=tenants.client_a, campaign=None)
    assert script.sections == {"greeting": "Hello <em>there</em>", "closing": "Thanks!"}
    assert script.updated_by == people.client_admin

    response = browser.post(f"{EDIT}?campaign={campaign.pk}", {"explanation": "Book a service"})
    assert response.status_code == 302
    assert CallScript.objects.get(campaign=campaign).sections == {"explanation": "Book a service"}
    listing = browser.get(SCRIPTS).content.decode()
    assert "Hello <em>there</em>" in listing and "Its own" in listing
    edit = browser.get(EDIT).content.decode()
    assert "x()" not in edit and "Hello &lt;em&gt;there&lt;/em&gt;" in edit  # the textarea


def test_a_section_too_long_is_a_field_error(login_as, people, tenants):
    response = login_as(people.client_admin).post(EDIT, {"greeting": "x" * 5001})
    assert response.status_code == 200
    assert "at most 5000 characters" in response.content.decode()
    assert not CallScript.objects.exists()


def test_another_clients_campaign_is_not_found(login_as, people, tenants):
    foreign = factories.CampaignFactory(client=tenants.client_b)
    response = login_as(people.client_admin).post(
        f"{EDIT}?campaign={foreign.pk}", {"greeting": "x"}
    )
    assert response.status_code == 404
    assert not CallScript.objects.exists()


def test_read_only_roles_may_not_change_scripts(login_as, people, tenants):
    browser = login_as(people.client_user)
    assert browser.get(SCRIPTS).status_code == 403
    assert browser.post(EDIT, {"greeting": "Hacked"}).status_code == 403
    agent = login_as(people.agent)
    assert agent.post(EDIT, {"greeting": "Hacked"}).status_code == 403
    assert not CallScript.objects.exists()
