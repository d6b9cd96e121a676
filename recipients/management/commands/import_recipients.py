"""`manage.py import_recipients --audience <id> FILE [--errors PATH]`."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from mike.imports.command import run_import
from mike.imports.models import ImportKind
from mike.imports.services import import_file
from recipients.models import Audience


class Command(BaseCommand):
    # A data command: `manage.py check` and the server run the system checks; an import does not
    # wait for them (they import every URL, view and admin module, most of its start-up).
    requires_system_checks = []
    help = (
        "Import the recipients of a CSV file into an audience, as an import job (resume a "
        "stopped one with `manage.py resume_import JOB`)."
    )

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--audience", required=True, help="The audience's id.")
        parser.add_argument("--errors", help="Where to write the report (default FILE.errors.csv).")

    def handle(self, *args, file, audience, errors, **options):
        try:
            target = Audience.objects.get(pk=audience)
        except (Audience.DoesNotExist, ValueError, ValidationError) as exc:
            raise CommandError(f"No audience with id {audience}.") from exc
        run_import(
            self,
            path=file,
            errors=errors,
            run=lambda progress: import_file(
                ImportKind.RECIPIENTS, target=target, source=file, progress=progress
            ),
        )
