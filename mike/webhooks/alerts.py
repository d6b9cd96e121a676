"""Telling a subscription's owner that Mike disabled it: one email to the client's admins (or,
for a client without any, the admins of its agency), sent after the disabling commits, with the
link to enable it again. A failed send is logged, not retried: the dashboard shows the
subscription disabled with its reason either way."""

import logging

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse

from mike.accounts.models import Membership, Role

from .models import WebhookSubscription

logger = logging.getLogger(__name__)


def owner_emails(client) -> list[str]:
    def admins(organization_id, role):
        return list(
            Membership.objects.filter(
                organization_id=organization_id,
                role=role,
                user__is_active=True,
            )
            .exclude(user__email="")
            .order_by("user__email")
            .values_list("user__email", flat=True)
        )

    found = admins(client.pk, Role.CLIENT_ADMIN)
    if not found and client.parent_id:
        found = admins(client.parent_id, Role.AGENCY_ADMIN)
    return list(dict.fromkeys(found))


def alert_subscription_disabled(subscription_id) -> bool:
    subscription = (
        WebhookSubscription.objects.select_related("client").filter(pk=subscription_id).first()
    )
    if subscription is None or subscription.is_active:
        return False
    recipients = owner_emails(subscription.client)
    if not recipients:
        logger.warning(
            "Webhook subscription %s was disabled but its client has no admin to email.",
            subscription.pk,
        )
        return False
    context = {
        "subscription": subscription,
        "client": subscription.client,
        "link": f"{settings.SITE_URL.rstrip('/')}"
        f"{reverse('dashboard:webhook', args=[subscription.pk])}",
    }
    message = EmailMultiAlternatives(
        subject=f"Mike: your webhook to {subscription.url[:80]} was disabled",
        body=render_to_string("email/webhook_disabled.txt", context),
        to=recipients,
    )
    message.attach_alternative(
        render_to_string("email/webhook_disabled.html", context), "text/html"
    )
    try:
        message.send()
    except Exception:
        logger.exception("Could not email the owners of webhook subscription %s", subscription.pk)
        return False
    return True
