"""The selected client's settings: its name and logo (shown on /redeem/ and in texts), its default
reward and opt-in texts with a live preview, auto-approval, and its low-stock and low-balance
thresholds.

The client's own fields are written by `mike.accounts.services.update_client_settings`, the
thresholds by the gift card services; the view calls them in one transaction, so a refused
threshold leaves the name unchanged too.
"""

import math
from decimal import Decimal

from django import forms
from django.conf import settings as django_settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_http_methods, require_safe

from giftcards.models import GiftCardPool
from giftcards.services.thresholds import (
    MAX_LOW_STOCK_THRESHOLD,
    ThresholdInvalid,
    set_low_balance_threshold,
    set_low_stock_threshold,
    thresholds_of,
)
from mike.accounts.models import Organization
from mike.accounts.services import (
    CLIENT_SETTINGS_FIELDS,
    ClientSettingsError,
    update_client_settings,
)
from mike.core import texts

from ..access import dashboard_view

# The page edits every setting the client's admins may change (the service's list).
ORGANIZATION_FIELDS = CLIENT_SETTINGS_FIELDS
# What the preview fills the variables with: a made-up recipient and card.
SAMPLE = {
    "first_name": "Jamie",
    "last_name": "Rivera",
    "value": "$25.00",
    "brand": "Amazon",
    "code": "GC7Q-4XZ2-K9M3",
    "redemption_code": "MK-7Q4-XZ2",
}


def _field(name):
    return Organization._meta.get_field(name)


