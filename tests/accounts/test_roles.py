import pytest
from django.contrib.auth.models import Group

from mike.accounts.models import Membership, Organization, Role
from mike.accounts.services import (
    RoleError,
    accessible_client_ids,
    grant_role,
    has_role,
    revoke_role,
    user_can_access_client,
)
from tests.factories import AgencyFactory, ClientFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    agency = AgencyFactory()
    client_a = ClientFactory(parent=agency)
    client_b = ClientFactory(parent=agency)
    other_agency = AgencyFactory()
    client_c = ClientFactory(parent=other_agency)
    return agency, client_a, client_b, other_agency, client_c


def visible(user):
    return set(Organization.objects.filter(pk__in=accessible_client_ids(user)))


def test_client_user_sees_only_their_client(world):
    _, client_a, client_b, _, client_c = world
    user = UserFactory()
    grant_role(user=user, role=Role.CLIENT_USER, organization=client_a)
    assert visible(user) == {client_a}
    assert user_can_access_client(user, client_a)
    assert not user_can_access_client(user, client_b)
    assert not user_can_access_client(user, client_c)


def test_agency_role_reaches_every_client_of_the_agency_including_new_ones(world):
    agency, client_a, client_b, _, client_c = world
    user = UserFactory()
    grant_role(user=user, role=Role.AGENCY_ADMIN, organization=agency)
    assert visible(user) == {client_a, client_b}
    later = ClientFactory(parent=agency)
    assert user_can_access_client(user, later)
    assert not user_can_access_client(user, client_c)


def test_call_center_agent_can_handle_calls_but_not_approve(world):
    _, client_a, *_ = world
    agent = UserFactory()
    grant_role(user=agent, role=Role.CALL_CENTER_AGENT, organization=client_a)
    assert user_can_access_client(agent, client_a, "handle_calls")
    assert not user_can_access_client(agent, client_a, "approve_recipients")


def test_client_admin_can_approve_their_client_only(world):
    _, client_a, client_b, *_ = world
    admin = UserFactory()
    grant_role(user=admin, role=Role.CLIENT_ADMIN, organization=client_a)
    assert user_can_access_client(admin, client_a, "approve_recipients")
    assert not user_can_access_client(admin, client_b, "approve_recipients")


def test_staff_and_superusers_see_every_client(world):
    *_, client_c = world
    assert user_can_access_client(UserFactory(is_staff=True), client_c)
    assert user_can_access_client(UserFactory(is_superuser=True), client_c)


def test_user_without_roles_or_inactive_sees_nothing(world):
    _, client_a, *_ = world
    nobody = UserFactory()
    assert visible(nobody) == set()
    inactive = UserFactory(is_active=False)
    grant_role(user=inactive, role=Role.CLIENT_USER, organization=client_a)
    assert not user_can_access_client(inactive, client_a)


def test_archived_client_is_hidden_from_its_users(world):
    from django.utils import timezone

    _, client_a, *_ = world
    user = UserFactory()
    grant_role(user=user, role=Role.CLIENT_USER, organization=client_a)
    Organization.objects.filter(pk=client_a.pk).update(archived_at=timezone.now())
    assert not user_can_access_client(user, client_a)


def test_grant_role_is_idempotent_and_joins_the_role_group(world):
    _, client_a, *_ = world
    user = UserFactory()
    first = grant_role(user=user, role=Role.CLIENT_USER, organization=client_a)
    second = grant_role(user=user, role=Role.CLIENT_USER, organization=client_a)
    assert first.pk == second.pk
    assert Membership.objects.filter(user=user).count() == 1
    assert user.groups.filter(name=Role.CLIENT_USER.label).exists()
    assert (
        Group.objects.get(name=Role.CLIENT_USER.label)
        .permissions.filter(codename="view_campaign")
        .exists()
    )


def test_has_role_at_organization_and_through_the_agency(world):
    agency, client_a, _, _, client_c = world
    user = UserFactory()
    grant_role(user=user, role=Role.AGENCY_USER, organization=agency)
    assert has_role(user, Role.AGENCY_USER)
    assert has_role(user, Role.AGENCY_USER, agency)
    assert has_role(user, Role.AGENCY_USER, client_a)
    assert not has_role(user, Role.AGENCY_USER, client_c)
    assert not has_role(user, Role.CLIENT_ADMIN)


@pytest.mark.parametrize(
    ("role", "org_kind"),
    [
        (Role.AGENCY_ADMIN, "client"),
        (Role.CLIENT_USER, "agency"),
        (Role.CALL_CENTER_AGENT, "agency"),
        (Role.PLATFORM_ADMIN, "client"),
        (Role.CLIENT_ADMIN, None),
    ],
)
def test_role_that_does_not_fit_the_organization_is_refused(world, role, org_kind):
    agency, client_a, *_ = world
    organization = {"client": client_a, "agency": agency, None: None}[org_kind]
    user = UserFactory()
    with pytest.raises(RoleError):
        grant_role(user=user, role=role, organization=organization)
    assert not Membership.objects.filter(user=user).exists()


def test_revoke_role_removes_access_but_keeps_what_another_role_needs(world):
    _, client_a, client_b, *_ = world
    user = UserFactory()
    grant_role(user=user, role=Role.CLIENT_ADMIN, organization=client_a)
    grant_role(user=user, role=Role.CALL_CENTER_AGENT, organization=client_a)
    grant_role(user=user, role=Role.CLIENT_USER, organization=client_b)

    assert revoke_role(user=user, role=Role.CLIENT_ADMIN, organization=client_a)
    assert user_can_access_client(user, client_a, "handle_calls")
    assert not user_can_access_client(user, client_a, "approve_recipients")
    assert not user.groups.filter(name=Role.CLIENT_ADMIN.label).exists()

    assert revoke_role(user=user, role=Role.CALL_CENTER_AGENT, organization=client_a)
    assert not user_can_access_client(user, client_a)
    assert user_can_access_client(user, client_b)
    assert not revoke_role(user=user, role=Role.CALL_CENTER_AGENT, organization=client_a)


def test_platform_admin_is_staff_until_revoked():
    user = UserFactory()
    grant_role(user=user, role=Role.PLATFORM_ADMIN)
    user.refresh_from_db()
    assert user.is_staff and has_role(user, Role.PLATFORM_ADMIN)
    revoke_role(user=user, role=Role.PLATFORM_ADMIN)
    user.refresh_from_db()
    assert not user.is_staff


@pytest.mark.django_db
def test_roles_get_the_models_own_permissions_but_not_the_ones_granted_on_purpose():
    from mike.accounts.models import Role
    from mike.accounts.services import ensure_role_group

    group = ensure_role_group(Role.CLIENT_ADMIN)
    codenames = set(group.permissions.values_list("codename", flat=True))
    assert {"view_recipient", "change_recipient", "view_giftcardpool"} <= codenames
    assert "view_redemption_code" not in codenames
    assert "use_phone_simulator" not in codenames
