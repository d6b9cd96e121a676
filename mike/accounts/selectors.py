"""Reads of teams: who holds which role where, and the invitations, as a user may see them."""

from django.db.models import Case, IntegerField, Q, Value, When

from .models import AGENCY_ROLES, Invitation, InvitationStatus, Membership, Organization
from .services import accessible_client_ids


def agencies_of(user) -> list[Organization]:
    """The agencies `user` holds an agency role at."""
    return list(
        Organization.objects.agencies()
        .filter(memberships__user=user, memberships__role__in=AGENCY_ROLES)
        .distinct()
        .order_by("name")
    )


def visible_memberships(user):
    """The memberships `user` may see: at the clients they reach, and at the agencies they belong
    to (a client's people do not see its agency's team). Staff see every one."""
    if user is None or not user.is_authenticated or not user.is_active:
        return Membership.objects.none()
    if user.is_staff or user.is_superuser:
        return Membership.objects.filter(organization__isnull=False)
    agencies = Membership.objects.filter(user=user, role__in=AGENCY_ROLES).values("organization_id")
    return Membership.objects.filter(
        Q(organization__in=accessible_client_ids(user)) | Q(organization__in=agencies)
    )


def team_of(organization: Organization):
    """The organization's memberships with their people, by name: one query, whatever the size."""
    return (
        Membership.objects.filter(organization=organization, user__is_active=True)
        .select_related("user", "organization")
        .order_by("user__full_name", "user__email", "role")
    )


INVITATION_LIST_LIMIT = 100


def invitations_of(organization: Organization):
    """The organization's invitations, still-open ones first, then the newest (at most
    INVITATION_LIST_LIMIT, so the page stays one bounded query)."""
    return (
        Invitation.objects.filter(organization=organization)
        .select_related("organization", "invited_by", "accepted_user")
        .order_by(
            Case(
                When(status=InvitationStatus.PENDING, then=Value(0)),
                default=Value(1),
                output_field=IntegerField(),
            ),
            "-sent_at",
        )[:INVITATION_LIST_LIMIT]
    )
