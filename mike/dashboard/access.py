"""Who may see and change what in the dashboards: the one place a request's tenant scope is decided.

Every dashboard view is wrapped in `dashboard_view`, which signs the user in (an htmx request whose
session ended gets a full-page redirect, never a login form swapped into a table), refuses roles
the page is not for, and puts a `Scope` on the request. Views read through `scope.filter(qs)` on a
`for_user` queryset, so another tenant's object is simply not found (404), and check
`scope.can_manage(client)` before a write (403).

The selected client lives in the session: agency users and staff pick one client or "all
clients" (the header's switcher), client users have theirs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property, wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from django_htmx.http import HttpResponseClientRedirect

from mike.accounts.models import Membership, Organization, Role
from mike.accounts.services import APPROVE, HANDLE_CALLS, MANAGE, accessible_client_ids

SESSION_KEY = "dashboard_client"
ALL_CLIENTS = "all"


@dataclass
class Scope:
    """The user's reach for one request: the clients they may see, the one selected (None for all
    of them), and what their roles let them do."""

    user: object
    selected_id: str | None = None
    _manage_cache: dict = field(default_factory=dict, repr=False)

    @cached_property
    def roles(self) -> frozenset[str]:
        return frozenset(Membership.objects.filter(user=self.user).values_list("role", flat=True))

    @property
    def is_staff(self) -> bool:
        return bool(self.user.is_staff or self.user.is_superuser)

    @property
    def is_agent_only(self) -> bool:
        """A call-centre agent and nothing more: the dashboards show them the call pages only."""
        return not self.is_staff and self.roles == {Role.CALL_CENTER_AGENT}

    @property
    def is_agency_user(self) -> bool:
        return self.is_staff or bool(self.roles & {Role.AGENCY_ADMIN, Role.AGENCY_USER})

    @cached_property
    def clients(self):
        """The clients the user reaches, by name (staff: every client that is not archived)."""
        qs = Organization.objects.clients().filter(archived_at__isnull=True)
        if not self.is_staff:
            qs = qs.filter(pk__in=accessible_client_ids(self.user))
        return qs.select_related("parent").order_by("name")

    @cached_property
    def client(self) -> Organization | None:
        """The selected client, or None for "all clients". A user who reaches one client only has
        it selected; a selection the user no longer reaches falls back to all."""
        if self.selected_id and self.selected_id != ALL_CLIENTS:
            found = self.clients.filter(pk=self.selected_id).first()
            if found is not None:
                return found
        if not self.is_agency_user:
            return self.clients.first() if self.has_one_client else None
        return None

    @cached_property
    def has_one_client(self) -> bool:
        return len(self.client_choices) == 1

    @cached_property
    def client_choices(self) -> list[Organization]:
        return list(self.clients)

    @property
    def can_switch(self) -> bool:
        return len(self.client_choices) > 1

    def filter(self, queryset):
        """`queryset` (of a tenant model) cut to the user's reach and the selected client."""
        queryset = queryset.for_user(self.user)
        if self.client is not None:
            queryset = queryset.for_client(self.client)
        return queryset

    def _may(self, client: Organization | None, permission: str) -> bool:
        if client is None:
            return False
        if self.is_staff:
            return True
        key = (client.pk, permission)
        if key not in self._manage_cache:
            self._manage_cache[key] = (
                accessible_client_ids(self.user, permission).filter(pk=client.pk).exists()
            )
        return self._manage_cache[key]

    def can_manage(self, client: Organization | None = None) -> bool:
        """Whether the user may change `client` (default: the selected one): staff, client admins
        and agency admins of it."""
        return self._may(client if client is not None else self.client, MANAGE)

    def can_approve(self, client: Organization | None = None) -> bool:
        return self._may(client if client is not None else self.client, APPROVE)

    def can_handle_calls(self, client: Organization | None = None) -> bool:
        """Whether the user works `client`'s calls in the console: staff, agents, client admins
        and agency admins of it."""
        return self._may(client if client is not None else self.client, HANDLE_CALLS)

    @cached_property
    def can_handle_any_calls(self) -> bool:
        if self.is_staff:
            return True
        return accessible_client_ids(self.user, HANDLE_CALLS).exists()

    @cached_property
    def can_manage_any(self) -> bool:
        """Whether the user may change at least one of their clients (shows the write buttons on
        the "all clients" pages; each write still checks its own object's client)."""
        if self.is_staff:
            return True
        return accessible_client_ids(self.user, MANAGE).exists()

    def require_manage(self, client: Organization | None = None) -> None:
        if not self.can_manage(client):
            raise PermissionDenied("Your role may look at this client but not change it.")

    def managed_client(self, refusal: str) -> Organization | None:
        """The selected client, which the user must be able to change; None for "all clients"
        (the page then asks for one), PermissionDenied(`refusal`) when the user may change
        none of theirs."""
        if self.client is None:
            if not self.can_manage_any:
                raise PermissionDenied(refusal)
            return None
        self.require_manage(self.client)
        return self.client


