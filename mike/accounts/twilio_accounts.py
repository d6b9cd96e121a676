"""Whose Twilio account a client's numbers live in, and which token checks a webhook's signature.

The hierarchy: a client's own Twilio account (a subaccount) when it has one, else its agency's,
else the platform's (`settings.TWILIO_ACCOUNT_SID` / `TWILIO_AUTH_TOKEN`). `credentials_for(client)`
answers it, `twilio_client_for(client)` gives the official REST client for it (through
`mike.core.sms`'s HTTP client, so `TWILIO_API_BASE_URL` and `TWILIO_TIMEOUT_SECONDS` apply), and
`auth_token_for_account(sid)` finds the token of the account a webhook says it came from
(`mike.core.webhooks`, by way of `settings.TWILIO_WEBHOOK_ACCOUNT_LOOKUP`).

An organization's auth token is stored encrypted (`mike.core.crypto`) with its last four
characters beside it, which is all anyone is shown. `set_twilio_credentials` and
`clear_twilio_credentials` are the only writers: the dashboard's settings page and the admin's
actions call them; each change records who made it and when on the organization and in the log.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from guardian.shortcuts import get_objects_for_user

from mike.core import crypto, sms
from mike.core.errors import DomainError

from .models import Organization, OrganizationKind, User
from .services import MANAGE, user_can_access_client

logger = logging.getLogger(__name__)

ACCOUNT_SID_PATTERN = re.compile(r"^AC[0-9a-fA-F]{32}$")
TOKEN_PATTERN = re.compile(r"^[0-9A-Za-z]{16,64}$")
TOKEN_SHAPE = "A Twilio auth token is letters and digits only (32 of them)."  # noqa: S105 (a message)


class Source:
    CLIENT = "client"
    AGENCY = "agency"
    PLATFORM = "platform"


@dataclass(frozen=True)
class TwilioCredentials:
    """The account a client's Twilio calls use: its SID and token, and whose it is."""

    account_sid: str
    auth_token: str
    source: str
    organization: Organization | None = None

    @property
    def is_configured(self) -> bool:
        return bool(self.account_sid and self.auth_token)

    @property
    def label(self) -> str:
        if self.source == Source.PLATFORM:
            return "Mike's Twilio account"
        owner = self.organization.name if self.organization else "its"
        return f"{owner}'s own Twilio account"

    def __repr__(self):  # never the token, not even in a traceback
        return f"TwilioCredentials({self.account_sid!r}, source={self.source!r})"


class TwilioNotConfigured(DomainError):
    """No Twilio account is set for the client, its agency or the platform."""

    def __init__(self, client: Organization | None = None):
        self.client = client
        super().__init__(
            "Twilio is not configured: no Twilio account is set for this client, its agency or "
            "Mike itself. A client or agency admin can add one under Settings → Twilio account."
        )


class TwilioCredentialsRefused(DomainError, ValidationError):
    """The credentials cannot be set; `messages` (by field) or `str()` say why."""

    def __init__(self, message: str | dict):
        ValidationError.__init__(self, message)

    def __str__(self):
        return " ".join(self.messages)


def _own(organization: Organization | None) -> TwilioCredentials | None:
    if organization is None or not organization.twilio_account_sid:
        return None
    return TwilioCredentials(
        account_sid=organization.twilio_account_sid,
        auth_token=crypto.decrypt(organization.twilio_auth_token_encrypted),
        source=Source.AGENCY if organization.is_agency else Source.CLIENT,
        organization=organization,
    )


def platform_credentials() -> TwilioCredentials:
    return TwilioCredentials(
        account_sid=settings.TWILIO_ACCOUNT_SID,
        auth_token=settings.TWILIO_AUTH_TOKEN,
        source=Source.PLATFORM,
    )


def credentials_for(client: Organization) -> TwilioCredentials:
    """The client's own account if it has one, else its agency's, else the platform's (which may
    be unset: check `is_configured`)."""
    return (
        _own(client) or _own(client.parent if client.parent_id else None) or platform_credentials()
    )


def twilio_client_for(client: Organization):
    """The official Twilio REST client on the client's account (see `credentials_for`). Raises
    TwilioNotConfigured when no account is set anywhere in the hierarchy."""
    credentials = credentials_for(client)
    if not credentials.is_configured:
        raise TwilioNotConfigured(client)
    return sms.twilio_client(account_sid=credentials.account_sid, auth_token=credentials.auth_token)


def twilio_client_for_account(account_sid: str, client: Organization):
    """The Twilio REST client on account `account_sid` (the one a number was bought on), when it
    is still the client's own, its agency's or the platform's; TwilioNotConfigured when Mike no
    longer holds that account's token, rather than acting on another account."""
    for credentials in (
        _own(client),
        _own(client.parent if client.parent_id else None),
        platform_credentials(),
    ):
        if credentials and credentials.is_configured and credentials.account_sid == account_sid:
            return sms.twilio_client(
                account_sid=credentials.account_sid, auth_token=credentials.auth_token
            )
    raise TwilioNotConfigured(client)


def auth_token_for_account(account_sid: str) -> str | None:
    """The auth token of the organization whose own Twilio account is `account_sid` (None when no
    organization has it). The platform's account is `mike.core.webhooks`' to recognise."""
    if not account_sid:
        return None
    row = (
        Organization.objects.filter(twilio_account_sid=account_sid)
        .only("twilio_account_sid", "twilio_auth_token_encrypted", "kind")
        .first()
    )
    own = _own(row)
    return own.auth_token if own else None


