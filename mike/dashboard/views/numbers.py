"""The selected client's tracked phone numbers: the list, searching Twilio's numbers for sale by
area code and buying one (its webhooks pointed at Mike), putting a number on a campaign or taking
it off, where its calls are forwarded, and releasing it back to Twilio. Also the client's (and its
agency's) own Twilio account, under Settings.

Client admins, agency admins and staff only (`Scope.managed_client`); another tenant's number is
not found. Every change goes through `calls.numbers` / `calls.services` and
`mike.accounts.twilio_accounts`, whose refusals come back as messages.
"""

import django_filters
import django_tables2 as tables
from django import forms
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from calls import numbers as number_services
from calls.models import TrackedNumberStatus, TrackedPhoneNumber
from calls.services import (
    TrackedNumberUnavailable,
    assign_tracked_number,
    unassign_tracked_number,
)
from campaigns.models import CLOSED_CAMPAIGN_STATUSES, Campaign
from mike.accounts import twilio_accounts
from mike.core.phones import format_national

from ..access import dashboard_view
from ..tables import DashboardTable, table_page

STATUS_BADGE = {
    TrackedNumberStatus.ASSIGNED: "ok",
    TrackedNumberStatus.AVAILABLE: "info",
    TrackedNumberStatus.DECOMMISSIONED: "",
}


def _client(request):
    """The selected client, whose numbers the user may change; None for "all clients"."""
    return request.scope.managed_client("Your role may not manage any client's phone numbers.")


def _number_or_404(request, number_id) -> TrackedPhoneNumber:
    number = get_object_or_404(
        request.scope.filter(TrackedPhoneNumber.objects).select_related("client", "campaign"),
        pk=number_id,
    )
    request.scope.require_manage(number.client)
    return number


def _open_campaigns(client):
    return Campaign.objects.filter(client=client).exclude(status__in=CLOSED_CAMPAIGN_STATUSES)


# --- The list ------------------------------------------------------------------------------------


class NumberTable(DashboardTable):
    phone_number = tables.Column(
        "Number",
        linkify=("dashboard:number_detail", {"number_id": tables.A("pk")}),
        attrs={"td": {"class": "nowrap"}},
    )
    status = tables.Column("Status")
    campaign = tables.Column("Campaign", accessor="campaign__name", order_by="campaign__name")
    friendly_name = tables.Column("Name")
    forward_to_number = tables.Column("Forwards to", attrs={"td": {"class": "nowrap"}})
    purchased_at = tables.DateColumn(format="M j, Y", verbose_name="Bought")

    class Meta(DashboardTable.Meta):
        empty_text = "No phone numbers yet. Buy one to print on a campaign's mail."
        sequence = ("phone_number", "status", "campaign", "...")

    always_visible = ("phone_number",)

    def render_phone_number(self, value):
        return format_national(value)

    def render_forward_to_number(self, value):
        return format_national(value)

    def render_status(self, record):
        return format_html(
            '<span class="badge {}">{}</span>',
            STATUS_BADGE.get(record.status, ""),
            record.get_status_display(),
        )

    def value_status(self, record):
        return record.status


class NumberFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(
        choices=TrackedNumberStatus.choices, empty_label="In use (not released)"
    )

    class Meta:
        model = TrackedPhoneNumber
        fields = ["status"]

    @property
    def qs(self):
        queryset = super().qs
        if not (self.is_bound and self.form.is_valid() and self.form.cleaned_data.get("status")):
            queryset = queryset.exclude(status=TrackedNumberStatus.DECOMMISSIONED)
        return queryset


@require_safe
@dashboard_view(section="numbers")
def number_list(request):
    client = _client(request)
    if client is None:
        return render(request, "app/team/pick_client.html", {"what": "manage its phone numbers"})
    queryset = (
        TrackedPhoneNumber.objects.for_user(request.user)
        .filter(client=client)
        .select_related("campaign")
        .order_by("phone_number")
    )
    filterset = NumberFilter(request.GET or None, queryset=queryset, request=request)
    return table_page(
        request,
        table_class=NumberTable,
        queryset=filterset.qs,
        template="app/numbers/list.html",
        export_name="phone-numbers",
        context={
            "client": client,
            "filter": filterset,
            "credentials": twilio_accounts.credentials_for(client),
        },
    )


