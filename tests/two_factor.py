"""Second-factor helpers for tests: a confirmed authenticator app, its current code, and a test
client session that has answered it."""

from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

TEST_DEVICE_NAME = "Test authenticator"


def authenticator_for(user) -> TOTPDevice:
    """`user`'s confirmed authenticator app (made once)."""
    device, _ = TOTPDevice.objects.get_or_create(
        user=user, name=TEST_DEVICE_NAME, defaults={"confirmed": True}
    )
    return device


def current_code(device: TOTPDevice, *, drift: int = 0) -> str:
    """The code the app shows now (`drift` steps later or earlier), as a phone would compute it."""
    value = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=drift)
    return str(value).zfill(device.digits)


def pass_second_factor(client, user) -> TOTPDevice:
    """Marks the client's signed-in session as having answered `user`'s authenticator app, as
    django_otp.login does after a right code."""
    device = authenticator_for(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return device
