"""The team page, inviting, changing and removing members, and accepting an invitation."""

import secrets
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from mike.accounts.invitations import invite
from mike.accounts.models import Invitation, InvitationStatus, Membership, Role, User
from mike.accounts.services import has_role
from tests.dashboard.helpers import assert_queries_do_not_grow

TEAM = "/app/team/"
INVITE = "/app/team/invite/"
PASSWORD = "a-long-and-unusual-passphrase-42"


def _membership(user):
    return Membership.objects.get(user=user)


def _invitation(by, organization, role=Role.CLIENT_USER, email="new.person@example.com"):
    return invite(email=email, organization=organization, role=role, by=by)


# --- The list --------------------------------------------------------------------------------------


def test_a_client_admin_sees_their_clients_team_with_buttons(login_as, people, tenants):
    _invitation(people.client_admin, tenants.client_a)
    response = login_as(people.client_admin).get(TEAM)
    page = response.content.decode()
    assert response.status_code == 200
    assert people.client_user.email in page
    assert people.agent.email in page
    assert "new.person@example.com" in page
    assert "Invite someone" in page
    assert f"/app/team/members/{_membership(people.client_user).pk}/role/" in page
    # The agency's own team is not the client's business, nor another client's people.
    assert people.agency_user.email not in page
    assert people.other_client_user.email not in page


def test_an_agency_admin_sees_the_agency_team_too(login_as, people, tenants):
    page = login_as(people.agency_admin, tenants.client_a).get(TEAM).content.decode()
    assert people.client_user.email in page
    assert people.agency_user.email in page
    assert "Agency A" in page


def test_with_all_clients_an_agency_admin_sees_the_agency(login_as, people, tenants):
    page = login_as(people.agency_admin, "all").get(TEAM).content.decode()
    assert people.agency_user.email in page
    assert people.client_user.email not in page


def test_a_read_only_user_sees_the_team_without_buttons(login_as, people, tenants):
    _invitation(people.client_admin, tenants.client_a)
    response = login_as(people.client_user).get(TEAM)
    page = response.content.decode()
    assert response.status_code == 200
    assert people.client_admin.email in page
    assert "Invite someone" not in page
    assert "/role/" not in page
    assert "/revoke/" not in page
    assert "/remove/" not in page


def test_an_expired_invitation_shows_as_expired(login_as, people, tenants):
    invitation, _ = _invitation(people.client_admin, tenants.client_a)
    Invitation.objects.filter(pk=invitation.pk).update(expires_at="2020-01-01T00:00:00Z")
    page = login_as(people.client_admin).get(TEAM).content.decode()
    assert "Expired" in page
    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.EXPIRED


def test_anonymous_is_sent_to_sign_in(client, db):
    response = client.get(TEAM)
    assert response.status_code == 302
    assert response["Location"].startswith("/app/login/")


def test_the_team_page_runs_the_same_queries_for_2_and_200_people(login_as, people, tenants):
    client = login_as(people.client_admin)

    def add_rows(n):
        # Bare rows (the page only reads them): grant_role's permissions are not the point here.
        users = User.objects.bulk_create(
            User(email=f"person{secrets.token_hex(6)}@example.com", full_name="P") for _ in range(n)
        )
        Membership.objects.bulk_create(
            Membership(user=user, organization=tenants.client_a, role=Role.CLIENT_USER)
            for user in users
        )
        Invitation.objects.bulk_create(
            Invitation(
                email=user.email.replace("person", "invitee"),
                organization=tenants.client_a,
                role=Role.CLIENT_USER,
                invited_by=people.client_admin,
                token_hash=secrets.token_hex(32),
                expires_at=timezone.now() + timedelta(days=3),
            )
            for user in users
        )

    assert_queries_do_not_grow(client, TEAM, add_rows)


# --- Inviting --------------------------------------------------------------------------------------


def test_inviting_sends_the_email(login_as, people, tenants, django_capture_on_commit_callbacks):
    client = login_as(people.client_admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            INVITE,
            {"email": "New.Person@Example.com", "role": f"{tenants.client_a.pk}:client_user"},
        )
    assert response.status_code == 302
    assert response["Location"] == TEAM
    invitation = Invitation.objects.get()
    assert invitation.email == "new.person@example.com"
    assert invitation.organization == tenants.client_a
    assert len(mail.outbox) == 1


