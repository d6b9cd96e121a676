"""The text that delivers a card: the condition's reward template, else the client's, else Mike's
(mike.core.texts), filled in for the delivery's recipient and card."""

from mike.core import texts
from recipients.sms_replies import recipient_variables

from ..models import GiftCard, GiftCardDelivery

MASKED_PIN = "••••"


def reward_text(delivery: GiftCardDelivery, card: GiftCard, *, masked: bool) -> str:
    """The card's text for `delivery`. `masked` is the copy Mike keeps (the delivery's
    `sms_message`, the SMS log): the code shows its last four only and the PIN none of it.

    `{code}` carries the PIN after the code when the card has one, so no template, the client's
    included, can send a code without the PIN it needs."""
    recipient = delivery.recipient
    template = texts.reward_template(
        delivery.reward.condition.sms_template, recipient.audience.client.sms_reward_template
    )
    code = card.masked_code if masked else card.code
    if card.pin_encrypted:
        code += f" PIN: {MASKED_PIN if masked else card.pin}"
    values = recipient_variables(recipient)
    values.update(value=texts.money(card.card_value), brand=card.brand.brand_name, code=code)
    return texts.render(template, values, custom=recipient.custom_fields)
