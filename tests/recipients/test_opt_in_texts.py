"""The opt-in question as a template: the campaign's text, else the client's, else Mike's, with
the recipient's details and the reward waiting for them, and never a text that breaks the A2P 10DLC
rules."""

from decimal import Decimal

import pytest

from mike.core import texts
from mike.rewards import approval
from recipients.models import SmsDirection, SmsOptInLog
from recipients.services import opt_in_message
from tests import factories

pytestmark = pytest.mark.django_db

CAMPAIGN_TEXT = "{client}: campaign text, reply YES or STOP."
CLIENT_TEXT = "{client_name}: client text, reply YES or STOP."


@pytest.fixture
def campaign():
    return factories.CampaignFactory(client=factories.ClientFactory(name="Acme Roofing"))


@pytest.fixture
def recipient(campaign):
    return factories.RecipientFactory(
        campaign=campaign,
        first_name="Ann",
        last_name="Lee",
        phone="+15551230077",
        custom_fields={"roof_age": 12},
    )


def set_templates(campaign, *, campaign_text="", client_text=""):
    campaign.sms_opt_in_message = campaign_text
    campaign.save()
    campaign.client.sms_opt_in_template = client_text
    campaign.client.save()


def reward(recipient, number, value, brand_name, **extra):
    condition = factories.CampaignConditionFactory(
        campaign=recipient.campaign,
        condition_number=number,
        card_value=Decimal(value),
        brand=factories.GiftCardBrandFactory(brand_name=brand_name),
    )
    return factories.RecipientGiftCardFactory(recipient=recipient, condition=condition, **extra)


def test_the_campaigns_text_comes_first_then_the_clients_then_mikes(campaign, recipient):
    set_templates(campaign, campaign_text=CAMPAIGN_TEXT, client_text=CLIENT_TEXT)
    assert opt_in_message(recipient) == "Acme Roofing: campaign text, reply YES or STOP."

    set_templates(campaign, client_text=CLIENT_TEXT)
    assert opt_in_message(recipient) == "Acme Roofing: client text, reply YES or STOP."

    set_templates(campaign)
    assert opt_in_message(recipient) == texts.render(
        texts.DEFAULT_OPT_IN_TEXT, {"client_name": "Acme Roofing"}
    )
    assert opt_in_message(recipient).endswith("Msg & data rates may apply.")


def test_every_variable_of_an_opt_in_text_is_filled_in(campaign, recipient, settings):
    settings.SITE_URL = "https://mike.example.com"
    reward(recipient, 1, "25.00", "Test Coffee")
    set_templates(
        campaign,
        campaign_text="{client_name}|{client}|{first_name}|{last_name}|{value}|{brand}|{link}|"
        "{redemption_code}|{custom.roof_age}|{custom.missing}|{code}|STOP",
    )

    assert opt_in_message(recipient).split("|") == [
        "Acme Roofing",
        "Acme Roofing",
        "Ann",
        "Lee",
        "$25.00",
        "Test Coffee",
        "https://mike.example.com/redeem/",
        recipient.display_code,
        "12",
        "",
        "{code}",  # no card exists yet: saving refuses it, and sending never makes one up
        "STOP",
    ]


def test_value_and_brand_are_the_first_reward_still_waiting_for_its_card(campaign, recipient):
    reward(recipient, 1, "10.00", "Test Claimed", claimed=True)
    reward(recipient, 3, "50.00", "Test Later")
    reward(recipient, 2, "25.00", "Test Next")
    set_templates(campaign, client_text="{client}: your {value} {brand} card awaits. STOP to end.")

    assert (
        opt_in_message(recipient) == "Acme Roofing: your $25.00 Test Next card awaits. STOP to end."
    )


def test_value_and_brand_are_empty_when_no_reward_is_waiting(campaign, recipient):
    set_templates(campaign, client_text="{client}: [{value}][{brand}] STOP to end.")

    assert opt_in_message(recipient) == "Acme Roofing: [][] STOP to end."


def test_a_stored_opt_in_text_without_stop_is_passed_over_for_the_next_level(campaign, recipient):
    """Written before the rule, or by code that skipped full_clean(): not sent as it is."""
    set_templates(campaign, campaign_text="{client}: text YES for $25!", client_text=CLIENT_TEXT)

    assert opt_in_message(recipient) == "Acme Roofing: client text, reply YES or STOP."


def test_the_opt_in_sms_uses_the_clients_template(
    campaign, recipient, django_capture_on_commit_callbacks, sms_outbox
):
    set_templates(campaign, client_text="{client}: hi {first_name}! Reply YES, or STOP to opt out.")
    # A reward waits (the recipient met a condition): only then is the question asked.
    factories.RecipientGiftCardFactory(
        recipient=recipient, condition=factories.CampaignConditionFactory(campaign=campaign)
    )

    with django_capture_on_commit_callbacks(execute=True):
        approval.approve_recipient(recipient=recipient)

    [message] = sms_outbox
    assert message.to == "+15551230077"
    assert message.body == "Acme Roofing: hi Ann! Reply YES, or STOP to opt out."
    log = SmsOptInLog.objects.get(recipient=recipient, direction=SmsDirection.OUTBOUND)
    assert log.message_text == message.body
