"""Landing pages: what a page shows (its brief, offers, number and form), writing and generating
its content, publishing it, and the page-view events of personal URLs.

Reads span campaigns, recipients and calls; writes touch only LandingPage and Event. Content is
cleaned (mike.landing.cleaning) before it is stored; a generation runs outside any transaction
(the AI service may take seconds) and writes its result under the page's row lock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape, format_html

from calls.models import TrackedNumberStatus, TrackedPhoneNumber
from campaigns.daily_counts import zone
from campaigns.models import (
    AceForm,
    AiProvider,
    Campaign,
    CampaignCondition,
    Event,
    EventSource,
    EventType,
    LandingPage,
    LandingPageGeneration,
    LandingPageSource,
)
from mike.accounts.models import Organization, User
from mike.core.errors import DomainError
from mike.core.phones import format_national
from recipients.models import Recipient

from .cleaning import MAX_HTML_CHARS, clean_html
from .generators import (
    DefaultGenerator,
    Generated,
    GeneratorFailed,
    Offer,
    OpenAICompatibleGenerator,
    PageBrief,
    offer_html,
)

logger = logging.getLogger(__name__)

QR_MARKER = "qr"


class LandingPageRefused(DomainError):
    """A landing page cannot be changed as asked (a slug taken, a campaign of another client,
    HTML too long); the message says why."""


# --- What a page shows ---------------------------------------------------------------------------


def offers_for(campaign: Campaign | None) -> tuple[Offer, ...]:
    """The rewards of a campaign's active conditions, in the order they are met."""
    if campaign is None:
        return ()
    conditions = (
        CampaignCondition.objects.filter(campaign=campaign, is_active=True)
        .select_related("brand")
        .order_by("condition_number")
    )
    return tuple(
        Offer(
            brand=c.brand.brand_name,
            value=c.card_value,
            condition=c.condition_name,
            trigger_type=c.trigger_type,
            min_call_seconds=c.min_call_duration_seconds,
        )
        for c in conditions
    )


def tracked_number(campaign: Campaign | None) -> str:
    """The campaign's tracked number (E.164), or "" when none is assigned."""
    if campaign is None:
        return ""
    numbers = TrackedPhoneNumber.objects.filter(
        campaign=campaign, status=TrackedNumberStatus.ASSIGNED
    )
    return numbers.values_list("phone_number", flat=True).first() or ""


def published_form(campaign: Campaign | None) -> AceForm | None:
    """The campaign's live ACE form (active and not a draft), the newest if there are several."""
    if campaign is None:
        return None
    return (
        AceForm.objects.filter(campaign=campaign, is_active=True, is_draft=False)
        .order_by("-created_at")
        .first()
    )


def brief_for(page: LandingPage, *, instructions: str = "") -> PageBrief:
    client = page.client
    return PageBrief(
        client_name=client.name,
        campaign_name=page.campaign.name if page.campaign else page.name,
        tagline=client.tagline,
        industry=client.get_industry_display() if getattr(client, "industry", "") else "",
        offers=offers_for(page.campaign),
        has_phone=bool(tracked_number(page.campaign)),
        has_form=published_form(page.campaign) is not None,
        instructions=instructions,
    )


def page_for_campaign(campaign: Campaign) -> LandingPage | None:
    """The page a campaign's personal URLs and QR codes point to: the one linked on the campaign,
    else its newest published page, else its newest page."""
    if campaign.landing_page_id:
        return campaign.landing_page
    return (
        LandingPage.objects.filter(campaign=campaign).order_by("-published", "-created_at").first()
    )


def personal_url(slug: str, token: str, *, qr: bool = False) -> str:
    """A recipient's personal page, in full (SITE_URL); with the QR marker for printed codes."""
    url = settings.SITE_URL.rstrip("/") + reverse("landing-personal", args=[slug, token])
    return f"{url}?{urlencode({'src': QR_MARKER})}" if qr else url


def qr_url(slug: str, token: str) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("landing-qr", args=[slug, token])


def find_recipient(page: LandingPage, token: str) -> Recipient | None:
    """The recipient a token names, if they are one of this page's campaign (and client). One
    query whether the token is unknown or another campaign's, so the two answer alike."""
    if page.campaign_id is None or not token or len(token) > 64:
        return None
    return (
        Recipient.objects.filter(
            token=token,
            campaign_id=page.campaign_id,
            audience__client_id=page.client_id,
            erased_at__isnull=True,
        )
        .only("pk", "first_name", "token", "campaign_id", "audience_id")
        .first()
    )


@dataclass(frozen=True)
class ShownPage:
    html: str
    phone: str
    phone_display: str
    form: AceForm | None
    offers: tuple[Offer, ...]


def phone_html(phone: str) -> str:
    if not phone:
        return escape("the number on your mailer")
    return format_html('<a class="lp-tel" href="tel:{}">{}</a>', phone, format_national(phone))


def show_page(page: LandingPage, recipient: Recipient | None) -> ShownPage:
    """The page's HTML with its placeholders filled (escaped) and cleaned again: {first_name} is
    the recipient's first name ("there" on the public page), {offer} the rewards, {phone} the
    tracked number as a tap-to-call link. A page whose HTML leaves the offer or the number out
    gets them after its own content, so no page hides them."""
    offers = offers_for(page.campaign)
    phone = tracked_number(page.campaign)
    html = page.html_content or DefaultGenerator().generate(brief_for(page)).html
    first_name = (recipient.first_name.strip() if recipient else "") or "there"
    if "{offer}" not in html:
        html += '<section class="lp-section lp-offer"><h2>Your reward</h2>{offer}</section>'
    if "{phone}" not in html and phone:
        html += (
            '<section class="lp-section lp-call-box"><p>Call {phone} to get started.</p></section>'
        )
    filled = (
        html.replace("{first_name}", escape(first_name))
        .replace("{offer}", offer_html(offers))
        .replace("{phone}", phone_html(phone))
    )
    return ShownPage(
        html=clean_html(filled),
        phone=phone,
        phone_display=format_national(phone),
        form=published_form(page.campaign),
        offers=offers,
    )


