"""Invitations and team changes: the role order, expiry, resend, revoke, accept (once), and
removing a member."""

# The dashboard tests' two tenants and people of every role are this module's fixtures too; the
# test functions taking them as arguments "redefine" the imported names.
# ruff: noqa: F811

import threading
from datetime import timedelta
from unittest import mock

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from mike.accounts.invitations import (
    InvitationError,
    InvitationNotFound,
    InvitationUnusable,
    SignInFirst,
    accept_invitation,
    expire_due_invitations,
    invitation_for_token,
    invite,
    resend_invitation,
    revoke_invitation,
)
from mike.accounts.models import Invitation, InvitationStatus, Membership, Role, User
from mike.accounts.services import grant_role, has_role
from mike.accounts.team import (
    TeamError,
    change_member_role,
    deactivate_member,
    roles_user_may_give,
)
from tests import factories
from tests.dashboard.conftest import people, tenants  # noqa: F401  (fixtures)
from tests.rewards.concurrency import in_thread

PASSWORD = "a-long-and-unusual-passphrase-42"


def _invite(by, organization, role, email="new.person@example.com"):
    return invite(email=email, organization=organization, role=role, by=by)


# --- The role order ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "where", "role"),
    [
        ("staff", "agency_b", Role.AGENCY_ADMIN),
        ("staff", "client_b", Role.CLIENT_USER),
        ("agency_admin", "agency_a", Role.AGENCY_ADMIN),
        ("agency_admin", "agency_a", Role.AGENCY_USER),
        ("agency_admin", "client_a", Role.CLIENT_ADMIN),
        ("agency_admin", "client_a2", Role.CALL_CENTER_AGENT),
        ("client_admin", "client_a", Role.CLIENT_ADMIN),
        ("client_admin", "client_a", Role.CLIENT_USER),
        ("client_admin", "client_a", Role.CALL_CENTER_AGENT),
    ],
)
def test_the_role_order_lets_these_invite(people, tenants, who, where, role):
    invitation, token = _invite(getattr(people, who), getattr(tenants, where), role)
    assert invitation.status == InvitationStatus.PENDING
    assert invitation.role == role
    assert invitation_for_token(token) == invitation


@pytest.mark.parametrize(
    ("who", "where", "role", "message"),
    [
        ("agency_admin", "agency_b", Role.AGENCY_USER, "agency admins"),
        ("agency_admin", "client_b", Role.CLIENT_USER, "client admins"),
        ("agency_admin", "client_a", Role.AGENCY_USER, "is an agency role"),
        ("agency_user", "agency_a", Role.AGENCY_USER, "agency admins"),
        ("agency_user", "client_a", Role.CLIENT_USER, "client admins"),
        ("client_admin", "agency_a", Role.AGENCY_USER, "agency admins"),
        ("client_admin", "client_a2", Role.CLIENT_USER, "client admins"),
        ("client_admin", "client_b", Role.CLIENT_USER, "client admins"),
        ("client_user", "client_a", Role.CLIENT_USER, "client admins"),
        ("agent", "client_a", Role.CALL_CENTER_AGENT, "client admins"),
        ("staff", "client_a", Role.PLATFORM_ADMIN, "cannot be given"),
    ],
)
def test_the_role_order_refuses_these(people, tenants, who, where, role, message):
    with pytest.raises(TeamError, match=message):
        _invite(getattr(people, who), getattr(tenants, where), role)
    assert not Invitation.objects.exists()


def test_roles_offered_follow_the_role_order(people, tenants):
    assert roles_user_may_give(people.client_admin, tenants.client_a) == [
        Role.CLIENT_ADMIN,
        Role.CLIENT_USER,
        Role.CALL_CENTER_AGENT,
    ]
    assert roles_user_may_give(people.agency_admin, tenants.agency_a) == [
        Role.AGENCY_ADMIN,
        Role.AGENCY_USER,
    ]
    assert roles_user_may_give(people.client_admin, tenants.agency_a) == []
    assert roles_user_may_give(people.client_user, tenants.client_a) == []
    assert roles_user_may_give(people.agency_admin, tenants.client_b) == []


def test_someone_who_already_holds_the_role_is_not_invited(people, tenants):
    with pytest.raises(InvitationError, match="already client user"):
        _invite(people.client_admin, tenants.client_a, Role.CLIENT_USER, people.client_user.email)


