"""Two-factor authentication: an authenticator app (TOTP) and single-use recovery codes.

Built on django-otp: a confirmed `TOTPDevice` is the user's second factor, a `StaticDevice` holds
their recovery codes. A session is "verified" once `django_otp.login` has recorded the device that
answered (django-otp's OTPMiddleware then gives `request.user.is_verified()`). Who must have a
second factor: staff, always, in the admin (mike.accounts.admin_site); agency admins and staff
in the dashboards when REQUIRE_2FA_FOR_ADMINS is on (mike.dashboard.access). Everyone else may turn it on.

A right password puts the session in the "pending second factor" state: signed in, not
verified, every page but the second step closed. Wrong codes there are counted on the account
itself (`User.second_factor_failures`), across sign-ins and addresses, and a right password does
not reset that count (django-axes' AXES_RESET_ON_SUCCESS resets only the password failures): after
TWO_FACTOR_FAILURE_LIMIT wrong codes in a row the account's second step is locked for
TWO_FACTOR_LOCKOUT_MINUTES after the last one, and only a right code (or that wait) clears it.
Each wrong code also counts as a failed sign-in for django-axes (the password step's lockout, per
account and address), each device slows down guessing by itself (django-otp's throttling), and
attempts are rate limited per account (TWO_FACTOR_RATE).

The views of both second steps (the admin's, mike.accounts.admin_site, and the dashboards',
mike.dashboard.views.two_factor) are thin: the steps themselves are `answer_sign_in_step` and
`setup_step` here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import segno
from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model, logout
from django.contrib.auth.signals import user_login_failed
from django.db import transaction
from django.db.models import F
from django.utils import timezone
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


def _failures_expire_before():
    return timezone.now() - timedelta(minutes=settings.TWO_FACTOR_LOCKOUT_MINUTES)


def second_factor_locked(user) -> bool:
    """Whether `user` gave TWO_FACTOR_FAILURE_LIMIT wrong codes in a row, the last less than
    TWO_FACTOR_LOCKOUT_MINUTES ago: their second step takes no code until then."""
    return (
        get_user_model()
        .objects.filter(
            pk=user.pk,
            second_factor_failures__gte=settings.TWO_FACTOR_FAILURE_LIMIT,
            second_factor_failed_at__gte=_failures_expire_before(),
        )
        .exists()
    )


def _count_wrong_code(user) -> None:
    """One more wrong code of `user`'s; a count whose last failure is older than the lockout
    starts again."""
    users = get_user_model().objects
    now = timezone.now()
    with transaction.atomic():
        current = users.select_for_update().only("pk").get(pk=user.pk)
        stale = users.filter(pk=current.pk).filter(
            second_factor_failed_at__lt=_failures_expire_before()
        )
        if stale.update(second_factor_failures=1, second_factor_failed_at=now):
            return
        users.filter(pk=current.pk).update(
            second_factor_failures=F("second_factor_failures") + 1, second_factor_failed_at=now
        )


def clear_wrong_codes(user) -> bool:
    """Forget `user`'s wrong codes (a right code, or staff unlocking the account's second step
    in the admin); whether there were any."""
    return bool(
        get_user_model()
        .objects.filter(pk=user.pk)
        .exclude(second_factor_failures=0)
        .update(second_factor_failures=0, second_factor_failed_at=None)
    )


def verify_sign_in_code(request, code: str) -> str:
    """The second step of signing in for `request.user`: "ok" (the session is now verified),
    "wrong", or "locked": too many wrong codes of the account (`second_factor_locked`, whatever
    the sign-ins and addresses they came from) or too many failed sign-ins from this address
    (django-axes' lockout, shared with the password step). A wrong code is counted on the
    account and recorded as a failed sign-in of the account from this address."""
    from axes.handlers.proxy import AxesProxyHandler

    user = request.user
    credentials = {settings.AXES_USERNAME_FORM_FIELD: user.get_username()}
    if second_factor_locked(user) or AxesProxyHandler.is_locked(request, credentials):
        return "locked"
    device = _matching_device(user, code)
    if device is None:
        _count_wrong_code(user)
        user_login_failed.send(sender=__name__, credentials=credentials, request=request)
        if second_factor_locked(user) or AxesProxyHandler.is_locked(request, credentials):
            return "locked"
        return "wrong"
    clear_wrong_codes(user)
    otp_login(request, device)
    return "ok"


def answer_sign_in_step(request) -> tuple[str, CodeForm]:
    """The second step's form, answered when `request` posts it: ("form", form) to show it
    (again, with the error of a wrong code), ("ok", form) once the session is verified,
    ("rate_limited", form) past TWO_FACTOR_RATE, or ("locked", form) with the session signed
    out (`verify_sign_in_code`). The admin and the dashboards answer each outcome their way."""
    form = CodeForm(request.POST or None)
    if request.method != "POST" or not form.is_valid():
        return "form", form
    if code_rate_limited(request):
        return "rate_limited", form
    outcome = verify_sign_in_code(request, form.cleaned_data["code"])
    if outcome == "locked":
        logout(request)
    elif outcome == "wrong":
        form.add_error("code", WRONG_CODE)
        outcome = "form"
    return outcome, form


@dataclass
class SetupStep:
    """Where setting up an authenticator app stands: the device being set up, the code form,
    and the recovery codes once a right code confirmed it (shown once, then never again)."""

    device: TOTPDevice
    form: CodeForm
    codes: list[str] | None = None

    @property
    def qr_svg(self) -> str:
        return qr_code_svg(self.device)

    @property
    def setup_key(self) -> str:
        return setup_key(self.device)


def setup_step(request) -> SetupStep:
    """Setting up an authenticator app for `request.user` (who has none yet: the caller
    checks `has_two_factor` first): the pending device, and when `request` posts a code, its
    confirmation (`confirm_totp_setup`; a wrong code is the form's error)."""
    device = start_totp_setup(user=request.user)
    step = SetupStep(device=device, form=CodeForm(request.POST or None))
    if request.method == "POST" and step.form.is_valid():
        try:
            step.codes = confirm_totp_setup(
                request=request, device=device, code=step.form.cleaned_data["code"]
            )
        except TwoFactorError as error:
            step.form.add_error("code", str(error))
    return step


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
