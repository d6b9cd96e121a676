"""Erasing a recipient's personal data, the opt-out that outlives it, and the retention purge of
the recipients domain's texts.

Erasure keeps everything that is not about the person: the recipient row itself (so rewards,
ledger rows, sales, calls and funnel events still point at something), its code and token, its
approval and opt-in states, and every count. What identifies the person is cleared: name, phone,
email, address, custom fields, what the redemption page recorded about their browser, the
bodies of their texts and the personal values in their audit rows. The other domains' rows about
them are cleared by their own services, called together by mike.rewards.erasure.

An opted-out recipient's phone survives only as a keyed hash (HMAC-SHA256 with
ERASURE_HASH_KEY) in SmsSuppression: `request_opt_in` will not text that number for that client
again, whoever brings it back (an import, an API push, a contact list), until the number itself
texts START or YES (`lift_suppression`).
"""

import hashlib
import hmac
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from mike.core.bulk import update_in_batches
from mike.core.errors import DomainError
from mike.core.phones import normalize_phone

from ..models import (
    Recipient,
    RecipientAuditAction,
    RecipientAuditLog,
    SmsOptInLog,
    SmsOptInStatus,
    SmsSuppression,
)

# What an erased name reads as wherever the recipient is still shown (rewards, calls, ledger).
ERASED = "Erased"

# Audit rows' metadata keys that can hold what the person wrote or how to reach them.
PERSONAL_METADATA_KEYS = frozenset(
    {
        "body",
        "reply",
        "email",
        "phone",
        "from",
        "to",
        "name",
        "first_name",
        "last_name",
        "address",
        "changes",
    }  # fmt: skip
)

# Blank on an erased recipient: every field that identifies the person or their device.
_CLEARED = {
    "last_name": "",
    "company": "",
    "address1": "",
    "address2": "",
    "city": "",
    "state": "",
    "zip": "",
    "zip4": "",
    "email": "",
    "phone": "",
    "validation_details": {},
    "geocode": {},
    "custom_fields": {},
    "redemption_ip": None,
    "redemption_user_agent": "",
    "sms_opt_in_response": "",
    "email_verification_token": "",
    "reward_by_email": False,
}


class ErasureError(DomainError):
    """The recipient cannot be erased now; the message says why and what to do."""


def phone_hash(phone: str) -> str:
    """The keyed hash a suppressed number is kept as: HMAC-SHA256 of its E.164 form (as typed
    when it does not parse), hex. Without the key nobody can tell which number it was."""
    number = normalize_phone(phone) or phone.strip()
    key = settings.ERASURE_HASH_KEY.encode()
    return hmac.new(key, number.encode(), hashlib.sha256).hexdigest()


def is_suppressed(*, client_id, phone: str) -> bool:
    """Whether the client must not text `phone`: an erased recipient of theirs had opted out."""
    if not phone:
        return False
    return SmsSuppression.objects.filter(client_id=client_id, phone_hash=phone_hash(phone)).exists()


def lift_suppression(*, phone: str, client_ids=None) -> int:
    """Forget the number's suppressions (the number texted START or YES: a new consent), for
    `client_ids` only when given; how many were lifted."""
    if not phone:
        return 0
    rows = SmsSuppression.objects.filter(phone_hash=phone_hash(phone))
    if client_ids is not None:
        rows = rows.filter(client_id__in=client_ids)
    deleted, _ = rows.delete()
    return deleted


def _scrubbed(metadata: dict) -> dict:
    return {
        key: (ERASED if key in PERSONAL_METADATA_KEYS and value else value)
        for key, value in metadata.items()
    }


