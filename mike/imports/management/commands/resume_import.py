"""`manage.py resume_import JOB [--errors PATH]`: run a stopped import job in the foreground."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from mike.imports.command import run_import
from mike.imports.models import ImportJob
from mike.imports.services import ImportRefused, run_in_foreground


class Command(BaseCommand):
    # A data command: `manage.py check` and the server run the system checks; an import does not
    # wait for them (they import every URL, view and admin module, most of its start-up).
    requires_system_checks = []
    help = (
        "Resume an import job that stopped (its process was killed, its worker died) after its "
        "last committed batch; a finished job only prints its counts."
    )

    def add_arguments(self, parser):
        parser.add_argument("job", help="The import job's id.")
        parser.add_argument("--errors", help="Where to write the report (default NAME.errors.csv).")
        parser.add_argument(
            "--force",
            action="store_true",
            help="Take the job even if its heartbeat is fresh (its process is known to be gone).",
        )

    def handle(self, *args, job, errors, force, **options):
        try:
            found = ImportJob.objects.get(pk=job)
        except (ImportJob.DoesNotExist, ValueError, ValidationError) as exc:
            raise CommandError(f"No import job with id {job}.") from exc
        if found.status == "pending":
            raise CommandError("This job is waiting for its columns to be confirmed.")
        run_import(
            self,
            path=None,
            errors=errors,
            run=lambda progress: self._run(found, progress, force),
        )

    def _run(self, job, progress, force):
        try:
            return run_in_foreground(job, progress=progress, force=force)
        except ImportRefused as exc:
            raise CommandError(str(exc)) from exc
