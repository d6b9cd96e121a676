"""Print the code the demo platform admin's authenticator shows now (the admin's second step)."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django_otp.oath import totp

from mike.accounts.models import User

from .seed_demo import demo_authenticator


class Command(BaseCommand):
    help = "The current second-step code of admin@mike.test (demo data only)."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("DEBUG is off: demo codes are for the demo only.")
        user = User.objects.filter(email="admin@mike.test").first()
        if user is None:
            raise CommandError("No demo admin: run `manage.py seed_demo` first.")
        device = demo_authenticator(user)
        code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
        self.stdout.write(str(code).zfill(device.digits))
