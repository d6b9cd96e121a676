"""Roles, tenancy and API keys (seed functions `grant_role`, `revoke_role`, `has_role`,
`user_can_access_client`).

A role is two things kept in step by `grant_role` / `revoke_role`:
- a Django Group per role, carrying the model permissions (what the role may do anywhere it reaches);
- django-guardian object permissions on the Organization where the role is held (where it reaches).
Agency roles are held on the agency and reach every client whose parent is that agency, including
clients added later, because scoping follows `parent` at query time instead of copying permissions.
Staff and superusers see everything.
"""

import hashlib
import logging
import secrets
from datetime import datetime, timedelta

from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from guardian.shortcuts import assign_perm, get_objects_for_user, get_perms, remove_perm

from mike.core.errors import DomainError

from .models import (
    AGENCY_ROLES,
    CLIENT_ROLES,
    ApiKey,
    Membership,
    Organization,
    OrganizationKind,
    Role,
    User,
)

logger = logging.getLogger(__name__)

ACCESS = "access_organization"
MANAGE = "manage_organization"
APPROVE = "approve_recipients"
HANDLE_CALLS = "handle_calls"

# Object permissions each role holds on its organization.
ROLE_OBJECT_PERMISSIONS: dict[str, frozenset[str]] = {
    Role.PLATFORM_ADMIN: frozenset(),
    Role.AGENCY_ADMIN: frozenset({ACCESS, MANAGE, APPROVE, HANDLE_CALLS}),
    Role.AGENCY_USER: frozenset({ACCESS}),
    Role.CLIENT_ADMIN: frozenset({ACCESS, MANAGE, APPROVE, HANDLE_CALLS}),
    Role.CLIENT_USER: frozenset({ACCESS}),
    Role.CALL_CENTER_AGENT: frozenset({ACCESS, HANDLE_CALLS}),
}

_VIEW_APPS = ("campaigns", "recipients", "giftcards", "calls", "crm")
# Model permissions of each role's Group, as (app_label, codename prefix or codename) rules.
ROLE_MODEL_PERMISSIONS: dict[str, tuple[str, ...]] = {
    Role.PLATFORM_ADMIN: ("*",),
    Role.AGENCY_ADMIN: ("view", "add", "change"),
    Role.AGENCY_USER: ("view",),
    Role.CLIENT_ADMIN: ("view", "add", "change"),
    Role.CLIENT_USER: ("view",),
    Role.CALL_CENTER_AGENT: ("view",),
}


class RoleError(DomainError, ValidationError):
    """A role cannot be granted as asked (wrong kind of organization, missing organization)."""


def _role_permissions(role: str):
    actions = ROLE_MODEL_PERMISSIONS[role]
    perms = Permission.objects.filter(
        content_type__app_label__in=(*_VIEW_APPS, "accounts")
    ).select_related("content_type")
    if "*" in actions:
        return perms
    # Django's own model permissions only (`view_recipient`, not `view_redemption_code`): a
    # permission a model declares for itself is granted on purpose, never by its prefix.
    return [
        perm
        for perm in perms.filter(content_type__app_label__in=_VIEW_APPS)
        if perm.codename in {f"{action}_{perm.content_type.model}" for action in actions}
    ]


def ensure_role_group(role: str) -> Group:
    """The Group of a role, created with its model permissions if missing (idempotent)."""
    group, created = Group.objects.get_or_create(name=Role(role).label)
    if created or not group.permissions.exists():
        group.permissions.set(_role_permissions(role))
    return group


def ensure_role_groups() -> None:
    for role in Role.values:
        ensure_role_group(role)


def _check_role_fits(role: str, organization: Organization | None) -> None:
    if role not in Role.values:
        raise RoleError(f"Unknown role {role!r}.")
    if role == Role.PLATFORM_ADMIN:
        if organization is not None:
            raise RoleError("The platform admin role is held without an organization.")
        return
    if organization is None:
        raise RoleError(f"The role {Role(role).label} needs an organization.")
    if role in AGENCY_ROLES and organization.kind != OrganizationKind.AGENCY:
        raise RoleError(f"{Role(role).label} is an agency role; {organization} is not an agency.")
    if role in CLIENT_ROLES and organization.kind != OrganizationKind.CLIENT:
        raise RoleError(f"{Role(role).label} is a client role; {organization} is not a client.")


