"""The selected client's landing pages (/app/pages/): list, create one for a campaign, generate
its content (the built-in generator or the AI one, as a task), edit its HTML beside a preview,
publish and unpublish; and a printable sheet of an audience's QR codes. Writes go through
mike.landing.services; what is previewed is cleaned exactly as the public page is."""

from csp.constants import SELF
from csp.decorators import csp_replace
from django import forms
from django.conf import settings
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.text import slugify
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from campaigns.models import Campaign, LandingPage
from mike.landing.cleaning import MAX_HTML_CHARS, brand_palette, palette_style
from mike.landing.services import (
    LandingPageRefused,
    create_landing_page,
    page_for_campaign,
    personal_url,
    queue_generation,
    save_page_html,
    set_published,
    show_page,
)
from recipients.models import Audience, Recipient, ValidationStatus

from ..access import dashboard_view

QR_SHEET_SIZE = 12


class NewPageForm(forms.Form):
    campaign = forms.ModelChoiceField(queryset=Campaign.objects.none(), empty_label=None)
    name = forms.CharField(max_length=200)
    slug = forms.SlugField(
        label="Address",
        max_length=80,
        required=False,
        help_text="The page's address: /p/&lt;address&gt;/. Blank: made from the name.",
    )

    def __init__(self, *args, client, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["campaign"].queryset = Campaign.objects.filter(client=client)

    def clean(self):
        data = super().clean()
        if not data.get("slug") and data.get("name"):
            data["slug"] = slugify(data["name"])[:80]
            if not data["slug"]:
                self.add_error("slug", "Choose an address: letters, digits and dashes.")
        return data


class EditPageForm(forms.Form):
    html = forms.CharField(
        label="HTML",
        required=False,
        max_length=MAX_HTML_CHARS,
        widget=forms.Textarea(attrs={"rows": 22, "class": "code-input", "spellcheck": "false"}),
        help_text="Headings, paragraphs, lists, links and the placeholders {first_name}, "
        "{offer} and {phone}. Scripts, styles and event attributes are removed when it is saved.",
    )


class GenerateForm(forms.Form):
    generator = forms.ChoiceField(
        choices=[("default", "Built-in page"), ("ai", "AI copywriter")], initial="default"
    )
    instructions = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="For the AI copywriter: tone, what to stress.",
    )


def _client(request):
    return request.scope.managed_client("Your role may not change any client's landing pages.")


def _page(request, page_id) -> LandingPage:
    page = get_object_or_404(
        request.scope.filter(LandingPage.objects).select_related("client", "campaign"),
        pk=page_id,
    )
    request.scope.require_manage(page.client)
    return page


@require_safe
@dashboard_view(section="pages")
def page_list(request):
    client = _client(request)
    if client is None:
        return render(request, "app/team/pick_client.html", {"what": "manage its landing pages"})
    pages = LandingPage.objects.filter(client=client).select_related("campaign")
    return render(request, "app/pages/list.html", {"client": client, "pages": pages})


@require_http_methods(["GET", "HEAD", "POST"])
@dashboard_view(section="pages")
def page_new(request):
    client = _client(request)
    if client is None:
        return redirect("dashboard:pages")
    form = NewPageForm(request.POST or None, client=client)
    if request.method == "POST" and form.is_valid():
        try:
            page = create_landing_page(
                client=client,
                campaign=form.cleaned_data["campaign"],
                name=form.cleaned_data["name"],
                slug=form.cleaned_data["slug"],
                by=request.user,
            )
        except LandingPageRefused as refusal:
            form.add_error("slug", str(refusal))
        else:
            messages.success(request, f"{page.name} is ready to edit; it is not published yet.")
            return redirect("dashboard:page", page_id=page.pk)
    return render(request, "app/pages/new.html", {"client": client, "form": form})


