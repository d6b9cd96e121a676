"""Play a recipient's phone without Twilio, to walk the whole reward flow under `make run`.

    manage.py play_phone call +15552010001 [--duration 90] [--interested]
    manage.py play_phone approve +15552010001
    manage.py play_phone reply +15552010001 YES

`call` dials the tracked number of the recipient's campaign (as Twilio's voice webhooks would),
completes the call after --duration seconds, and with --interested closes it as an agent would
with the disposition "interested". `approve` approves the recipient as a staff member would in the
admin. `reply` sends an inbound text. With the console SMS backend every text Mike sends is
printed, including the card; then enter the recipient's code at /redeem/.

The same actions are in the admin's phone simulator (/admin/phone/); both refuse to run with the
`twilio` SMS backend, which would text real phones.
"""

from django.core.management.base import BaseCommand, CommandError

from mike.demo import phone_simulator
from recipients.codes import format_code
from recipients.models import Recipient


class Command(BaseCommand):
    help = "Simulate a recipient's phone: call the tracked number, get approved, reply by SMS."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        call = sub.add_parser("call", help="Call the campaign's tracked number.")
        call.add_argument("phone")
        call.add_argument("--duration", type=int, default=90, help="Call length in seconds.")
        call.add_argument(
            "--interested", action="store_true", help="Close the call as 'interested'."
        )
        call.add_argument(
            "--live",
            action="store_true",
            help="Stay on the line: the call shows in the call console for an agent to take.",
        )
        approve = sub.add_parser("approve", help="Approve the recipient (as staff).")
        approve.add_argument("phone")
        reply = sub.add_parser("reply", help="Text Mike from the recipient's phone.")
        reply.add_argument("phone")
        reply.add_argument("body", nargs="+")

    def handle(self, *args, action, phone, **options):
        try:
            recipient = phone_simulator.recipient_by_phone(phone)
            if action == "call":
                self.call(recipient, options["duration"], options["interested"], options["live"])
            elif action == "approve":
                phone_simulator.approve(recipient=recipient, by=None)
                self.stdout.write(self.style.SUCCESS(f"Approved {recipient}."))
            else:
                answer = phone_simulator.simulate_reply(
                    phone=recipient.phone, body=" ".join(options["body"])
                )
                self.stdout.write(f"Mike replied: {answer or '(nothing)'}")
        except phone_simulator.SimulatorError as exc:
            raise CommandError(str(exc)) from exc
        recipient.refresh_from_db()
        self.stdout.write(
            f"{recipient}: approval {recipient.approval_status}, "
            f"opt-in {recipient.sms_opt_in_status}, code {format_code(recipient.redemption_code)}"
        )
        for reward in recipient.rewards.select_related("brand").order_by("created_at"):
            self.stdout.write(
                f"  reward {reward.brand.brand_name} ${reward.card_value}: {reward.status}"
            )

    def call(self, recipient: Recipient, duration: int, interested: bool, live: bool) -> None:
        session = phone_simulator.call_from_recipient(
            recipient=recipient, duration=duration, interested=interested, live=live
        )
        self.stdout.write(
            f"Call {session.twilio_call_sid} to {session.tracked_number.phone_number}: "
            f"{session.match_status}, forwarded to {session.forward_to_number or '(nowhere)'}"
        )
        if live:
            self.stdout.write("The call is live: open /app/calls/ as an agent to take it.")
        elif interested:
            self.stdout.write("The agent closed the call as 'interested'.")