@transaction.atomic
def grant_role(
    *, user: User, role: str, organization: Organization | None = None, by: User | None = None
) -> Membership:
    """Give `user` the `role` at `organization`. Idempotent: granting a held role changes nothing.

    Raises RoleError when the role does not fit the organization's kind.
    """
    _check_role_fits(role, organization)
    membership, _ = Membership.objects.get_or_create(
        user=user, organization=organization, role=role, defaults={"granted_by": by}
    )
    user.groups.add(ensure_role_group(role))
    for codename in ROLE_OBJECT_PERMISSIONS[role]:
        assign_perm(f"accounts.{codename}", user, organization)
    if role == Role.PLATFORM_ADMIN and not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff", "updated_at"])
    return membership


@transaction.atomic
def revoke_role(
    *, user: User, role: str, organization: Organization | None = None, by: User | None = None
) -> bool:
    """Take `role` at `organization` away from `user`; False when the user did not hold it.

    Object permissions another role of the user at the same organization still needs are kept,
    and so is the Group while the user holds the role elsewhere.
    """
    deleted, _ = Membership.objects.filter(user=user, organization=organization, role=role).delete()
    if not deleted:
        return False
    if organization is not None:
        still_needed = set()
        for other in Membership.objects.filter(user=user, organization=organization):
            still_needed |= ROLE_OBJECT_PERMISSIONS[other.role]
        for codename in set(get_perms(user, organization)) - still_needed:
            if codename in ROLE_OBJECT_PERMISSIONS[role]:
                remove_perm(f"accounts.{codename}", user, organization)
    if not Membership.objects.filter(user=user, role=role).exists():
        user.groups.remove(ensure_role_group(role))
        if role == Role.PLATFORM_ADMIN and user.is_staff and not user.is_superuser:
            user.is_staff = False
            user.save(update_fields=["is_staff", "updated_at"])
    return True


def has_role(user: User, role: str, organization: Organization | None = None) -> bool:
    """Whether `user` holds `role` — anywhere, or at `organization` (for a client, an agency role
    held at its agency counts)."""
    if user is None or not user.is_authenticated:
        return False
    memberships = Membership.objects.filter(user=user, role=role)
    if organization is None:
        return memberships.exists()
    places = [organization.pk]
    if organization.parent_id and role in AGENCY_ROLES:
        places.append(organization.parent_id)
    return memberships.filter(organization_id__in=places).exists()


def accessible_client_ids(user: User, permission: str = ACCESS):
    """A subquery of the ids of the client organizations `user` reaches with `permission`
    (held on the client itself or on its agency). Archived clients are left out."""
    holding = get_objects_for_user(
        user,
        f"accounts.{permission}",
        klass=Organization,
        with_superuser=False,
        accept_global_perms=False,
    ).values("pk")
    return (
        Organization.objects.filter(kind=OrganizationKind.CLIENT, archived_at__isnull=True)
        .filter(Q(pk__in=holding) | Q(parent__in=holding))
        .values("pk")
    )