# --- Search and buy ------------------------------------------------------------------------------


class SearchForm(forms.Form):
    area_code = forms.CharField(
        label="Area code",
        max_length=3,
        min_length=3,
        help_text="Three digits, as 415. Local numbers Twilio has for sale there are listed.",
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )


class BuyForm(forms.Form):
    phone_number = forms.CharField(widget=forms.HiddenInput)
    campaign = forms.ModelChoiceField(
        label="Put it on a campaign",
        queryset=Campaign.objects.none(),
        required=False,
        empty_label="No campaign yet",
        help_text="Calls to the number are matched to this campaign's recipients.",
    )
    forward_to_number = forms.CharField(
        label="Forward calls to",
        max_length=32,
        required=False,
        help_text="Your call centre's number. Without one, callers hear that the call cannot be "
        "taken.",
    )
    friendly_name = forms.CharField(
        label="Name", max_length=100, required=False, help_text="For your lists, as Main line."
    )

    def __init__(self, *args, client, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["campaign"].queryset = _open_campaigns(client).order_by("name")


def _usual_forward_to(client) -> str:
    """Where the client's calls usually go: its latest number's call centre, else its phone."""
    latest = (
        TrackedPhoneNumber.objects.filter(client=client)
        .exclude(forward_to_number="")
        .order_by("-created_at")
        .values_list("forward_to_number", flat=True)
        .first()
    )
    return format_national(latest or client.contact_phone or "")


@require_safe
@dashboard_view(section="numbers")
def number_search(request):
    client = _client(request)
    if client is None:
        return redirect("dashboard:numbers")
    credentials = twilio_accounts.credentials_for(client)
    form = SearchForm(request.GET or None)
    found, problem = None, ""
    if not credentials.is_configured:
        problem = str(twilio_accounts.TwilioNotConfigured(client))
    elif form.is_valid():
        try:
            found = number_services.search_available(client, form.cleaned_data["area_code"])
        except number_services.NumberRefused as refusal:
            form.add_error("area_code", str(refusal))
        except number_services.NumberError as error:
            problem = str(error)
    context = {
        "client": client,
        "form": form,
        "found": found,
        "problem": problem,
        "credentials": credentials,
    }
    return render(request, "app/numbers/search.html", context)


@require_http_methods(["GET", "HEAD", "POST"])
@dashboard_view(section="numbers")
def number_buy(request):
    """GET: the number chosen in the search, to confirm (campaign, forwarding, name); POST: buy."""
    client = _client(request)
    if client is None:
        return redirect("dashboard:numbers")
    phone = request.POST.get("phone_number") or request.GET.get("phone_number", "")
    if not phone:
        return redirect("dashboard:number_search")
    initial = {"phone_number": phone, "forward_to_number": _usual_forward_to(client)}
    form = BuyForm(request.POST or None, initial=initial, client=client)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            number = number_services.buy_number(
                client,
                data["phone_number"],
                request.user,
                campaign=data["campaign"],
                friendly_name=data["friendly_name"],
                forward_to_number=data["forward_to_number"],
            )
        except number_services.NumberError as error:
            messages.error(request, str(error))
        else:
            where = f" and put on {number.campaign.name}" if number.campaign else ""
            messages.success(request, f"{format_national(number.phone_number)} is bought{where}.")
            return redirect("dashboard:number_detail", number_id=number.pk)
    context = {
        "client": client,
        "form": form,
        "phone": phone,
        "phone_display": format_national(phone),
        "area_code": request.GET.get("area_code", ""),
        "credentials": twilio_accounts.credentials_for(client),
    }
    return render(request, "app/numbers/buy.html", context)


# --- One number ----------------------------------------------------------------------------------


class AssignForm(forms.Form):
    campaign = forms.ModelChoiceField(
        label="Print it on", queryset=Campaign.objects.none(), empty_label=None
    )

    def __init__(self, *args, client, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["campaign"].queryset = _open_campaigns(client).order_by("name")


class ForwardForm(forms.Form):
    forward_to_number = forms.CharField(
        label="Forward calls to",
        max_length=32,
        required=False,
        help_text="Your call centre's number. Leave it empty to stop forwarding.",
    )


@require_safe
@dashboard_view(section="numbers")
def number_detail(request, number_id):
    number = _number_or_404(request, number_id)
    context = {
        "number": number,
        "client": number.client,
        "assign_form": AssignForm(client=number.client, initial={"campaign": number.campaign_id}),
        "forward_form": ForwardForm(
            initial={"forward_to_number": format_national(number.forward_to_number)}
        ),
        "has_live_calls": number_services.has_live_calls(number),
        "is_released": number.status == TrackedNumberStatus.DECOMMISSIONED,
        "phone_display": format_national(number.phone_number),
        "forward_display": format_national(number.forward_to_number),
    }
    return render(request, "app/numbers/detail.html", context)


@require_POST
@dashboard_view(section="numbers")
def number_assign(request, number_id):
    number = _number_or_404(request, number_id)
    form = AssignForm(request.POST, client=number.client)
    if not form.is_valid():
        messages.error(request, "Choose one of the client's open campaigns.")
    else:
        campaign = form.cleaned_data["campaign"]
        try:
            assign_tracked_number(number=number, campaign=campaign, by=request.user)
        except TrackedNumberUnavailable as refusal:
            messages.error(request, str(refusal))
        else:
            messages.success(
                request, f"{format_national(number.phone_number)} is on {campaign.name}."
            )
    return redirect("dashboard:number_detail", number_id=number.pk)


@require_POST
@dashboard_view(section="numbers")
def number_unassign(request, number_id):
    number = _number_or_404(request, number_id)
    campaign = number.campaign
    unassign_tracked_number(number=number, by=request.user)
    if campaign is not None:
        messages.success(
            request,
            f"{format_national(number.phone_number)} is off {campaign.name}; its calls are no "
            "longer matched to that campaign.",
        )
    return redirect("dashboard:number_detail", number_id=number.pk)


@require_POST
@dashboard_view(section="numbers")
def number_forward(request, number_id):
    number = _number_or_404(request, number_id)
    form = ForwardForm(request.POST)
    if form.is_valid():
        try:
            number = number_services.set_forward_to_number(
                number, form.cleaned_data["forward_to_number"], request.user
            )
        except number_services.NumberRefused as refusal:
            messages.error(request, str(refusal))
        else:
            where = format_national(number.forward_to_number) or "nobody"
            messages.success(request, f"Calls to the number are forwarded to {where}.")
    return redirect("dashboard:number_detail", number_id=number.pk)


@require_http_methods(["GET", "HEAD", "POST"])
@dashboard_view(section="numbers")
def number_release(request, number_id):
    """GET: what releasing means, to confirm; POST: release it on Twilio."""
    number = _number_or_404(request, number_id)
    if request.method == "POST":
        try:
            number_services.release_number(number, request.user)
        except number_services.NumberError as error:
            messages.error(request, str(error))
            return redirect("dashboard:number_release", number_id=number.pk)
        messages.success(
            request,
            f"{format_national(number.phone_number)} is released: Twilio no longer routes it "
            "to Mike and it is no longer billed.",
        )
        return redirect("dashboard:numbers")
    context = {
        "number": number,
        "client": number.client,
        "has_live_calls": number_services.has_live_calls(number),
        "is_released": number.status == TrackedNumberStatus.DECOMMISSIONED,
        "phone_display": format_national(number.phone_number),
        "forward_display": format_national(number.forward_to_number),
    }
    return render(request, "app/numbers/release.html", context)


# --- The Twilio account (under Settings) ---------------------------------------------------------


class TwilioAccountForm(forms.Form):
    account_sid = forms.CharField(
        label="Account SID",
        max_length=34,
        help_text="AC followed by 32 characters, from the Twilio console of the account.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    auth_token = forms.CharField(
        label="Auth token",
        max_length=64,
        required=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}, render_value=False),
    )

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, prefix=organization.kind, **kwargs)
        self.organization = organization
        stored = twilio_accounts.masked_token(organization)
        self.fields["auth_token"].help_text = (
            f"Stored: {stored}. Leave it empty to keep it."
            if stored
            else "Kept encrypted; only its last four characters are shown again."
        )


