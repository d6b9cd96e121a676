"""A gift card sent by email (Django's email framework: console by default, SMTP by settings)."""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse

from recipients.codes import format_code

from ..models import GiftCard, GiftCardDelivery
from .sandbox import RefusedForTestData


def send_card_email(delivery: GiftCardDelivery, card: GiftCard, *, to: str) -> None:
    """Email the card (code, PIN, value, brand and how to use it) to `to`, as plain text and HTML.
    Raises whatever the email backend raises (SMTP down, address refused), and
    RefusedForTestData, sending nothing, for a test recipient (test data is never emailed)."""
    recipient = delivery.recipient
    if recipient.is_test or delivery.is_sandbox:
        raise RefusedForTestData("gets an email")
    context = {
        "recipient": recipient,
        "client": recipient.audience.client,
        "card": card,
        "brand": card.brand,
        "value": f"${card.card_value:.2f}",
        "code": card.code,
        "pin": card.pin,
        "link": f"{settings.SITE_URL.rstrip('/')}{reverse('redeem')}",
        "redemption_code": format_code(recipient.redemption_code),
    }
    message = EmailMultiAlternatives(
        subject=f"Your {context['value']} {card.brand.brand_name} gift card from {context['client']}",
        body=render_to_string("email/gift_card.txt", context),
        to=[to],
    )
    message.attach_alternative(render_to_string("email/gift_card.html", context), "text/html")
    message.send()
