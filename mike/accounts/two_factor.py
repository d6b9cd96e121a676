"""Two-factor authentication: an authenticator app (TOTP) and single-use recovery codes.

Built on django-otp: a confirmed `TOTPDevice` is the user's second factor, a `StaticDevice` holds
their recovery codes. A session is "verified" once `django_otp.login` has recorded the device that
answered (django-otp's OTPMiddleware then gives `request.user.is_verified()`). Who must have a
second factor: staff, always, in the admin (mike.accounts.admin_site); agency admins and staff
in the dashboards when REQUIRE_2FA_FOR_ADMINS is on (mike.dashboard.access). Everyone else may turn it on.

Wrong codes at sign-in count as failed sign-ins for django-axes (the same lockout as a wrong
password, per account and address), and each device also slows down guessing by itself
(django-otp's throttling).
"""

from __future__ import annotations

import segno
from django import forms
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.db import transaction
from django_otp import devices_for_user
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_ratelimit.core import is_ratelimited

from mike.accounts.models import Membership, Role
from mike.core.errors import DomainError

RECOVERY_CODE_COUNT = 10
TOTP_DEVICE_NAME = "Authenticator app"
RECOVERY_DEVICE_NAME = "Recovery codes"

WRONG_CODE = (
    "That code is not right. Enter the code your app shows now, or a recovery code; after a "
    "wrong code, wait a few seconds before the next."
)


class TwoFactorError(DomainError):
    """A second-factor change refused, with a message for the user."""


def normalise_code(value: str) -> str:
    """What a person typed, as the devices compare it: no spaces or dashes, lower case (recovery
    codes are lower-case letters and digits; TOTP codes are digits)."""
    return "".join(value.split()).replace("-", "").lower()


def totp_device(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def has_two_factor(user) -> bool:
    """Whether `user` signs in with a second factor (a confirmed authenticator app)."""
    if user is None or not user.is_authenticated:
        return False
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def recovery_codes_left(user) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def must_have_two_factor(user) -> bool:
    """Whether the dashboards require a second factor of `user`: with REQUIRE_2FA_FOR_ADMINS on,
    staff and agency admins. (The admin always requires one of staff: mike.accounts.admin_site.)"""
    if not settings.REQUIRE_2FA_FOR_ADMINS or not user.is_authenticated:
        return False
    if user.is_staff or user.is_superuser:
        return True
    return Membership.objects.filter(user=user, role=Role.AGENCY_ADMIN).exists()


def start_totp_setup(*, user) -> TOTPDevice:
    """The authenticator app being set up for `user`: unconfirmed until a code from it is
    entered. Reuses the one already pending, so reloading the page keeps the same QR code.
    Raises TwoFactorError when the user already has a confirmed one."""
    if has_two_factor(user):
        raise TwoFactorError("Two-factor authentication is already on for this account.")
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=False)
    return device


def qr_code_svg(device: TOTPDevice) -> str:
    """The device's otpauth:// URL as an inline SVG QR code (the key the app stores)."""
    return segno.make(device.config_url, error="m").svg_inline(
        scale=5, border=2, dark="#111827", light="#ffffff"
    )


def setup_key(device: TOTPDevice) -> str:
    """The secret in base32, grouped in fours, for typing into an app without a camera."""
    from base64 import b32encode

    key = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(key[i : i + 4] for i in range(0, len(key), 4))


def confirm_totp_setup(*, request, device: TOTPDevice, code: str) -> list[str]:
    """Turns on two-factor authentication for the device's user when `code` is the app's
    current code: the device is confirmed, fresh recovery codes are made (and returned, to be
    shown once), and this session counts as verified. Raises TwoFactorError on a wrong code."""
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().get(pk=device.pk)
        if device.confirmed:
            raise TwoFactorError("This authenticator app is already set up.")
        if not device.verify_token(normalise_code(code)):
            raise TwoFactorError("That code is not the one the app shows now. Try the next one.")
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user=device.user, confirmed=False).delete()
        codes = regenerate_recovery_codes(user=device.user)
    otp_login(request, device)
    return codes


def regenerate_recovery_codes(*, user) -> list[str]:
    """Replaces every recovery code of `user` with RECOVERY_CODE_COUNT new single-use ones and
    returns them (they are not shown again). The old ones stop working at once."""
    with transaction.atomic():
        device, _ = StaticDevice.objects.get_or_create(
            user=user, name=RECOVERY_DEVICE_NAME, defaults={"confirmed": True}
        )
        device = StaticDevice.objects.select_for_update().get(pk=device.pk)
        device.token_set.all().delete()
        codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
        StaticToken.objects.bulk_create(StaticToken(device=device, token=c) for c in codes)
    return codes


def disable_two_factor(*, user, code: str) -> None:
    """Turns two-factor authentication off for `user` when `code` is a current app code or an
    unused recovery code: the app and the recovery codes are deleted. Raises TwoFactorError."""
    with transaction.atomic():
        if _matching_device(user, code) is None:
            raise TwoFactorError("That code is not right: enter the app's current code.")
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()


def _matching_device(user, code: str):
    """The confirmed device of `user` that accepts `code` (a recovery code is used up), or None.
    Recovery codes only count while the user has an authenticator app."""
    code = normalise_code(code)
    if not code or not has_two_factor(user):
        return None
    for device in devices_for_user(user, confirmed=True):
        if device.verify_token(code):
            return device
    return None


def verify_sign_in_code(request, code: str) -> str:
    """The second step of signing in for `request.user`: "ok" (the session is now verified),
    "wrong", or "locked" (too many failed sign-ins: django-axes' lockout, shared with the password
    step). A wrong code is recorded as a failed sign-in of the account from this address."""
    from axes.handlers.proxy import AxesProxyHandler

    user = request.user
    credentials = {settings.AXES_USERNAME_FORM_FIELD: user.get_username()}
    if AxesProxyHandler.is_locked(request, credentials):
        return "locked"
    device = _matching_device(user, code)
    if device is None:
        user_login_failed.send(sender=__name__, credentials=credentials, request=request)
        if AxesProxyHandler.is_locked(request, credentials):
            return "locked"
        return "wrong"
    otp_login(request, device)
    return "ok"


def _account_key(group, request):
    return str(request.user.pk)


def code_rate_limited(request) -> bool:
    """Counts a second-step attempt of the signed-in account; True past TWO_FACTOR_RATE."""
    return is_ratelimited(
        request,
        group="two-factor-code",
        key=_account_key,
        rate=settings.TWO_FACTOR_RATE,
        method="POST",
        increment=True,
    )


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=32,
        widget=forms.TextInput(
            attrs={
                "autofocus": True,
                "autocomplete": "one-time-code",
                "inputmode": "text",
                "spellcheck": "false",
                "autocapitalize": "none",
            }
        ),
        help_text="The 6-digit code from your authenticator app, or one of your recovery codes.",
    )
