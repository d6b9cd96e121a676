"""What a landing page's HTML may contain, and the branding colours it is shown in.

Every page's HTML passes `clean_html` when it is stored (whoever wrote it: the built-in generator,
an AI model, a client admin) and again when it is shown, after the personal placeholders are
filled in. The allow-list has no script, no event attributes (on*), no style attributes (the CSP
forbids inline styles) and only http(s), tel and mailto links; a page's look comes from the site's
stylesheet (static/css/public.css, `lp-` classes) and the client's brand colours, which reach the
page only as validated hex values in a `<style>` block carrying the request's CSP nonce.
"""

import re

import nh3
from django.utils.html import format_html

ALLOWED_TAGS = {
    "a",
    "b",
    "blockquote",
    "br",
    "div",
    "em",
    "figcaption",
    "figure",
    "footer",
    "h1",
    "h2",
    "h3",
    "header",
    "hr",
    "i",
    "img",
    "li",
    "ol",
    "p",
    "section",
    "small",
    "span",
    "strong",
    "ul",
}
ALLOWED_ATTRIBUTES = {
    # Classes only select rules of the site's own stylesheet.
    "*": {"class"},
    "a": {"href", "title"},
    "img": {"src", "alt", "width", "height"},
}
URL_SCHEMES = {"http", "https", "tel", "mailto"}
MAX_HTML_CHARS = 50_000

HEX_COLOUR = re.compile(r"^#(?:[0-9a-fA-F]{3}){1,2}$")
DEFAULT_PRIMARY = "#2457d6"


def clean_html(html: str) -> str:
    """`html` reduced to the allow-list: tags outside it dropped (script and style with their
    content), attributes outside it dropped, links with other schemes (javascript:, data:)
    losing their href."""
    return nh3.clean(
        html or "",
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer",
        strip_comments=True,
    ).strip()


def visible_text(html: str) -> str:
    """The words of `html` without its tags (to tell a page from an empty or garbage answer)."""
    return " ".join(nh3.clean(html or "", tags=set()).split())


def hex_colour(value) -> str | None:
    """`value` as a lower-case six-digit hex colour, or None when it is not one (names, rgb(),
    anything that could close the style block)."""
    if not isinstance(value, str) or not HEX_COLOUR.match(value.strip()):
        return None
    digits = value.strip()[1:].lower()
    if len(digits) == 3:
        digits = "".join(ch * 2 for ch in digits)
    return f"#{digits}"


def _luminance(colour: str) -> float:
    def channel(part: str) -> float:
        c = int(part, 16) / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(colour[i : i + 2]) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def brand_palette(brand_colors) -> dict[str, str]:
    """The client's colours for its pages: `primary` (buttons, the headline band) and the ink
    readable on it, from `Organization.brand_colors` ({"primary": "#0a7d4f"}); Mike's blue when
    the client set none or something that is not a hex colour."""
    colours = brand_colors if isinstance(brand_colors, dict) else {}
    primary = hex_colour(colours.get("primary")) or DEFAULT_PRIMARY
    # White text where it keeps a contrast of 4.5:1 or better, else near-black.
    on_primary = "#ffffff" if (1.05 / (_luminance(primary) + 0.05)) >= 4.5 else "#111827"
    return {"primary": primary, "on_primary": on_primary}


def palette_style(palette: dict[str, str], nonce: str):
    """The `<style>` block that gives a page its client's colours (values checked by
    `brand_palette`, so nothing but a hex colour reaches the CSS)."""
    primary = hex_colour(palette.get("primary")) or DEFAULT_PRIMARY
    on_primary = hex_colour(palette.get("on_primary")) or "#ffffff"
    css = f":root{{--brand:{primary};--on-brand:{on_primary}}}"
    return format_html('<style nonce="{}">{}</style>', nonce, css)
