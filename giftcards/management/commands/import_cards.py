"""`manage.py import_cards --pool <id> FILE [--errors PATH]`."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from giftcards.models import GiftCardPool
from giftcards.services.imports import import_cards
from mike.core.import_command import run_import


class Command(BaseCommand):
    help = "Import the gift cards of a CSV file into a pool."

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
            run=lambda progress: import_cards(pool=target, source=file, progress=progress),
        )
