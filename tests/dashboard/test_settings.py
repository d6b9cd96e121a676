"""The client's settings page: saving, validation errors, the text preview, thresholds, and who
may open it."""

from decimal import Decimal

import pytest

from giftcards.models import CreditAccount, GiftCardPool
from giftcards.services.thresholds import (
    ThresholdInvalid,
    set_low_balance_threshold,
    set_low_stock_threshold,
)
from mike.accounts.models import Organization
from mike.accounts.services import ClientSettingsError, update_client_settings
from tests import factories

SETTINGS = "/app/settings/"
PREVIEW = "/app/settings/preview/"
OPT_IN = "{client_name}: reply YES for your reward, STOP to opt out."


def _form(client_org, **changes):
    data = {
        "name": client_org.name,
        "logo_url": client_org.logo_url,
        "sms_reward_template": client_org.sms_reward_template,
        "sms_opt_in_template": client_org.sms_opt_in_template,
        "phone_region": client_org.phone_region,
        "low_stock_threshold": "10",
        "low_balance_threshold": "0.00",
    }
    if client_org.auto_approve_recipients:
        data["auto_approve_recipients"] = "on"
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def test_a_client_admin_sees_the_settings(login_as, people, tenants):
    response = login_as(people.client_admin).get(SETTINGS)
    page = response.content.decode()
    assert response.status_code == 200
    assert 'value="Client A"' in page
    # The preview of Mike's default texts, filled with the client's name.
    assert "Client A: here is your $25.00" in page
    assert 'hx-get="/app/settings/preview/"' in page


def test_saving_the_settings(login_as, people, tenants):
    pool = factories.GiftCardPoolFactory(client=tenants.client_a, low_stock_threshold=10)
    response = login_as(people.client_admin).post(
        SETTINGS,
        _form(
            tenants.client_a,
            name="Client A Roofing",
            logo_url="https://cdn.example.com/logo.png",
            sms_reward_template="Thanks {first_name}! {brand} card: {code}",
            sms_opt_in_template=OPT_IN,
            auto_approve_recipients="on",
            low_stock_threshold="25",
            low_balance_threshold="150.50",
        ),
    )
    assert response.status_code == 302
    client_a = Organization.objects.get(pk=tenants.client_a.pk)
    assert client_a.name == "Client A Roofing"
    assert client_a.logo_url == "https://cdn.example.com/logo.png"
    assert client_a.sms_reward_template.startswith("Thanks {first_name}")
    assert client_a.sms_opt_in_template == OPT_IN
    assert client_a.auto_approve_recipients
    pool.refresh_from_db()
    assert pool.low_stock_threshold == 25
    account = CreditAccount.objects.get(organization=tenants.client_a)
    assert account.low_balance_threshold == Decimal("150.50")


def test_an_unchanged_threshold_leaves_each_pools_own(login_as, people, tenants):
    low = factories.GiftCardPoolFactory(client=tenants.client_a, low_stock_threshold=5)
    high = factories.GiftCardPoolFactory(client=tenants.client_a, low_stock_threshold=50)
    page = login_as(people.client_admin).get(SETTINGS).content.decode()
    assert "5 to 50 cards" in page
    login_as(people.client_admin).post(
        SETTINGS, _form(tenants.client_a, name="Renamed", low_stock_threshold="")
    )
    low.refresh_from_db()
    high.refresh_from_db()
    assert (low.low_stock_threshold, high.low_stock_threshold) == (5, 50)


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"sms_reward_template": "Hi {frist_name}, {code}"}, "Unknown variable {frist_name}"),
        ({"sms_opt_in_template": "Reply YES for your card"}, "must name the company"),
        ({"sms_opt_in_template": "{client_name}: reply YES"}, "how to opt out"),
        ({"sms_opt_in_template": "{client_name}: {code}. STOP to stop"}, "cannot be used"),
        ({"logo_url": "not a url at all"}, "Enter a valid URL"),
        ({"name": ""}, "This field is required"),
        ({"low_stock_threshold": "-1"}, "greater than or equal to 0"),
        ({"low_balance_threshold": "ten"}, "Enter a number"),
        ({"phone_region": "XX"}, "is not a country code phone numbers know"),
        ({"phone_region": ""}, "This field is required"),
    ],
)
def test_invalid_settings_are_field_errors(login_as, people, tenants, changes, error):
    factories.GiftCardPoolFactory(client=tenants.client_a)
    response = login_as(people.client_admin).post(SETTINGS, _form(tenants.client_a, **changes))
    assert response.status_code == 200
    assert error in response.content.decode()
    assert Organization.objects.get(pk=tenants.client_a.pk).name == "Client A"


