"""Call scripts: what agents say on a client's calls, section by section (calls.models.CallScript).

Client admins write the sections in the dashboard; what they write is HTML cleaned by nh3 to a
small allow-list (paragraphs, line breaks, emphasis, lists, links that open elsewhere), so a
script can be shown as it was written without letting it run anything in the agents' browsers.
A campaign's script wins over its client's for that campaign's calls.
"""

import html

import nh3
from django.db import transaction
from django.db.models import Q
from django.utils.html import escape

from campaigns.models import Campaign
from mike.accounts.models import Organization, User
from mike.core.errors import DomainError

from .models import CallScript, ScriptSection

ALLOWED_TAGS = {"p", "br", "strong", "b", "em", "i", "u", "ul", "ol", "li", "a", "blockquote"}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}}
MAX_SECTION_CHARS = 5000


class ScriptRefused(DomainError):
    """The script cannot be saved as asked: a campaign of another client, an unknown section or
    one too long. (Who may change a client's scripts is the caller's check, as for every
    client setting: the dashboard's scope.require_manage.)"""


def clean(text: str) -> str:
    """The section's HTML with only the allowed tags and attributes kept (scripts and styles go
    with their content; links get rel="noopener noreferrer"); plain text is kept, escaped, and
    its line breaks become <br>."""
    text = (text or "").strip().replace("\r\n", "\n")
    if not text:
        return ""
    if "<" not in text:
        text = escape(text).replace("\n", "<br>")
    return nh3.clean(
        text,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto", "tel"},
        link_rel="noopener noreferrer",
    ).strip()


def editable(section_html: str) -> str:
    """What the editor shows for a saved section: a section written as plain text (only the
    <br> its line breaks became, and escaped characters) as that text again, so saving it
    unchanged gives the same section; HTML as it is."""
    as_text = (section_html or "").replace("<br>", "\n")
    if "<" in as_text:
        return section_html
    return html.unescape(as_text)


def save_script(
    *, client: Organization, campaign: Campaign | None, sections: dict, by: User
) -> CallScript:
    """Create or change the client's script (campaign None) or the campaign's, each section
    cleaned; sections left empty are dropped. Raises ScriptRefused."""
    if campaign is not None and campaign.client_id != client.pk:
        raise ScriptRefused("That campaign is not this client's.")
    unknown = set(sections) - set(ScriptSection.values)
    if unknown:
        raise ScriptRefused(f"There is no section {sorted(unknown)[0]!r} in a call script.")
    cleaned = {}
    for key in ScriptSection.values:
        text = sections.get(key) or ""
        if len(text) > MAX_SECTION_CHARS:
            label = ScriptSection(key).label
            raise ScriptRefused(f"{label} is longer than {MAX_SECTION_CHARS} characters.")
        if html := clean(text):
            cleaned[key] = html
    with transaction.atomic():
        script, _ = CallScript.objects.select_for_update().get_or_create(
            client=client, campaign=campaign, defaults={"updated_by": by}
        )
        script.sections = cleaned
        script.updated_by = by
        script.save(update_fields=["sections", "updated_by", "updated_at"])
    return script


def script_for(*, client_id, campaign_id=None) -> CallScript | None:
    """The script for a call: the campaign's when it has one, else the client's, else None."""
    found = (
        Q(campaign__isnull=True) | Q(campaign_id=campaign_id)
        if campaign_id
        else Q(campaign__isnull=True)
    )
    scripts = {s.campaign_id: s for s in CallScript.objects.filter(found, client_id=client_id)}
    return scripts.get(campaign_id) or scripts.get(None)


def sections_of(script: CallScript | None) -> list[dict]:
    """[{key, label, html}] in the call's order, the sections the script has."""
    if script is None:
        return []
    return [
        {"key": key, "label": label, "html": script.sections[key]}
        for key, label in ScriptSection.choices
        if script.sections.get(key)
    ]
