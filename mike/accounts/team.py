"""Who may give which role where (the role order), and changing or removing a team's members.

The role order: staff give any role; an agency admin gives the agency roles of their agency and
the client roles of the agency's clients; a client admin gives the client roles of their client.
Nobody else gives roles. Invitations (`mike.accounts.invitations`) follow the same order.

Roles still change only through `grant_role` / `revoke_role`; these services decide whether the
actor may, and do the pair of them in one transaction.
"""

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q

from mike.core.errors import DomainError

from .models import AGENCY_ROLES, CLIENT_ROLES, Membership, Organization, Role, User
from .services import grant_role, revoke_role


class TeamError(DomainError):
    """A change to a team the actor may not make, or that makes no sense; nothing was changed."""


def _is_staff(user: User) -> bool:
    return bool(user.is_staff or user.is_superuser)


def _role_order(roles) -> list[str]:
    return [role for role in Role.values if role in roles]


def roles_user_may_give(actor: User, organization: Organization) -> list[str]:
    """The roles `actor` may give at `organization`, in the role order (empty: none)."""
    if actor is None or not actor.is_authenticated or not actor.is_active:
        return []
    fitting = AGENCY_ROLES if organization.is_agency else CLIENT_ROLES
    if _is_staff(actor):
        return _role_order(fitting)
    if organization.archived_at is not None:
        return []
    held = Membership.objects.filter(user=actor, role__in=(Role.AGENCY_ADMIN, Role.CLIENT_ADMIN))
    if organization.is_agency:
        allowed = held.filter(role=Role.AGENCY_ADMIN, organization=organization).exists()
    else:
        reach = Q(role=Role.CLIENT_ADMIN, organization_id=organization.pk)
        if organization.parent_id:
            reach |= Q(role=Role.AGENCY_ADMIN, organization_id=organization.parent_id)
        allowed = held.filter(reach).exists()
    return _role_order(fitting) if allowed else []


def check_may_give(actor: User, organization: Organization, role: str) -> None:
    """Raise TeamError, in words, unless `actor` may give `role` at `organization`."""
    if role not in AGENCY_ROLES | CLIENT_ROLES:
        raise TeamError("That role cannot be given from the dashboard.")
    if role in AGENCY_ROLES and not organization.is_agency:
        raise TeamError(f"{Role(role).label} is an agency role; {organization} is a client.")
    if role in CLIENT_ROLES and not organization.is_client:
        raise TeamError(f"{Role(role).label} is a client role; {organization} is an agency.")
    if role in roles_user_may_give(actor, organization):
        return
    if organization.is_agency:
        raise TeamError(f"Only {organization}'s agency admins may give its agency roles.")
    raise TeamError(
        f"Only {organization}'s client admins and its agency's admins may give its client roles."
    )


def _lock_membership(membership: Membership) -> Membership:
    found = (
        Membership.objects.select_for_update(of=("self",))
        .select_related("user", "organization")
        .filter(pk=membership.pk)
        .first()
    )
    if found is None:
        raise TeamError("That role was removed meanwhile.")
    return found


@transaction.atomic
def change_member_role(*, membership: Membership, new_role: str, by: User) -> Membership:
    """Move a member from their role at an organization to `new_role` there: `revoke_role` of the
    old and `grant_role` of the new in one transaction, so they never hold both or neither.
    The actor must be allowed to give both roles (and may not change their own). Idempotent: the
    same role again changes nothing. Raises TeamError."""
    membership = _lock_membership(membership)
    organization, user = membership.organization, membership.user
    if user.pk == by.pk:
        raise TeamError("You cannot change your own role; ask another admin.")
    check_may_give(by, organization, membership.role)
    check_may_give(by, organization, new_role)
    if new_role == membership.role:
        return membership
    revoke_role(user=user, role=membership.role, organization=organization, by=by)
    return grant_role(user=user, role=new_role, organization=organization, by=by)


@dataclass(frozen=True)
class Removal:
    """What `deactivate_member` did: the roles it took away, and whether the account was
    deactivated (it is not when the person keeps access the actor cannot see)."""

    user: User
    organization: Organization
    revoked: tuple[str, ...]
    deactivated: bool

    @property
    def summary(self) -> str:
        roles = ", ".join(Role(role).label for role in self.revoked)
        who = self.user.get_full_name()
        if self.deactivated:
            return f"{who} no longer has access: {roles} at {self.organization} removed and the account deactivated."
        return (
            f"{who}'s {roles} role at {self.organization} is removed. They keep access elsewhere, "
            "so their account stays active."
        )


def _actor_reaches(actor: User, membership: Membership) -> bool:
    return membership.role in roles_user_may_give(actor, membership.organization)


@transaction.atomic
def deactivate_member(*, user: User, organization: Organization, by: User) -> Removal:
    """Take every role `user` holds at `organization` away, and deactivate the account when
    nothing else is left that the actor cannot see: another organization's role out of the actor's
    reach, or staff rights (then only the roles here go; staff are never deactivated here). An account deactivated here holds no
    role at all afterwards, so a later invitation starts it clean.

    Refuses (TeamError) the actor themselves, a user with no role here, and roles the actor may
    not give (a client admin never touches agency members, whose roles are held at the agency).
    The user row is locked so two admins removing the same person do it once."""
    if user.pk == by.pk:
        raise TeamError("You cannot remove yourself; ask another admin.")
    user = User.objects.select_for_update().get(pk=user.pk)
    here = list(
        Membership.objects.select_for_update(of=("self",))
        .filter(user=user, organization=organization)
        .select_related("organization")
    )
    if not here:
        raise TeamError(f"{user.get_full_name()} holds no role at {organization}.")
    for membership in here:
        check_may_give(by, organization, membership.role)
    elsewhere = list(
        Membership.objects.filter(user=user)
        .exclude(organization=organization)
        .select_related("organization")
    )
    # Staff rights are not a team's to take: a staff member leaves the team, the account stays.
    hidden = _is_staff(user) or any(
        membership.organization is None or not _actor_reaches(by, membership)
        for membership in elsewhere
    )
    for membership in here:
        revoke_role(user=user, role=membership.role, organization=organization, by=by)
    if hidden:
        return Removal(user, organization, tuple(m.role for m in here), deactivated=False)
    for membership in elsewhere:
        revoke_role(user=user, role=membership.role, organization=membership.organization, by=by)
    user.is_active = False
    user.save(update_fields=["is_active", "updated_at"])
    return Removal(user, organization, tuple(m.role for m in here), deactivated=True)
