"""The retention purge: texts' bodies (with the copies of replies in audit rows and the
recipient's latest reply), call recordings and raw CRM payloads are kept for their
RETENTION_* age (days) and then blanked, each domain by its own service, in batches of
RETENTION_BATCH_SIZE rows. The rows themselves stay, so the funnel (Event rows), the daily counts,
statuses and times are what they were."""

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from calls import services as call_services
from crm import services as crm_services
from giftcards.services import erasure as card_erasure
from recipients.services import erasure


def purge_expired_personal_data(*, now: datetime | None = None) -> dict[str, int]:
    """Blank what is past its retention age; how many rows of each kind were blanked.
    Idempotent: a second run finds nothing left to blank."""
    now = now or timezone.now()
    batch = settings.RETENTION_BATCH_SIZE

    def before(days: int) -> datetime:
        return now - timedelta(days=days)

    texts = before(settings.RETENTION_SMS_TEXT_DAYS)
    return {
        "opt_in_texts": erasure.purge_opt_in_texts(before=texts, batch_size=batch),
        "reply_copies": erasure.purge_reply_copies(before=texts, batch_size=batch),
        "delivery_texts": card_erasure.purge_delivery_texts(before=texts, batch_size=batch),
        "call_recordings": call_services.purge_recording_urls(
            before=before(settings.RETENTION_CALL_RECORDING_DAYS), batch_size=batch
        ),
        "crm_payloads": crm_services.purge_crm_payloads(
            before=before(settings.RETENTION_CRM_PAYLOAD_DAYS), batch_size=batch
        ),
    }
