"""The text that delivers a card: the condition's reward template, else the client's, else Mike's
(mike.core.texts), filled in for the delivery's recipient and card."""

from django.conf import settings
from django.urls import reverse

from mike.core import texts
from recipients.sms_replies import recipient_variables

from .. import wallet
from ..models import GiftCard, GiftCardDelivery

MASKED_PIN = "••••"


def wallet_link(reward, *, masked: bool = False) -> str:
    """The short link to `reward`'s wallet page, as texts carry it (`masked`: its token hidden)."""
    token = MASKED_PIN if masked else wallet.wallet_token(reward)
    return settings.SITE_URL.rstrip("/") + reverse("wallet-short", kwargs={"token": token})


def reward_text(delivery: GiftCardDelivery, card: GiftCard | None, *, masked: bool) -> str:
    """The card's text for `delivery`. `masked` is the copy Mike keeps (the delivery's
    `sms_message`, the SMS log): the code shows its last four only and the PIN none of it.

    `{code}` carries the PIN after the code when the card has one, so no template, the client's
    included, can send a code without the PIN it needs."""
    recipient = delivery.recipient
    # Mike's own text gains the card's wallet link where a wallet is set up (a sandbox card gets
    # no pass); a client's or condition's template stays as its author wrote it.
    with_wallet = card is not None and wallet.any_enabled()
    template = texts.reward_template(
        delivery.reward.condition.sms_template,
        recipient.audience.client.sms_reward_template,
        default=texts.DEFAULT_REWARD_TEXT_WITH_WALLET if with_wallet else texts.DEFAULT_REWARD_TEXT,
    )
    values = recipient_variables(recipient)
    if with_wallet:
        # The link hands out the card as the code does: the kept copy masks its token.
        values["wallet"] = wallet_link(delivery.reward, masked=masked)
    else:
        # A template asking for {wallet} where no wallet is set up (or for a test card, which
        # gets no pass) still leads to the card: its page.
        values["wallet"] = values["link"]
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
