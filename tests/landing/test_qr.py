"""QR codes: the SVG of a recipient's code holds exactly segno's matrix of their personal URL
with the QR marker; unknown tokens are not found; the mail file carries both links."""

import csv
import io
import re
import xml.etree.ElementTree as ET

import pytest
import segno
from django.test import override_settings
from django.urls import reverse

from campaigns.models import Event
from recipients.exports import MAIL_FILE_COLUMNS, mail_file_csv
from tests import factories

pytestmark = pytest.mark.django_db


def svg_matrix(svg: bytes) -> list[list[int]]:
    """The modules an SVG of segno's draws (one path of relative moves and horizontal lines),
    quiet zone removed: rebuilt from the drawing itself, not from segno."""
    root = ET.fromstring(svg)
    ns = {"svg": "http://www.w3.org/2000/svg"}
    scale_w = float(root.get("width"))
    path = root.find(".//svg:path", ns)
    d = path.get("d")
    transform = path.get("transform", "")
    scale = (
        float(re.search(r"scale\(([\d.]+)\)", transform).group(1)) if "scale" in transform else 1
    )
    size = int(round(scale_w / scale))
    grid = [[0] * size for _ in range(size)]
    x = y = 0.0
    for op, a, b in re.findall(r"([MmHhVv])\s*(-?[\d.]+)(?:[ ,](-?[\d.]+))?", d):
        if op == "M":
            x, y = float(a), float(b)
        elif op == "m":
            x, y = x + float(a), y + float(b)
        elif op == "h":
            length = float(a)
            row = int(y)
            for col in range(int(round(x)), int(round(x + length))):
                grid[row][col] = 1
            x += length
        else:
            raise AssertionError(f"unexpected path command {op}")
    border = 4
    return [row[border : size - border] for row in grid[border : size - border]]


@override_settings(SITE_URL="https://mike.example.com")
def test_the_qr_code_decodes_to_the_personal_url_with_the_qr_marker(client, offer_page):
    page, recipient = offer_page
    response = client.get(reverse("landing-qr", args=[page.slug, recipient.token]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert "public" in response["Cache-Control"]
    url = f"https://mike.example.com/p/{page.slug}/{recipient.token}/?src=qr"
    expected = [list(row) for row in segno.make(url, error="m", micro=False).matrix]
    assert svg_matrix(response.content) == expected
    other = segno.make(url.replace("?src=qr", ""), error="m", micro=False).matrix
    assert svg_matrix(response.content) != [list(row) for row in other]
    assert not Event.objects.exists()  # fetching the image is not a visit


def test_an_unknown_or_foreign_token_has_no_qr_code(client, offer_page):
    page, _ = offer_page
    stranger = factories.RecipientFactory()
    for token in (stranger.token, "y" * 32):
        assert client.get(reverse("landing-qr", args=[page.slug, token])).status_code == 404


@override_settings(SITE_URL="https://mike.example.com/")
def test_the_mail_file_carries_the_personal_and_qr_urls(offer_page):
    page, recipient = offer_page
    loose = factories.RecipientFactory(audience=recipient.audience, campaign=None)
    text = "".join(mail_file_csv(recipient.audience))
    rows = {r["first_name"]: r for r in csv.DictReader(io.StringIO(text[1:], newline=""))}
    assert list(MAIL_FILE_COLUMNS)[-2:] == ["personal_url", "qr_url"]
    row = rows["Zoë"]
    base = f"https://mike.example.com/p/{page.slug}/{recipient.token}/"
    assert row["personal_url"] == base
    assert row["qr_url"] == base + "qr.svg"
    assert rows[loose.first_name]["personal_url"] == "" == rows[loose.first_name]["qr_url"]