def erase_recipient_data(*, recipient: Recipient, by, reason: str) -> bool:
    """Erase the recipient's personal data in the recipients domain (see the module docstring),
    with an ERASED audit row naming who and why and nothing about the person. Locks the
    recipient row; the caller's transaction (mike.rewards.erasure) holds the lock while the other
    domains erase theirs.

    Idempotent: False, writing nothing, when the recipient was erased already. An opted-out
    recipient's phone is kept as a suppression of their client (`is_suppressed`)."""
    reason = reason.strip()
    if not reason:
        raise ErasureError("Say why the recipient is erased (a request, a policy).")
    with transaction.atomic():
        locked = (
            Recipient.objects.select_for_update(of=("self",))
            .select_related("audience")
            .get(pk=recipient.pk)
        )
        if locked.erased_at is not None:
            return False
        if locked.phone and locked.sms_opt_in_status == SmsOptInStatus.OPTED_OUT:
            SmsSuppression.objects.get_or_create(
                client_id=locked.audience.client_id, phone_hash=phone_hash(locked.phone)
            )
        now = timezone.now()
        Recipient.objects.filter(pk=locked.pk).update(
            first_name=ERASED, erased_at=now, updated_at=now, **_CLEARED
        )
        SmsOptInLog.objects.filter(recipient=locked).update(
            phone="", message_text="", error_message=""
        )
        for entry in RecipientAuditLog.objects.filter(recipient=locked).only("metadata"):
            scrubbed = _scrubbed(entry.metadata)
            if scrubbed != entry.metadata:
                RecipientAuditLog.objects.filter(pk=entry.pk).update(metadata=scrubbed)
        RecipientAuditLog.objects.filter(recipient=locked).update(ip_address=None, user_agent="")
        RecipientAuditLog.objects.create(
            recipient=locked,
            action=RecipientAuditAction.ERASED,
            performed_by=by,
            metadata={"reason": reason},
        )
    recipient.refresh_from_db()
    return True


def record_cleared(*, recipient: Recipient, cleared: dict[str, int]) -> None:
    """Add to the recipient's ERASED audit row how many rows of each other kind their erasure
    cleared (mike.rewards.erasure), in the erasure's transaction."""
    entry = (
        RecipientAuditLog.objects.filter(recipient=recipient, action=RecipientAuditAction.ERASED)
        .order_by("-created_at")
        .first()
    )
    RecipientAuditLog.objects.filter(pk=entry.pk).update(
        metadata={**entry.metadata, "cleared": cleared}
    )


# Audit rows' metadata keys that hold what the person wrote (their replies' bodies).
REPLY_METADATA_KEYS = ("body", "reply")


def purge_reply_copies(*, before: datetime, batch_size: int) -> int:
    """Blank the copies of replies older than `before`, in batches: the bodies kept in audit
    rows' metadata (REPLY_METADATA_KEYS; the rest of the row stays) and the recipient's latest
    reply (`sms_opt_in_response`, by when it came; its time and the opt-in state stay). How many
    rows were blanked."""
    holding = Q()
    for key in REPLY_METADATA_KEYS:
        holding |= Q(metadata__has_key=key) & ~Q(**{f"metadata__{key}": ""})
    old = RecipientAuditLog.objects.filter(created_at__lt=before).filter(holding)
    total = 0
    while True:
        with transaction.atomic():
            batch = list(old.only("pk", "metadata")[:batch_size])
            if not batch:
                break
            for entry in batch:
                entry.metadata = {
                    key: ("" if key in REPLY_METADATA_KEYS else value)
                    for key, value in entry.metadata.items()
                }
            RecipientAuditLog.objects.bulk_update(batch, ["metadata"])
            total += len(batch)
    replied = Recipient.objects.exclude(sms_opt_in_response="").filter(
        Q(sms_opt_in_response_at__lt=before)
        | Q(sms_opt_in_response_at__isnull=True, updated_at__lt=before)
    )
    return total + update_in_batches(replied, batch_size=batch_size, sms_opt_in_response="")


def purge_opt_in_texts(*, before: datetime, batch_size: int) -> int:
    """Blank the bodies of opt-in texts (sent and received) logged before `before`, in batches;
    the rows, their statuses and the funnel stay. How many were blanked."""
    old = SmsOptInLog.objects.filter(created_at__lt=before).exclude(message_text="")
    return update_in_batches(old, batch_size=batch_size, message_text="")


__all__ = [
    "ERASED",
    "ErasureError",
    "erase_recipient_data",
    "is_suppressed",
    "lift_suppression",
    "phone_hash",
    "purge_opt_in_texts",
    "purge_reply_copies",
    "record_cleared",
]
