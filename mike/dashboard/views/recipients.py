"""Recipients and approvals: the list of the people a client mailed (search, filters, export), one
person's page with their timeline, and the approval queue where a client's admins (when the
platform lets them) or staff approve and reject the recipients waiting for a decision."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import django_filters
import django_tables2 as tables
from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import dateformat, timezone
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST, require_safe

from giftcards.crypto import MASK
from giftcards.models import RewardStatus
from mike.accounts.models import Organization
from mike.accounts.services import APPROVE, accessible_client_ids
from mike.core.errors import DomainError
from mike.core.phones import format_national
from mike.rewards import approval
from recipients import selectors
from recipients.admin.display import SEE_CODES, masked_code
from recipients.models import ApprovalStatus, Recipient, SmsOptInStatus

from ..access import dashboard_view
from ..tables import DashboardTable, scoped_campaigns, table_page

# --- Showing people's numbers and times --------------------------------------------------------


def mask_phone(phone: str, user) -> str:
    """A phone as lists show it: whole (as written at home) to staff, otherwise the mask and its
    last four digits, which is enough to tell two callers apart and to match a caller's words."""
    if not phone:
        return ""
    if user.is_staff or user.is_superuser:
        return format_national(phone)
    return f"{MASK}\N{NO-BREAK SPACE}{phone[-4:]}"


def local_time(value, client) -> str:
    """`value` in the client's time zone (the one its people live in), as `Dec 2, 2026 14:05`."""
    if value is None:
        return ""
    try:
        zone = ZoneInfo(client.timezone) if client is not None else None
    except (KeyError, ValueError):
        zone = None
    return dateformat.format(timezone.localtime(value, zone), "M j, Y H:i")


def short_time(value, client) -> str:
    """`value` in the client's time zone for a table cell: `Dec 2, 14:05` this year, `Dec 2, 2025`
    before (a list's times are recent; the year only tells old rows apart)."""
    if value is None:
        return ""
    try:
        zone = ZoneInfo(client.timezone) if client is not None else None
    except (KeyError, ValueError):
        zone = None
    local = timezone.localtime(value, zone)
    same_year = local.year == timezone.localtime(timezone.now(), zone).year
    return dateformat.format(local, "M j, H:i" if same_year else "M j, Y")


APPROVAL_TONES = {
    ApprovalStatus.APPROVED: "ok",
    ApprovalStatus.REDEEMED: "ok",
    ApprovalStatus.REJECTED: "bad",
    ApprovalStatus.PENDING: "warn",
}
OPT_IN_TONES = {
    SmsOptInStatus.OPTED_IN: "ok",
    SmsOptInStatus.OPTED_OUT: "bad",
    SmsOptInStatus.FAILED: "bad",
    SmsOptInStatus.PENDING: "warn",
    SmsOptInStatus.INVALID_RESPONSE: "warn",
}
# The reward column's words (the export keeps the full labels).
REWARD_SHORT = {
    RewardStatus.PENDING: "Waiting",
    RewardStatus.AWAITING_STOCK: "Awaiting stock",
    RewardStatus.AWAITING_CREDIT: "Awaiting credit",
    RewardStatus.PURCHASE_PENDING: "Buying",
}
REWARD_TONES = {
    RewardStatus.DELIVERED: "ok",
    RewardStatus.CLAIMED: "ok",
    RewardStatus.FAILED: "bad",
    RewardStatus.REJECTED: "bad",
    RewardStatus.REVOKED: "bad",
    RewardStatus.AWAITING_STOCK: "warn",
    RewardStatus.AWAITING_CREDIT: "warn",
}


def badge(label, tone="", title="") -> str:
    if title:
        return format_html('<span class="badge {}" title="{}">{}</span>', tone, title, label)
    return format_html('<span class="badge {}">{}</span>', tone, label)


# --- Recipients list ---------------------------------------------------------------------------


class SearchInput(forms.TextInput):
    input_type = "search"


NO_REWARD = "none"


class RecipientFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        label="Search",
        method="search",
        widget=SearchInput(attrs={"placeholder": "Name, phone or code"}),
    )
    campaign = django_filters.ModelChoiceFilter(
        queryset=scoped_campaigns, empty_label="All campaigns"
    )
    approval_status = django_filters.ChoiceFilter(
        label="Approval", choices=ApprovalStatus.choices, empty_label="Any"
    )
    sms_opt_in_status = django_filters.ChoiceFilter(
        label="Opt-in", choices=SmsOptInStatus.choices, empty_label="Any"
    )
    reward = django_filters.ChoiceFilter(
        label="Reward",
        choices=[(NO_REWARD, "No reward yet"), *RewardStatus.choices],
        empty_label="Any",
        method="filter_reward",
    )

    class Meta:
        model = Recipient
        fields = ["q", "campaign", "approval_status", "sms_opt_in_status", "reward"]

    def search(self, queryset, name, value):
        return selectors.search_recipients(queryset, value)

    def filter_reward(self, queryset, name, value):
        # The same value the column shows: the status of the latest reward.
        if value == NO_REWARD:
            return queryset.filter(reward_status__isnull=True)
        return queryset.filter(reward_status=value)


