"""Who is calling the API: an `ApiKey` sent as `Authorization: Bearer <key>`.

The key, not a person, is the caller: `request.user` is an `ApiPrincipal` naming the key and the
clients it reaches, and every view scopes its querysets with `for_clients(principal.client_ids)`
(the API's side of the one scoping path, beside the dashboards' `for_user`).
"""

from dataclasses import dataclass, field

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import SAFE_METHODS, BasePermission

from mike.accounts.models import ApiKey
from mike.accounts.services import (
    API_KEY_PREFIX,
    api_key_client_ids,
    authenticate_api_key,
)

# The longest key `create_api_key` makes is ~50 characters; anything far longer is not a key.
MAX_KEY_LENGTH = 200


@dataclass
class ApiPrincipal:
    api_key: ApiKey
    client_ids: list = field(default_factory=list)

    is_authenticated = True
    is_active = True
    is_staff = False
    is_superuser = False
    is_anonymous = False

    @property
    def pk(self):
        return self.api_key.pk

    @property
    def is_test(self) -> bool:
        return self.api_key.is_test

    @property
    def organization(self):
        return self.api_key.organization

    def can(self, scope: str) -> bool:
        return scope in (self.api_key.scopes or [])

    def __str__(self):
        return f"API key {self.api_key.key_prefix}"


class ApiKeyAuthentication(BaseAuthentication):
    """`Authorization: Bearer mk_…`. No header: anonymous (the permission answers 401). A header
    that is not a usable key (malformed, unknown, revoked, expired): 401 at once."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header:
            return None
        if header[0].lower() != self.keyword.lower().encode():
            raise exceptions.AuthenticationFailed(
                "Send the API key as 'Authorization: Bearer <key>'."
            )
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                "The Authorization header must be 'Bearer' and the key, separated by one space."
            )
        try:
            raw_key = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("That is not an API key.") from None
        if len(raw_key) > MAX_KEY_LENGTH or not raw_key.startswith(API_KEY_PREFIX):
            raise exceptions.AuthenticationFailed("That is not an API key.")
        api_key = authenticate_api_key(raw_key)
        if api_key is None:
            raise exceptions.AuthenticationFailed(
                "This API key is unknown, revoked or expired. Create one in Settings → API keys."
            )
        principal = ApiPrincipal(api_key=api_key, client_ids=api_key_client_ids(api_key))
        return principal, api_key

    def authenticate_header(self, request):
        return f'{self.keyword} realm="api"'


class HasKeyScope(BasePermission):
    """Reads need the `read` scope, writes `write`: a read-only key writing gets 403."""

    message = "This API key is read-only: create a key with write access to change things."

    def has_permission(self, request, view):
        principal = request.user
        if not isinstance(principal, ApiPrincipal):
            raise exceptions.NotAuthenticated(
                "Authentication required: send 'Authorization: Bearer <API key>'."
            )
        if request.method in SAFE_METHODS:
            if not principal.can("read"):
                self.message = "This API key may not read."
                return False
            return True
        return principal.can("write")


class TestKeyOnly(BasePermission):
    message = "Only a test key may do this: it acts on test data."

    def has_permission(self, request, view):
        return isinstance(request.user, ApiPrincipal) and request.user.is_test


class KnownQueryParameters(BasePermission):
    """A query parameter the operation does not document is a 400 naming it, not silently
    ignored: `?stauts=failed` would otherwise answer every row, and the caller would never know.
    The known ones are the view's filters, its paginator's and its `query_serializer_class`'s.
    Checked after authentication, so an anonymous caller still hears 401 first."""

    def has_permission(self, request, view):
        params = request.query_params
        errors = {
            name or "(empty name)": ["Not a parameter of this operation."]
            for name in sorted(set(params) - known_query_parameters(view))
        }
        # An empty value is a variable the caller forgot to fill: a 400 instead of "no filter",
        # which would answer every row and hide the bug (the document says minLength 1).
        errors.update(
            (name, ["Give a value, or leave the parameter out."])
            for name in sorted(params)
            if name not in errors and "" in params.getlist(name)
        )
        if errors:
            raise exceptions.ValidationError(errors)
        return True


def known_query_parameters(view) -> set[str]:
    known = set()
    filterset_class = getattr(view, "filterset_class", None)
    if filterset_class is not None:
        known.update(filterset_class.base_filters)
    paginator = getattr(view, "paginator", None)
    if paginator is not None:
        known.update(
            name
            for name in (
                getattr(paginator, "cursor_query_param", None),
                getattr(paginator, "page_size_query_param", None),
            )
            if name
        )
    query_serializer_class = getattr(view, "query_serializer_class", None)
    if query_serializer_class is not None:
        known.update(query_serializer_class().fields)
    return known
