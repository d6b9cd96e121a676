"""`manage.py import_contacts --client <id> [--list <id>] FILE [--errors PATH]`."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from crm.models import ContactList
from mike.accounts.models import Organization, OrganizationKind
from mike.imports.command import run_import
from mike.imports.models import ImportKind
from mike.imports.services import import_file


class Command(BaseCommand):
    # A data command: `manage.py check` and the server run the system checks; an import does not
    # wait for them (they import every URL, view and admin module, most of its start-up).
    requires_system_checks = []
    help = (
        "Import the contacts of a CSV file into a client's CRM, optionally adding them to one of "
        "its contact lists, as an import job (resume a stopped one with "
        "`manage.py resume_import JOB`)."
    )

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--client", required=True, help="The client organization's id.")
        parser.add_argument(
            "--list", dest="contact_list", help="A contact list of the client to add them to."
        )
        parser.add_argument("--errors", help="Where to write the report (default FILE.errors.csv).")

    def handle(self, *args, file, client, contact_list, errors, **options):
        try:
            target = Organization.objects.get(pk=client)
        except (Organization.DoesNotExist, ValueError, ValidationError) as exc:
            raise CommandError(f"No client with id {client}.") from exc
        if target.kind != OrganizationKind.CLIENT:
            raise CommandError(
                f"{target} is an agency; contacts belong to a client: give a client's id."
            )
        chosen = None
        if contact_list:
            try:
                chosen = ContactList.objects.get(pk=contact_list)
            except (ContactList.DoesNotExist, ValueError, ValidationError) as exc:
                raise CommandError(f"No contact list with id {contact_list}.") from exc
            if chosen.client_id != target.pk:
                raise CommandError(f"The contact list '{chosen}' belongs to another client.")
        run_import(
            self,
            path=file,
            errors=errors,
            run=lambda progress: import_file(
                ImportKind.CONTACTS,
                target=target,
                source=file,
                contact_list=chosen,
                progress=progress,
            ),
        )
        if chosen is not None:
            chosen.refresh_from_db(fields=["contact_count"])
            self.stdout.write(f"The list '{chosen}' has {chosen.contact_count} contacts.")
