"""Point every tracked number Mike bought at Mike's webhooks on the current SITE_URL (after a
domain change), each on the Twilio account of its client (its own, its agency's or the
platform's). A number Twilio refuses or does not answer for is reported and the rest go on."""

from django.core.management.base import BaseCommand, CommandError

from calls import numbers
from calls.models import TrackedNumberStatus, TrackedPhoneNumber


class Command(BaseCommand):
    help = "Point every Twilio number Mike bought at Mike's webhooks on the current SITE_URL."

    def add_arguments(self, parser):
        parser.add_argument("--client", help="Only this client's numbers (its id).")

    def handle(self, *args, client=None, **options):
        rows = (
            TrackedPhoneNumber.objects.exclude(twilio_sid="")
            .exclude(status=TrackedNumberStatus.DECOMMISSIONED)
            .select_related("client__parent")
            .order_by("client__name", "phone_number")
        )
        if client:
            rows = rows.filter(client_id=client)
        urls = numbers.webhook_urls()
        self.stdout.write(f"Voice {urls['voice_url']} · SMS {urls['sms_url']}")
        done = failed = 0
        for number in rows:
            try:
                numbers.update_webhooks(number)
            except numbers.NumberError as error:
                failed += 1
                self.stderr.write(f"{number.phone_number} ({number.client.name}): {error}")
            else:
                done += 1
                self.stdout.write(f"{number.phone_number} ({number.client.name}) re-pointed")
        self.stdout.write(f"{done} number{'' if done == 1 else 's'} re-pointed, {failed} failed.")
        if failed:
            raise CommandError(
                f"{failed} number{'' if failed == 1 else 's'} could not be re-pointed."
            )
