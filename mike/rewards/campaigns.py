"""A campaign's status changes, with what follows for its recipients.

Once a campaign's mail is out (in production or mailed), the recipients of its audience that
have no campaign become its own, in the same transaction, so the codes it mailed can meet its
conditions (recipients.services.adopt_mailing_campaign)."""

from django.db import transaction

from campaigns import services as campaign_services
from campaigns.models import MAILING_CAMPAIGN_STATUSES, Campaign
from recipients.services.audiences import adopt_mailing_campaign


def change_campaign_status(*, campaign: Campaign, to: str, by) -> Campaign:
    """campaigns.services.change_campaign_status (same arguments and errors), then the adoption."""
    with transaction.atomic():
        changed = campaign_services.change_campaign_status(campaign=campaign, to=to, by=by)
        if changed.status in MAILING_CAMPAIGN_STATUSES:
            adopt_mailing_campaign(campaign=changed)
    return changed
