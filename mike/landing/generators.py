"""Where a landing page's content comes from: a generator turns a `PageBrief` (the client's name
and tagline, the campaign, its offers, whether it has a form) into an HTML fragment.

`DefaultGenerator` writes a calm, complete page from the brief alone, the same page every time.
`OpenAICompatibleGenerator` asks any OpenAI-compatible chat-completions endpoint
(LANDING_AI_BASE_URL, LANDING_AI_API_KEY, LANDING_AI_MODEL) to write the copy, and refuses what
comes back unless it is a page (`GeneratorFailed`); the caller (mike.landing.services) then falls
back to the default. Both leave the personal parts as placeholders filled when the page is shown:
{first_name}, {offer} (the rewards, one per condition) and {phone} (the tracked number as a link).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from decimal import Decimal

import requests
from django.conf import settings
from django.utils.html import escape, format_html

from campaigns.models import AiProvider, TriggerType
from mike.core.errors import DomainError

from .cleaning import MAX_HTML_CHARS, clean_html, visible_text

PLACEHOLDERS = ("{first_name}", "{offer}", "{phone}")


class GeneratorFailed(DomainError):
    """The generator gave no usable page: the service failed, timed out, or answered something
    that is not a page. The message says which, in words."""


@dataclass(frozen=True)
class Offer:
    brand: str
    value: Decimal
    condition: str
    trigger_type: str
    min_call_seconds: int | None = None

    @property
    def label(self) -> str:
        return f"${self.value:,.2f} {self.brand} gift card"


@dataclass(frozen=True)
class PageBrief:
    client_name: str
    campaign_name: str
    tagline: str = ""
    industry: str = ""
    offers: tuple[Offer, ...] = ()
    has_phone: bool = False
    has_form: bool = False
    instructions: str = ""


@dataclass
class Generated:
    html: str
    provider: str
    model: str = ""
    tokens: int = 0
    notes: list[str] = field(default_factory=list)


def _step(offer: Offer, brief: PageBrief) -> str:
    if offer.trigger_type == TriggerType.CALL_COMPLETED:
        if offer.min_call_seconds and offer.min_call_seconds >= 60:
            minutes = offer.min_call_seconds // 60
            unit = "minute" if minutes == 1 else "minutes"
            return f"Call {{phone}} and talk with us for {minutes} {unit} or more."
        return "Call {phone} and talk with us."
    if offer.trigger_type == TriggerType.FORM_SUBMITTED:
        return "Fill in the short form on this page." if brief.has_form else escape(offer.condition)
    return escape(offer.condition)


class DefaultGenerator:
    """The built-in page: a headline greeting the recipient by name, the offer, a call button and
    the steps to the reward, in the client's words where it has them. Deterministic: the same
    brief gives the same HTML."""

    provider = AiProvider.TEMPLATE

    def generate(self, brief: PageBrief) -> Generated:
        client = escape(brief.client_name)
        lede = (
            escape(brief.tagline)
            if brief.tagline
            else (f"A thank-you from {client}: a gift card for a few minutes of your time.")
        )
        steps = []
        for offer in brief.offers:
            step = _step(offer, brief)
            if step not in steps:
                steps.append(step)
        if not brief.offers:
            steps.append("Call {phone} to hear what we have for you.")
        steps.append("We text your gift card to your phone: reply YES to get it.")
        step_items = "".join(f"<li>{step}</li>" for step in steps)
        call = "{phone}" if brief.has_phone else "the number on your mailer"
        html = (
            '<section class="lp-hero">'
            f'<p class="lp-eyebrow">{escape(brief.campaign_name)}</p>'
            f"<h1>Hi {{first_name}}, a thank-you from {client}</h1>"
            f'<p class="lp-lede">{lede}</p>'
            "</section>"
            '<section class="lp-section lp-offer">'
            "<h2>Your reward</h2>"
            "{offer}"
            "</section>"
            '<section class="lp-section lp-steps">'
            "<h2>How it works</h2>"
            f"<ol>{step_items}</ol>"
            "</section>"
            '<section class="lp-section lp-call-box">'
            "<h2>Questions?</h2>"
            f"<p>Call {call}: we're happy to help.</p>"
            "</section>"
        )
        return Generated(html=clean_html(html), provider=self.provider)


SYSTEM_PROMPT = """You write the copy of a one-page promotional landing page for a local business \
that mailed a postcard offering a gift card. Answer with an HTML fragment only (no <html>, \
<head>, <body>, no Markdown): sections with h1, h2, p, ul, ol, li, strong, em, a. No scripts, no \
styles, no style or on* attributes, no images. Use these placeholders exactly, each at least once, \
as text (never inside an attribute): {first_name} (the reader's first name, e.g. "Hi \
{first_name},"), {offer} (the list of rewards, put it on a line of its own), {phone} (the phone \
number as a link). Use the classes lp-hero, lp-lede, lp-section where they fit. Keep it short, \
warm and plain: a headline, one or two sentences, the offer, three steps, a closing line."""


def brief_prompt(brief: PageBrief) -> str:
    offers = "; ".join(f"{o.label} for: {o.condition}" for o in brief.offers) or "none yet"
    lines = [
        f"Business: {brief.client_name}",
        f"Industry: {brief.industry or 'not given'}",
        f"Tagline: {brief.tagline or 'none'}",
        f"Campaign: {brief.campaign_name}",
        f"Rewards: {offers}",
        f"The page has a form to fill in: {'yes' if brief.has_form else 'no'}",
    ]
    if brief.instructions:
        lines.append(f"Instructions from the business: {brief.instructions}")
    return "\n".join(lines)


_FENCE = re.compile(r"^```(?:html)?\s*|\s*```$", re.IGNORECASE)


def page_from_answer(content) -> str:
    """The cleaned page in a model's answer, or GeneratorFailed when it holds none: not text,
    too long, empty once cleaned, no headline, or without the offer placeholder."""
    if not isinstance(content, str):
        raise GeneratorFailed("The AI service answered without any text.")
    content = _FENCE.sub("", content.strip())
    if len(content) > MAX_HTML_CHARS:
        raise GeneratorFailed("The AI service answered with a page far too long.")
    html = clean_html(content)
    if len(visible_text(html)) < 40 or not re.search(r"<h[12][\s>]", html):
        raise GeneratorFailed("The AI service's answer is not a page (no headline or no text).")
    if "{offer}" not in html:
        raise GeneratorFailed("The AI service's page leaves out the offer.")
    return html


class OpenAICompatibleGenerator:
    """Copy written by a chat-completions model: POST {base_url}/chat/completions with a bearer
    key, read choices[0].message.content and usage.total_tokens. Any failure (connection,
    timeout, an error status, an answer that is not a page) raises GeneratorFailed."""

    provider = AiProvider.OPENAI

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        model: str | None = None,
        timeout: float | None = None,
    ):
        self.base_url = (base_url or settings.LANDING_AI_BASE_URL).rstrip("/")
        self.api_key = api_key if api_key is not None else settings.LANDING_AI_API_KEY
        self.model = model or settings.LANDING_AI_MODEL
        self.timeout = timeout if timeout is not None else settings.LANDING_AI_TIMEOUT
        if not self.base_url:
            raise GeneratorFailed("No AI service is configured (LANDING_AI_BASE_URL).")

    def generate(self, brief: PageBrief) -> Generated:
        body = {
            "model": self.model,
            "temperature": 0.4,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": brief_prompt(brief)},
            ],
        }
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        try:
            response = requests.post(
                f"{self.base_url}/chat/completions",
                data=json.dumps(body),
                headers=headers,
                timeout=self.timeout,
            )
        except requests.Timeout as exc:
            raise GeneratorFailed(
                f"The AI service did not answer within {self.timeout:g} seconds."
            ) from exc
        except requests.RequestException as exc:
            raise GeneratorFailed("The AI service could not be reached.") from exc
        if response.status_code != 200:
            raise GeneratorFailed(f"The AI service answered {response.status_code}.")
        try:
            answer = response.json()
            content = answer["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise GeneratorFailed("The AI service's answer is not a chat completion.") from exc
        usage = answer.get("usage") if isinstance(answer, dict) else None
        tokens = usage.get("total_tokens", 0) if isinstance(usage, dict) else 0
        html = page_from_answer(content)
        return Generated(
            html=html,
            provider=self.provider,
            model=str(answer.get("model") or self.model)[:100],
            tokens=tokens if isinstance(tokens, int) and tokens >= 0 else 0,
        )


def offer_html(offers: tuple[Offer, ...] | list[Offer]) -> str:
    """What {offer} becomes: one line per condition, brand and value (escaped)."""
    if not offers:
        return format_html('<p class="lp-muted">{}</p>', "Call us to hear about your reward.")
    items = "".join(
        format_html(
            '<li class="lp-reward"><strong>{}</strong><span>{}</span></li>',
            offer.label,
            offer.condition,
        )
        for offer in offers
    )
    return f'<ul class="lp-rewards">{items}</ul>'
