"""Erasing a recipient: every domain's rows about the person, in one transaction.

What is cleared and what stays is each domain's to say; this strings them together, the way the
rest of the pipeline does. Table by table:

- recipients (recipients.services.erasure): the recipient row loses name, phone, email, address,
  custom fields, the browser that redeemed, the last reply; their opt-in texts lose number and
  body; their audit rows lose the personal values in their metadata, address and browser. The
  row, its code, token, states and times stay: rewards, ledger rows, sales, calls and events
  point at it. An opted-out phone is kept as a keyed hash (SmsSuppression), so STOP still holds.
- card deliveries and SMS logs (giftcards.services.erasure): messages, addresses, provider
  errors. The rewards, cards, pools, ledger rows, sales and the card audit (ids and money only)
  stay: they are the business's records, not the person's.
- calls (calls.services.erase_caller_data): the caller's number, the recording, the agents' notes
  on the call, its conditions met and dispositions; console steps read "Erased" where they quoted
  the person. Times, outcomes and durations stay (the call counts are built from them).
- CRM (crm.services.erase_crm_data): the raw payloads of the events matched to them (errors lose
  their quotes of them), the raw payloads of the client's unmatched events quoting their phone
  or email, and the personal fields of their contact and of the contacts their form submissions
  made. Other contacts that only share a phone or an email are kept: a household's or an
  office's number is no proof of the same person, and they are the client's CRM records.
- funnel events and form submissions (campaigns.services.erase_recipient_data): events keep
  their type, time, source and campaign (the counts), without the personal values of their data;
  submissions keep form, time and links, without the answers, the address and the browser.
- webhooks (mike.webhooks.services.erase_person): the stored payloads of the client's events
  about them lose the personal fields (ids, statuses, times and amounts stay, so the delivery
  history reads as it did), and what receivers answered to those deliveries is blanked.
- API idempotency answers (mike.api.idempotency.erase_person): encrypted and kept a day, but a
  push's or a lookup's answer shows the person: re-encrypted without them.
- imports (mike.imports.services.erase_person): the report lines and job messages of the imports
  into their audience (and, with a contact, the client's contact imports) read "Erased" where they
  quoted the phone, email or full name, and those imports' uploaded files are deleted after the
  commit (a file is read only while its job runs; counts, columns and reports stay).

Everything else (counts, money, the ledger, daily counts) holds nothing about the person.
"""

from django.db import transaction

from calls import services as call_services
from campaigns import services as campaign_services
from campaigns.models import AceFormSubmission
from crm import services as crm_services
from giftcards.services import erasure as card_erasure
from mike.api import idempotency
from mike.core import redaction
from mike.imports import services as import_services
from mike.webhooks import services as webhook_services
from recipients.models import Recipient
from recipients.services import erasure

ErasureError = erasure.ErasureError


def erase_recipient(*, recipient: Recipient, by, reason: str) -> bool:
    """Erase the recipient's personal data everywhere Mike keeps it (see the module docstring),
    while their rewards, cards, ledger rows, sales, calls, events and counts stay; audited
    (RecipientAuditLog ERASED, who and why). An opted-out phone stays opted out as a keyed hash
    (recipients.SmsSuppression).

    Idempotent: False, writing nothing, when the recipient was erased already. Refuses
    (ErasureError) while a card delivery to them is still moving (queued, being sent or due for
    a retry): the text or email would go out, or be recorded, after the erasure; and while an
    import that can hold their row is not finished: it would add them again. The recipient row
    is locked first, so no opt-in text or reply about them interleaves."""
    with transaction.atomic():
        locked = (
            Recipient.objects.select_for_update(of=("self",))
            .select_related("audience__client")
            .get(pk=recipient.pk)
        )
        if locked.erased_at is not None:
            return False
        moving = card_erasure.deliveries_in_flight(recipient_id=locked.pk)
        if moving:
            raise ErasureError(
                f"{moving} card delivery(ies) to this recipient are still under way (queued, "
                "sending or due for a retry). Erase them once the delivery has finished or "
                "failed for good."
            )
        client = locked.audience.client
        with_contacts = locked.contact_id is not None
        importing = import_services.imports_under_way(
            client_id=client.pk, audience_id=locked.audience_id, with_contacts=with_contacts
        )
        if importing:
            raise ErasureError(
                f"{importing} import(s) that can hold this recipient's row are not finished "
                "(waiting for their columns, queued or running). Erase them once the import "
                "has finished, or cancel it."
            )
        # Read before the recipient row is cleared: what other rows may quote them by.
        values = redaction.person_values(
            phone=locked.phone,
            email=locked.email,
            first_name=locked.first_name,
            last_name=locked.last_name,
        )
        contact_ids = {locked.contact_id, *_submission_contacts(locked.pk)}
        erased = erasure.erase_recipient_data(recipient=locked, by=by, reason=reason)
        cleared = {
            "card_deliveries": card_erasure.erase_delivery_texts(recipient_id=locked.pk),
            "calls": call_services.erase_caller_data(recipient_id=locked.pk, values=values),
            "crm": crm_services.erase_crm_data(
                recipient_id=locked.pk,
                client_id=client.pk,
                contact_ids=contact_ids,
                values=values,
            ),
            "events_and_forms": campaign_services.erase_recipient_data(recipient_id=locked.pk),
            "webhooks": webhook_services.erase_person(client_id=client.pk, recipient_id=locked.pk),
            "api_answers": idempotency.erase_person(client=client, recipient_id=locked.pk),
            "imports": import_services.erase_person(
                client_id=client.pk,
                audience_id=locked.audience_id,
                with_contacts=with_contacts,
                values=values,
            ),
        }
        # The audit row says how many rows of each kind were cleared (numbers only).
        erasure.record_cleared(recipient=locked, cleared=cleared)
    recipient.refresh_from_db()
    return erased


def _submission_contacts(recipient_id) -> list:
    return list(
        AceFormSubmission.objects.filter(recipient_id=recipient_id, contact__isnull=False)
        .values_list("contact_id", flat=True)
        .distinct()
    )
