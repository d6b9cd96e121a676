"""The text that delivers a card: the condition's template, else the client's, else Mike's, every
variable filled in for the recipient and card, and only a masked copy kept."""

from decimal import Decimal

import pytest

from giftcards.models import DeliveryStatus, SmsDeliveryLog
from giftcards.services.delivery import DeliveryOutcome, card_message
from giftcards.services.texts import reward_text
from mike.rewards.delivery import send_delivery
from tests import factories

pytestmark = pytest.mark.django_db

CODE, PIN = "CAFE-0000-1234", "4321"


@pytest.fixture
def delivery(settings):
    settings.SITE_URL = "https://mike.example.com/"
    condition = factories.CampaignConditionFactory(
        campaign__client=factories.ClientFactory(name="Acme Roofing"),
        brand=factories.GiftCardBrandFactory(brand_name="Test Coffee"),
        card_value=Decimal("15.00"),
    )
    reward = factories.RecipientGiftCardFactory(
        claimed=True,
        condition=condition,
        recipient__first_name="Ann",
        recipient__last_name="Lee",
        recipient__email="",
        recipient__custom_fields={"roof_age": 12},
    )
    card = reward.gift_card
    card.set_code(CODE)
    card.set_pin(PIN)
    card.save()
    return factories.GiftCardDeliveryFactory(reward=reward)


def set_templates(delivery, *, condition="", client=""):
    delivery.reward.condition.sms_template = condition
    delivery.reward.condition.save()
    delivery.recipient.audience.client.sms_reward_template = client
    delivery.recipient.audience.client.save()


def test_the_conditions_text_comes_first_then_the_clients_then_mikes(delivery):
    card = delivery.gift_card
    set_templates(delivery, condition="Condition: {code}", client="Client: {code}")
    assert reward_text(delivery, card, masked=False) == f"Condition: {CODE} PIN: {PIN}"

    set_templates(delivery, client="Client: {code}")
    assert reward_text(delivery, card, masked=False) == f"Client: {CODE} PIN: {PIN}"

    set_templates(delivery)
    code = delivery.recipient.display_code
    assert reward_text(delivery, card, masked=False) == (
        f"Acme Roofing: here is your $15.00 Test Coffee gift card. Code: {CODE} PIN: {PIN}. "
        f"View it any time at https://mike.example.com/redeem/ with your code {code}."
    )


def test_every_variable_of_a_reward_text_is_filled_in(delivery):
    set_templates(
        delivery,
        condition="{client_name}|{client}|{first_name}|{last_name}|{value}|{brand}|{code}|"
        "{link}|{redemption_code}|{custom.roof_age}|{custom.missing}|{promo}",
    )

    assert card_message(delivery, delivery.gift_card, masked=False).split("|") == [
        "Acme Roofing",
        "Acme Roofing",
        "Ann",
        "Lee",
        "$15.00",
        "Test Coffee",
        f"{CODE} PIN: {PIN}",
        "https://mike.example.com/redeem/",
        delivery.recipient.display_code,
        "12",
        "",
        "{promo}",
    ]


def test_the_kept_copy_of_the_conditions_text_masks_the_code_and_pin(delivery):
    set_templates(delivery, condition="{first_name}, your card: {code}")

    assert (
        reward_text(delivery, delivery.gift_card, masked=True)
        == "Ann, your card: •••• 1234 PIN: ••••"
    )


def test_a_card_without_a_pin_is_texted_with_its_code_alone(delivery):
    card = delivery.gift_card
    card.set_pin("")
    card.save()
    set_templates(delivery, client="Your card: {code}.")

    assert reward_text(delivery, card, masked=False) == f"Your card: {CODE}."


def test_a_delivered_text_uses_the_conditions_template_and_keeps_it_masked(
    delivery, sms_outbox, mailoutbox
):
    set_templates(
        delivery, condition="{client}: {first_name}, enjoy! {code}", client="unused {code}"
    )

    assert send_delivery(delivery.pk) == DeliveryOutcome.SENT

    [message] = sms_outbox
    assert message.body == f"Acme Roofing: Ann, enjoy! {CODE} PIN: {PIN}"
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT
    assert delivery.sms_message == "Acme Roofing: Ann, enjoy! •••• 1234 PIN: ••••"
    log = SmsDeliveryLog.objects.get(delivery=delivery)
    assert log.message_body == delivery.sms_message
    assert mailoutbox == []  # the recipient has no email address


def test_a_texted_card_is_emailed_too_in_clear(delivery, mailoutbox):
    delivery.recipient.email = "ann@example.com"
    delivery.recipient.save()
    set_templates(delivery, client="{client}: {first_name}, your card {code}")

    assert send_delivery(delivery.pk) == DeliveryOutcome.SENT

    [email] = mailoutbox
    assert email.to == ["ann@example.com"]
    assert email.subject == "Your $15.00 Test Coffee gift card from Acme Roofing"
    assert CODE in email.body and f"PIN: {PIN}" in email.body
    [(html, mimetype)] = email.alternatives
    assert mimetype == "text/html" and CODE in html and "Test Coffee" in html
