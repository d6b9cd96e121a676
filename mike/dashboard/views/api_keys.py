"""API keys, under Settings: the keys of the selected client and of its agency, creating one (shown
once), and revoking one.

Who: staff, a client's admins (its keys) and an agency's admins (the agency's own keys, which reach
every client of the agency, and each of its clients' keys). Everyone else gets 403; another
tenant's key is not found (404), through `ApiKey.objects.manageable_by`.

The key is shown once: creating it puts the raw key, encrypted (`mike.core.crypto`), in the session
and redirects to the key's "created" page, which takes it out of the session as it shows it. A
reload, the back button or another tab finds nothing there and says so; only the key's hash is
stored (`mike.accounts.services.create_api_key`).
"""

from datetime import datetime, time, timedelta

import django_tables2 as tables
from cryptography.fernet import InvalidToken
from django import forms
from django.conf import settings as django_settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_safe

from mike.accounts.models import ApiKey, Organization, OrganizationKind
from mike.accounts.services import (
    ApiKeyRefused,
    api_key_organization_ids,
    create_api_key,
    revoke_api_key,
)
from mike.core import crypto

from ..access import dashboard_view
from ..tables import DashboardTable, table_page

SESSION_KEY = "api_key_shown_once"
# The "created" page shows the key only this soon after the POST that made it.
SHOW_ONCE_WITHIN = timedelta(minutes=5)
STATUS_BADGE = {"active": "ok", "expired": "warn", "revoked": "bad"}
NOWRAP = {"td": {"class": "nowrap"}}
REFUSAL = "Your role may not manage API keys: ask an admin of the client or its agency."


def owners_for(request) -> list[Organization]:
    """The organizations whose keys the page shows and may create: the selected client and its
    agency, or, for "all clients", every client and agency the user manages keys of. Raises
    PermissionDenied when that is none."""
    reach = set(api_key_organization_ids(request.user))
    client = request.scope.client
    if client is not None:
        candidates = [client, client.parent] if client.parent_id else [client]
        owners = [org for org in candidates if org.pk in reach]
    else:
        # Agencies first ("agency" sorts before "client"), then by name.
        owners = list(Organization.objects.filter(pk__in=reach).order_by("kind", "name"))
    if not owners:
        raise PermissionDenied(REFUSAL)
    return owners


def _keys(request, owners):
    return (
        ApiKey.objects.manageable_by(request.user)
        .filter(organization__in=owners)
        .select_related("organization", "created_by", "revoked_by")
    )


def _key_or_404(request, key_id) -> ApiKey:
    return get_object_or_404(_keys(request, owners_for(request)), pk=key_id)


# --- The list ------------------------------------------------------------------------------------


def _day(moment) -> str:
    # Days as the dashboard's clock reads them (TIME_ZONE): a key expiring at the end of a day
    # shows that day, not the next one in UTC.
    return timezone.localtime(moment).strftime("%b %-d, %Y")


