"""`manage.py build_audience --list <id> --name NAME`."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from crm.models import ContactList
from recipients.services.audiences_from_lists import (
    AudienceBuildError,
    build_audience_from_list,
    built_summary,
)


class Command(BaseCommand):
    help = (
        "Build a new audience of a contact list's client from the list: one recipient (with its "
        "redemption code and token) per contact with a phone or an email that is not marked "
        "do-not-contact, duplicates by phone or email left out."
    )

    def add_arguments(self, parser):
        parser.add_argument("--list", dest="contact_list", required=True, help="The list's id.")
        parser.add_argument("--name", required=True, help="The new audience's name.")

    def handle(self, *args, contact_list, name, **options):
        try:
            chosen = ContactList.objects.select_related("client").get(pk=contact_list)
        except (ContactList.DoesNotExist, ValueError, ValidationError) as exc:
            raise CommandError(f"No contact list with id {contact_list}.") from exc
        try:
            audience = build_audience_from_list(chosen, name=name)
        except AudienceBuildError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Audience {audience.pk} '{audience}' of {chosen.client}: {built_summary(audience)}"
        )
