"""The campaign pages: the list, the wizard that creates and edits a campaign step by step, and a
campaign's page with its tabs.

The wizard keeps its state in the database: step 1 creates the campaign as a draft, and each
later step saves what it changes through the services, so leaving half way loses nothing and any
step can be opened again from its own URL.
"""

from decimal import ROUND_HALF_UP, Decimal

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from calls import services as call_services
from calls.models import TrackedPhoneNumber
from campaigns import selectors, services
from campaigns.models import Campaign, CampaignStatus
from giftcards.models import CreditAccount, GiftCardBrand
from mike.core import texts
from mike.rewards.campaigns import change_campaign_status

from ..access import dashboard_view
from ..forms_campaigns import (
    DEFAULT_RESPONSE_RATE,
    BudgetForm,
    ClientChoiceForm,
    DetailsForm,
    TrackedNumberForm,
    condition_formset,
)
from ..tables import table_page
from ..tables_campaigns import CampaignFilter, CampaignTable, status_badge
from . import campaign_overview

TABS = (
    ("overview", "Overview"),
    ("conditions", "Conditions"),
    ("recipients", "Recipients"),
    ("calls", "Calls"),
    ("rewards", "Rewards"),
    ("approvals", "Approvals"),
)
TAB_NAMES = {name for name, _ in TABS}
STEPS = (
    ("details", "Details"),
    ("conditions", "Conditions"),
    ("number", "Tracked number"),
    ("budget", "Budget"),
    ("review", "Review"),
)
STEP_NAMES = [name for name, _ in STEPS]
# The button that moves a campaign to each status, and its look.
STATUS_ACTIONS = {
    CampaignStatus.DRAFT: ("Back to draft", ""),
    CampaignStatus.PROOFED: ("Mark proofed", "primary"),
    CampaignStatus.IN_PRODUCTION: ("Send to production", "primary"),
    CampaignStatus.MAILED: ("Mark mailed", "primary"),
    CampaignStatus.COMPLETED: ("Complete", ""),
    CampaignStatus.PAUSED: ("Pause", ""),
    CampaignStatus.CANCELLED: ("Cancel campaign", "danger"),
}
# Sample values the reward text preview fills in.
SAMPLE_RECIPIENT = {
    "first_name": "Jordan",
    "last_name": "Lee",
    "code": "XXXX-XXXX-XXXX",
    "link": "https://mike.example/redeem/",
    "wallet": "https://mike.example/w/AbC123/",
    "redemption_code": "7KQ4-M2XD",
}
SMS_SEGMENT = 160


def _campaign(request, campaign_id) -> Campaign:
    """The campaign, if the user reaches it (another tenant's is a 404)."""
    return get_object_or_404(
        request.scope.filter(Campaign.objects).select_related("client", "audience"),
        pk=campaign_id,
    )


def _dashboard_path(section: str, campaign) -> str:
    """A list page of another family, filtered to this campaign (they accept ?campaign=)."""
    return f"{reverse('dashboard:home')}{section}/?campaign={campaign.pk}"


# --- List ----------------------------------------------------------------------------------------


@require_safe
@dashboard_view(section="campaigns")
def campaign_list(request):
    scope = request.scope
    can_create = scope.can_manage() if scope.client is not None else scope.can_manage_any
    return table_page(
        request,
        table_class=CampaignTable,
        queryset=selectors.with_figures(scope.filter(Campaign.objects)),
        filterset_class=CampaignFilter,
        template="app/campaigns/list.html",
        export_name="campaigns",
        table_kwargs={"show_client": scope.client is None},
        context={"can_create": can_create},
    )


# --- The wizard ----------------------------------------------------------------------------------


def _steps(campaign, current: str) -> list[dict]:
    return [
        {
            "name": name,
            "label": label,
            "current": name == current,
            "url": reverse("dashboard:campaign_edit", args=[campaign.pk, name]) if campaign else "",
        }
        for name, label in STEPS
    ]


def _next_step_url(campaign, step: str) -> str:
    index = STEP_NAMES.index(step)
    if index + 1 < len(STEP_NAMES):
        return reverse("dashboard:campaign_edit", args=[campaign.pk, STEP_NAMES[index + 1]])
    return reverse("dashboard:campaign", args=[campaign.pk])


