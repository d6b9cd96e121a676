"""The team: who holds which role at the selected client (and, for agency people, at the agency),
invitations by email, changing a role, removing a member; and the public page that accepts an
invitation.

Every change goes through `mike.accounts.team` / `mike.accounts.invitations`, which apply the role
order. The views check first that the user may give roles at that organization at all (403 for
the read-only roles), and show the services' refusals as messages.
"""

from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.password_validation import password_validators_help_text_html
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from mike.accounts.invitations import (
    INVITATION_DAYS,
    InvitationError,
    InvitationNotFound,
    accept_invitation,
    existing_account,
    expire_due_invitations,
    invitation_for_token,
    invite,
    resend_invitation,
    revoke_invitation,
)
from mike.accounts.models import Invitation, InvitationStatus, Organization, Role
from mike.accounts.selectors import agencies_of, invitations_of, team_of, visible_memberships
from mike.accounts.team import TeamError, change_member_role, deactivate_member, roles_user_may_give

from ..access import dashboard_view, select_client

STATUS_BADGES = {
    InvitationStatus.PENDING: "info",
    InvitationStatus.ACCEPTED: "ok",
    InvitationStatus.EXPIRED: "warn",
    InvitationStatus.REVOKED: "",
}

# An invitation that may be sent again: still waiting, or past its time.
OPEN_STATUSES = (InvitationStatus.PENDING, InvitationStatus.EXPIRED)


@dataclass
class TeamSection:
    """One organization's team on the page, with the roles the user may give there."""

    organization: Organization
    memberships: list
    invitations: list
    roles_you_give: list[str]

    @property
    def can_change(self) -> bool:
        return bool(self.roles_you_give)

    @property
    def role_choices(self) -> list[tuple[str, str]]:
        return [(role, Role(role).label) for role in self.roles_you_give]


def _organizations(scope) -> list[Organization]:
    """The selected client, and for agency people (and staff) the agency it belongs to; with all
    clients selected, the agencies the user belongs to."""
    found = []
    client = scope.client
    if client is not None:
        found.append(client)
    if not scope.is_agency_user:
        return found
    if client is not None:
        if client.parent_id and (
            scope.is_staff or client.parent_id in {a.pk for a in agencies_of(scope.user)}
        ):
            found.append(client.parent)
        return found
    return agencies_of(scope.user)


def _sections(request) -> list[TeamSection]:
    organizations = _organizations(request.scope)
    expire_due_invitations(organizations=organizations)
    sections = []
    for organization in organizations:
        may_give = roles_user_may_give(request.user, organization)
        invitations = list(invitations_of(organization))
        for invitation in invitations:
            invitation.badge = STATUS_BADGES.get(invitation.current_status, "")
            can_give = invitation.role in may_give
            status = invitation.current_status
            invitation.can_resend = can_give and status in OPEN_STATUSES
            invitation.can_revoke = can_give and status == InvitationStatus.PENDING
        memberships = list(team_of(organization))
        for membership in memberships:
            membership.is_you = membership.user_id == request.user.pk
            membership.can_change = membership.role in may_give and not membership.is_you
        sections.append(TeamSection(organization, memberships, invitations, may_give))
    return sections


@require_safe
@dashboard_view(section="team")
def team(request):
    sections = _sections(request)
    return render(
        request,
        "app/team/team.html",
        {
            "sections": sections,
            "can_invite": any(section.can_change for section in sections),
            "days": INVITATION_DAYS,
        },
    )


class InviteForm(forms.Form):
    email = forms.EmailField(
        label="Email address", widget=forms.EmailInput(attrs={"autocomplete": "off"})
    )
    role = forms.ChoiceField(label="Role", help_text="What they may see and do.")

    def __init__(self, *args, sections, **kwargs):
        super().__init__(*args, **kwargs)
        self.organizations = {str(s.organization.pk): s.organization for s in sections}
        grouped = [
            (
                section.organization.name,
                [
                    (f"{section.organization.pk}:{role}", label)
                    for role, label in section.role_choices
                ],
            )
            for section in sections
            if section.can_change
        ]
        self.fields["role"].choices = grouped if len(grouped) > 1 else grouped[0][1]

    def clean_role(self):
        organization_id, _, role = self.cleaned_data["role"].partition(":")
        return self.organizations[organization_id], role


@dashboard_view(section="team")
def team_invite(request):
    sections = _sections(request)
    if not any(section.can_change for section in sections):
        if not sections:
            return render(request, "app/team/pick_client.html", {"what": "invite people"})
        raise PermissionDenied("Your role may look at the team but not invite people.")
    form = InviteForm(request.POST or None, sections=sections)
    if request.method == "POST" and form.is_valid():
        organization, role = form.cleaned_data["role"]
        email = form.cleaned_data["email"]
        try:
            invite(email=email, organization=organization, role=role, by=request.user)
        except (InvitationError, TeamError) as refusal:
            form.add_error("email", str(refusal))
        else:
            messages.success(
                request,
                f"Invitation sent to {email} as {Role(role).label.lower()} at {organization}. "
                f"The link works for {INVITATION_DAYS} days.",
            )
            return redirect("dashboard:team")
    return render(request, "app/team/invite.html", {"form": form, "days": INVITATION_DAYS})


def _require_gives_roles(request, organization):
    if not roles_user_may_give(request.user, organization):
        raise PermissionDenied("Your role may look at the team but not change it.")