def account_speaks_for(account_sid: str, client: Organization) -> bool:
    """Whether a webhook signed by Twilio account `account_sid` may concern `client`'s numbers:
    the platform's account speaks for every client; an organization's own account only for
    itself and, an agency's, for its clients. (The token of an organization's own account is
    known to its admins, so a valid signature alone does not prove the webhook is about them.)"""
    if not account_sid or account_sid == settings.TWILIO_ACCOUNT_SID:
        return True
    if client.twilio_account_sid == account_sid:
        return True
    return (
        bool(client.parent_id)
        and Organization.objects.filter(
            pk=client.parent_id, twilio_account_sid=account_sid
        ).exists()
    )


def clients_of_account(account_sid: str):
    """The ids of the clients an organization's own Twilio account `account_sid` speaks for:
    the client's own, or every client of the agency whose account it is (see
    `account_speaks_for`). Empty for an account nobody holds."""
    owners = Organization.objects.filter(twilio_account_sid=account_sid).values("pk")
    return list(
        Organization.objects.filter(kind=OrganizationKind.CLIENT)
        .filter(Q(pk__in=owners) | Q(parent__in=owners))
        .values_list("pk", flat=True)
    )


def masked_token(organization: Organization) -> str:
    """What a person is shown of the stored token: "•••• " and its last four characters."""
    if not organization.twilio_account_sid:
        return ""
    return f"•••• {organization.twilio_auth_token_last4}"


def may_change_credentials(user: User, organization: Organization) -> bool:
    """Staff; a client's admins and its agency's admins; an agency's admins for the agency."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.is_staff or user.is_superuser:
        return True
    if organization.kind == OrganizationKind.CLIENT:
        return user_can_access_client(user, organization, MANAGE)
    return (
        get_objects_for_user(
            user,
            f"accounts.{MANAGE}",
            klass=Organization,
            with_superuser=False,
            accept_global_perms=False,
        )
        .filter(pk=organization.pk)
        .exists()
    )


def _record(organization: Organization, by: User | None, what: str) -> None:
    logger.info(
        "Twilio credentials of organization %s %s by user %s",
        organization.pk,
        what,
        getattr(by, "pk", None),
    )


def set_twilio_credentials(
    *, organization: Organization, account_sid: str, auth_token: str = "", by: User | None
) -> Organization:
    """Give `organization` its own Twilio account: its numbers are then bought and managed there,
    and webhooks naming that account are checked with its token.

    `auth_token` blank keeps the stored token (changing only the SID is refused then, since the
    old token would not fit). The SID must look like a Twilio account SID, must not be the
    platform's and must not be another organization's. Locks the organization row; records who
    changed it and when. Raises TwilioCredentialsRefused. Setting the same values again changes
    only the record of who last saved them."""
    account_sid = (account_sid or "").strip()
    auth_token = (auth_token or "").strip()
    if by is not None and not may_change_credentials(by, organization):
        raise TwilioCredentialsRefused(
            "Your role may not change this organization's Twilio account."
        )
    errors = {}
    if not ACCOUNT_SID_PATTERN.match(account_sid):
        errors["account_sid"] = "A Twilio account SID is AC followed by 32 letters and digits."
    elif account_sid == settings.TWILIO_ACCOUNT_SID:
        errors["account_sid"] = "That is Mike's own Twilio account, which is used anyway."
    if auth_token and not TOKEN_PATTERN.match(auth_token):
        errors["auth_token"] = TOKEN_SHAPE
    if errors:
        raise TwilioCredentialsRefused(errors)
    with transaction.atomic():
        locked = Organization.objects.select_for_update().get(pk=organization.pk)
        if not auth_token and locked.twilio_account_sid != account_sid:
            raise TwilioCredentialsRefused({"auth_token": "Enter the auth token of this account."})
        taken = (
            Organization.objects.filter(twilio_account_sid=account_sid)
            .exclude(pk=locked.pk)
            .exists()
        )
        if taken:
            raise TwilioCredentialsRefused(
                {"account_sid": "Another organization already uses this Twilio account."}
            )
        locked.twilio_account_sid = account_sid
        if auth_token:
            locked.twilio_auth_token_encrypted = crypto.encrypt(auth_token)
            locked.twilio_auth_token_last4 = auth_token[-4:]
        locked.twilio_credentials_changed_at = timezone.now()
        locked.twilio_credentials_changed_by = by
        locked.save(update_fields=[*CREDENTIAL_FIELDS, "updated_at"])
        _record(locked, by, "set")
    _copy(locked, organization)
    return organization


def clear_twilio_credentials(*, organization: Organization, by: User | None) -> Organization:
    """Take the organization's own Twilio account away: its agency's (or the platform's) is used
    from now on. Numbers bought on the removed account stay there. Idempotent."""
    if by is not None and not may_change_credentials(by, organization):
        raise TwilioCredentialsRefused(
            "Your role may not change this organization's Twilio account."
        )
    with transaction.atomic():
        locked = Organization.objects.select_for_update().get(pk=organization.pk)
        if locked.twilio_account_sid:
            locked.twilio_account_sid = ""
            locked.twilio_auth_token_encrypted = ""
            locked.twilio_auth_token_last4 = ""
            locked.twilio_credentials_changed_at = timezone.now()
            locked.twilio_credentials_changed_by = by
            locked.save(update_fields=[*CREDENTIAL_FIELDS, "updated_at"])
            _record(locked, by, "removed")
    _copy(locked, organization)
    return organization


CREDENTIAL_FIELDS = (
    "twilio_account_sid",
    "twilio_auth_token_encrypted",
    "twilio_auth_token_last4",
    "twilio_credentials_changed_at",
    "twilio_credentials_changed_by",
)


def _copy(source: Organization, target: Organization) -> None:
    for name in CREDENTIAL_FIELDS:
        setattr(target, name, getattr(source, name))