def _manageable_clients(scope) -> list:
    return [client for client in scope.client_choices if scope.can_manage(client)]


def _client_for_new(request):
    """The client a new campaign is for: the selected one, or under "all clients" the one the
    user chose (None until they have). 403 for a user who may change no client."""
    scope = request.scope
    if scope.client is not None:
        scope.require_manage(scope.client)
        return scope.client
    if not scope.can_manage_any:
        raise PermissionDenied("Your role may look at campaigns but not create them.")
    wanted = request.POST.get("client") or request.GET.get("client")
    if not wanted:
        return None
    found = next((c for c in _manageable_clients(scope) if str(c.pk) == wanted), None)
    if found is None:
        raise Http404("No such client.")
    return found


def _apply_errors(form, error: services.CampaignInvalid) -> None:
    for field, errors in error.errors.items():
        target = field if field in form.fields else None
        for message in errors:
            form.add_error(target, message)


@require_http_methods(["GET", "HEAD", "POST"])
@dashboard_view(section="campaigns")
def campaign_new(request):
    """Step 1 for a new campaign: its details (and, under "all clients", whose it is)."""
    client = _client_for_new(request)
    if client is None:
        chooser = ClientChoiceForm(clients=_manageable_clients(request.scope))
        return render(request, "app/campaigns/new_client.html", {"form": chooser})
    form = DetailsForm(request.POST or None, client=client)
    if request.method == "POST" and form.is_valid():
        try:
            campaign = services.create_campaign(client=client, by=request.user, **form.cleaned_data)
        except services.CampaignInvalid as error:
            _apply_errors(form, error)
        else:
            messages.success(request, f"{campaign.name} was created as a draft.")
            return redirect(_next_step_url(campaign, "details"))
    return render(
        request,
        "app/campaigns/step_details.html",
        {"form": form, "client": client, "campaign": None, "steps": _steps(None, "details")},
    )


def _step_details(request, campaign):
    initial = {
        "name": campaign.name,
        "mailing_method": campaign.mailing_method,
        "mail_date": campaign.mail_date,
        "audience": campaign.audience_id,
    }
    form = DetailsForm(request.POST or None, initial=initial, client=campaign.client)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_campaign(campaign=campaign, by=request.user, **form.cleaned_data)
        except services.CampaignInvalid as error:
            _apply_errors(form, error)
        except services.CampaignError as error:
            messages.error(request, str(error))
        else:
            return redirect(_next_step_url(campaign, "details"))
    return {"form": form}