# --- Page views ----------------------------------------------------------------------------------


def record_page_view(
    *, page: LandingPage, recipient: Recipient, source: str, now: datetime | None = None
) -> bool:
    """One `page_viewed` event for the recipient and the day (the client's calendar); True if
    this view wrote it. The database's unique constraint (event_page_view_once_a_day) decides
    between two views at once: the second waits for the first's commit and writes nothing."""
    if source not in (EventSource.PURL, EventSource.QR):
        raise ValueError(f"A page view comes from a personal URL or a QR code, not {source!r}.")
    now = now or timezone.now()
    return Event.objects.record_once_a_day(
        EventType.PAGE_VIEWED,
        client_id=page.client_id,
        campaign_id=page.campaign_id,
        recipient_id=recipient.pk,
        day=now.astimezone(zone(page.client.timezone)).date(),
        source=source,
        page=str(page.pk),
    )


# --- Writes --------------------------------------------------------------------------------------


def _check_campaign(client: Organization, campaign: Campaign | None) -> None:
    if campaign is not None and campaign.client_id != client.pk:
        raise LandingPageRefused("Choose a campaign of this client.")


@transaction.atomic
def create_landing_page(
    *, client: Organization, campaign: Campaign | None, name: str, slug: str, by: User | None
) -> LandingPage:
    """A new, unpublished page with the built-in generator's content. Raises LandingPageRefused
    for a slug in use or a campaign of another client."""
    _check_campaign(client, campaign)
    if LandingPage.objects.filter(slug=slug).exists():
        raise LandingPageRefused("That address is taken: choose another.")
    page = LandingPage(
        client=client,
        campaign=campaign,
        name=name,
        slug=slug,
        published=False,
        meta_title=name,
        created_by=by,
    )
    generated = DefaultGenerator().generate(brief_for(page))
    _apply(page, generated, status=LandingPageGeneration.DONE, note="")
    page.full_clean()
    try:
        with transaction.atomic():
            page.save()
    except IntegrityError as exc:  # the same slug taken at the same moment
        raise LandingPageRefused("That address is taken: choose another.") from exc
    return page


def _apply(page: LandingPage, generated: Generated, *, status: str, note: str) -> None:
    page.html_content = clean_html(generated.html)
    page.ai_provider = generated.provider
    page.ai_model = generated.model
    page.generation_tokens = generated.tokens
    page.ai_generated = generated.provider == AiProvider.OPENAI
    page.generation_status = status
    page.generation_note = note[:300]


@transaction.atomic
def save_page_html(*, page: LandingPage, html: str, by: User | None) -> LandingPage:
    """The page's HTML as a person edited it, cleaned; a new version."""
    if len(html) > MAX_HTML_CHARS:
        raise LandingPageRefused(
            f"The page is too long: keep it under {MAX_HTML_CHARS:,} characters."
        )
    locked = LandingPage.objects.select_for_update().get(pk=page.pk)
    locked.html_content = clean_html(html)
    locked.ai_provider = AiProvider.MANUAL
    locked.ai_generated = False
    locked.source_type = LandingPageSource.MANUAL
    locked.version_number += 1
    locked.save()
    return locked


@transaction.atomic
def set_published(*, page: LandingPage, published: bool) -> LandingPage:
    locked = LandingPage.objects.select_for_update().get(pk=page.pk)
    if locked.published != published:
        locked.published = published
        locked.save(update_fields=["published", "updated_at"])
    return locked


def queue_generation(*, page: LandingPage, use_ai: bool, instructions: str = "") -> None:
    """Mark the page as generating and queue the task after commit (mike.landing.tasks)."""
    from .tasks import generate_landing_page

    if use_ai and not settings.LANDING_AI_BASE_URL:
        raise LandingPageRefused("No AI service is configured: use the built-in generator.")
    with transaction.atomic():
        LandingPage.objects.filter(pk=page.pk).update(
            generation_status=LandingPageGeneration.QUEUED, generation_note=""
        )
        transaction.on_commit(
            lambda: generate_landing_page.delay(str(page.pk), use_ai, instructions[:2000])
        )


def generate_page(*, page_id, use_ai: bool, instructions: str = "", generator=None) -> LandingPage:
    """Write the page's content with the AI generator (or `generator`), falling back to the
    built-in one when it fails; records provider, model and tokens. Idempotent enough to be run
    twice: each run writes a complete page."""
    page = LandingPage.objects.select_related("client", "campaign").get(pk=page_id)
    brief = brief_for(page, instructions=instructions)
    status, note = LandingPageGeneration.DONE, ""
    if use_ai or generator is not None:
        try:
            generated = (generator or OpenAICompatibleGenerator()).generate(brief)
        except GeneratorFailed as failure:
            logger.warning("landing page %s: AI generation fell back: %s", page.pk, failure)
            generated = DefaultGenerator().generate(brief)
            status, note = LandingPageGeneration.FELL_BACK, str(failure)
    else:
        generated = DefaultGenerator().generate(brief)
    with transaction.atomic():
        locked = LandingPage.objects.select_for_update().get(pk=page.pk)
        _apply(locked, generated, status=status, note=note)
        locked.ai_prompt = instructions
        locked.source_type = LandingPageSource.TEXT_PROMPT
        locked.version_number += 1
        locked.save()
    return locked