def user_can_access_client(user: User, client: Organization, permission: str = ACCESS) -> bool:
    """Whether `user` may see (or, with another `permission`, act on) the client's data."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser or user.is_staff:
        return True
    return accessible_client_ids(user, permission).filter(pk=client.pk).exists()


# --- API keys -------------------------------------------------------------------------------------

API_KEY_PREFIX = "mk_"
# Live and test keys say which they are in their text, as Stripe's and Tremendous's do, so one
# pasted into the wrong configuration is recognised at a glance.
LIVE_KEY_PREFIX = "mk_live_"
TEST_KEY_PREFIX = "mk_test_"
API_SCOPES = ("read", "write")
API_KEY_USE_PRECISION = timedelta(minutes=1)


class ApiKeyRefused(DomainError, ValidationError):
    """A key cannot be created or revoked by this person (their role may not manage its
    organization)."""


def api_key_organization_ids(user: User) -> list:
    """The ids of the organizations whose API keys `user` may see, create and revoke: the clients
    they may change (held on the client or on its agency) and the agencies they are an admin of.
    Staff: every client that is not archived and every agency."""
    if user is None or not user.is_authenticated or not user.is_active:
        return []
    if user.is_staff or user.is_superuser:
        return list(
            Organization.objects.filter(
                Q(kind=OrganizationKind.AGENCY)
                | Q(kind=OrganizationKind.CLIENT, archived_at__isnull=True)
            ).values_list("pk", flat=True)
        )
    agencies = get_objects_for_user(
        user,
        f"accounts.{MANAGE}",
        klass=Organization,
        with_superuser=False,
        accept_global_perms=False,
    ).filter(kind=OrganizationKind.AGENCY)
    return [
        *agencies.values_list("pk", flat=True),
        *Organization.objects.filter(pk__in=accessible_client_ids(user, MANAGE)).values_list(
            "pk", flat=True
        ),
    ]


def may_manage_api_keys(user: User, organization: Organization) -> bool:
    if user is not None and user.is_active and (user.is_staff or user.is_superuser):
        return True
    return organization.pk in api_key_organization_ids(user)


def _hash_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


@transaction.atomic
def create_api_key(
    *,
    organization: Organization,
    name: str,
    scopes: list[str] | None = None,
    created_by: User | None = None,
    expires_at: datetime | None = None,
    is_test: bool = False,
) -> tuple[ApiKey, str]:
    """A new key for a client or an agency (an agency's key reaches all its clients). Returns the
    row and the raw key, which is shown once and never stored. Scopes are `read` and `write`;
    `write` implies `read`. A test key begins `mk_test_`, a live one `mk_live_`.

    Raises ValidationError (by field) for a bad scope or an expiry not in the future, and
    ApiKeyRefused when `created_by` may not manage the organization's keys."""
    if created_by is not None and not may_manage_api_keys(created_by, organization):
        raise ApiKeyRefused("Your role may not create API keys for this organization.")
    if organization.kind not in (OrganizationKind.CLIENT, OrganizationKind.AGENCY):
        raise ValidationError({"organization": "API keys belong to a client or an agency."})
    scopes = list(dict.fromkeys(scopes or ["read"]))
    unknown = [scope for scope in scopes if scope not in API_SCOPES]
    if unknown:
        raise ValidationError({"scopes": f"Unknown scope {unknown[0]!r}: use read or write."})
    if "write" in scopes and "read" not in scopes:
        scopes.insert(0, "read")
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": "The expiry must be in the future."})
    prefix = secrets.token_hex(4)
    raw_key = (
        f"{TEST_KEY_PREFIX if is_test else LIVE_KEY_PREFIX}{prefix}_{secrets.token_urlsafe(24)}"
    )
    api_key = ApiKey(
        organization=organization,
        name=name,
        key_prefix=prefix,
        key_hash=_hash_key(raw_key),
        scopes=scopes,
        is_test=is_test,
        created_by=created_by,
        expires_at=expires_at,
    )
    api_key.full_clean()
    api_key.save()
    logger.info(
        "API key %s (%s) of organization %s created by user %s",
        api_key.pk,
        api_key.key_prefix,
        organization.pk,
        getattr(created_by, "pk", None),
    )
    return api_key, raw_key


def authenticate_api_key(raw_key: str) -> ApiKey | None:
    """The usable key matching `raw_key`, with `last_used_at` refreshed; None otherwise."""
    if not raw_key or not raw_key.startswith(API_KEY_PREFIX):
        return None
    api_key = (
        ApiKey.objects.active()
        .select_related("organization")
        .filter(key_hash=_hash_key(raw_key))
        .first()
    )
    if api_key is not None:
        # `last_used_at` is kept to the minute, not written on every request: a busy key would
        # otherwise turn each read into a row write and a lock on the key.
        now = timezone.now()
        if api_key.last_used_at is None or now - api_key.last_used_at >= API_KEY_USE_PRECISION:
            ApiKey.objects.filter(pk=api_key.pk).filter(
                Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - API_KEY_USE_PRECISION)
            ).update(last_used_at=now)
            api_key.last_used_at = now
    return api_key


