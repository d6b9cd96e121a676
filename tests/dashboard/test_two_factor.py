"""Two-factor authentication in the dashboards: offered to everyone on the account security page,
asked for after the password once it is on, required of agency admins and staff when
REQUIRE_2FA_FOR_ADMINS is on."""

import pytest
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from mike.accounts import two_factor
from tests.factories_accounts import TEST_PASSWORD
from tests.two_factor import authenticator_for, current_code

pytestmark = pytest.mark.second_factor_as_is

SECURITY = "/app/account/security/"
SETUP = "/app/account/security/setup/"
VERIFY = "/app/login/verify/"


@pytest.fixture(autouse=True)
def _no_throttle(settings):
    # django-otp makes a device wait after a wrong code; these tests retype at once.
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    settings.OTP_STATIC_THROTTLE_FACTOR = 0


def sign_in(client, email, password=TEST_PASSWORD, **extra):
    return client.post("/app/login/", {"username": email, "password": password}, **extra)


def test_the_security_page_offers_two_factor(client, people):
    client.force_login(people.client_user)

    page = client.get(SECURITY).content.decode()

    assert "Set up two-factor authentication" in page
    assert 'href="/app/account/security/"' in client.get("/app/").content.decode()


def test_anonymous_is_sent_to_sign_in(client, db):
    assert client.get(SECURITY)["Location"].startswith("/app/login/")
    assert client.get(VERIFY)["Location"].startswith("/app/login/")


def test_a_user_turns_it_on_and_is_asked_for_the_code_next_time(client, people):
    user = people.client_admin
    client.force_login(user)
    setup = client.get(SETUP)
    assert "<svg" in setup.content.decode()
    device = TOTPDevice.objects.get(user=user, confirmed=False)

    refused = client.post(SETUP, {"code": "000000"})
    assert refused.status_code == 200 and "not the one the app shows" in refused.content.decode()
    done = client.post(SETUP, {"code": current_code(device)})
    assert len(done.context["codes"]) == 10
    assert "On" in client.get(SECURITY).content.decode()

    client.logout()
    response = sign_in(client, user.email)
    assert response["Location"] == f"{VERIFY}?next=%2Fapp%2F"
    # Signed in with the password only: no dashboard page opens.
    assert client.get("/app/")["Location"].startswith(VERIFY)
    assert client.post(VERIFY, {"code": "000000", "next": "/app/"}).status_code == 200
    passed = client.post(VERIFY, {"code": current_code(device, drift=1), "next": "/app/"})
    assert passed["Location"] == "/app/"
    assert client.get("/app/").status_code == 200


def test_a_recovery_code_signs_in_once(client, people):
    user = people.client_user
    authenticator_for(user)
    code = two_factor.regenerate_recovery_codes(user=user)[3]

    sign_in(client, user.email)
    assert client.post(VERIFY, {"code": code, "next": "/app/"})["Location"] == "/app/"
    client.logout()
    sign_in(client, user.email)
    assert client.post(VERIFY, {"code": code, "next": "/app/"}).status_code == 200


def test_wrong_codes_lock_out_like_wrong_passwords(client, people, settings):
    user = people.client_user
    authenticator_for(user)
    sign_in(client, user.email, REMOTE_ADDR="203.0.113.9")
    statuses = [
        client.post(VERIFY, {"code": "000000"}, REMOTE_ADDR="203.0.113.9").status_code
        for _ in range(settings.AXES_FAILURE_LIMIT)
    ]

    assert statuses[-1] == 429
    assert "_auth_user_id" not in client.session
    assert sign_in(client, user.email, REMOTE_ADDR="203.0.113.9").status_code == 429


def test_an_offsite_next_is_not_followed(client, people):
    user = people.client_user
    device = authenticator_for(user)
    sign_in(client, user.email)

    response = client.post(VERIFY, {"code": current_code(device), "next": "https://evil.test/"})

    assert response["Location"] == "/app/"


def test_new_recovery_codes_and_turning_it_off_with_a_current_code(client, people):
    user = people.client_user
    device = authenticator_for(user)
    old = two_factor.regenerate_recovery_codes(user=user)
    client.force_login(user)
    client.post(VERIFY, {"code": current_code(device)})

    new = client.post(reverse("dashboard:two_factor_recovery_codes")).context["codes"]
    assert len(new) == 10 and not set(new) & set(old)

    refused = client.post(reverse("dashboard:two_factor_disable"), {"code": "000000"})
    assert refused.status_code == 400
    assert two_factor.has_two_factor(user)
    off = client.post(
        reverse("dashboard:two_factor_disable"), {"code": current_code(device, drift=1)}
    )
    assert off["Location"] == SECURITY
    assert not two_factor.has_two_factor(user)
    assert not TOTPDevice.objects.filter(user=user).exists()


def test_without_the_setting_agency_admins_may_go_without(client, people):
    client.force_login(people.agency_admin)

    assert client.get("/app/clients/").status_code == 200


@pytest.mark.parametrize("who", ["agency_admin", "staff"])
def test_the_setting_makes_agency_admins_and_staff_set_it_up(client, people, settings, who):
    settings.REQUIRE_2FA_FOR_ADMINS = True
    user = getattr(people, who)
    client.force_login(user)

    response = client.get("/app/clients/")

    assert response["Location"] == f"{SETUP}?next=%2Fapp%2Fclients%2F"
    assert "needs two-factor" in client.get(SETUP).content.decode()
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    client.post(SETUP, {"code": current_code(device)})
    assert client.get("/app/clients/").status_code == 200
    # Required: it cannot be turned off.
    off = client.post(reverse("dashboard:two_factor_disable"), {"code": current_code(device)})
    assert off.status_code == 403


def test_the_setting_leaves_other_roles_free(client, people, settings):
    settings.REQUIRE_2FA_FOR_ADMINS = True
    for user in (people.agency_user, people.client_admin, people.client_user):
        client.force_login(user)
        response = client.get("/app/")
        assert SETUP not in response.get("Location", "")
        assert response.status_code in (200, 302)


def test_an_htmx_request_without_the_second_step_gets_a_full_page_redirect(client, people):
    user = people.client_user
    authenticator_for(user)
    sign_in(client, user.email)

    response = client.get(
        "/app/recipients/",
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL="http://testserver/app/recipients/",
    )

    assert response["HX-Redirect"] == f"{VERIFY}?next=%2Fapp%2Frecipients%2F"


def test_a_right_password_does_not_reset_the_count_of_wrong_codes(client, people, settings):
    settings.TWO_FACTOR_FAILURE_LIMIT = 4
    user = people.client_user
    device = authenticator_for(user)
    statuses = []
    for _ in range(4):
        client.logout()
        sign_in(client, user.email)
        statuses.append(client.post(VERIFY, {"code": "000000"}).status_code)

    assert statuses == [200, 200, 200, 429]
    client.logout()
    sign_in(client, user.email)
    assert client.post(VERIFY, {"code": current_code(device)}).status_code == 429
    assert "_auth_user_id" not in client.session
