"""Recount the dashboards' daily rollup (DailyCount) from the events."""

from django.core.management.base import BaseCommand

from campaigns.daily_counts import rebuild_daily_counts, roll_up_daily_counts
from mike.accounts.models import Organization


class Command(BaseCommand):
    help = (
        "Recount the daily rollup the dashboards read from the events (all clients, or those "
        "named by slug). Run it after writing events dated in the past; --missing only rolls up "
        "the days that are over and not rolled up yet (what the hourly task does)."
    )

    def add_arguments(self, parser):
        parser.add_argument("slugs", nargs="*", help="Client slugs (default: every client).")
        parser.add_argument(
            "--missing", action="store_true", help="Only the days not rolled up yet."
        )

    def handle(self, *args, slugs=(), missing=False, **options):
        client_ids = None
        if slugs:
            client_ids = list(
                Organization.objects.clients().filter(slug__in=slugs).values_list("pk", flat=True)
            )
        build = roll_up_daily_counts if missing else rebuild_daily_counts
        written = build(client_ids=client_ids)
        self.stdout.write(self.style.SUCCESS(f"Daily counts: {written} rows written."))