class ApiKeyTable(DashboardTable):
    name = tables.Column("Name")
    organization = tables.Column(
        "For", accessor="organization__name", order_by="organization__name"
    )
    prefix = tables.Column("Key", accessor="key_prefix", attrs=NOWRAP)
    scopes = tables.Column("Access", orderable=False)
    created = tables.Column("Created", accessor="created_at", attrs=NOWRAP)
    expires_at = tables.Column("Expires", default="Never", attrs=NOWRAP)
    last_used_at = tables.Column("Last used", default="Never", attrs=NOWRAP)
    status = tables.Column(
        "Status",
        accessor="revoked_at",
        order_by=("revoked_at", "expires_at"),
        empty_values=(),
    )

    class Meta(DashboardTable.Meta):
        empty_text = "No API keys yet. Create one to connect your CRM, Zapier or your own code."
        # The status, and the Revoke button under it, beside the name: a phone's width shows
        # them without scrolling.
        sequence = ("name", "status", "prefix", "scopes", "organization", "...")

    always_visible = ("name", "prefix", "status")

    def __init__(self, *args, show_owner=True, **kwargs):
        super().__init__(*args, **kwargs)
        if not show_owner:
            # One organization's keys only: saying whose each is would repeat the page's title.
            self.columns.hide("organization")

    def render_prefix(self, record):
        # Live or test as a badge beside the prefix the key itself begins with.
        if record.is_test:
            badge = format_html('<span class="badge warn">{}</span>', "Test")
        else:
            badge = format_html('<span class="badge info">{}</span>', "Live")
        return format_html('<span class="mono">{}</span> {}', record.display_prefix, badge)

    def value_prefix(self, record):
        return record.display_prefix

    def render_organization(self, record):
        org = record.organization
        if org.kind == OrganizationKind.AGENCY:
            return format_html('{} <span class="badge">agency</span>', org.name)
        return org.name

    def value_organization(self, record):
        return record.organization.name

    def render_scopes(self, value):
        return "Read, write" if "write" in (value or []) else "Read"

    def value_scopes(self, value):
        return " ".join(value or [])

    def render_expires_at(self, value):
        return _day(value)

    def render_last_used_at(self, value):
        return timezone.localtime(value).strftime("%b %-d, %Y %H:%M")

    def render_created(self, record):
        when = _day(record.created_at)
        by = record.created_by.get_short_name() if record.created_by else ""
        if by:
            return format_html('{}<br><span class="muted small">by {}</span>', when, by)
        return when

    def value_created(self, record):
        return record.created_at.isoformat()

    def render_status(self, record):
        status = record.status
        badge = format_html(
            '<span class="badge {}">{}</span>', STATUS_BADGE[status], status.capitalize()
        )
        if status == "revoked":
            when = _day(record.revoked_at)
            return format_html('{}<br><span class="muted small">{}</span>', badge, when)
        url = reverse("dashboard:api_key_revoke", kwargs={"key_id": record.pk})
        return format_html(
            '{badge}<br><a class="button small danger key-revoke" href="{url}" hx-get="{url}"'
            ' hx-target="#revoke-panel" hx-swap="innerHTML">Revoke</a>',
            badge=badge,
            url=url,
        )

    def value_status(self, record):
        return record.status


@require_safe
@dashboard_view(section="settings")
def api_key_list(request):
    owners = owners_for(request)
    return table_page(
        request,
        table_class=ApiKeyTable,
        queryset=_keys(request, owners).order_by("-created_at"),
        template="app/settings/api_keys.html",
        context={
            "owners": owners,
            "client": request.scope.client,
            "api_base": f"{django_settings.SITE_URL.rstrip('/')}/api/v1/",
        },
        table_kwargs={"show_owner": len(owners) > 1},
    )


# --- Creating one --------------------------------------------------------------------------------


