"""Play a recipient's phone without Twilio, to walk the whole reward flow under `make run`.

    manage.py play_phone call +15552010001 [--duration 90] [--interested]
    manage.py play_phone approve +15552010001
    manage.py play_phone reply +15552010001 YES

`call` dials the tracked number of the recipient's campaign (as Twilio's voice webhooks would),
completes the call after --duration seconds, and with --interested closes it as an agent would
with the disposition "interested". `approve` approves the recipient as a staff member would in the
admin. `reply` sends an inbound text. With the console SMS backend every text Mike sends is
printed, including the card; then enter the recipient's code at /redeem/.
"""

import uuid

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from calls import services as calls_services
from calls.models import TrackedPhoneNumber
from mike.core.phones import normalize_phone
from recipients import services as recipient_services
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
        approve = sub.add_parser("approve", help="Approve the recipient (as staff).")
        approve.add_argument("phone")
        reply = sub.add_parser("reply", help="Text Mike from the recipient's phone.")
        reply.add_argument("phone")
        reply.add_argument("body", nargs="+")

    def handle(self, *args, action, phone, **options):
        recipient = self.recipient(phone)
        if action == "call":
            self.call(recipient, options["duration"], options["interested"])
        elif action == "approve":
            with transaction.atomic():
                recipient_services.approve_recipient(recipient=recipient, by=None)
            self.stdout.write(self.style.SUCCESS(f"Approved {recipient}."))
        else:
            answer = recipient_services.handle_inbound_sms(
                from_number=recipient.phone,
                body=" ".join(options["body"]),
                message_sid=f"SMsim{uuid.uuid4().hex}",
            )
            self.stdout.write(f"Mike replied: {answer or '(nothing)'}")
        recipient.refresh_from_db()
        self.stdout.write(
            f"{recipient}: approval {recipient.approval_status}, "
            f"opt-in {recipient.sms_opt_in_status}, code {format_code(recipient.redemption_code)}"
        )
        for reward in recipient.rewards.select_related("brand").order_by("created_at"):
            self.stdout.write(
                f"  reward {reward.brand.brand_name} ${reward.card_value}: {reward.status}"
            )

    def recipient(self, phone: str) -> Recipient:
        number = normalize_phone(phone)
        recipient = (
            Recipient.objects.filter(phone=number, campaign__isnull=False)
            .select_related("campaign", "audience__client")
            .order_by("-created_at")
            .first()
        )
        if recipient is None:
            raise CommandError(f"No recipient of any campaign has the phone {phone}.")
        return recipient

    def call(self, recipient: Recipient, duration: int, interested: bool) -> None:
        tracked = TrackedPhoneNumber.objects.filter(campaign=recipient.campaign).first()
        if tracked is None:
            raise CommandError(f"{recipient.campaign} has no tracked phone number.")
        sid = f"CAsim{uuid.uuid4().hex}"
        session = calls_services.handle_incoming_call(
            call_sid=sid, from_number=recipient.phone, to_number=tracked.phone_number
        )
        self.stdout.write(
            f"Call {sid} to {tracked.phone_number}: {session.match_status}, "
            f"forwarded to {session.forward_to_number or '(nowhere)'}"
        )
        calls_services.apply_call_status(call_sid=sid, status="in-progress")
        calls_services.apply_call_status(call_sid=sid, status="completed", duration=duration)
        if interested:
            session.refresh_from_db()
            calls_services.record_disposition(call_session=session, disposition_type="interested")
            self.stdout.write("The agent closed the call as 'interested'.")
