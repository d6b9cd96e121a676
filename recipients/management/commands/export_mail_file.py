"""`manage.py export_mail_file --audience <id> [--out FILE]`: an audience's mail file as CSV."""

import os
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from recipients.exports import mail_file_csv
from recipients.models import Audience


def _recipients(count: int) -> str:
    return f"{count:,} recipient{'' if count == 1 else 's'}"


class Command(BaseCommand):
    help = (
        "Write the mail file of an audience (names, addresses, redemption codes and links, by ZIP "
        "code) as CSV to FILE, or to standard output."
    )

    def add_arguments(self, parser):
        parser.add_argument("--audience", required=True, help="The audience's id.")
        parser.add_argument("--out", help="The file to write (default: standard output).")

    def handle(self, *args, audience, out, **options):
        try:
            target = Audience.objects.get(pk=audience)
        except (Audience.DoesNotExist, ValueError, ValidationError) as exc:
            raise CommandError(f"No audience with id {audience}.") from exc
        if out is None:
            rows = self._write(self.stdout, target)
            self.stderr.write(f"{_recipients(rows)} of {target.name}.")
            return
        path = Path(out)
        if not path.parent.is_dir():
            raise CommandError(f"No folder {path.parent} to write {path.name} in.")
        # Written beside the target and moved over it at the end, so a failed run never leaves
        # half a mail file where a whole one is expected.
        partial = path.with_name(f".{path.name}.partial")
        try:
            with open(partial, "w", encoding="utf-8", newline="") as handle:
                rows = self._write(handle, target)
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
        self.stdout.write(f"{_recipients(rows)} of {target.name} written to {path}.")

    def _write(self, stream, audience) -> int:
        """Write the file to `stream`; the count of recipients written. Each chunk after the BOM
        is one CSV row (a cell may hold a line break, so lines are not counted)."""
        chunks = 0
        for chunk in mail_file_csv(audience):
            if stream is self.stdout:
                stream.write(chunk, ending="")  # the rows carry their own line ends
            else:
                stream.write(chunk)
            chunks += 1
        return max(chunks - 2, 0)  # less the BOM and the header
