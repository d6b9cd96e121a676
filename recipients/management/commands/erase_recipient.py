"""`manage.py erase_recipient <id|code> --reason REASON`."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from mike.rewards import erasure
from recipients.codes import normalize_code
from recipients.models import Recipient


def _find(key: str) -> Recipient:
    try:
        return Recipient.objects.get(pk=key)
    except (Recipient.DoesNotExist, ValueError, ValidationError):
        pass
    found = Recipient.objects.filter(redemption_code=normalize_code(key)).first()
    if found is None:
        raise CommandError(f"No recipient with id or code {key}.")
    return found


class Command(BaseCommand):
    help = (
        "Erase a recipient's personal data (name, phone, email, address, custom fields, texts' "
        "bodies, their calls' numbers and recordings, their CRM payloads and contact) while their "
        "rewards, ledger rows, sales and counts stay. An opted-out phone stays opted out as a "
        "keyed hash. Audited; running it twice changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("recipient", help="The recipient's id or redemption code.")
        parser.add_argument(
            "--reason", default="Erased on request.", help="Why; kept in the audit log."
        )

    def handle(self, *args, recipient, reason, **options):
        found = _find(recipient)
        try:
            erased = erasure.erase_recipient(recipient=found, by=None, reason=reason)
        except erasure.ErasureError as exc:
            raise CommandError(str(exc)) from exc
        if erased:
            self.stdout.write(f"Erased recipient {found.pk} ({found.display_code}).")
        else:
            self.stdout.write(f"Recipient {found.pk} ({found.display_code}) was erased already.")