class ApiKeyForm(forms.Form):
    organization = forms.ModelChoiceField(
        label="For",
        queryset=Organization.objects.none(),
        empty_label=None,
        help_text="An agency's key reaches every client of the agency; a client's key, that "
        "client only.",
    )
    name = forms.CharField(
        label="Name",
        max_length=100,
        help_text="What uses it, so you know which key to revoke later: “HubSpot sync”.",
    )
    access = forms.ChoiceField(
        label="Access",
        choices=[
            ("read", "Read only: campaigns, recipients, rewards and deliveries"),
            ("write", "Read and write: also push recipients and mark conditions met"),
        ],
        initial="read",
        widget=forms.RadioSelect,
    )
    mode = forms.ChoiceField(
        label="Mode",
        choices=[
            ("live", "Live: real recipients, real gift cards and texts"),
            ("test", "Test: a sandbox; its rewards never use real cards nor send texts"),
        ],
        initial="live",
        widget=forms.RadioSelect,
    )
    expires_on = forms.DateField(
        label="Expires on",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Optional. The key stops working at the end of this day. Leave it empty for a "
        "key that works until it is revoked.",
    )

    def __init__(self, *args, owners, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["organization"]
        field.queryset = Organization.objects.filter(pk__in=[org.pk for org in owners]).order_by(
            "kind", "name"
        )
        field.label_from_instance = lambda org: (
            f"{org.name} (agency: all its clients)"
            if org.kind == OrganizationKind.AGENCY
            else org.name
        )
        if len(owners) == 1:
            field.initial = owners[0].pk
            field.widget = forms.HiddenInput()
        self.fields["expires_on"].widget.attrs["min"] = timezone.localdate().isoformat()

    def clean_expires_on(self):
        day = self.cleaned_data["expires_on"]
        if day is not None and day < timezone.localdate():
            raise ValidationError(
                "That date has passed: pick today or a later day, or leave it empty."
            )
        return day

    def expires_at(self):
        day = self.cleaned_data.get("expires_on")
        if day is None:
            return None
        # The end of the chosen day where Mike's clock is: the key works through that day.
        return timezone.make_aware(datetime.combine(day, time.max))


@require_http_methods(["GET", "HEAD", "POST"])
@dashboard_view(section="settings")
def api_key_create(request):
    owners = owners_for(request)
    initial = {}
    if request.scope.client is not None and request.scope.client in owners:
        initial["organization"] = request.scope.client.pk
    form = ApiKeyForm(request.POST or None, owners=owners, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            api_key, raw_key = create_api_key(
                organization=data["organization"],
                name=data["name"].strip(),
                scopes=["read", "write"] if data["access"] == "write" else ["read"],
                is_test=data["mode"] == "test",
                expires_at=form.expires_at(),
                created_by=request.user,
            )
        except ApiKeyRefused as refusal:
            form.add_error(None, " ".join(refusal.messages))
        except ValidationError as error:
            fields = {"expires_at": "expires_on", "scopes": "access", "organization": None}
            for field, errors in getattr(error, "error_dict", {None: error.error_list}).items():
                target = fields.get(field, field)
                form.add_error(target if target in form.fields else None, errors)
        else:
            request.session[SESSION_KEY] = {
                "id": str(api_key.pk),
                "key": crypto.encrypt(raw_key),
                "at": timezone.now().isoformat(),
            }
            return redirect("dashboard:api_key_created", key_id=api_key.pk)
    return render(
        request,
        "app/settings/api_key_new.html",
        {"form": form, "owners": owners, "client": request.scope.client},
    )


def _take_raw_key(request, api_key) -> str | None:
    """The key's raw text if it was made just now in this session, removed from the session as it
    is read (so it is shown once); None otherwise."""
    pending = request.session.pop(SESSION_KEY, None)
    if not pending or pending.get("id") != str(api_key.pk):
        return None
    try:
        made_at = datetime.fromisoformat(pending["at"])
        raw_key = crypto.decrypt(pending["key"])
    except (KeyError, ValueError, InvalidToken):
        return None
    if timezone.now() - made_at > SHOW_ONCE_WITHIN or api_key.revoked:
        return None
    return raw_key


@never_cache
@require_safe
@dashboard_view(section="settings")
def api_key_created(request, key_id):
    api_key = _key_or_404(request, key_id)
    context = {
        "api_key": api_key,
        "raw_key": _take_raw_key(request, api_key),
        "api_base": f"{django_settings.SITE_URL.rstrip('/')}/api/v1/",
    }
    return render(request, "app/settings/api_key_created.html", context)


# --- Revoking one --------------------------------------------------------------------------------


@require_http_methods(["GET", "HEAD", "POST"])
@dashboard_view(section="settings")
def api_key_revoke(request, key_id):
    """GET: what revoking means, to confirm (a fragment for htmx, a page without it); POST: revoke
    it. A revoked key stays in the list, marked revoked."""
    api_key = _key_or_404(request, key_id)
    if request.method == "POST":
        try:
            revoke_api_key(api_key=api_key, by=request.user)
        except ApiKeyRefused as refusal:
            raise PermissionDenied(" ".join(refusal.messages)) from None
        messages.success(
            request,
            f"“{api_key.name}” ({api_key.display_prefix}) is revoked: calls with it now get 401.",
        )
        return redirect("dashboard:api_keys")
    context = {"api_key": api_key}
    if getattr(request, "htmx", False):
        response = render(request, "app/settings/_api_key_revoke.html", context)
    else:
        response = render(request, "app/settings/api_key_revoke.html", context)
    response["Vary"] = "HX-Request"
    return response


urlpatterns = [
    path("settings/api-keys/", api_key_list, name="api_keys"),
    path("settings/api-keys/new/", api_key_create, name="api_key_create"),
    path("settings/api-keys/<uuid:key_id>/created/", api_key_created, name="api_key_created"),
    path("settings/api-keys/<uuid:key_id>/revoke/", api_key_revoke, name="api_key_revoke"),
]
