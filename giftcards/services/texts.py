"""The text that delivers a card: the condition's reward template, else the client's, else Mike's
(mike.core.texts), filled in for the delivery's recipient and card."""

from mike.core import texts
from recipients.sms_replies import recipient_variables

from ..models import GiftCard, GiftCardDelivery

MASKED_PIN = "••••"


def reward_text(delivery: GiftCardDelivery, card: GiftCard | None, *, masked: bool) -> str:
    """The card's text for `delivery`. `masked` is the copy Mike keeps (the delivery's
    `sms_message`, the SMS log): the code shows its last four only and the PIN none of it.

    `{code}` carries the PIN after the code when the card has one, so no template, the client's
    included, can send a code without the PIN it needs."""
    recipient = delivery.recipient
    template = texts.reward_template(
        delivery.reward.condition.sms_template, recipient.audience.client.sms_reward_template
    )
    values = recipient_variables(recipient)
    if card is None:
        # A sandbox delivery (test data): its fake code is no secret, so it is never masked.
        reward = delivery.reward
        values.update(
            value=texts.money(reward.card_value),
            brand=reward.brand.brand_name,
            code=reward.sandbox_code,
        )
        return texts.render(template, values, custom=recipient.custom_fields)
    code = card.masked_code if masked else card.code
    if card.pin_encrypted:
        code += f" PIN: {MASKED_PIN if masked else card.pin}"
    values.update(value=texts.money(card.card_value), brand=card.brand.brand_name, code=code)
    return texts.render(template, values, custom=recipient.custom_fields)