def test_badge(recipient) -> str:
    """A "Test" badge beside test data (a recipient pushed with a test API key), "" otherwise."""
    if getattr(recipient, "is_test", False):
        return format_html(' <span class="badge warn" title="{}">Test</span>', TEST_DATA_TITLE)
    return ""


def test_suffix(recipient) -> str:
    """ " (test)" after test data's name in an export, so its rows (and their values) are never
    taken for live ones."""
    return " (test)" if getattr(recipient, "is_test", False) else ""


TEST_DATA_TITLE = "Test data, made with a test API key: never texted, no real card"


class PersonTable(DashboardTable):
    """The columns every list of recipients starts with: the name (linked to their page), the
    phone and code masked, and the campaign."""

    # Every row has a name cell (empty_values=()): a person with a first name only is still named.
    name = tables.Column(
        "Name", accessor="pk", order_by=("last_name", "first_name"), empty_values=()
    )
    phone = tables.Column("Phone", orderable=False)
    code = tables.Column("Code", accessor="redemption_code", orderable=False)
    # Shown with "all clients" selected only.
    client = tables.Column(
        "Client",
        accessor="audience__client__name",
        orderable=False,
        attrs={"td": {"class": "people-wide"}},
    )
    campaign = tables.Column(
        "Campaign",
        accessor="campaign__name",
        order_by="campaign__name",
        attrs={"td": {"class": "people-wide"}},
    )

    always_visible = ("name",)

    class Meta(DashboardTable.Meta):
        attrs = {"class": "data-table people-table"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # One client selected: the column would say the same on every row.
        if self.request.scope.client is not None and "client" in self.columns:
            self.columns.hide("client")

    def render_name(self, record):
        return format_html(
            '<a class="nowrap" href="{}">{}</a>{}',
            reverse("dashboard:recipient", args=[record.pk]),
            record.full_name or "(no name)",
            test_badge(record),
        )

    def value_name(self, record):
        return record.full_name + test_suffix(record)

    def render_phone(self, record):
        return format_html(
            '<span class="nowrap">{}</span>', mask_phone(record.phone, self.request.user)
        )

    def value_phone(self, record):
        return mask_phone(record.phone, self.request.user)

    def render_code(self, record):
        return format_html(
            '<span class="mono nowrap">{}</span>', masked_code(record.redemption_code)
        )

    def value_code(self, record):
        return masked_code(record.redemption_code)

    def render_campaign(self, record):
        return record.campaign.name if record.campaign else "—"

    def value_campaign(self, record):
        return record.campaign.name if record.campaign else ""


class RecipientTable(PersonTable):
    approval_status = tables.Column("Approval", attrs={"td": {"class": "nowrap"}})
    sms_opt_in_status = tables.Column("Opt-in", attrs={"td": {"class": "nowrap"}})
    reward_status = tables.Column("Reward", attrs={"td": {"class": "nowrap"}})
    last_activity = tables.Column("Last activity", attrs={"td": {"class": "nowrap"}})

    class Meta(PersonTable.Meta):
        empty_text = "No recipients match."

    def render_approval_status(self, record):
        return badge(
            record.get_approval_status_display(), APPROVAL_TONES.get(record.approval_status, "")
        )

    def value_approval_status(self, record):
        return record.get_approval_status_display()

    def render_sms_opt_in_status(self, record):
        return badge(
            record.get_sms_opt_in_status_display(), OPT_IN_TONES.get(record.sms_opt_in_status, "")
        )

    def value_sms_opt_in_status(self, record):
        return record.get_sms_opt_in_status_display()

    def render_reward_status(self, record):
        status = RewardStatus(record.reward_status)
        return badge(
            REWARD_SHORT.get(status, status.label), REWARD_TONES.get(status, ""), status.label
        )

    def value_reward_status(self, record):
        return RewardStatus(record.reward_status).label if record.reward_status else ""

    def render_last_activity(self, record):
        return short_time(record.last_activity, record.audience.client)

    def value_last_activity(self, record):
        return local_time(record.last_activity, record.audience.client)


@require_safe
@dashboard_view(section="recipients")
def recipient_list(request):
    queryset = selectors.with_list_facts(request.scope.filter(Recipient.objects))
    return table_page(
        request,
        table_class=RecipientTable,
        queryset=queryset,
        filterset_class=RecipientFilter,
        template="app/recipients/list.html",
        export_name="recipients",
    )


@require_safe
@dashboard_view(section="recipients")
def recipient_detail(request, recipient_id):
    recipient = get_object_or_404(
        request.scope.filter(Recipient.objects).select_related(
            "campaign", "audience__client", "approved_by"
        ),
        pk=recipient_id,
    )
    client = recipient.audience.client
    timeline = [
        (local_time(entry.at, client), entry) for entry in selectors.recipient_timeline(recipient)
    ]
    return render(
        request,
        "app/recipients/detail.html",
        {
            "recipient": recipient,
            "client": client,
            "phone": mask_phone(recipient.phone, request.user),
            "code": recipient.display_code
            if request.user.has_perm(SEE_CODES)
            else masked_code(recipient.redemption_code),
            "approval_tone": APPROVAL_TONES.get(recipient.approval_status, ""),
            "opt_in_tone": OPT_IN_TONES.get(recipient.sms_opt_in_status, ""),
            "approved_at": local_time(recipient.approved_at, client),
            "conditions_met": [
                (local_time(met.met_at, client), met)
                for met in selectors.conditions_met_of(recipient)
            ],
            "timeline": timeline,
            "may_approve": recipient.approval_status == ApprovalStatus.PENDING
            and may_approve(request.scope, client),
        },
    )


# --- Approvals ---------------------------------------------------------------------------------


def approvable_client_ids(scope) -> set | None:
    """The clients whose recipients the user may approve in the dashboard (None: every client,
    for staff). A client's admins approve only where the platform turned `client_approvals` on;
    elsewhere staff review its recipients. One query, whatever the number of rows."""
    if scope.is_staff:
        return None
    return set(
        Organization.objects.filter(
            pk__in=accessible_client_ids(scope.user, APPROVE), client_approvals=True
        ).values_list("pk", flat=True)
    )


def may_approve(scope, client) -> bool:
    if scope.is_staff:
        return True
    return bool(client.client_approvals) and scope.can_approve(client)


class ApprovalFilter(django_filters.FilterSet):
    campaign = django_filters.ModelChoiceFilter(
        queryset=scoped_campaigns, empty_label="All campaigns"
    )

    class Meta:
        model = Recipient
        fields = ["campaign"]


class ApprovalTable(PersonTable):
    select = tables.Column(
        mark_safe('<span class="visually-hidden">Select</span>'),
        accessor="pk",
        orderable=False,
        empty_values=(),
    )
    condition = tables.Column(
        "Condition met",
        accessor="first_met_name",
        orderable=False,
        attrs={"td": {"class": "people-wide"}},
    )
    waiting_since = tables.Column(
        "Waiting since", accessor="first_met_at", attrs={"td": {"class": "nowrap"}}
    )

    class Meta(PersonTable.Meta):
        sequence = ("select", "...")
        empty_text = "Nobody is waiting for approval."

    def __init__(self, *args, approvable=None, can_select=False, checked=(), **kwargs):
        self.approvable = approvable
        self.checked = {str(pk) for pk in checked}
        super().__init__(*args, **kwargs)
        if not can_select:
            self.columns.hide("select")

    def _selectable(self, record) -> bool:
        return self.approvable is None or record.audience.client_id in self.approvable

    def render_select(self, record):
        if not self._selectable(record):
            return mark_safe('<span class="muted small nowrap">Staff review</span>')
        return format_html(
            '<input type="checkbox" name="recipients" value="{}" aria-label="Select {}"{}>',
            record.pk,
            record.full_name or "recipient",
            mark_safe(" checked") if str(record.pk) in self.checked else "",
        )

    def render_waiting_since(self, record):
        return short_time(record.first_met_at, record.audience.client)

    def value_waiting_since(self, record):
        return local_time(record.first_met_at, record.audience.client)


class RejectForm(forms.Form):
    reason = forms.CharField(
        label="Reason to reject",
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Kept on each recipient"}),
        help_text="Required to reject; kept on each recipient and in their audit log.",
    )


def _approvals_page(request, *, reject_form=None, status=200):
    scope = request.scope
    approvable = approvable_client_ids(scope)
    can_select = approvable is None or bool(approvable)
    response = table_page(
        request,
        table_class=ApprovalTable,
        queryset=selectors.waiting_for_approval(scope.filter(Recipient.objects)),
        filterset_class=ApprovalFilter,
        template="app/approvals/list.html",
        export_name="approvals",
        table_kwargs={
            "approvable": approvable,
            "can_select": can_select,
            # A reason left out keeps the ticks, so the user only adds it and sends again.
            "checked": request.POST.getlist("recipients"),
        },
        context={
            "can_select": can_select,
            # Who decides when this user cannot: the client's admins where the platform lets
            # them, staff elsewhere.
            "admins_decide": scope.client is not None and scope.client.client_approvals,
            "reject_form": reject_form or RejectForm(),
            # Where the decision returns to: this page as filtered (after a refused POST, the
            # page it came from).
            "back": _back(request) if request.method == "POST" else request.get_full_path(),
        },
    )
    response.status_code = status if response.status_code == 200 else response.status_code
    return response


@require_safe
@dashboard_view(section="approvals")
def approval_list(request):
    return _approvals_page(request)


def _back(request) -> str:
    """Where a decision returns to: the page it was made on. The Referer comes first because
    htmx filters change the page's address after the form's `next` was written; the decision
    URLs themselves (a page re-shown after a refused POST) are never a place to return to."""
    decisions = {reverse("dashboard:approvals_approve"), reverse("dashboard:approvals_reject")}
    for target in (request.headers.get("Referer", ""), request.POST.get("next", "")):
        if not target or not url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            continue
        parts = urlsplit(target)
        if parts.path in decisions:
            continue
        return parts.path + (f"?{parts.query}" if parts.query else "")
    return reverse("dashboard:approvals")


def _selected(request) -> list[Recipient]:
    """The recipients ticked, as the user reaches them (anything else is simply not found), after
    checking the user may decide for every one of their clients (403 otherwise)."""
    approvable = approvable_client_ids(request.scope)
    if approvable is not None and not approvable:
        raise PermissionDenied("Staff review these recipients; your role cannot approve them.")
    ids = request.POST.getlist("recipients")
    found = list(
        request.scope.filter(Recipient.objects)
        .select_related("audience__client")
        .filter(pk__in=[i for i in ids if is_uuid(i)])
        .order_by("last_name", "first_name", "pk")
    )
    if approvable is not None and any(r.audience.client_id not in approvable for r in found):
        raise PermissionDenied("Staff review some of these recipients; your role cannot.")
    return found


def is_uuid(value: str) -> bool:
    """Whether a posted id can be a primary key at all (so a bad one is a 404, not a 500)."""
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _readable(error, recipient, user) -> str:
    """The service's message, naming the recipient, with their code masked for a user who may
    not see codes (the services name a recipient by str(), which prints it whole)."""
    text = str(error)
    if not user.has_perm(SEE_CODES):
        text = text.replace(recipient.display_code, masked_code(recipient.redemption_code))
    name = recipient.full_name or "Recipient"
    return text if name in text else f"{name}: {text}"


def _report(request, *, done: int, verb: str, failures: list[str], asked: int, found: int):
    if done:
        messages.success(request, f"{verb} {done} recipient{'s' if done != 1 else ''}.")
    missing = asked - found
    if missing:
        failures.append(f"{missing} selected recipient(s) could not be found.")
    if failures:
        messages.error(request, f"{len(failures)} not {verb.lower()}: " + " ".join(failures))
    if not asked:
        messages.warning(request, "Tick the recipients to decide for first.")


@require_POST
@dashboard_view(section="approvals")
def approve_recipients(request):
    recipients = _selected(request)
    done, failures = 0, []
    for recipient in recipients:
        # One transaction per recipient (the service's own): one refusal leaves the others
        # approved, and each approval's opt-in text follows its own commit.
        try:
            approval.approve_recipient(recipient=recipient, by=request.user)
        except DomainError as error:
            failures.append(_readable(error, recipient, request.user))
            continue
        done += 1
    _report(
        request,
        done=done,
        verb="Approved",
        failures=failures,
        asked=len(request.POST.getlist("recipients")),
        found=len(recipients),
    )
    return redirect(_back(request))


@require_POST
@dashboard_view(section="approvals")
def reject_recipients(request):
    recipients = _selected(request)
    form = RejectForm(request.POST)
    if not form.is_valid():
        return _approvals_page(request, reject_form=form, status=400)
    done, failures = 0, []
    for recipient in recipients:
        try:
            approval.reject_recipient(
                recipient=recipient, by=request.user, reason=form.cleaned_data["reason"]
            )
        except DomainError as error:
            failures.append(_readable(error, recipient, request.user))
            continue
        done += 1
    _report(
        request,
        done=done,
        verb="Rejected",
        failures=failures,
        asked=len(request.POST.getlist("recipients")),
        found=len(recipients),
    )
    return redirect(_back(request))


urlpatterns = [
    path("recipients/", recipient_list, name="recipients"),
    path("recipients/<uuid:recipient_id>/", recipient_detail, name="recipient"),
    path("approvals/", approval_list, name="approvals"),
    path("approvals/approve/", approve_recipients, name="approvals_approve"),
    path("approvals/reject/", reject_recipients, name="approvals_reject"),
]