class SettingsForm(forms.Form):
    name = forms.CharField(label="Client name", max_length=200)
    logo_url = forms.URLField(
        label="Logo URL",
        required=False,
        assume_scheme="https",
        help_text="An image at a public https address, shown on the page where recipients see "
        "their card.",
    )
    sms_reward_template = forms.CharField(
        label="Reward text",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        validators=[texts.validate_reward_template],
        help_text="Sends the card, for conditions without a text of their own. Blank uses Mike's.",
    )
    sms_opt_in_template = forms.CharField(
        label="Opt-in text",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        validators=[texts.validate_opt_in_template],
        help_text="Asks recipients to opt in to texts, for campaigns without their own. It must "
        "name the company ({client_name}) and say how to opt out (STOP). Blank uses Mike's.",
    )
    auto_approve_recipients = forms.BooleanField(
        label="Approve recipients automatically",
        required=False,
        help_text=_field("auto_approve_recipients").help_text,
    )
    agents_see_card_codes = forms.BooleanField(
        label="Agents may reveal card codes",
        required=False,
        help_text=_field("agents_see_card_codes").help_text,
    )
    phone_region = forms.CharField(
        label=_field("phone_region").verbose_name,
        max_length=2,
        help_text=_field("phone_region").help_text,
    )
    low_stock_threshold = forms.IntegerField(
        label="Low stock at",
        required=False,
        min_value=0,
        max_value=MAX_LOW_STOCK_THRESHOLD,
        help_text="A gift card pool with this many cards or fewer is marked low on stock.",
    )
    low_balance_threshold = forms.DecimalField(
        label="Low credit at ($)",
        min_value=Decimal("0"),
        max_digits=12,
        decimal_places=2,
        help_text="Credit at or below this is marked low. $0.00 turns the mark off.",
    )

    def __init__(self, *args, thresholds, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["phone_region"].widget.attrs.update(
            {"autocapitalize": "characters", "spellcheck": "false", "class": "input-code"}
        )
        preview_url = reverse("dashboard:settings_preview")
        for name in ("name", "sms_reward_template", "sms_opt_in_template"):
            self.fields[name].widget.attrs.update(
                {
                    "data-preview": "",
                    "hx-get": preview_url,
                    "hx-trigger": "input changed delay:400ms",
                    "hx-target": "#text-preview",
                    "hx-swap": "outerHTML",
                    "hx-include": "[data-preview]",
                }
            )
        # The help is shown as HTML (the password rules' lists are): `{custom.<field>}` must
        # stay text, so each name is escaped into its own <code>.
        for name, variables in (
            ("sms_reward_template", texts.REWARD_VARIABLES),
            ("sms_opt_in_template", texts.OPT_IN_VARIABLES),
        ):
            listed = [*(f"{{{variable}}}" for variable in variables), "{custom.<field>}"]
            self.fields[name].help_text = format_html(
                "{} Variables: {}.",
                self.fields[name].help_text,
                format_html_join(", ", "<code>{}</code>", ((v,) for v in listed)),
            )
        stock = self.fields["low_stock_threshold"]
        if not thresholds["pools"]:
            stock.disabled = True
            stock.help_text = "Applies to the client's gift card pools; it has none yet."
        elif thresholds["low_stock_min"] != thresholds["low_stock_max"]:
            stock.help_text = (
                f"The client's pools use {thresholds['low_stock_min']} to "
                f"{thresholds['low_stock_max']} cards now. Enter one number to use it for every "
                "pool, or leave it blank to keep theirs."
            )
        else:
            stock.help_text += f" Applies to all {thresholds['pools']} of the client's pools."

    def clean_phone_region(self) -> str:
        return self.cleaned_data["phone_region"].strip().upper()


def _initial(client, thresholds) -> dict:
    initial = {name: getattr(client, name) for name in ORGANIZATION_FIELDS}
    if thresholds["low_stock_min"] == thresholds["low_stock_max"]:
        initial["low_stock_threshold"] = thresholds["low_stock_min"]
    initial["low_balance_threshold"] = thresholds["low_balance"]
    return initial


def _add_errors(form, error: ValidationError) -> None:
    """The model's errors on the form's fields; those about other fields on the form itself."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, errors in error.error_dict.items():
        form.add_error(field if field in form.fields else None, errors)


def _save(request, client, form) -> None:
    data = form.cleaned_data
    with transaction.atomic():
        update_client_settings(
            organization=client,
            by=request.user,
            **{name: data[name] for name in ORGANIZATION_FIELDS},
        )
        stock = data.get("low_stock_threshold")
        if "low_stock_threshold" in form.changed_data and stock is not None:
            set_low_stock_threshold(client=client, threshold=stock)
        if "low_balance_threshold" in form.changed_data:
            set_low_balance_threshold(
                organization=client, threshold=data["low_balance_threshold"], by=request.user
            )


def _sample_brand(client) -> str:
    pool = (
        GiftCardPool.objects.filter(client=client, is_master_pool=False)
        .select_related("brand")
        .order_by("created_at")
        .first()
    )
    return pool.brand.brand_name if pool else SAMPLE["brand"]


def _length(text: str) -> dict:
    # A text of up to 160 characters goes as one message; longer ones in parts of 153.
    size = len(text)
    return {"characters": size, "parts": 1 if size <= 160 else math.ceil(size / 153)}


def preview_context(client, *, name, reward_template, opt_in_template) -> dict:
    values = {
        **SAMPLE,
        "brand": _sample_brand(client),
        "client_name": name or client.name,
        "link": f"{django_settings.SITE_URL.rstrip('/')}{reverse('redeem')}",
        "wallet": f"{django_settings.SITE_URL.rstrip('/')}/w/AbC123/",
    }
    reward_problems = []
    try:
        texts.validate_reward_template(reward_template)
    except ValidationError as error:
        reward_problems = error.messages
    opt_in_problems = texts.opt_in_problems(opt_in_template) if opt_in_template.strip() else []
    reward = texts.render(texts.reward_template(reward_template), values, custom={})
    opt_in_values = {k: v for k, v in values.items() if k != "code"}
    opt_in = texts.render(
        opt_in_template if opt_in_template.strip() else texts.DEFAULT_OPT_IN_TEXT,
        opt_in_values,
        custom={},
    )
    return {
        "previews": [
            {
                "label": "Reward text",
                "text": reward,
                "default": not reward_template.strip(),
                "problems": reward_problems,
                **_length(reward),
            },
            {
                "label": "Opt-in text",
                "text": opt_in,
                "default": not opt_in_template.strip(),
                "problems": opt_in_problems,
                **_length(opt_in),
            },
        ],
    }


def _client_or_prompt(request):
    """The selected client the user manages; None (with the prompt to render) for all clients."""
    return request.scope.managed_client("Your role may not change any client's settings.")


@require_http_methods(["GET", "HEAD", "POST"])
@dashboard_view(section="settings")
def client_settings(request):
    client = _client_or_prompt(request)
    if client is None:
        return render(request, "app/team/pick_client.html", {"what": "change its settings"})
    thresholds = thresholds_of(client)
    initial = _initial(client, thresholds)
    form = SettingsForm(request.POST or None, initial=initial, thresholds=thresholds)
    if request.method == "POST" and form.is_valid():
        try:
            _save(request, client, form)
        except ClientSettingsError as refusal:
            messages.error(request, " ".join(refusal.messages))
        except ThresholdInvalid as refusal:
            form.add_error(None, str(refusal))
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(request, f"{form.cleaned_data['name']}'s settings are saved.")
            return redirect("dashboard:settings")
    source = form.data if form.is_bound else initial
    context = {
        "form": form,
        "client": client,
        **preview_context(
            client,
            name=source.get("name") or "",
            reward_template=source.get("sms_reward_template") or "",
            opt_in_template=source.get("sms_opt_in_template") or "",
        ),
    }
    return render(request, "app/settings/settings.html", context)


@require_safe
@dashboard_view(section="settings")
def settings_preview(request):
    """The texts as a recipient would get them, for the template being typed (htmx)."""
    client = _client_or_prompt(request)
    if client is None:
        return redirect("dashboard:settings")
    context = preview_context(
        client,
        name=request.GET.get("name", ""),
        reward_template=request.GET.get("sms_reward_template", ""),
        opt_in_template=request.GET.get("sms_opt_in_template", ""),
    )
    return render(request, "app/settings/_preview.html", context)


urlpatterns = [
    path("settings/", client_settings, name="settings"),
    path("settings/preview/", settings_preview, name="settings_preview"),
]
