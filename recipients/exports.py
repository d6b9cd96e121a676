"""The mail file of an audience: one row per person to mail, the file a mail house prints from.

Columns: name, company, the address (ZIP+4 joined as `12345-6789`), the redemption code as printed
(`7KQ4-M2XD-9P`), the redemption page with their code filled in (`SITE_URL/redeem/?code=…`), and,
when the recipient's campaign has a landing page, their personal URL (`SITE_URL/p/<slug>/<token>/`)
and the address of its QR code (`…/<token>/qr.svg`, an SVG encoding the personal URL with the QR
marker `?src=qr`) for the mail house to print.
Suppressed recipients are left out: they must not be mailed.

Rows are ordered by ZIP code, then by recipient (a mail house sorts by ZIP for postage, and the
same audience always gives the same file). They are read as plain tuples through a server-side
cursor in chunks, so memory stays flat at any audience size, and every cell goes through
csv_safe so a name such as `=HYPERLINK(...)` reaches the spreadsheet as text.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlencode

from django.conf import settings
from django.urls import reverse

from campaigns.models import Campaign, LandingPage
from mike.core.csvsafe import csv_line_writer, csv_safe

from .codes import format_code
from .models import Audience, Recipient, ValidationStatus

CHUNK_SIZE = 2000
BOM = "\ufeff"

MAIL_FILE_COLUMNS = (
    "first_name",
    "last_name",
    "company",
    "address1",
    "address2",
    "city",
    "state",
    "zip",
    "redemption_code",
    "url",
    "personal_url",
    "qr_url",
)

# What is read of each recipient, in this order.
_FIELDS = (
    "first_name",
    "last_name",
    "company",
    "address1",
    "address2",
    "city",
    "state",
    "zip",
    "zip4",
    "redemption_code",
    "token",
    "campaign_id",
)


def mail_file_recipients(audience: Audience):
    """The recipients an audience's mail file lists, as tuples of `_FIELDS`, in the file's order."""
    return (
        Recipient.objects.filter(audience=audience)
        .exclude(validation_status=ValidationStatus.SUPPRESSED)
        .order_by("zip", "pk")
        .values_list(*_FIELDS)
    )


def full_zip(zip_code: str, zip4: str) -> str:
    """`12345` and `6789` as `12345-6789`; the ZIP alone when there is no +4 (or it is in already)."""
    zip_code, zip4 = zip_code.strip(), zip4.strip()
    if zip4 and "-" not in zip_code:
        return f"{zip_code}-{zip4}"
    return zip_code


def redeem_page_url() -> str:
    """The public redemption page's full address (SITE_URL and the page's path)."""
    return settings.SITE_URL.rstrip("/") + reverse("redeem")


def recipient_url(redemption_code: str, *, page: str | None = None) -> str:
    """The link printed for a recipient: the redemption page with their code filled in."""
    return f"{page or redeem_page_url()}?{urlencode({'code': redemption_code})}"


def landing_slugs(audience: Audience) -> dict:
    """{campaign id: slug} of the page each of the audience's campaigns points personal URLs to:
    the page linked on the campaign, else its newest published page, else its newest page (the
    rule of mike.landing.services.page_for_campaign)."""
    slugs = {}
    for campaign in Campaign.objects.filter(recipients__audience=audience).distinct():
        if campaign.landing_page_id:
            slugs[campaign.pk] = campaign.landing_page.slug
            continue
        page = (
            LandingPage.objects.filter(campaign=campaign)
            .order_by("-published", "-created_at")
            .first()
        )
        if page is not None:
            slugs[campaign.pk] = page.slug
    return slugs


def personal_links(slug: str | None, token: str) -> tuple[str, str]:
    """(personal URL, QR code URL) of a recipient, or two blanks without a landing page."""
    if not slug:
        return "", ""
    site = settings.SITE_URL.rstrip("/")
    return (
        site + reverse("landing-personal", args=[slug, token]),
        site + reverse("landing-qr", args=[slug, token]),
    )


def mail_file_rows(audience: Audience) -> Iterator[list[str]]:
    """The header, then one list of escaped cells per recipient to mail."""
    yield [csv_safe(name) for name in MAIL_FILE_COLUMNS]
    page = redeem_page_url()
    slugs = landing_slugs(audience)
    rows = mail_file_recipients(audience).iterator(chunk_size=CHUNK_SIZE)
    for row in rows:
        first, last, company, address1, address2, city, state, zip_code, zip4, code = row[:10]
        token, campaign_id = row[10:]
        printed = format_code(code)
        personal, qr = personal_links(slugs.get(campaign_id), token)
        cells = (
            first,
            last,
            company,
            address1,
            address2,
            city,
            state,
            full_zip(zip_code, zip4),
            printed,
            recipient_url(printed, page=page),
            personal,
            qr,
        )
        yield [csv_safe(cell) for cell in cells]


def mail_file_csv(audience: Audience) -> Iterator[str]:
    """The mail file as text chunks: a BOM (so spreadsheets read it as UTF-8), then CSV lines."""
    writer = csv_line_writer()
    yield BOM
    for row in mail_file_rows(audience):
        yield writer.writerow(row)