def _membership(request, member_id):
    membership = get_object_or_404(
        visible_memberships(request.user).select_related("user", "organization"), pk=member_id
    )
    _require_gives_roles(request, membership.organization)
    return membership


@require_POST
@dashboard_view(section="team")
def member_role(request, member_id):
    membership = _membership(request, member_id)
    new_role = request.POST.get("role", "")
    if new_role not in Role.values:
        messages.error(request, "Choose a role from the list.")
        return redirect("dashboard:team")
    try:
        changed = change_member_role(membership=membership, new_role=new_role, by=request.user)
    except TeamError as refusal:
        messages.error(request, str(refusal))
    else:
        if changed.role == membership.role:
            messages.info(request, f"{membership.user.get_full_name()} already has that role.")
        else:
            messages.success(
                request,
                f"{membership.user.get_full_name()} is now {changed.get_role_display().lower()} "
                f"at {membership.organization}.",
            )
    return redirect("dashboard:team")


@require_POST
@dashboard_view(section="team")
def member_remove(request, member_id):
    membership = _membership(request, member_id)
    try:
        removal = deactivate_member(
            user=membership.user, organization=membership.organization, by=request.user
        )
    except TeamError as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, removal.summary)
    return redirect("dashboard:team")


def _invitation(request, invitation_id):
    invitation = get_object_or_404(
        Invitation.objects.for_user(request.user).select_related("organization"),
        pk=invitation_id,
    )
    _require_gives_roles(request, invitation.organization)
    return invitation


@require_POST
@dashboard_view(section="team")
def invitation_resend(request, invitation_id):
    invitation = _invitation(request, invitation_id)
    try:
        resend_invitation(invitation=invitation, by=request.user)
    except (InvitationError, TeamError) as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(
            request,
            f"Invitation sent again to {invitation.email}; the earlier link no longer works.",
        )
    return redirect("dashboard:team")


@require_POST
@dashboard_view(section="team")
def invitation_revoke(request, invitation_id):
    invitation = _invitation(request, invitation_id)
    try:
        revoke_invitation(invitation=invitation, by=request.user)
    except (InvitationError, TeamError) as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, f"Invitation to {invitation.email} withdrawn.")
    return redirect("dashboard:team")


# --- Accepting (public) -------------------------------------------------------------------------


class AcceptForm(forms.Form):
    full_name = forms.CharField(
        label="Your name", max_length=200, widget=forms.TextInput(attrs={"autocomplete": "name"})
    )
    password1 = forms.CharField(
        label="Choose a password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validators_help_text_html(),
    )
    password2 = forms.CharField(
        label="The password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("password1") and cleaned.get("password1") != cleaned.get("password2"):
            self.add_error("password2", "The two passwords differ.")
        return cleaned


@require_http_methods(["GET", "HEAD", "POST"])
def accept(request, token):
    """The invitation link: set a name and password (a new account) or confirm (an existing one,
    signed in), then land on the dashboard signed in."""
    try:
        invitation = invitation_for_token(token)
    except InvitationNotFound:
        raise Http404("This invitation link is not valid.") from None
    context = {"invitation": invitation, "token": token, "days": INVITATION_DAYS}
    if invitation.current_status != InvitationStatus.PENDING:
        context.update(state="unusable", status=invitation.current_status)
        return render(request, "app/auth/accept_invitation.html", context)
    account = existing_account(invitation)
    signed_in = request.user.is_authenticated
    if account is not None and account.is_active:
        state = "confirm" if signed_in and request.user.pk == account.pk else "sign_in"
    else:
        state = "signed_in_other" if signed_in else "new"
    context.update(state=state, account=account)
    form = AcceptForm(request.POST or None) if state == "new" else None
    context["form"] = form
    login_url = reverse("dashboard:login")
    context["login_url"] = f"{login_url}?next={request.path}"
    if request.method != "POST" or state in ("sign_in", "signed_in_other"):
        return render(request, "app/auth/accept_invitation.html", context)
    if form is not None and not form.is_valid():
        return render(request, "app/auth/accept_invitation.html", context)
    try:
        if form is not None:
            user = accept_invitation(
                token=token,
                full_name=form.cleaned_data["full_name"],
                password=form.cleaned_data["password1"],
            )
        else:
            user = accept_invitation(token=token, user=request.user)
    except ValidationError as problems:
        if form is None:
            raise
        form.add_error("password1", problems)
        return render(request, "app/auth/accept_invitation.html", context)
    except InvitationError as refusal:
        messages.error(request, str(refusal))
        return redirect(request.path)
    if form is not None:
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    if invitation.organization.is_client:
        select_client(request, invitation.organization.pk)
    messages.success(
        request,
        f"Welcome to {invitation.organization}: you're {invitation.get_role_display().lower()}.",
    )
    return redirect("dashboard:home")


urlpatterns = [
    path("team/", team, name="team"),
    path("team/invite/", team_invite, name="team_invite"),
    path("team/members/<uuid:member_id>/role/", member_role, name="team_member_role"),
    path("team/members/<uuid:member_id>/remove/", member_remove, name="team_member_remove"),
    path(
        "team/invitations/<uuid:invitation_id>/resend/",
        invitation_resend,
        name="team_invitation_resend",
    ),
    path(
        "team/invitations/<uuid:invitation_id>/revoke/",
        invitation_revoke,
        name="team_invitation_revoke",
    ),
    path("invitations/<str:token>/", accept, name="accept_invitation"),
]