def test_the_email_carries_the_link_after_commit(
    people, tenants, settings, django_capture_on_commit_callbacks
):
    settings.SITE_URL = "https://mike.example.com/"
    with django_capture_on_commit_callbacks(execute=True):
        invitation, token = _invite(people.client_admin, tenants.client_a, Role.CLIENT_USER)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    link = f"https://mike.example.com/app/invitations/{token}/"
    assert message.to == ["new.person@example.com"]
    assert link in message.body
    assert link in message.alternatives[0][0]
    assert "Client A" in message.subject
    # Only the hash is kept.
    assert token not in invitation.token_hash
    assert not Invitation.objects.filter(token_hash=token).exists()


# --- Resend, revoke, expiry ----------------------------------------------------------------------


def test_inviting_again_resends_and_kills_the_old_link(people, tenants):
    first, old_token = _invite(people.client_admin, tenants.client_a, Role.CLIENT_USER)
    again, new_token = _invite(
        people.agency_admin, tenants.client_a, Role.CLIENT_USER, "New.Person@Example.com"
    )
    assert again.pk == first.pk
    assert Invitation.objects.count() == 1
    assert again.invited_by == people.agency_admin
    assert new_token != old_token
    with pytest.raises(InvitationNotFound):
        invitation_for_token(old_token)
    with pytest.raises(InvitationNotFound):
        accept_invitation(token=old_token, full_name="New Person", password=PASSWORD)
    assert invitation_for_token(new_token) == again


def test_another_role_is_another_invitation(people, tenants):
    _invite(people.client_admin, tenants.client_a, Role.CLIENT_USER)
    _invite(people.client_admin, tenants.client_a, Role.CLIENT_ADMIN)
    assert Invitation.objects.count() == 2


def _in_days(days):
    later = timezone.now() + timedelta(days=days)
    return mock.patch("django.utils.timezone.now", return_value=later)


def test_a_link_expires_after_seven_days(people, tenants):
    invitation, token = _invite(people.client_admin, tenants.client_a, Role.CLIENT_USER)
    with _in_days(6.9):
        assert invitation.current_status == InvitationStatus.PENDING
        assert expire_due_invitations() == 0
    with _in_days(7.01):
        assert invitation.current_status == InvitationStatus.EXPIRED
        with pytest.raises(InvitationUnusable, match="expired"):
            accept_invitation(token=token, full_name="New Person", password=PASSWORD)
        assert not User.objects.filter(email="new.person@example.com").exists()
        assert expire_due_invitations(organizations=[tenants.client_a]) == 1
    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.EXPIRED


def test_an_expired_invitation_sent_again_works_for_seven_more_days(people, tenants):
    invitation, _ = _invite(people.client_admin, tenants.client_a, Role.CLIENT_USER)
    with _in_days(8):
        expire_due_invitations()
        again, token = resend_invitation(
            invitation=Invitation.objects.get(pk=invitation.pk), by=people.client_admin
        )
        assert again.pk == invitation.pk
        assert again.status == InvitationStatus.PENDING
        user = accept_invitation(token=token, full_name="New Person", password=PASSWORD)
    assert has_role(user, Role.CLIENT_USER, tenants.client_a)


def test_revoking_kills_the_link_and_is_idempotent(people, tenants):
    invitation, token = _invite(people.client_admin, tenants.client_a, Role.CLIENT_USER)
    revoke_invitation(invitation=invitation, by=people.client_admin)
    again = revoke_invitation(invitation=invitation, by=people.client_admin)
    assert again.status == InvitationStatus.REVOKED
    with pytest.raises(InvitationUnusable, match="withdrawn"):
        accept_invitation(token=token, full_name="New Person", password=PASSWORD)


def test_revoking_follows_the_role_order(people, tenants):
    invitation, _ = _invite(people.agency_admin, tenants.agency_a, Role.AGENCY_USER)
    with pytest.raises(TeamError):
        revoke_invitation(invitation=invitation, by=people.client_admin)
    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.PENDING


def test_an_accepted_invitation_cannot_be_revoked(people, tenants):
    invitation, token = _invite(people.client_admin, tenants.client_a, Role.CLIENT_USER)
    accept_invitation(token=token, full_name="New Person", password=PASSWORD)
    with pytest.raises(InvitationError, match="already accepted"):
        revoke_invitation(invitation=invitation, by=people.client_admin)