def test_the_invite_form_offers_only_the_roles_you_may_give(login_as, people, tenants):
    page = login_as(people.client_admin).get(INVITE).content.decode()
    assert f"{tenants.client_a.pk}:client_admin" in page
    assert "agency_user" not in page
    page = login_as(people.agency_admin, tenants.client_a).get(INVITE).content.decode()
    assert f"{tenants.agency_a.pk}:agency_user" in page
    assert f"{tenants.client_a.pk}:call_center_agent" in page


def test_a_role_not_offered_is_a_field_error(login_as, people, tenants):
    response = login_as(people.client_admin).post(
        INVITE, {"email": "x@example.com", "role": f"{tenants.agency_a.pk}:agency_admin"}
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not Invitation.objects.exists()


def test_a_bad_email_is_a_field_error(login_as, people, tenants):
    response = login_as(people.client_admin).post(
        INVITE, {"email": "not-an-address", "role": f"{tenants.client_a.pk}:client_user"}
    )
    assert response.status_code == 200
    assert "Enter a valid email address" in response.content.decode()


def test_inviting_a_member_again_shows_the_refusal(login_as, people, tenants):
    response = login_as(people.client_admin).post(
        INVITE, {"email": people.client_user.email, "role": f"{tenants.client_a.pk}:client_user"}
    )
    assert response.status_code == 200
    assert "already client user" in response.content.decode()


def test_a_read_only_user_may_not_invite(login_as, people, tenants):
    client = login_as(people.client_user)
    assert client.get(INVITE).status_code == 403
    response = client.post(
        INVITE, {"email": "x@example.com", "role": f"{tenants.client_a.pk}:client_user"}
    )
    assert response.status_code == 403
    assert not Invitation.objects.exists()


def test_with_all_clients_staff_are_asked_to_pick_one(login_as, people):
    response = login_as(people.staff, "all").get(INVITE)
    assert response.status_code == 200
    assert "Choose a client" in response.content.decode()


# --- Changing and removing -------------------------------------------------------------------------


def _role_url(user):
    return f"/app/team/members/{_membership(user).pk}/role/"


def _remove_url(user):
    return f"/app/team/members/{_membership(user).pk}/remove/"


def test_changing_a_role(login_as, people, tenants):
    response = login_as(people.client_admin).post(
        _role_url(people.client_user), {"role": "client_admin"}, follow=True
    )
    assert "is now client admin" in response.content.decode()
    assert has_role(people.client_user, Role.CLIENT_ADMIN, tenants.client_a)


def test_changing_to_a_role_not_yours_to_give_says_so(login_as, people, tenants):
    response = login_as(people.client_admin).post(
        _role_url(people.client_user), {"role": "agency_admin"}, follow=True
    )
    assert "agency role" in response.content.decode()
    assert has_role(people.client_user, Role.CLIENT_USER, tenants.client_a)
    response = login_as(people.client_admin).post(
        _role_url(people.client_user), {"role": "boss"}, follow=True
    )
    assert "Choose a role" in response.content.decode()


def test_removing_a_member(login_as, people, tenants):
    response = login_as(people.client_admin).post(_remove_url(people.client_user), follow=True)
    assert "deactivated" in response.content.decode()
    people.client_user.refresh_from_db()
    assert not people.client_user.is_active


def test_you_cannot_remove_yourself(login_as, people):
    response = login_as(people.client_admin).post(_remove_url(people.client_admin), follow=True)
    assert "cannot remove yourself" in response.content.decode()
    people.client_admin.refresh_from_db()
    assert people.client_admin.is_active


def test_a_client_admin_cannot_reach_agency_members(login_as, people):
    client = login_as(people.client_admin)
    assert client.post(_remove_url(people.agency_user)).status_code == 404
    assert client.post(_role_url(people.agency_user), {"role": "agency_admin"}).status_code == 404


def test_another_tenants_admin_gets_404(login_as, people):
    client = login_as(people.other_client_admin)
    assert client.post(_remove_url(people.client_user)).status_code == 404
    assert client.post(_role_url(people.client_user), {"role": "client_admin"}).status_code == 404


def test_read_only_users_get_403_on_writes(login_as, people, tenants):
    invitation, _ = _invitation(people.client_admin, tenants.client_a)
    client = login_as(people.client_user)
    assert client.post(_remove_url(people.agent)).status_code == 403
    assert client.post(_role_url(people.agent), {"role": "client_admin"}).status_code == 403
    assert client.post(f"/app/team/invitations/{invitation.pk}/revoke/").status_code == 403
    assert client.post(f"/app/team/invitations/{invitation.pk}/resend/").status_code == 403
    # An agency user reads the agency's team but changes nothing in it either.
    agency = login_as(people.agency_user, tenants.client_a)
    assert agency.post(_remove_url(people.agency_admin)).status_code == 403
    people.agent.refresh_from_db()
    assert people.agent.is_active


def test_revoking_and_resending_an_invitation(
    login_as, people, tenants, django_capture_on_commit_callbacks
):
    invitation, old_token = _invitation(people.client_admin, tenants.client_a)
    client = login_as(people.client_admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/app/team/invitations/{invitation.pk}/resend/", follow=True)
    assert "earlier link no longer works" in response.content.decode()
    assert len(mail.outbox) == 1
    assert client.get(f"/app/invitations/{old_token}/").status_code == 404
    response = client.post(f"/app/team/invitations/{invitation.pk}/revoke/", follow=True)
    assert "withdrawn" in response.content.decode()
    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.REVOKED


# --- Accepting -------------------------------------------------------------------------------------


def test_accepting_sets_the_password_and_signs_in(client, people, tenants):
    _, token = _invitation(people.client_admin, tenants.client_a)
    url = f"/app/invitations/{token}/"
    page = client.get(url).content.decode()
    assert "Join Client A" in page
    response = client.post(
        url, {"full_name": "New Person", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"] == "/app/"
    home = client.get("/app/")
    assert home.status_code == 200
    user = User.objects.get(email="new.person@example.com")
    assert has_role(user, Role.CLIENT_USER, tenants.client_a)
    assert home.wsgi_request.user == user
    # The link is spent: a clear page, not a form.
    client.logout()
    again = client.get(url).content.decode()
    assert "Already accepted" in again


def test_a_weak_or_mismatched_password_is_a_field_error(client, people, tenants):
    _, token = _invitation(people.client_admin, tenants.client_a)
    url = f"/app/invitations/{token}/"
    response = client.post(
        url, {"full_name": "New Person", "password1": "12345678", "password2": "12345678"}
    )
    assert response.status_code == 200
    assert "too common" in response.content.decode()
    response = client.post(
        url, {"full_name": "New Person", "password1": PASSWORD, "password2": "other"}
    )
    assert "The two passwords differ" in response.content.decode()
    response = client.post(url, {"full_name": "", "password1": PASSWORD, "password2": PASSWORD})
    assert "This field is required" in response.content.decode()
    assert not User.objects.filter(email="new.person@example.com").exists()


def test_an_existing_account_signs_in_then_accepts(client, people, tenants):
    _, token = _invitation(people.agency_admin, tenants.client_a2, email=people.client_user.email)
    url = f"/app/invitations/{token}/"
    page = client.get(url).content.decode()
    assert "Sign in to accept" in page
    assert (
        client.post(
            url, {"full_name": "X", "password1": PASSWORD, "password2": PASSWORD}
        ).status_code
        == 200
    )
    assert not has_role(people.client_user, Role.CLIENT_USER, tenants.client_a2)
    client.force_login(people.client_user)
    assert "Accept invitation" in client.get(url).content.decode()
    response = client.post(url)
    assert response["Location"] == "/app/"
    assert has_role(people.client_user, Role.CLIENT_USER, tenants.client_a2)


def test_someone_else_signed_in_is_told_to_sign_out(client, people, tenants):
    _, token = _invitation(people.client_admin, tenants.client_a)
    client.force_login(people.client_user)
    url = f"/app/invitations/{token}/"
    assert "sign out first" in client.get(url).content.decode()
    client.post(url, {"full_name": "X", "password1": PASSWORD, "password2": PASSWORD})
    assert not User.objects.filter(email="new.person@example.com").exists()


@pytest.mark.parametrize(("status", "shown"), [("revoked", "withdrawn"), ("expired", "expired")])
def test_a_dead_link_shows_a_clear_page(client, people, tenants, status, shown):
    invitation, token = _invitation(people.client_admin, tenants.client_a)
    if status == "expired":
        Invitation.objects.filter(pk=invitation.pk).update(expires_at="2020-01-01T00:00:00Z")
    else:
        Invitation.objects.filter(pk=invitation.pk).update(status=status)
    response = client.get(f"/app/invitations/{token}/")
    assert response.status_code == 200
    assert shown in response.content.decode()
    assert "password1" not in response.content.decode()


def test_a_tampered_link_is_404(client, people, tenants):
    _, token = _invitation(people.client_admin, tenants.client_a)
    assert client.get(f"/app/invitations/{token}x/").status_code == 404
    assert client.post(f"/app/invitations/{token[:-2]}/", {}).status_code == 404
