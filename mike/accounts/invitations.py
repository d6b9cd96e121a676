"""Invitations by email: invite, resend, revoke, accept.

A link carries a random token (256 bits); the row keeps only its SHA-256 hash, so the link cannot
be rebuilt from the database, and a resend (a new token on the same row) leaves the old link dead.
A link works for INVITATION_DAYS; after that the invitation is expired, whether or not a write
has marked the row yet (`Invitation.current_status`, `expire_due_invitations`).

Who may invite whom follows the role order of `mike.accounts.team`.
"""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from mike.core.errors import DomainError

from .models import Invitation, InvitationStatus, Membership, Organization, Role, User
from .services import grant_role
from .team import check_may_give

INVITATION_DAYS = 7


class InvitationError(DomainError):
    """An invitation cannot be sent, revoked or accepted as asked; nothing was changed."""


class InvitationNotFound(InvitationError):
    """No invitation has this token (a mistyped, tampered or superseded link)."""

    def __init__(self):
        super().__init__("This invitation link is not valid.")


class InvitationUnusable(InvitationError):
    """The invitation was accepted, revoked or has expired."""

    def __init__(self, invitation: Invitation):
        self.invitation = invitation
        self.status = invitation.current_status
        messages = {
            InvitationStatus.ACCEPTED: "This invitation has already been accepted. Sign in to "
            "continue.",
            InvitationStatus.REVOKED: "This invitation was withdrawn. Ask whoever invited you "
            "for a new one.",
            InvitationStatus.EXPIRED: f"This invitation has expired: links work for "
            f"{INVITATION_DAYS} days. Ask whoever invited you to send it again.",
        }
        super().__init__(messages.get(self.status, "This invitation cannot be used."))


class SignInFirst(InvitationError):
    """The invitation's address has an account: its owner signs in, then accepts."""

    def __init__(self, email: str):
        self.email = email
        super().__init__(
            f"An account with {email} already exists. Sign in to it, then open this link again "
            "to accept."
        )


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_link(token: str) -> str:
    path = reverse("dashboard:accept_invitation", kwargs={"token": token})
    return f"{settings.SITE_URL.rstrip('/')}{path}"


def _send(invitation: Invitation, token: str) -> None:
    inviter = invitation.invited_by
    context = {
        "invitation": invitation,
        "organization": invitation.organization,
        "role": invitation.get_role_display(),
        "inviter": inviter.get_full_name() if inviter else "Mike",
        "link": invitation_link(token),
        "expires_at": invitation.expires_at,
        "days": INVITATION_DAYS,
    }
    message = EmailMultiAlternatives(
        subject=f"{context['inviter']} invited you to {invitation.organization} on Mike",
        body=render_to_string("email/invitation.txt", context),
        to=[invitation.email],
    )
    message.attach_alternative(render_to_string("email/invitation.html", context), "text/html")
    message.send()


@transaction.atomic
def invite(
    *, email: str, organization: Organization, role: str, by: User
) -> tuple[Invitation, str]:
    """Invite `email` to hold `role` at `organization`, and email the link (after commit, so a
    rolled-back invitation sends nothing). Returns the invitation and the link's token, which is
    never stored.

    A pending or expired invitation of the same address, organization and role is sent again
    instead of duplicated: a new token (the old link stops working) and a new 7 days. Raises
    InvitationError (or TeamError) when `by` may not give the role there, or the person already
    holds it.
    """
    email = User.objects.normalize_email(email or "").strip().lower()
    if not email:
        raise InvitationError("An email address is required.")
    check_may_give(by, organization, role)
    if Membership.objects.filter(
        user__email__iexact=email, user__is_active=True, organization=organization, role=role
    ).exists():
        raise InvitationError(f"{email} is already {Role(role).label.lower()} at {organization}.")
    now = timezone.now()
    token = secrets.token_urlsafe(32)
    invitation = (
        Invitation.objects.select_for_update()
        .filter(
            email__iexact=email,
            organization=organization,
            role=role,
            status__in=(InvitationStatus.PENDING, InvitationStatus.EXPIRED),
        )
        .order_by("-sent_at")
        .first()
    )
    if invitation is None:
        invitation = Invitation(email=email, organization=organization, role=role)
    invitation.status = InvitationStatus.PENDING
    invitation.token_hash = _hash(token)
    invitation.invited_by = by
    invitation.sent_at = now
    invitation.expires_at = now + timedelta(days=INVITATION_DAYS)
    try:
        # Two admins inviting the same person at once both find no row to resend; the database
        # keeps one pending invitation per person and role, and the second is told.
        with transaction.atomic():
            invitation.save()
    except IntegrityError:
        raise InvitationError(
            f"An invitation to {email} was sent a moment ago; it is on the team page."
        ) from None
    transaction.on_commit(lambda: _send(invitation, token))
    return invitation, token