def scope_for(request) -> Scope:
    return Scope(user=request.user, selected_id=request.session.get(SESSION_KEY))


def select_client(request, client_id: str | None) -> None:
    request.session[SESSION_KEY] = str(client_id) if client_id else ALL_CLIENTS


def home_url_for(scope: Scope) -> str:
    if scope.is_agent_only:
        return reverse("dashboard:calls")
    return reverse("dashboard:home")


def _login_redirect(request):
    login_url = reverse("dashboard:login")
    if getattr(request, "htmx", False):
        # The page's URL, not the fragment's: after signing in the user returns to the page.
        target = request.htmx.current_url_abs_path or reverse("dashboard:home")
        return HttpResponseClientRedirect(f"{login_url}?next={target}")
    return redirect_to_login(request.get_full_path(), login_url)


def _two_factor_redirect(request, url_name):
    if getattr(request, "htmx", False):
        # The page's URL, not the fragment's, as for the sign-in redirect.
        page = request.htmx.current_url_abs_path or reverse("dashboard:home")
        return HttpResponseClientRedirect(f"{reverse(url_name)}?{urlencode({'next': page})}")
    return redirect(f"{reverse(url_name)}?{urlencode({'next': request.get_full_path()})}")


def _second_factor_missing(request, *, setup_page: bool):
    """A redirect when the session lacks the second factor it needs: the code step for a user
    who has an authenticator app, setup for one who must have it (mike.accounts.two_factor)."""
    from mike.accounts import two_factor

    user = request.user
    if user.is_verified():
        return None
    if two_factor.has_two_factor(user):
        return _two_factor_redirect(request, "dashboard:two_factor_verify")
    if not setup_page and two_factor.must_have_two_factor(user):
        return _two_factor_redirect(request, "dashboard:two_factor_setup")
    return None


def dashboard_view(
    view=None,
    *,
    section: str | None = None,
    agents: bool = False,
    manage: bool = False,
    two_factor_setup: bool = False,
):
    """Wrap a dashboard view: signed in, a Scope on `request.scope`, roles checked.

    section: the navigation entry the page sits under (marked as current).
    agents: the page is one a call-centre agent works in (others send agents to their calls).
    manage: the page changes the selected client, so it needs a client and a role that may change
    it (403 otherwise). Pages that change one object check `scope.require_manage(obj.client)`.
    two_factor_setup: the page sets up a second factor, so a user who must have one may open it.
    """

    def decorate(func):
        @wraps(func)
        def wrapper(request, *args, **kwargs):
            user = request.user
            if not user.is_authenticated or not user.is_active:
                return _login_redirect(request)
            missing = _second_factor_missing(request, setup_page=two_factor_setup)
            if missing is not None:
                return missing
            scope = scope_for(request)
            if scope.is_agent_only and not agents:
                if request.method == "GET" and not getattr(request, "htmx", False):
                    return redirect("dashboard:calls")
                raise PermissionDenied("Call-centre agents work in the call pages.")
            if not scope.is_staff and not scope.roles:
                raise PermissionDenied("Your account has no role at any client yet.")
            if manage:
                scope.require_manage()
            request.scope = scope
            request.nav_section = section
            return func(request, *args, **kwargs)

        wrapper.dashboard_view = True
        return wrapper

    return decorate(view) if view is not None else decorate