def test_the_preview_renders_the_text_being_typed(login_as, people, tenants):
    response = login_as(people.client_admin).get(
        PREVIEW,
        {
            "name": "Acme",
            "sms_reward_template": "Hi {first_name}, your {brand} code is {code}",
            "sms_opt_in_template": "Reply YES",
        },
        HTTP_HX_REQUEST="true",
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert 'id="text-preview"' in page
    assert "<html" not in page
    assert "Hi Jamie, your Amazon code is GC7Q-4XZ2-K9M3" in page
    assert "must name the company" in page


def test_read_only_users_get_403(login_as, people, tenants):
    client = login_as(people.client_user)
    assert client.get(SETTINGS).status_code == 403
    assert client.post(SETTINGS, _form(tenants.client_a, name="Hacked")).status_code == 403
    assert client.get(PREVIEW).status_code == 403
    agency = login_as(people.agency_user, tenants.client_a)
    assert agency.post(SETTINGS, _form(tenants.client_a, name="Hacked")).status_code == 403
    assert Organization.objects.get(pk=tenants.client_a.pk).name == "Client A"


def test_another_tenants_admin_changes_only_their_own(login_as, people, tenants):
    client = login_as(people.other_client_admin)
    response = client.post(SETTINGS, _form(tenants.client_b, name="Client B Renamed"))
    assert response.status_code == 302
    assert Organization.objects.get(pk=tenants.client_a.pk).name == "Client A"
    assert Organization.objects.get(pk=tenants.client_b.pk).name == "Client B Renamed"


def test_all_clients_asks_to_pick_one(login_as, people):
    response = login_as(people.agency_admin, "all").get(SETTINGS)
    assert response.status_code == 200
    assert "Choose a client" in response.content.decode()


def test_anonymous_is_sent_to_sign_in(client, db):
    response = client.get(SETTINGS)
    assert response["Location"].startswith("/app/login/")


def test_the_redeem_page_shows_the_clients_logo(client, tenants):
    tenants.client_a.logo_url = "https://cdn.example.com/logo.png"
    tenants.client_a.save()
    recipient = factories.RecipientFactory(audience__client=tenants.client_a)
    response = client.post("/redeem/", {"code": recipient.redemption_code})
    page = response.content.decode()
    assert 'class="client-logo" src="https://cdn.example.com/logo.png"' in page


# --- The services ----------------------------------------------------------------------------------


def test_update_client_settings_validates_the_whole_model(people, tenants):
    with pytest.raises(Exception) as error:
        update_client_settings(
            organization=tenants.client_a, by=people.client_admin, sms_opt_in_template="Hi"
        )
    assert "sms_opt_in_template" in error.value.message_dict
    with pytest.raises(ClientSettingsError, match="cannot be changed here"):
        update_client_settings(
            organization=tenants.client_a, by=people.client_admin, client_approvals=True
        )
    with pytest.raises(ClientSettingsError, match="may not change"):
        update_client_settings(organization=tenants.client_a, by=people.client_user, name="X")
    with pytest.raises(ClientSettingsError, match="may not change"):
        update_client_settings(organization=tenants.client_b, by=people.client_admin, name="X")
    saved = update_client_settings(
        organization=tenants.client_a, by=people.agency_admin, name="By The Agency"
    )
    assert saved.name == "By The Agency"
    assert (
        update_client_settings(
            organization=tenants.client_a, by=people.agency_admin, name="By The Agency"
        ).name
        == "By The Agency"
    )


def test_the_threshold_services(tenants):
    mine = factories.GiftCardPoolFactory(client=tenants.client_a, low_stock_threshold=10)
    theirs = factories.GiftCardPoolFactory(client=tenants.client_b, low_stock_threshold=10)
    assert set_low_stock_threshold(client=tenants.client_a, threshold=3) == 1
    assert set_low_stock_threshold(client=tenants.client_a, threshold=3) == 0
    assert GiftCardPool.objects.get(pk=mine.pk).low_stock_threshold == 3
    assert GiftCardPool.objects.get(pk=theirs.pk).low_stock_threshold == 10
    with pytest.raises(ThresholdInvalid):
        set_low_stock_threshold(client=tenants.client_a, threshold=-1)
    with pytest.raises(ThresholdInvalid):
        set_low_stock_threshold(client=tenants.client_a, threshold="3")
    account = set_low_balance_threshold(organization=tenants.client_a, threshold="99.999")
    assert account.low_balance_threshold == Decimal("100.00")
    with pytest.raises(ThresholdInvalid):
        set_low_balance_threshold(organization=tenants.client_a, threshold=-5)
    with pytest.raises(ThresholdInvalid):
        set_low_balance_threshold(organization=tenants.client_a, threshold=1.5)
    with pytest.raises(ThresholdInvalid):
        set_low_balance_threshold(organization=tenants.client_a, threshold="lots")


def test_the_phone_numbers_country_is_saved_in_capitals(login_as, people, tenants):
    response = login_as(people.client_admin).post(
        SETTINGS, _form(tenants.client_a, phone_region=" gb ")
    )
    assert response.status_code == 302
    assert Organization.objects.get(pk=tenants.client_a.pk).phone_region == "GB"
