"""What recipients see, end to end from `seed_demo`: a recipient's QR code opens their personal
page, the campaign's form on it meets a condition and reveals the reward, and the delivered card
can be saved as a wallet pass (its signature verifies)."""

import io
import re
import subprocess
import zipfile
from importlib import import_module
from io import StringIO
from urllib.parse import urlsplit

import pytest
import segno
from django.apps import apps as django_apps
from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse

from calls.models import CallConditionMet
from campaigns.models import Campaign, Event, EventType, LandingPage
from giftcards.models import RecipientGiftCard, RewardStatus
from mike.aceforms.fields import STARTED, TOKEN, sign_start
from recipients.models import SmsOptInStatus
from tests.giftcards.test_wallet import apple  # noqa: F401 - the fixture
from tests.landing.test_qr import svg_matrix

SITE = "https://mike.example.com"


# Committed as the demo commits (`make run`: eager tasks run once each change commits), so the
# claim the form's condition leads to has run by the time the thank-you page is drawn.
@pytest.mark.django_db(transaction=True)
@override_settings(SITE_URL=SITE)
def test_qr_code_to_personal_page_to_form_to_revealed_card_to_wallet_pass(
    client,
    twilio_post,
    sms_outbox,
    django_capture_on_commit_callbacks,
    settings,
    apple,  # noqa: F811
):
    # The brands the migrations made, which an earlier transactional test's flush took away.
    import_module("giftcards.migrations.0003_default_brands").add_brands(django_apps, None)
    call_command("seed_demo", allow_production=True, stdout=StringIO())
    settings.FORM_MIN_FILL_SECONDS = 0
    campaign = Campaign.objects.get(name="Oil change reminder")
    page = LandingPage.objects.get(slug="bayside-auto-offer", published=True)
    form_condition = campaign.conditions.get(trigger_type="form_submitted")
    # A caller who met the first condition and was approved; their opt-in question is out.
    recipient = next(
        r
        for r in campaign.recipients.filter(sms_opt_in_status=SmsOptInStatus.PENDING)
        if CallConditionMet.objects.filter(recipient=r, condition__condition_number=1).exists()
    )

    # They reply YES: opted in, their first card is claimed and texted.
    reply = twilio_post(
        reverse("twilio-sms"),
        {
            "MessageSid": "SMpages1",
            "From": recipient.phone,
            "To": "+18005550102",
            "Body": "YES",
        },
    )
    assert reply.status_code == 200

    # 1. The QR code printed on their postcard holds their personal URL, marked as the QR's.
    qr = client.get(f"/p/{page.slug}/{recipient.token}/qr.svg")
    assert qr.status_code == 200
    personal = f"{SITE}/p/{page.slug}/{recipient.token}/?src=qr"
    assert svg_matrix(qr.content) == [list(row) for row in segno.make(personal, error="m").matrix]

    # 2. It opens their page: their name, the offer, the number to call, the form.
    parts = urlsplit(personal)
    landing = client.get(f"{parts.path}?{parts.query}")
    assert landing.status_code == 200
    html = landing.content.decode()
    assert recipient.first_name in html
    assert "tel:+18005550102" in html
    embed = re.search(r'<iframe[^>]+src="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert embed == f"/f/bayside-auto-sign-up/embed/?t={recipient.token}"
    views = Event.objects.filter(recipient=recipient, event_type=EventType.PAGE_VIEWED)
    assert [e.source for e in views] == ["qr"]

    # 3. The form, prefilled and matched by the token, meets the form condition once...
    shown = client.get(embed)
    assert shown.status_code == 200
    sent = client.post(
        embed,
        {
            STARTED: sign_start(),
            TOKEN: recipient.token,
            "first_name": recipient.first_name,
            "email": "driver@example.com",
            "phone": recipient.phone,
            "best_time": "Morning",
            "code": recipient.redemption_code,
            "agree": "on",
        },
    )
    assert sent.status_code == 200, sent.content.decode()[:2000]
    assert (
        CallConditionMet.objects.filter(recipient=recipient, condition=form_condition).count() == 1
    )
    reward = RecipientGiftCard.objects.get(recipient=recipient, condition=form_condition)
    assert reward.status == RewardStatus.DELIVERED

    # ...and reveals the card it earned, with the wallet button.
    revealed = sent.content.decode()
    assert reward.gift_card.code in revealed
    assert any(reward.gift_card.code in m.body for m in sms_outbox)
    links = re.findall(r'href="(/redeem/wallet/[^"]+/apple\.pkpass)"', revealed)
    assert len(links) == 2, "a wallet button beside each revealed card (the call's and the form's)"

    # 4. The form's card saved as a pass, signed: the card in it, the signature verifies.
    passes = [zipfile.ZipFile(io.BytesIO(client.get(link).content)) for link in links]
    archive = next(p for p in passes if reward.gift_card.code in p.read("pass.json").decode())
    assert str(reward.pk) in archive.read("pass.json").decode()
    workdir = settings.WALLET_APPLE_CERT_PATH.rsplit("/", 1)[0]
    with open(f"{workdir}/manifest.json", "wb") as out:
        out.write(archive.read("manifest.json"))
    with open(f"{workdir}/signature", "wb") as out:
        out.write(archive.read("signature"))
    verified = subprocess.run(
        [
            "openssl", "smime", "-verify", "-binary", "-inform", "DER",
            "-in", f"{workdir}/signature", "-content", f"{workdir}/manifest.json",
            "-CAfile", str(apple), "-purpose", "any", "-out", "/dev/null",
        ],
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stderr