# --- Accepting -----------------------------------------------------------------------------------


def test_accepting_creates_the_account_with_the_role(people, tenants):
    invitation, token = _invite(people.client_admin, tenants.client_a, Role.CLIENT_ADMIN)
    user = accept_invitation(token=token, full_name="New Person", password=PASSWORD)
    assert user.check_password(PASSWORD)
    assert user.full_name == "New Person"
    assert has_role(user, Role.CLIENT_ADMIN, tenants.client_a)
    membership = Membership.objects.get(user=user)
    assert membership.granted_by == people.client_admin
    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.ACCEPTED
    assert invitation.accepted_user == user
    assert invitation.accepted_at is not None


def test_accepting_twice_is_refused(people, tenants):
    _, token = _invite(people.client_admin, tenants.client_a, Role.CLIENT_USER)
    accept_invitation(token=token, full_name="New Person", password=PASSWORD)
    with pytest.raises(InvitationUnusable, match="already been accepted"):
        accept_invitation(token=token, full_name="New Person", password=PASSWORD)
    assert User.objects.filter(email="new.person@example.com").count() == 1


def test_a_weak_password_is_refused_and_nothing_is_made(people, tenants):
    _, token = _invite(people.client_admin, tenants.client_a, Role.CLIENT_USER)
    with pytest.raises(ValidationError):
        accept_invitation(token=token, full_name="New Person", password="password")
    assert not User.objects.filter(email="new.person@example.com").exists()
    assert invitation_for_token(token).status == InvitationStatus.PENDING


def test_a_tampered_token_is_not_found(people, tenants):
    _, token = _invite(people.client_admin, tenants.client_a, Role.CLIENT_USER)
    with pytest.raises(InvitationNotFound):
        invitation_for_token(token[:-1] + ("A" if token[-1] != "A" else "B"))


def test_an_existing_account_must_be_signed_in_to_accept(people, tenants):
    existing = factories.UserFactory(email="new.person@example.com")
    _, token = _invite(people.client_admin, tenants.client_a, Role.CLIENT_USER)
    with pytest.raises(SignInFirst):
        accept_invitation(token=token, full_name="Someone", password=PASSWORD)
    with pytest.raises(SignInFirst):
        accept_invitation(token=token, user=people.client_user)
    user = accept_invitation(token=token, user=existing)
    assert user == existing
    assert has_role(existing, Role.CLIENT_USER, tenants.client_a)
    existing.refresh_from_db()
    assert existing.check_password(factories.TEST_PASSWORD)


@pytest.mark.django_db(transaction=True)
def test_a_double_submit_accepts_once(people, tenants):
    _, token = _invite(people.client_admin, tenants.client_a, Role.CLIENT_USER)
    start = threading.Barrier(2)

    def submit():
        start.wait(timeout=10)
        return accept_invitation(token=token, full_name="New Person", password=PASSWORD)

    first, second = in_thread(submit), in_thread(submit)
    first.join()
    second.join()
    results = first.results + second.results
    errors = first.errors + second.errors
    assert len(results) == 1, errors
    assert len(errors) == 1 and isinstance(errors[0], InvitationUnusable)
    assert User.objects.filter(email="new.person@example.com").count() == 1
    assert Membership.objects.filter(user=results[0]).count() == 1
    connection.close()


# --- Changing and removing members ---------------------------------------------------------------


def test_changing_a_role_swaps_it(people, tenants):
    membership = Membership.objects.get(user=people.client_user)
    changed = change_member_role(
        membership=membership, new_role=Role.CLIENT_ADMIN, by=people.client_admin
    )
    assert changed.role == Role.CLIENT_ADMIN
    assert not has_role(people.client_user, Role.CLIENT_USER, tenants.client_a)
    assert has_role(people.client_user, Role.CLIENT_ADMIN, tenants.client_a)
    again = change_member_role(
        membership=changed, new_role=Role.CLIENT_ADMIN, by=people.client_admin
    )
    assert again.pk == changed.pk


