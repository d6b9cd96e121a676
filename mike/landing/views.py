"""The public landing pages: `/p/<slug>/` for everyone, `/p/<slug>/<token>/` personal, and the
personal page's QR code.

An unknown token, or one of another campaign or client, gets exactly the public page (same
content, same headers, one query either way), so the answer never tells whether a token exists.
A page that is not published is not found. A personal view records one `page_viewed` event per
recipient and day, from the QR code when the link carries its marker (`?src=qr`).
"""

from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_safe

from campaigns.models import EventSource, LandingPage

from .cleaning import brand_palette, palette_style
from .qr import qr_svg
from .services import QR_MARKER, find_recipient, personal_url, record_page_view, show_page


def _published(slug: str) -> LandingPage:
    return get_object_or_404(
        LandingPage.objects.select_related("client", "campaign"), slug=slug, published=True
    )


def _answer(request, page: LandingPage, recipient):
    shown = show_page(page, recipient)
    context = {
        "page": page,
        "client": page.client,
        "shown": shown,
        "brand_style": palette_style(brand_palette(page.client.brand_colors), request.csp_nonce),
        "form_token": recipient.token if recipient else "",
    }
    response = render(request, "public/landing.html", context)
    # Personal or not, the same headers: nothing cached on the way, nothing to compare.
    response["Cache-Control"] = "private, no-store"
    return response


@require_safe
def landing_page(request, slug):
    return _answer(request, _published(slug), None)


@require_safe
def personal_page(request, slug, token):
    page = _published(slug)
    recipient = find_recipient(page, token)
    if recipient is not None:
        source = EventSource.QR if request.GET.get("src") == QR_MARKER else EventSource.PURL
        record_page_view(page=page, recipient=recipient, source=source)
    return _answer(request, page, recipient)


@require_safe
def personal_qr(request, slug, token):
    """The recipient's QR code, encoding their personal URL with the QR marker. Public, like the
    page it opens (and before that page is published), so a mail house prints it from the mail file's link; a token that is not one
    of this page's recipients is not found (with 192-bit tokens the answer tells nothing to
    someone who does not already hold one). Cached: the code of a URL never changes."""
    # Published or not: the mail file (and its QR codes) goes to print before the page goes live.
    page = get_object_or_404(LandingPage, slug=slug)
    if find_recipient(page, token) is None:
        raise Http404("No such QR code.")
    response = HttpResponse(
        qr_svg(personal_url(page.slug, token, qr=True)), content_type="image/svg+xml"
    )
    response["Cache-Control"] = "public, max-age=86400"
    response["X-Robots-Tag"] = "noindex"
    return response