def _account_section(request, organization, data=None):
    if organization is None or not twilio_accounts.may_change_credentials(
        request.user, organization
    ):
        return None
    initial = {"account_sid": organization.twilio_account_sid}
    return {
        "organization": organization,
        "form": TwilioAccountForm(data, organization=organization, initial=initial),
        "masked": twilio_accounts.masked_token(organization),
    }


@require_http_methods(["GET", "HEAD", "POST"])
@dashboard_view(section="settings")
def twilio_account(request):
    client = request.scope.managed_client("Your role may not change any client's settings.")
    if client is None:
        return render(request, "app/team/pick_client.html", {"what": "set its Twilio account"})
    agency = client.parent if client.parent_id else None
    sections = {
        "client": _account_section(request, client),
        "agency": _account_section(request, agency),
    }
    if request.method == "POST":
        section = sections.get(request.POST.get("organization", ""))
        if section is None:
            messages.error(request, "Your role may not change that Twilio account.")
            return redirect("dashboard:twilio_account")
        target = section["organization"]
        if request.POST.get("action") == "remove":
            try:
                twilio_accounts.clear_twilio_credentials(organization=target, by=request.user)
            except twilio_accounts.TwilioCredentialsRefused as refusal:
                messages.error(request, str(refusal))
            else:
                messages.success(request, f"{target.name}'s own Twilio account is removed.")
            return redirect("dashboard:twilio_account")
        form = section["form"] = TwilioAccountForm(request.POST, organization=target)
        if form.is_valid():
            try:
                twilio_accounts.set_twilio_credentials(
                    organization=target,
                    account_sid=form.cleaned_data["account_sid"],
                    auth_token=form.cleaned_data["auth_token"],
                    by=request.user,
                )
            except twilio_accounts.TwilioCredentialsRefused as refusal:
                if hasattr(refusal, "error_dict"):
                    for field, errors in refusal.error_dict.items():
                        form.add_error(field if field in form.fields else None, errors)
                else:
                    form.add_error(None, str(refusal))
            else:
                messages.success(request, f"{target.name}'s Twilio account is saved.")
                return redirect("dashboard:twilio_account")
    context = {
        "client": client,
        "agency": agency,
        "client_section": sections["client"],
        "agency_section": sections["agency"],
        "credentials": twilio_accounts.credentials_for(client),
        "numbers_url": reverse("dashboard:numbers"),
    }
    return render(request, "app/settings/twilio.html", context)


urlpatterns = [
    path("numbers/", number_list, name="numbers"),
    path("numbers/search/", number_search, name="number_search"),
    path("numbers/buy/", number_buy, name="number_buy"),
    path("numbers/<uuid:number_id>/", number_detail, name="number_detail"),
    path("numbers/<uuid:number_id>/assign/", number_assign, name="number_assign"),
    path("numbers/<uuid:number_id>/unassign/", number_unassign, name="number_unassign"),
    path("numbers/<uuid:number_id>/forward/", number_forward, name="number_forward"),
    path("numbers/<uuid:number_id>/release/", number_release, name="number_release"),
    path("settings/twilio/", twilio_account, name="twilio_account"),
]