def sms_preview(*, client, template: str, brand, card_value) -> dict:
    """The reward text as a recipient would read it, with sample values; the text's problems."""
    error = ""
    try:
        texts.validate_reward_template(template or "")
    except ValidationError as problem:
        error = " ".join(problem.messages)
    text = texts.render(
        texts.reward_template(template, client.sms_reward_template),
        {
            **SAMPLE_RECIPIENT,
            "client_name": client.name,
            "brand": brand.brand_name if brand is not None else "Gift card",
            "value": texts.money(card_value if card_value is not None else Decimal("25")),
        },
        custom={},
    )
    return {
        "text": text,
        "error": error,
        "length": len(text),
        "segments": max(1, -(-len(text) // SMS_SEGMENT)),
        "uses_default": not (template or "").strip(),
    }


def _row_preview(client, form) -> dict:
    """The preview of one condition row, from what was typed (or the saved values)."""
    if form.is_bound:
        raw = {name: form[name].value() for name in ("sms_template", "brand", "card_value")}
    else:
        raw = {name: form.initial.get(name) for name in ("sms_template", "brand", "card_value")}
    return sms_preview(client=client, **_preview_values(raw))


def _preview_values(raw: dict) -> dict:
    brand = raw.get("brand")
    if brand is not None and not isinstance(brand, GiftCardBrand):
        brand = GiftCardBrand.objects.enabled().filter(pk=brand).first() if brand else None
    try:
        value = Decimal(str(raw.get("card_value"))).quantize(Decimal("0.01"))
        if value <= 0:
            value = None
    except (ArithmeticError, ValueError, TypeError):
        value = None
    return {"template": raw.get("sms_template") or "", "brand": brand, "card_value": value}


def _condition_initial(campaign) -> list[dict]:
    return [
        {
            "condition_name": c.condition_name,
            "trigger_type": c.trigger_type,
            "crm_event_name": c.crm_event_name,
            "time_delay_hours": c.time_delay_hours,
            "min_call_duration_seconds": c.min_call_duration_seconds,
            "form": c.form_id,
            "brand": c.brand_id,
            "card_value": c.card_value,
            "sms_template": c.sms_template,
        }
        for c in campaign.conditions.order_by("condition_number")
    ]


def _step_conditions(request, campaign):
    formset = condition_formset(
        client=campaign.client,
        data=request.POST if request.method == "POST" else None,
        initial=_condition_initial(campaign),
    )
    if request.method == "POST" and formset.is_valid():
        kept = formset.kept_forms()
        try:
            services.set_conditions(
                campaign=campaign, conditions=[f.service_values() for f in kept], by=request.user
            )
        except services.ConditionsInvalid as error:
            for index, fields in error.errors.items():
                for field, field_errors in fields.items():
                    form = kept[index]
                    for message in field_errors:
                        form.add_error(field if field in form.fields else None, message)
        except services.CampaignError as error:
            messages.error(request, str(error))
        else:
            return redirect(_next_step_url(campaign, "conditions"))
    rows = [
        {
            "form": form,
            "preview": _row_preview(campaign.client, form),
            # An extra row nobody filled in folds away under "Add condition n" (the first
            # stays open: a campaign has at least one).
            "is_blank": index > 0
            and not form.initial
            and not (form.is_bound and form.has_changed()),
        }
        for index, form in enumerate(formset.forms)
    ]
    return {
        "formset": formset,
        "rows": rows,
        "preview_url": reverse("dashboard:campaign_sms_preview", args=[campaign.pk]),
    }


def _step_number(request, campaign):
    current = campaign.tracked_numbers.order_by("phone_number").first()
    form = TrackedNumberForm(
        request.POST or None,
        initial={"number": current.pk if current else None},
        campaign=campaign,
    )
    if request.method == "POST" and form.is_valid():
        number = form.cleaned_data["number"]
        try:
            if number is not None:
                call_services.assign_tracked_number(
                    number=number, campaign=campaign, by=request.user, release_others=True
                )
            else:
                for assigned in TrackedPhoneNumber.objects.filter(campaign=campaign):
                    call_services.unassign_tracked_number(number=assigned, by=request.user)
        except call_services.TrackedNumberUnavailable as error:
            form.add_error("number", str(error))
        else:
            return redirect(_next_step_url(campaign, "number"))
    return {"form": form, "has_numbers": bool(form.fields["number"].queryset)}


def budget_figures(campaign, response_rate: Decimal) -> dict:
    """Credit needed for the expected responses (audience × rate × the cards of every active
    condition) against the client's available credit."""
    audience_size = campaign.audience.total_count if campaign.audience_id else 0
    conditions = list(
        campaign.conditions.filter(is_active=True)
        .select_related("brand")
        .order_by("condition_number")
    )
    per_response = sum((c.card_value for c in conditions), Decimal("0.00"))
    expected = int(
        (Decimal(audience_size) * response_rate / 100).quantize(Decimal("1"), ROUND_HALF_UP)
    )
    needed = (per_response * expected).quantize(Decimal("0.01"))
    account = CreditAccount.objects.filter(organization_id=campaign.client_id).first()
    available = account.available_balance if account is not None else Decimal("0.00")
    return {
        "audience_size": audience_size,
        "conditions": conditions,
        "per_response": per_response,
        "response_rate": response_rate,
        "expected": expected,
        "needed": needed,
        "available": available,
        "shortfall": max(needed - available, Decimal("0.00")),
        "has_account": account is not None,
    }


def _saved_rate(campaign) -> Decimal:
    """The response rate the saved budget was worked out from (2% when there is none)."""
    audience_size = campaign.audience.total_count if campaign.audience_id else 0
    per_response = sum(
        (c.card_value for c in campaign.conditions.filter(is_active=True)), Decimal("0")
    )
    if not campaign.allocated_budget or not audience_size or not per_response:
        return DEFAULT_RESPONSE_RATE
    rate = (campaign.allocated_budget / per_response / audience_size * 100).quantize(
        Decimal("0.01"), ROUND_HALF_UP
    )
    return min(max(rate, Decimal("0.01")), Decimal("100"))


def _step_budget(request, campaign):
    if request.method == "POST":
        form = BudgetForm(request.POST)
    elif "response_rate" in request.GET:
        form = BudgetForm(request.GET)
    else:
        form = BudgetForm(initial={"response_rate": _saved_rate(campaign)})
    rate = form.cleaned_data["response_rate"] if form.is_bound and form.is_valid() else None
    figures = budget_figures(campaign, rate if rate is not None else _saved_rate(campaign))
    if request.method == "POST" and rate is not None:
        try:
            services.update_campaign(
                campaign=campaign, by=request.user, allocated_budget=figures["needed"]
            )
        except services.CampaignError as error:
            messages.error(request, str(error))
        else:
            return redirect(_next_step_url(campaign, "budget"))
    return {"form": form, "figures": figures}


def _step_review(request, campaign):
    if request.method == "POST":
        return redirect("dashboard:campaign_edit", campaign_id=campaign.pk, step="review")
    return {
        "conditions": list(
            campaign.conditions.select_related("brand", "form").order_by("condition_number")
        ),
        "numbers": list(campaign.tracked_numbers.order_by("phone_number")),
        "problems": services.readiness_problems(campaign),
        "figures": budget_figures(campaign, _saved_rate(campaign)),
    }


STEP_VIEWS = {
    "details": _step_details,
    "conditions": _step_conditions,
    "number": _step_number,
    "budget": _step_budget,
    "review": _step_review,
}


@require_http_methods(["GET", "HEAD", "POST"])
@dashboard_view(section="campaigns")
def campaign_edit(request, campaign_id, step):
    if step not in STEP_VIEWS:
        raise Http404("No such step.")
    campaign = _campaign(request, campaign_id)
    request.scope.require_manage(campaign.client)
    if campaign.is_closed and step != "review":
        messages.info(
            request,
            f"{campaign.name} is {campaign.get_status_display().lower()}: it can no longer be "
            "changed.",
        )
        return redirect("dashboard:campaign", campaign_id=campaign.pk)
    result = STEP_VIEWS[step](request, campaign)
    if not isinstance(result, dict):
        return result
    return render(
        request,
        f"app/campaigns/step_{step}.html",
        {
            "campaign": campaign,
            "client": campaign.client,
            "steps": _steps(campaign, step),
            "step": step,
            "status_badge": status_badge(campaign),
            **result,
        },
    )


@require_safe
@dashboard_view(section="campaigns")
def campaign_sms_preview(request, campaign_id):
    """The live preview of a condition's reward text (htmx, as the person types)."""
    campaign = _campaign(request, campaign_id)
    request.scope.require_manage(campaign.client)
    prefix = request.GET.get("prefix", "")
    if prefix and not prefix.replace("-", "").isalnum():
        prefix = ""
    key = f"{prefix}-" if prefix else ""
    raw = {
        name: request.GET.get(f"{key}{name}", "")
        for name in ("sms_template", "brand", "card_value")
    }
    response = render(
        request,
        "app/campaigns/_sms_preview.html",
        {"preview": sms_preview(client=campaign.client, **_preview_values(raw))},
    )
    patch_vary_headers(response, ["HX-Request"])
    return response


# --- Status and copies ---------------------------------------------------------------------------


@require_POST
@dashboard_view(section="campaigns")
def campaign_status(request, campaign_id):
    campaign = _campaign(request, campaign_id)
    request.scope.require_manage(campaign.client)
    to = request.POST.get("to", "")
    try:
        changed = change_campaign_status(campaign=campaign, to=to, by=request.user)
    except services.CampaignError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"{changed.name} is now {changed.get_status_display().lower()}.")
    return redirect("dashboard:campaign", campaign_id=campaign.pk)


@require_POST
@dashboard_view(section="campaigns")
def campaign_duplicate(request, campaign_id):
    campaign = _campaign(request, campaign_id)
    request.scope.require_manage(campaign.client)
    try:
        copy = services.duplicate_campaign(campaign=campaign, by=request.user)
    except services.CampaignError as error:
        messages.error(request, str(error))
        return redirect("dashboard:campaign", campaign_id=campaign.pk)
    messages.success(request, f"{copy.name} was created as a draft. Check its details.")
    return redirect("dashboard:campaign_edit", campaign_id=copy.pk, step="details")


# --- A campaign's page and its tabs --------------------------------------------------------------


def _tab_context(campaign, tab: str) -> dict:
    if tab == "conditions":
        return {
            "conditions": list(
                campaign.conditions.select_related("brand", "form").order_by("condition_number")
            )
        }
    if tab == "recipients":
        return {
            "summary": selectors.recipient_summary(campaign),
            "see_all": _dashboard_path("recipients", campaign),
        }
    if tab == "calls":
        return {
            "summary": selectors.call_summary(campaign),
            "see_all": f"{reverse('dashboard:home')}calls/log/?campaign={campaign.pk}",
        }
    if tab == "rewards":
        return {
            "summary": selectors.reward_summary(campaign),
            "see_all": _dashboard_path("deliveries", campaign),
        }
    if tab == "approvals":
        return {
            "summary": selectors.approval_summary(campaign),
            "see_all": _dashboard_path("approvals", campaign),
            "client_approves": campaign.client.client_approvals,
        }
    return {}


def _tab_html(request, campaign, tab: str) -> str:
    if tab == "overview":
        return campaign_overview.overview_tab(request, campaign)
    return render_to_string(
        f"app/campaigns/tabs/{tab}.html",
        {"campaign": campaign, **_tab_context(campaign, tab)},
        request=request,
    )


def _tab_url(campaign, tab: str) -> str:
    if tab == "overview":
        return reverse("dashboard:campaign", args=[campaign.pk])
    return reverse("dashboard:campaign_tab", args=[campaign.pk, tab])


@require_safe
@dashboard_view(section="campaigns")
def campaign_detail(request, campaign_id, tab="overview"):
    if tab not in TAB_NAMES:
        raise Http404("No such tab.")
    campaign = _campaign(request, campaign_id)
    context = {
        "campaign": campaign,
        "tab_html": _tab_html(request, campaign, tab),
        "tabs": [
            {"name": name, "label": label, "url": _tab_url(campaign, name)} for name, label in TABS
        ],
        "tab": tab,
    }
    htmx = getattr(request, "htmx", None)
    if htmx and htmx.target == "tab-area":
        # A tab link: the tabs and the tab's content, not the page around them.
        response = render(request, "app/campaigns/_tab_area.html", context)
    else:
        can_manage = request.scope.can_manage(campaign.client)
        actions = [
            {"to": to, "label": STATUS_ACTIONS[to][0], "style": STATUS_ACTIONS[to][1]}
            for to in campaign.next_statuses
        ]
        response = render(
            request,
            "app/campaigns/detail.html",
            {
                **context,
                "status_badge": status_badge(campaign),
                "can_manage": can_manage,
                "actions": actions if can_manage else [],
                "number": campaign.tracked_numbers.order_by("phone_number").first(),
            },
        )
    patch_vary_headers(response, ["HX-Request"])
    return response


urlpatterns = [
    path("campaigns/", campaign_list, name="campaigns"),
    path("campaigns/new/", campaign_new, name="campaign_new"),
    path("campaigns/<uuid:campaign_id>/", campaign_detail, name="campaign"),
    path(
        "campaigns/<uuid:campaign_id>/edit/conditions/preview/",
        campaign_sms_preview,
        name="campaign_sms_preview",
    ),
    path("campaigns/<uuid:campaign_id>/edit/<str:step>/", campaign_edit, name="campaign_edit"),
    path("campaigns/<uuid:campaign_id>/status/", campaign_status, name="campaign_status"),
    path("campaigns/<uuid:campaign_id>/duplicate/", campaign_duplicate, name="campaign_duplicate"),
    path("campaigns/<uuid:campaign_id>/<str:tab>/", campaign_detail, name="campaign_tab"),
]
