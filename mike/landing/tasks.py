"""The landing pages' Celery task: generate a page's content (mike.landing.services)."""

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from campaigns.models import LandingPage, LandingPageGeneration

from .services import generate_page


@shared_task(
    name="mike.landing.tasks.generate_landing_page",
    acks_late=True,
    # The HTTP client's own timeout comes first; this bounds the whole run.
    soft_time_limit=settings.LANDING_AI_TIMEOUT + 15,
)
def generate_landing_page(page_id: str, use_ai: bool, instructions: str = "") -> str:
    """Write the page's content; the built-in generator when the AI one fails or times out."""
    try:
        page = generate_page(page_id=page_id, use_ai=use_ai, instructions=instructions)
    except LandingPage.DoesNotExist:
        return "gone"
    except SoftTimeLimitExceeded:
        page = generate_page(page_id=page_id, use_ai=False, instructions=instructions)
        LandingPage.objects.filter(pk=page.pk).update(
            generation_status=LandingPageGeneration.FELL_BACK,
            generation_note="The AI service took too long; the built-in page was used.",
        )
        return LandingPageGeneration.FELL_BACK
    return page.generation_status