@require_http_methods(["GET", "HEAD", "POST"])
@dashboard_view(section="pages")
def page_detail(request, page_id):
    page = _page(request, page_id)
    form = EditPageForm(request.POST or None, initial={"html": page.html_content})
    if request.method == "POST" and form.is_valid():
        try:
            page = save_page_html(page=page, html=form.cleaned_data["html"], by=request.user)
        except LandingPageRefused as refusal:
            form.add_error("html", str(refusal))
        else:
            messages.success(request, "The page is saved.")
            return redirect("dashboard:page", page_id=page.pk)
    context = {
        "page": page,
        "client": page.client,
        "form": form,
        "generate_form": GenerateForm(),
        "public_url": settings.SITE_URL.rstrip("/") + reverse("landing-page", args=[page.slug]),
    }
    return render(request, "app/pages/detail.html", context)


@require_safe
@xframe_options_sameorigin
@csp_replace({"frame-ancestors": [SELF]})
@dashboard_view(section="pages")
def page_preview(request, page_id):
    """The saved page exactly as the public sees it (same template, same cleaning), for the
    editor's preview frame, whether or not it is published."""
    page = _page(request, page_id)
    context = {
        "page": page,
        "client": page.client,
        "shown": show_page(page, None),
        "brand_style": palette_style(brand_palette(page.client.brand_colors), request.csp_nonce),
        "form_token": "",
    }
    response = render(request, "public/landing.html", context)
    response["Cache-Control"] = "private, no-store"
    return response


@require_POST
@dashboard_view(section="pages")
def page_generate(request, page_id):
    page = _page(request, page_id)
    form = GenerateForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a generator.")
        return redirect("dashboard:page", page_id=page.pk)
    try:
        queue_generation(
            page=page,
            use_ai=form.cleaned_data["generator"] == "ai",
            instructions=form.cleaned_data["instructions"],
        )
    except LandingPageRefused as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, "The page is being written; this page shows it when it is done.")
    return redirect("dashboard:page", page_id=page.pk)


@require_POST
@dashboard_view(section="pages")
def page_publish(request, page_id):
    page = _page(request, page_id)
    publish = request.POST.get("published") == "1"
    set_published(page=page, published=publish)
    messages.success(
        request, f"{page.name} is {'published' if publish else 'no longer published'}."
    )
    return redirect("dashboard:page", page_id=page.pk)


@require_safe
@dashboard_view(section="pages")
def audience_qr_sheet(request, audience_id):
    """A sample of the audience's QR codes with names, to print and try with a phone."""
    audience = get_object_or_404(
        request.scope.filter(Audience.objects).select_related("client"), pk=audience_id
    )
    request.scope.require_manage(audience.client)
    recipients = list(
        Recipient.objects.filter(audience=audience, campaign__isnull=False)
        .exclude(validation_status=ValidationStatus.SUPPRESSED)
        .select_related("campaign")
        .order_by("zip", "pk")[:QR_SHEET_SIZE]
    )
    pages = {}
    cards = []
    for recipient in recipients:
        if recipient.campaign_id not in pages:
            pages[recipient.campaign_id] = page_for_campaign(recipient.campaign)
        page = pages[recipient.campaign_id]
        if page is None:
            continue
        cards.append(
            {
                "name": recipient.full_name or "—",
                "city": ", ".join(p for p in (recipient.city, recipient.state) if p),
                # Same-origin, so the sheet shows it whatever SITE_URL says.
                "qr": reverse("landing-qr", args=[page.slug, recipient.token]),
                "url": personal_url(page.slug, recipient.token),
            }
        )
    context = {"audience": audience, "client": audience.client, "cards": cards}
    return render(request, "app/pages/qr_sheet.html", context)


urlpatterns = [
    path("pages/", page_list, name="pages"),
    path("pages/new/", page_new, name="page_new"),
    path("pages/<uuid:page_id>/", page_detail, name="page"),
    path("pages/<uuid:page_id>/preview/", page_preview, name="page_preview"),
    path("pages/<uuid:page_id>/generate/", page_generate, name="page_generate"),
    path("pages/<uuid:page_id>/publish/", page_publish, name="page_publish"),
    path("audiences/<uuid:audience_id>/qr-codes/", audience_qr_sheet, name="audience_qr_sheet"),
]
