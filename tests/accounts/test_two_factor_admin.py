"""The admin needs a second factor of staff: without an authenticator app a staff member is sent
to set one up, with one they enter its code (or a recovery code, once) before any admin page
opens. The sign-in form, its lockout and the extra admin views stay behind the same gate."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from mike.accounts import two_factor
from tests import factories
from tests.two_factor import authenticator_for, current_code, pass_second_factor

pytestmark = pytest.mark.second_factor_as_is

PASSWORD = "a-long-and-right-password"


@pytest.fixture
def staff(db):
    user = factories.UserFactory(email="ops@mike.test", is_staff=True, is_superuser=True)
    user.set_password(PASSWORD)
    user.save()
    return user


@pytest.fixture(autouse=True)
def _no_throttle(settings):
    # django-otp makes a device wait a second after a wrong code (doubling each time); these
    # tests type the right code straight after a wrong one.
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    settings.OTP_STATIC_THROTTLE_FACTOR = 0


def sign_in(client, email=None, password=PASSWORD, **extra):
    return client.post(
        "/admin/login/",
        {"username": email or "ops@mike.test", "password": password, "next": "/admin/"},
        **extra,
    )


@pytest.mark.parametrize(
    "path",
    ["/admin/", "/admin/accounts/user/", "/admin/phone/", "/admin/autocomplete/"],
)
def test_staff_without_a_device_are_sent_to_set_one_up(client, staff, path):
    client.force_login(staff)

    response = client.get(path, follow=True)

    assert response.redirect_chain[-1][0].startswith(reverse("admin:two_factor_setup"))
    assert "Scan this code" in response.content.decode()
    assert "<svg" in response.content.decode()


def test_setting_up_confirms_the_app_and_shows_ten_recovery_codes_once(client, staff):
    client.force_login(staff)
    client.get(reverse("admin:two_factor_setup"))
    device = TOTPDevice.objects.get(user=staff, confirmed=False)

    wrong = client.post(reverse("admin:two_factor_setup"), {"code": "000000"})
    assert wrong.status_code == 200
    assert not TOTPDevice.objects.get(pk=device.pk).confirmed

    response = client.post(
        reverse("admin:two_factor_setup"), {"code": current_code(device), "next": "/admin/"}
    )

    assert TOTPDevice.objects.get(pk=device.pk).confirmed
    codes = response.context["codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(code in response.content.decode() for code in codes)
    # The session answered the app while setting it up: the admin opens.
    assert client.get("/admin/").status_code == 200
    # The codes are not shown again.
    page = client.get(reverse("admin:two_factor_recovery_codes")).content.decode()
    assert "10</strong> unused recovery codes" in page
    assert codes[0] not in page


def test_a_wrong_code_is_refused_and_the_right_one_opens_the_admin(client, staff):
    device = authenticator_for(staff)
    assert sign_in(client)["Location"] == "/admin/"
    assert client.get("/admin/")["Location"].startswith(reverse("admin:two_factor"))

    wrong = client.post(reverse("admin:two_factor"), {"code": "123456", "next": "/admin/"})
    assert wrong.status_code == 200
    assert two_factor.WRONG_CODE in wrong.content.decode()
    assert client.get("/admin/").status_code == 302

    right = client.post(
        reverse("admin:two_factor"), {"code": current_code(device), "next": "/admin/"}
    )
    assert right["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/phone/").status_code == 200


def test_a_recovery_code_works_once(client, staff):
    authenticator_for(staff)
    code = two_factor.regenerate_recovery_codes(user=staff)[0]

    sign_in(client)
    assert client.post(reverse("admin:two_factor"), {"code": code.upper()})["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    assert StaticToken.objects.filter(device__user=staff).count() == 9

    client.logout()
    sign_in(client)
    again = client.post(reverse("admin:two_factor"), {"code": code})
    assert again.status_code == 200
    assert client.get("/admin/").status_code == 302


def test_new_recovery_codes_replace_the_old_ones(client, staff):
    device = authenticator_for(staff)
    old = two_factor.regenerate_recovery_codes(user=staff)
    sign_in(client)
    client.post(reverse("admin:two_factor"), {"code": current_code(device)})

    response = client.post(reverse("admin:two_factor_recovery_codes"))

    new = response.context["codes"]
    assert len(new) == 10 and not set(new) & set(old)
    assert set(
        StaticToken.objects.filter(device__user=staff).values_list("token", flat=True)
    ) == set(new)


def test_wrong_codes_lock_the_account_out_like_wrong_passwords(client, staff, settings):
    authenticator_for(staff)
    sign_in(client, REMOTE_ADDR="203.0.113.7")
    answers = [
        client.post(reverse("admin:two_factor"), {"code": "000000"}, REMOTE_ADDR="203.0.113.7")
        for _ in range(settings.AXES_FAILURE_LIMIT)
    ]

    assert [a.status_code for a in answers[:-1]] == [200] * (settings.AXES_FAILURE_LIMIT - 1)
    assert answers[-1].status_code == 429
    assert "_auth_user_id" not in client.session
    # Locked out: the right password from that address is refused too.
    assert sign_in(client, REMOTE_ADDR="203.0.113.7").status_code == 429


def test_codes_are_rate_limited_per_account(client, staff, settings):
    settings.TWO_FACTOR_RATE = "2/m"
    settings.AXES_FAILURE_LIMIT = 100
    authenticator_for(staff)
    sign_in(client)
    statuses = [
        client.post(reverse("admin:two_factor"), {"code": "000000"}).status_code for _ in range(3)
    ]

    assert statuses == [200, 200, 429]


def test_an_unverified_staff_member_can_sign_out(client, staff):
    authenticator_for(staff)
    sign_in(client)

    client.post(reverse("admin:logout"))

    assert "_auth_user_id" not in client.session


def test_the_second_step_pages_need_a_signed_in_staff_member(client, db):
    assert client.get(reverse("admin:two_factor"))["Location"].startswith("/admin/login/")
    user = factories.UserFactory(is_staff=False)
    client.force_login(user)
    assert client.get(reverse("admin:two_factor_setup"))["Location"].startswith("/admin/login/")


def test_the_login_page_sends_a_signed_in_unverified_staff_member_on(client, staff):
    client.force_login(staff)

    response = client.get("/admin/login/?next=/admin/accounts/user/")

    assert (
        response["Location"] == f"{reverse('admin:two_factor')}?next=%2Fadmin%2Faccounts%2Fuser%2F"
    )


def test_after_a_wrong_code_the_app_waits_before_taking_another(client, staff, settings):
    # django-otp's own throttle, on by default: each wrong code doubles the wait (1 s, 2 s, …),
    # kept on the device across sessions, so signing in again does not reset it.
    settings.OTP_TOTP_THROTTLE_FACTOR = 1
    device = authenticator_for(staff)
    sign_in(client)
    client.post(reverse("admin:two_factor"), {"code": "000000"})

    at_once = client.post(reverse("admin:two_factor"), {"code": current_code(device)})

    assert at_once.status_code == 200
    device.refresh_from_db()
    assert device.throttling_failure_count == 1
    assert client.get("/admin/").status_code == 302


def test_the_admin_never_shows_or_changes_a_devices_secret(admin_client, admin_user):
    pass_second_factor(admin_client, admin_user)
    other = factories.UserFactory(email="colleague@mike.test", is_staff=True)
    device = authenticator_for(other)

    listing = admin_client.get(reverse("admin:otp_totp_totpdevice_changelist"))
    page = admin_client.get(reverse("admin:otp_totp_totpdevice_change", args=[device.pk]))
    changed = admin_client.post(
        reverse("admin:otp_totp_totpdevice_change", args=[device.pk]), {"key": "00" * 20}
    )

    assert listing.status_code == 200 and "colleague@mike.test" in listing.content.decode()
    assert device.key not in page.content.decode()
    assert changed.status_code == 403
    assert admin_client.get(f"/admin/otp_totp/totpdevice/{device.pk}/config/").status_code != 200
    # Deleting it (a lost phone) is allowed: the user sets up a new one at the next sign-in.
    admin_client.post(
        reverse("admin:otp_totp_totpdevice_delete", args=[device.pk]), {"post": "yes"}
    )
    assert not type(device).objects.filter(pk=device.pk).exists()


def test_wrong_codes_across_fresh_sign_ins_lock_the_second_step(client, staff, settings):
    # A right password resets django-axes' count each time; the wrong codes still add up.
    settings.TWO_FACTOR_FAILURE_LIMIT = 5
    settings.AXES_FAILURE_LIMIT = 3
    device = authenticator_for(staff)
    statuses = []
    for _ in range(3):
        client.logout()
        assert sign_in(client).status_code == 302
        statuses += [
            client.post(reverse("admin:two_factor"), {"code": "000000"}).status_code
            for _ in range(2)
        ]

    assert statuses[:4] == [200] * 4 and statuses[4] == 429
    assert "_auth_user_id" not in client.session
    staff.refresh_from_db()
    assert staff.second_factor_failures == 5
    # The password still signs in (pending the second factor), but no code is taken, not even
    # the right one, and no admin page opens.
    assert sign_in(client).status_code == 302
    right = client.post(reverse("admin:two_factor"), {"code": current_code(device)})
    assert right.status_code == 429
    assert client.get("/admin/").status_code == 302

    # After the cooling period the right code signs in and clears the count.
    type(staff).objects.filter(pk=staff.pk).update(
        second_factor_failed_at=timezone.now() - timedelta(minutes=31)
    )
    assert sign_in(client).status_code == 302
    answer = client.post(
        reverse("admin:two_factor"), {"code": current_code(device), "next": "/admin/"}
    )
    assert answer.status_code == 302 and answer["Location"] == "/admin/"
    staff.refresh_from_db()
    assert staff.second_factor_failures == 0


def test_staff_unlock_a_users_second_step_in_the_admin(admin_client, admin_user, staff):
    from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

    pass_second_factor(admin_client, admin_user)
    type(staff).objects.filter(pk=staff.pk).update(
        second_factor_failures=7, second_factor_failed_at=timezone.now()
    )
    assert two_factor.second_factor_locked(staff)
    page = admin_client.get(reverse("admin:accounts_user_change", args=[staff.pk]))
    assert "Two-factor sign-in" in page.content.decode()

    admin_client.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "unlock_second_factor", ACTION_CHECKBOX_NAME: [str(staff.pk)]},
    )

    staff.refresh_from_db()
    assert staff.second_factor_failures == 0 and staff.second_factor_failed_at is None
    assert not two_factor.second_factor_locked(staff)
