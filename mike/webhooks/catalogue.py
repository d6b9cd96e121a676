"""The events a subscription may ask for, with what each means (shown in the dashboard and the
API's schema). The values are the wire names: never rename one."""

from django.db import models


class WebhookEventType(models.TextChoices):
    CAMPAIGN_CREATED = "campaign.created", "A campaign was created (or duplicated)"
    CAMPAIGN_STATUS_CHANGED = "campaign.status_changed", "A campaign's status changed"
    RECIPIENT_CREATED = "recipient.created", "A recipient was added (API push or import)"
    CALL_COMPLETED = "call.completed", "A call to a tracked number ended"
    CONDITION_MET = "condition.met", "A recipient met a campaign condition"
    RECIPIENT_APPROVED = "recipient.approved", "A recipient was approved for their reward"
    SMS_OPT_IN = "sms.opt_in", "A recipient opted in to texts (replied YES)"
    GIFT_CARD_PROVISIONED = "gift_card.provisioned", "A gift card was assigned to a reward"
    GIFT_CARD_DELIVERED = "gift_card.delivered", "A gift card was sent to its recipient"
    RECIPIENT_REDEEMED = "recipient.redeemed", "A recipient viewed their card on /redeem/"
    FORM_SUBMITTED = "form.submitted", "A form was submitted"


EVENT_TYPES = tuple(WebhookEventType.values)

# Sent by "Send test event"; never emitted by a change, and not subscribable.
TEST_EVENT = "webhook.test"
