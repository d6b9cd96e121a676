"""Creating audiences: the mailing lists recipients are imported into.

An audience starts empty and `ready` (nothing is being processed); importing a file fills it and
recounts it (recipients.services.imports.RecipientImporter.finish).
"""

import logging

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from mike.core.errors import DomainError
from recipients.models import Audience, AudienceSource, AudienceStatus, Recipient

logger = logging.getLogger(__name__)

NAME_MAX_LENGTH = Audience._meta.get_field("name").max_length


class AudienceInvalid(DomainError):
    """The audience cannot be created as asked; the message says why."""


def create_audience(
    *, client, name: str, by=None, source: str = AudienceSource.IMPORT, is_test: bool = False
) -> Audience:
    """A new, empty audience of `client` named `name` (trimmed). Raises AudienceInvalid for a
    blank or too long name, an organization that is not an active client, or a name another
    audience of the client already has (two lists of one name cannot be told apart)."""
    name = " ".join((name or "").split())
    if not name:
        raise AudienceInvalid("Give the audience a name.")
    if len(name) > NAME_MAX_LENGTH:
        raise AudienceInvalid(f"Keep the name to {NAME_MAX_LENGTH} characters.")
    if client is None or not client.is_client or client.archived_at is not None:
        raise AudienceInvalid("Audiences belong to an active client.")
    with transaction.atomic():
        if Audience.objects.filter(client=client, name__iexact=name).exists():
            raise AudienceInvalid(f"{client.name} already has an audience named “{name}”.")
        audience = Audience(
            client=client, name=name, source=source, status=AudienceStatus.READY, is_test=is_test
        )
        try:
            audience.full_clean()
        except ValidationError as error:
            raise AudienceInvalid(" ".join(error.messages)) from error
        audience.save()
    logger.info("audience %s created for %s by %s", audience.pk, client.pk, getattr(by, "pk", None))
    return audience


def adopt_mailing_campaign(*, campaign) -> int:
    """Make `campaign` the campaign of its audience's recipients that have none, now that its
    mail is going out (in production or mailed): a recipient's conditions, calls and rewards are
    their campaign's, so a recipient imported into the audience before the campaign existed
    could otherwise never meet a condition. Recipients already on another campaign keep it
    (an audience mailed again keeps each person's first campaign). Returns how many."""
    if campaign.audience_id is None:
        return 0
    adopted = Recipient.objects.filter(
        audience_id=campaign.audience_id, campaign__isnull=True
    ).update(campaign=campaign, updated_at=timezone.now())
    if adopted:
        logger.info(
            "%s recipients of audience %s adopted campaign %s",
            adopted,
            campaign.audience_id,
            campaign.pk,
        )
    return adopted