def test_changing_a_role_follows_the_role_order(people, tenants):
    agency_membership = Membership.objects.get(user=people.agency_user)
    with pytest.raises(TeamError):
        change_member_role(
            membership=agency_membership, new_role=Role.AGENCY_ADMIN, by=people.client_admin
        )
    own = Membership.objects.get(user=people.client_admin)
    with pytest.raises(TeamError, match="your own role"):
        change_member_role(membership=own, new_role=Role.CLIENT_USER, by=people.client_admin)
    membership = Membership.objects.get(user=people.client_user)
    with pytest.raises(TeamError, match="agency role"):
        change_member_role(
            membership=membership, new_role=Role.AGENCY_ADMIN, by=people.agency_admin
        )
    assert has_role(people.client_user, Role.CLIENT_USER, tenants.client_a)


def test_removing_someone_only_here_deactivates_them(people, tenants):
    removal = deactivate_member(
        user=people.client_user, organization=tenants.client_a, by=people.client_admin
    )
    people.client_user.refresh_from_db()
    assert removal.deactivated
    assert not people.client_user.is_active
    assert not Membership.objects.filter(user=people.client_user).exists()
    assert "deactivated" in removal.summary


def test_removing_someone_with_access_elsewhere_keeps_their_account(people, tenants):
    grant_role(user=people.client_user, role=Role.CLIENT_USER, organization=tenants.client_b)
    removal = deactivate_member(
        user=people.client_user, organization=tenants.client_a, by=people.client_admin
    )
    people.client_user.refresh_from_db()
    assert not removal.deactivated
    assert people.client_user.is_active
    assert has_role(people.client_user, Role.CLIENT_USER, tenants.client_b)
    assert not has_role(people.client_user, Role.CLIENT_USER, tenants.client_a)
    assert "stays active" in removal.summary


def test_an_agency_admin_removing_someone_of_two_of_its_clients_deactivates_them(people, tenants):
    grant_role(user=people.client_user, role=Role.CLIENT_USER, organization=tenants.client_a2)
    removal = deactivate_member(
        user=people.client_user, organization=tenants.client_a, by=people.agency_admin
    )
    assert removal.deactivated
    assert not Membership.objects.filter(user=people.client_user).exists()


def test_removing_follows_the_role_order(people, tenants):
    with pytest.raises(TeamError, match="yourself"):
        deactivate_member(
            user=people.client_admin, organization=tenants.client_a, by=people.client_admin
        )
    with pytest.raises(TeamError):
        deactivate_member(
            user=people.agency_user, organization=tenants.agency_a, by=people.client_admin
        )
    with pytest.raises(TeamError, match="holds no role"):
        deactivate_member(
            user=people.agency_user, organization=tenants.client_a, by=people.client_admin
        )
    with pytest.raises(TeamError):
        deactivate_member(
            user=people.client_admin, organization=tenants.client_a, by=people.client_user
        )
    people.agency_user.refresh_from_db()
    assert people.agency_user.is_active


def test_a_removed_person_invited_again_starts_clean(people, tenants):
    deactivate_member(
        user=people.client_user, organization=tenants.client_a, by=people.client_admin
    )
    _, token = _invite(
        people.client_admin, tenants.client_a, Role.CLIENT_USER, people.client_user.email
    )
    user = accept_invitation(token=token, full_name="Back Again", password=PASSWORD)
    assert user == people.client_user
    user.refresh_from_db()
    assert user.is_active and user.check_password(PASSWORD)
    assert has_role(user, Role.CLIENT_USER, tenants.client_a)


def test_a_second_pending_row_for_the_same_person_and_role_is_refused(people, tenants):
    # What two simultaneous invites would each try to write: the second is told, not a 500.
    factories.InvitationFactory(
        email="new.person@example.com", organization=tenants.client_a, role=Role.CLIENT_USER
    )
    with mock.patch.object(Invitation.objects, "select_for_update") as lookup:
        lookup.return_value.filter.return_value.order_by.return_value.first.return_value = None
        with pytest.raises(InvitationError, match="a moment ago"):
            _invite(people.client_admin, tenants.client_a, Role.CLIENT_USER)
    assert Invitation.objects.count() == 1


def test_removing_a_staff_member_from_a_team_keeps_their_account(people, tenants):
    grant_role(user=people.staff, role=Role.CLIENT_ADMIN, organization=tenants.client_a)
    removal = deactivate_member(
        user=people.staff, organization=tenants.client_a, by=people.agency_admin
    )
    people.staff.refresh_from_db()
    assert not removal.deactivated
    assert people.staff.is_active
    assert not has_role(people.staff, Role.CLIENT_ADMIN, tenants.client_a)
