"""Erasing a recipient: every domain's rows about the person, in one transaction.

What is cleared and what stays is each domain's to say (recipients.services.erasure,
giftcards.services.erasure, calls.services.erase_caller_data, crm.services.erase_crm_data); this
strings them together, the way the rest of the pipeline does.
"""

from django.db import transaction

from calls import services as call_services
from crm import services as crm_services
from giftcards.services import erasure as card_erasure
from recipients.models import Recipient
from recipients.services import erasure

ErasureError = erasure.ErasureError


def erase_recipient(*, recipient: Recipient, by, reason: str) -> bool:
    """Erase the recipient's personal data everywhere Mike keeps it, while their rewards, cards,
    ledger rows, sales, calls, events and counts stay; audited (RecipientAuditLog ERASED, who and
    why). An opted-out phone stays opted out as a keyed hash (recipients.SmsSuppression).

    Idempotent: False, writing nothing, when the recipient was erased already. Refuses
    (ErasureError) while a card delivery to them is still moving (queued, being sent or due for
    a retry): the text or email would go out, or be recorded, after the erasure. The recipient row
    is locked first, so no opt-in text or reply about them interleaves."""
    with transaction.atomic():
        locked = Recipient.objects.select_for_update(of=("self",)).get(pk=recipient.pk)
        if locked.erased_at is not None:
            return False
        moving = card_erasure.deliveries_in_flight(recipient_id=locked.pk)
        if moving:
            raise ErasureError(
                f"{moving} card delivery(ies) to this recipient are still under way (queued, "
                "sending or due for a retry). Erase them once the delivery has finished or "
                "failed for good."
            )
        erased = erasure.erase_recipient_data(recipient=locked, by=by, reason=reason)
        card_erasure.erase_delivery_texts(recipient_id=locked.pk)
        call_services.erase_caller_data(recipient_id=locked.pk)
        crm_services.erase_crm_data(recipient_id=locked.pk, contact_id=locked.contact_id)
    recipient.refresh_from_db()
    return erased