def resend_invitation(*, invitation: Invitation, by: User) -> tuple[Invitation, str]:
    """Send a pending or expired invitation again (see `invite`)."""
    if invitation.status not in (InvitationStatus.PENDING, InvitationStatus.EXPIRED):
        raise InvitationUnusable(invitation)
    return invite(
        email=invitation.email, organization=invitation.organization, role=invitation.role, by=by
    )


@transaction.atomic
def revoke_invitation(*, invitation: Invitation, by: User) -> Invitation:
    """Withdraw an invitation so its link no longer works. Idempotent for a revoked one; an
    accepted invitation is refused (remove the member instead). Raises InvitationError."""
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    check_may_give(by, invitation.organization, invitation.role)
    if invitation.status == InvitationStatus.REVOKED:
        return invitation
    if invitation.status == InvitationStatus.ACCEPTED:
        raise InvitationError(
            f"{invitation.email} has already accepted; remove them from the team instead."
        )
    invitation.status = InvitationStatus.REVOKED
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["status", "revoked_at", "updated_at"])
    return invitation


def expire_due_invitations(*, organizations=None) -> int:
    """Mark pending invitations past their time as expired (of `organizations`, or all); the
    number marked. Idempotent: one UPDATE of the rows still pending."""
    due = Invitation.objects.filter(status=InvitationStatus.PENDING, expires_at__lte=timezone.now())
    if organizations is not None:
        due = due.filter(organization__in=organizations)
    return due.update(status=InvitationStatus.EXPIRED, updated_at=timezone.now())


def invitation_for_token(token: str) -> Invitation:
    """The invitation a link's token names, whatever its status. Raises InvitationNotFound."""
    found = (
        Invitation.objects.select_related("organization", "invited_by")
        .filter(token_hash=_hash(token or ""))
        .first()
    )
    if found is None:
        raise InvitationNotFound()
    return found


def existing_account(invitation: Invitation) -> User | None:
    return User.objects.filter(email__iexact=invitation.email).first()


@transaction.atomic
def accept_invitation(
    *, token: str, full_name: str = "", password: str = "", user: User | None = None
) -> User:
    """Accept the invitation a link names and give its role (through `grant_role`).

    For a new address: creates the account with `full_name` and `password` (checked by Django's
    password validators: a ValidationError lists what is wrong). For an address that has an
    account: `user` must be that account, signed in (SignInFirst otherwise); its password is left
    alone. A deactivated account is started again with the new password, since it holds no role
    (see `deactivate_member`) and the invitation proves the address.

    The invitation row is locked, so a double submit accepts once: the second sees it accepted
    and raises InvitationUnusable. Expired, revoked and accepted invitations raise
    InvitationUnusable; an unknown token InvitationNotFound.
    """
    found = invitation_for_token(token)
    invitation = (
        Invitation.objects.select_for_update(of=("self",))
        .select_related("organization", "invited_by")
        .get(pk=found.pk)
    )
    if invitation.current_status != InvitationStatus.PENDING:
        raise InvitationUnusable(invitation)
    account = existing_account(invitation)
    if account is not None and account.is_active:
        if user is None or user.pk != account.pk:
            raise SignInFirst(invitation.email)
    else:
        full_name = (full_name or "").strip()
        if not full_name:
            raise InvitationError("Enter your name.")
        candidate = account or User(email=invitation.email)
        candidate.full_name = full_name
        validate_password(password, user=candidate)
        if account is None:
            account = User.objects.create_user(
                email=invitation.email, password=password, full_name=full_name
            )
        else:
            account = User.objects.select_for_update().get(pk=account.pk)
            account.full_name = full_name
            account.is_active = True
            account.set_password(password)
            account.save(update_fields=["full_name", "is_active", "password", "updated_at"])
    grant_role(
        user=account,
        role=invitation.role,
        organization=invitation.organization,
        by=invitation.invited_by,
    )
    invitation.status = InvitationStatus.ACCEPTED
    invitation.accepted_at = timezone.now()
    invitation.accepted_user = account
    invitation.save(update_fields=["status", "accepted_at", "accepted_user", "updated_at"])
    return account
