"""`manage.py import_cards --pool <id> FILE [--errors PATH]`."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from giftcards.models import GiftCardPool
from mike.imports.command import run_import
from mike.imports.models import ImportKind
from mike.imports.services import import_file


class Command(BaseCommand):
    # A data command: `manage.py check` and the server run the system checks; an import does not
    # wait for them (they import every URL, view and admin module, most of its start-up).
    requires_system_checks = []
    help = (
        "Import the gift cards of a CSV file into a pool, as an import job (resume a stopped "
        "one with `manage.py resume_import JOB`)."
    )

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--pool", required=True, help="The pool's id.")
        parser.add_argument("--errors", help="Where to write the report (default FILE.errors.csv).")

    def handle(self, *args, file, pool, errors, **options):
        try:
            target = GiftCardPool.objects.get(pk=pool)
        except (GiftCardPool.DoesNotExist, ValueError, ValidationError) as exc:
            raise CommandError(f"No gift card pool with id {pool}.") from exc
        run_import(
            self,
            path=file,
            errors=errors,
            run=lambda progress: import_file(
                ImportKind.CARDS, target=target, source=file, progress=progress
            ),
        )