def api_key_client_ids(api_key: ApiKey) -> list:
    """The ids of the client organizations a key reaches: its own client, or an agency key's
    clients. Archived clients are left out, as for people."""
    organization = api_key.organization
    clients = Organization.objects.filter(kind=OrganizationKind.CLIENT, archived_at__isnull=True)
    if organization.kind == OrganizationKind.AGENCY:
        clients = clients.filter(parent=organization)
    else:
        clients = clients.filter(pk=organization.pk)
    return list(clients.values_list("pk", flat=True))


@transaction.atomic
def revoke_api_key(*, api_key: ApiKey, by: User | None = None) -> ApiKey:
    """Revoke a key: from now on it answers 401. Idempotent: revoking a revoked key changes
    nothing, and the first revocation's time and person are kept (the audit trail: `revoked_at`,
    `revoked_by`, and a log line). Locks the key's row, so two revocations at once record one.

    Raises ApiKeyRefused when `by` may not manage the key's organization."""
    if by is not None and not may_manage_api_keys(by, api_key.organization):
        raise ApiKeyRefused("Your role may not revoke this organization's API keys.")
    locked = ApiKey.objects.select_for_update().get(pk=api_key.pk)
    if locked.revoked_at is None:
        locked.revoked_at = timezone.now()
        locked.revoked_by = by
        locked.save(update_fields=["revoked_at", "revoked_by", "updated_at"])
        logger.info(
            "API key %s (%s) of organization %s revoked by user %s",
            locked.pk,
            locked.key_prefix,
            locked.organization_id,
            getattr(by, "pk", None),
        )
    api_key.revoked_at, api_key.revoked_by = locked.revoked_at, locked.revoked_by
    return api_key


# --- Client settings ------------------------------------------------------------------------------

CLIENT_SETTINGS_FIELDS = frozenset(
    {
        "name",
        "logo_url",
        "sms_reward_template",
        "sms_opt_in_template",
        "auto_approve_recipients",
        "agents_see_card_codes",
        "phone_region",
    }
)


class ClientSettingsError(DomainError, ValidationError):
    """The settings cannot be saved as asked (a field not open to the client's admins, or an
    actor who may not change the client)."""


@transaction.atomic
def update_client_settings(*, organization: Organization, by: User, **changes) -> Organization:
    """Change the client's own settings (name, logo, default texts, auto-approve) from the
    dashboard. The row is locked, the whole model validated (`full_clean`: the texts' variables and
    opt-in rules, the logo's URL), then only the given fields are written. Raises
    ClientSettingsError for an unknown field or an actor without the right to manage the client,
    and ValidationError (by field) for invalid values. Saving the same values changes nothing."""
    unknown = set(changes) - CLIENT_SETTINGS_FIELDS
    if unknown:
        raise ClientSettingsError(
            f"These settings cannot be changed here: {', '.join(sorted(unknown))}."
        )
    if organization.kind != OrganizationKind.CLIENT:
        raise ClientSettingsError("Only a client has these settings.")
    if not user_can_access_client(by, organization, MANAGE):
        raise ClientSettingsError("Your role may not change this client's settings.")
    locked = Organization.objects.select_for_update().get(pk=organization.pk)
    changed = [field for field, value in changes.items() if getattr(locked, field) != value]
    if not changed:
        return locked
    for field in changed:
        setattr(locked, field, changes[field])
    locked.full_clean()
    locked.save(update_fields=[*changed, "updated_at"])
    return locked
