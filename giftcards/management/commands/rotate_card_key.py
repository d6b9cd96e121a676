"""`manage.py rotate_card_key [--batch-size N] [--max-batches N]`.

Rotating CARD_CODE_KEY: put the new key first (`CARD_CODE_KEY=new,old`), restart every web and
worker process (so nothing new is written under the old key), run this command until it reports
nothing left, then drop the old key. A run can be stopped at any time and run again.
"""

import uuid

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from crm.models import CrmIntegration
from giftcards.models import GiftCard
from giftcards.services.key_rotation import record_key_rotation, rotate_encrypted_fields
from mike.accounts.models import Organization
from mike.api.models import IdempotencyRecord
from mike.webhooks.models import WebhookSubscription

# Every field Mike encrypts with mike.core.crypto. (A dashboard user's new API key waits in the
# session, encrypted, only until it is shown once; an unreadable one is refused, not a crash.)
ENCRYPTED_FIELDS = [
    (GiftCard, ["code_encrypted", "pin_encrypted", "card_number_encrypted"]),
    (Organization, ["twilio_auth_token_encrypted"]),
    (CrmIntegration, ["api_credentials_encrypted"]),
    (WebhookSubscription, ["secret_encrypted"]),
    (IdempotencyRecord, ["response_encrypted"]),
]


class Command(BaseCommand):
    help = (
        "Re-encrypt every gift card code, PIN and card number, and every other encrypted secret, "
        "under the newest CARD_CODE_KEY. Resumable and safe to run while Mike runs."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument(
            "--max-batches", type=int, default=None, help="Stop after this many batches per table."
        )

    def handle(self, *args, batch_size, max_batches, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        run_id = uuid.uuid4()
        results = {}
        completed = False
        try:
            for model, fields in ENCRYPTED_FIELDS:
                label = model._meta.label
                total = model._base_manager.count()
                with tqdm(total=total, desc=label, unit="row", disable=None) as bar:
                    counts = rotate_encrypted_fields(
                        model=model,
                        fields=fields,
                        batch_size=batch_size,
                        max_batches=max_batches,
                        progress=bar.update,
                    )
                results[label] = counts.as_dict()
                self.stdout.write(
                    f"{label}: {counts.rotated} re-encrypted, {counts.current} already under "
                    f"the newest key, {counts.unreadable} readable under no key, "
                    f"{counts.skipped_locked} rows busy (run again)"
                )
            completed = max_batches is None
        finally:
            record_key_rotation(run_id=run_id, results=results, completed=completed)
        left = sum(r["unreadable"] + r["skipped_locked"] for r in results.values())
        if completed and not left:
            self.stdout.write(
                self.style.SUCCESS(
                    "Every value is under the newest key: older keys can be removed from "
                    "CARD_CODE_KEY."
                )
            )
        else:
            self.stdout.write(self.style.WARNING("Values remain: run the command again."))
