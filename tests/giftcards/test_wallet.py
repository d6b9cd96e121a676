"""Wallet passes of a delivered card: the .pkpass's manifest hashes and PKCS#7 signature verify
against a test CA, its pass.json carries the card; the Google save link's JWT verifies with the
service account's public key and carries the card; the buttons show only where a wallet is set
up; a link for a revoked reward, or a forged or expired link, is a 404; the text gains the link."""

import datetime
import functools
import hashlib
import io
import json
import math
import subprocess
import zipfile
from decimal import Decimal
from urllib.parse import urlsplit

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from django.core import signing
from django.core.exceptions import ValidationError

from giftcards import wallet
from giftcards.models import GiftCardBrand, GiftCardStatus, RewardStatus
from giftcards.services.inventory import move_pool_counters
from giftcards.services.revocation import revoke_reward
from giftcards.services.texts import reward_text
from mike.core import texts
from recipients.models import ApprovalStatus, RecipientAuditLog
from tests import factories

pytestmark = pytest.mark.django_db

CODE, PIN = "STAR-BUCK-1234", "9876"


@functools.cache
def _key(name="pass"):
    """One RSA key per role for the whole module (making them is the slow part)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _certificate(subject, issuer, key, issuer_key, *, ca):
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(issuer_key, hashes.SHA256())
    )


def _pem(certificate):
    return certificate.public_bytes(serialization.Encoding.PEM)


@pytest.fixture
def apple(settings, tmp_path):
    """A test root CA, a WWDR-like intermediate it signs and a pass certificate the intermediate
    signs, with an encrypted key: the Apple settings point at them."""
    root_key, wwdr_key, pass_key = _key("root"), _key("wwdr"), _key("pass")
    root = _certificate("Test Root CA", "Test Root CA", root_key, root_key, ca=True)
    wwdr = _certificate("Test WWDR", "Test Root CA", wwdr_key, root_key, ca=True)
    cert = _certificate("Pass Type ID: pass.test.mike", "Test WWDR", pass_key, wwdr_key, ca=False)
    (tmp_path / "root.pem").write_bytes(_pem(root))
    (tmp_path / "wwdr.cer").write_bytes(wwdr.public_bytes(serialization.Encoding.DER))
    (tmp_path / "pass.pem").write_bytes(_pem(cert))
    (tmp_path / "pass.key").write_bytes(
        pass_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"s3cret"),
        )
    )
    settings.WALLET_APPLE_CERT_PATH = str(tmp_path / "pass.pem")
    settings.WALLET_APPLE_KEY_PATH = str(tmp_path / "pass.key")
    settings.WALLET_APPLE_KEY_PASSWORD = "s3cret"
    settings.WALLET_APPLE_WWDR_PATH = str(tmp_path / "wwdr.cer")
    settings.WALLET_APPLE_PASS_TYPE_ID = "pass.test.mike"
    settings.WALLET_APPLE_TEAM_ID = "TEAM123456"
    return tmp_path / "root.pem"


@pytest.fixture
def google(settings, tmp_path):
    """A service account key file; returns the public key its JWTs verify with."""
    key = _key("google")
    account = {
        "type": "service_account",
        "client_email": "wallet@mike-test.iam.gserviceaccount.com",
        "private_key": key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
    }
    (tmp_path / "account.json").write_text(json.dumps(account))
    settings.WALLET_GOOGLE_ISSUER_ID = "3388000000012345678"
    settings.WALLET_GOOGLE_SERVICE_ACCOUNT_FILE = str(tmp_path / "account.json")
    settings.WALLET_GOOGLE_CLASS_ID = "mike_gift_card"
    return key.public_key()


def delivered_reward(code=CODE, **card):
    reward = factories.RecipientGiftCardFactory(
        claimed=True,
        condition__brand=GiftCardBrand.objects.filter(brand_code="test-coffee").first()
        or factories.GiftCardBrandFactory(
            brand_name="Test Coffee", brand_code="test-coffee", brand_color="#00704A"
        ),
        condition__card_value=Decimal("15.00"),
        **card,
    )
    gift_card = reward.gift_card
    gift_card.set_code(code)
    gift_card.set_pin(PIN)
    gift_card.status = GiftCardStatus.DELIVERED
    gift_card.save()
    move_pool_counters(
        gift_card.pool_id, from_status=GiftCardStatus.CLAIMED, to_status=GiftCardStatus.DELIVERED
    )
    type(reward).objects.filter(pk=reward.pk).update(status=RewardStatus.DELIVERED)
    type(reward.recipient).objects.filter(pk=reward.recipient_id).update(
        approval_status=ApprovalStatus.APPROVED
    )
    reward.refresh_from_db()
    return reward


def redeem_page(client, reward):
    return client.post("/redeem/", {"code": reward.recipient.redemption_code}).content.decode()


def pass_url(reward):
    return f"/redeem/wallet/{wallet.wallet_token(reward)}/apple.pkpass"


def test_the_pass_is_signed_and_every_file_is_in_its_manifest(client, apple, tmp_path):
    reward = delivered_reward()

    response = client.get(pass_url(reward))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.apple.pkpass"
    assert "no-store" in response["Cache-Control"]
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    names = set(archive.namelist())
    assert {"pass.json", "manifest.json", "signature", "icon.png", "icon@2x.png", "logo.png"} <= (
        names
    )
    manifest = json.loads(archive.read("manifest.json"))
    assert set(manifest) == names - {"manifest.json", "signature"}
    for name, digest in manifest.items():
        assert hashlib.sha1(archive.read(name)).hexdigest() == digest
    for image in ("icon.png", "icon@2x.png", "logo.png"):
        assert archive.read(image).startswith(b"\x89PNG\r\n\x1a\n")

    (tmp_path / "manifest.json").write_bytes(archive.read("manifest.json"))
    (tmp_path / "signature").write_bytes(archive.read("signature"))

    def verify(content):
        return subprocess.run(
            ["openssl", "smime", "-verify", "-binary", "-inform", "DER"]
            + ["-in", str(tmp_path / "signature"), "-content", str(content)]
            + ["-CAfile", str(apple), "-purpose", "any", "-out", "/dev/null"],
            capture_output=True,
            text=True,
        )

    checked = verify(tmp_path / "manifest.json")
    assert checked.returncode == 0, checked.stderr
    assert "Verification successful" in checked.stderr
    # The signature is over these bytes only: a changed manifest fails.
    (tmp_path / "changed.json").write_bytes(archive.read("manifest.json").replace(b"a", b"b", 1))
    assert verify(tmp_path / "changed.json").returncode != 0


def test_the_pass_json_carries_the_card(client, apple):
    reward = delivered_reward()

    archive = zipfile.ZipFile(io.BytesIO(client.get(pass_url(reward)).content))
    data = json.loads(archive.read("pass.json"))

    assert data["passTypeIdentifier"] == "pass.test.mike"
    assert data["teamIdentifier"] == "TEAM123456"
    assert data["serialNumber"] == str(reward.pk)
    assert data["organizationName"] == "Test Coffee"
    assert data["description"] == "$15.00 Test Coffee gift card"
    assert data["storeCard"]["primaryFields"][0]["value"] == "$15.00"
    assert data["storeCard"]["secondaryFields"][0]["value"] == "Test Coffee"
    auxiliary = {field["key"]: field["value"] for field in data["storeCard"]["auxiliaryFields"]}
    assert auxiliary["code"] == CODE and auxiliary["pin"] == PIN
    [barcode] = data["barcodes"]
    assert barcode["format"] == "PKBarcodeFormatQR" and barcode["message"] == CODE
    assert data["backgroundColor"] == "rgb(0, 112, 74)"


def test_each_download_is_audited(client, apple, google):
    reward = delivered_reward()
    token = wallet.wallet_token(reward)

    client.get(f"/redeem/wallet/{token}/apple.pkpass", HTTP_USER_AGENT="iPhone")
    client.get(f"/redeem/wallet/{token}/google/")

    rows = RecipientAuditLog.objects.filter(recipient=reward.recipient, action="viewed")
    assert sorted(row.metadata["wallet"] for row in rows) == ["apple", "google"]
    assert {row.metadata["reward"] for row in rows} == {str(reward.pk)}
    assert rows.get(metadata__wallet="apple").user_agent == "iPhone"


def test_the_google_link_saves_the_card_in_a_jwt_signed_by_the_service_account(client, google):
    reward = delivered_reward()

    response = client.get(f"/redeem/wallet/{wallet.wallet_token(reward)}/google/")

    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert (location.scheme, location.netloc) == ("https", "pay.google.com")
    assert location.path.startswith("/gp/v/save/")
    token = location.path.removeprefix("/gp/v/save/")
    claims = jwt.decode(token, google, algorithms=["RS256"], audience="google")
    assert claims["iss"] == "wallet@mike-test.iam.gserviceaccount.com"
    assert claims["typ"] == "savetowallet"
    [card] = claims["payload"]["giftCardObjects"]
    assert card["id"] == f"3388000000012345678.{reward.pk}"
    assert card["classId"] == "3388000000012345678.mike_gift_card"
    assert card["cardNumber"] == CODE and card["pin"] == PIN
    assert card["balance"] == {"micros": 15_000_000, "currencyCode": "USD"}
    assert card["barcode"]["value"] == CODE
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, _key("other").public_key(), algorithms=["RS256"], audience="google")


def test_without_settings_no_button_shows_and_the_links_are_404(client):
    reward = delivered_reward()
    token = wallet.wallet_token(reward)

    html = redeem_page(client, reward)

    assert CODE in html and "wallet-button" not in html
    for url in (f"/redeem/wallet/{token}/", f"/redeem/wallet/{token}/apple.pkpass"):
        assert client.get(url).status_code == 404
    assert client.get(f"/redeem/wallet/{token}/google/").status_code == 404


def test_the_redeem_page_shows_the_buttons_of_the_wallets_set_up(client, apple, settings):
    reward = delivered_reward()

    html = redeem_page(client, reward)
    assert "Apple Wallet" in html and "Google Wallet" not in html
    token = html.split("/redeem/wallet/")[1].split("/")[0]
    assert wallet.reward_id_from_token(token) == reward.pk
    assert client.get(f"/redeem/wallet/{token}/apple.pkpass").status_code == 200

    settings.WALLET_APPLE_TEAM_ID = ""
    settings.WALLET_GOOGLE_ISSUER_ID = "1"
    settings.WALLET_GOOGLE_SERVICE_ACCOUNT_FILE = "/nonexistent.json"
    settings.WALLET_GOOGLE_CLASS_ID = "c"
    html = redeem_page(client, reward)
    assert "Google Wallet" in html and "Apple Wallet" not in html


def test_a_revoked_reward_has_no_pass(client, apple, google):
    reward = delivered_reward()
    token = wallet.wallet_token(reward)
    assert client.get(f"/redeem/wallet/{token}/").status_code == 200

    revoke_reward(
        reward=reward, by=factories.UserFactory(is_staff=True), reason="Sent to the wrong person"
    )

    for url in ("", "apple.pkpass", "google/"):
        assert client.get(f"/redeem/wallet/{token}/{url}").status_code == 404
    assert not RecipientAuditLog.objects.filter(action="viewed").exists()


def test_a_rejected_recipient_or_an_undelivered_reward_has_no_pass(client, apple):
    reward = delivered_reward()
    type(reward.recipient).objects.filter(pk=reward.recipient_id).update(
        approval_status=ApprovalStatus.REJECTED
    )
    assert client.get(pass_url(reward)).status_code == 404

    pending = factories.RecipientGiftCardFactory()
    assert client.get(pass_url(pending)).status_code == 404


def test_a_forged_changed_or_expired_token_is_404(client, apple, settings, monkeypatch):
    reward, other = delivered_reward(), delivered_reward("OTHR-CODE-0002")
    token = wallet.wallet_token(reward)
    short_id, stamp, signature = token.split(".")
    other_id = wallet.wallet_token(other).split(".")[0]

    for bad in (
        f"{other_id}.{stamp}.{signature}",  # another reward's id under this signature
        f"{short_id}.{stamp}.{signature[:-1]}A"
        if signature[-1] != "A"
        else f"{short_id}.{stamp}.{signature[:-1]}B",
        "not-a-token",
        signing.TimestampSigner(salt="other").sign(short_id).replace(":", "."),
    ):
        assert client.get(f"/redeem/wallet/{bad}/apple.pkpass").status_code == 404

    settings.WALLET_LINK_MAX_AGE_DAYS = 90
    issued = signing.time.time()
    monkeypatch.setattr(signing.time, "time", lambda: issued + 91 * 24 * 3600)
    assert client.get(f"/redeem/wallet/{token}/apple.pkpass").status_code == 404
    monkeypatch.setattr(signing.time, "time", lambda: issued + 89 * 24 * 3600)
    assert client.get(f"/redeem/wallet/{token}/apple.pkpass").status_code == 200


def test_a_token_gives_its_own_clients_card_only(client, apple):
    """Tenancy: two clients' rewards, each token shows its own card and brand, never the other's."""
    mine = delivered_reward()
    theirs = factories.RecipientGiftCardFactory(
        claimed=True, condition__campaign__client=factories.ClientFactory(name="Other Co")
    )
    theirs.gift_card.set_code("OTHER-CODE-9999")
    theirs.gift_card.save()
    type(theirs).objects.filter(pk=theirs.pk).update(status=RewardStatus.DELIVERED)
    assert mine.recipient.audience.client_id != theirs.recipient.audience.client_id

    for reward, code in ((mine, CODE), (theirs, "OTHER-CODE-9999")):
        archive = zipfile.ZipFile(io.BytesIO(client.get(pass_url(reward)).content))
        data = json.loads(archive.read("pass.json"))
        assert data["serialNumber"] == str(reward.pk)
        assert data["barcodes"][0]["message"] == code


def test_the_short_link_leads_to_the_wallet_page(client, apple, google):
    reward = delivered_reward()
    token = wallet.wallet_token(reward)

    response = client.get(f"/w/{token}/", follow=True)

    assert response.redirect_chain == [(f"/redeem/wallet/{token}/", 302)]
    html = response.content.decode()
    assert "Apple Wallet" in html and "Google Wallet" in html
    assert "1234" in html and CODE not in html  # the page names the card, it does not show it
    assert "style=" not in html and "<script" not in html
    assert "script-src 'self'" in response["Content-Security-Policy"]


def test_mikes_text_carries_the_wallet_link_only_where_a_wallet_is_set_up(settings, apple):
    settings.SITE_URL = "https://mike.example.com/"
    reward = delivered_reward()
    delivery = factories.GiftCardDeliveryFactory(reward=reward, gift_card=reward.gift_card)

    text = reward_text(delivery, reward.gift_card, masked=False)
    link = text.rsplit(" ", 1)[1]
    assert text.startswith(
        f"{reward.recipient.audience.client.name}: here is your $15.00 Test Coffee gift card. "
        f"Code: {CODE} PIN: {PIN}. Add it to your phone's wallet: https://mike.example.com/w/"
    )
    token = link.removeprefix("https://mike.example.com/w/").rstrip("/")
    assert wallet.reward_id_from_token(token) == reward.pk
    # Short: it goes in as many message parts (153 characters each) as Mike's text without it.
    without = texts.render(
        texts.DEFAULT_REWARD_TEXT,
        {
            "client_name": reward.recipient.audience.client.name,
            "value": "$15.00",
            "brand": "Test Coffee",
            "code": f"{CODE} PIN: {PIN}",
            "link": "https://mike.example.com/redeem/",
            "redemption_code": reward.recipient.display_code,
        },
    )
    assert math.ceil(len(text) / 153) == math.ceil(len(without) / 153) == 2
    # The kept copy hides the link's token as it hides the code.
    masked = reward_text(delivery, reward.gift_card, masked=True)
    assert token not in masked and CODE not in masked

    settings.WALLET_APPLE_CERT_PATH = ""
    assert "wallet" not in reward_text(delivery, reward.gift_card, masked=False)


def test_a_clients_own_text_is_left_as_written(apple):
    reward = delivered_reward()
    client = reward.recipient.audience.client
    client.sms_reward_template = "{client}: your card {code}"
    client.save()
    delivery = factories.GiftCardDeliveryFactory(reward=reward, gift_card=reward.gift_card)

    assert reward_text(delivery, reward.gift_card, masked=False) == (
        f"{client.name}: your card {CODE} PIN: {PIN}"
    )


def test_a_clients_own_text_may_ask_for_the_wallet_link(apple, settings):
    settings.SITE_URL = "https://mike.example.com/"
    reward = delivered_reward()
    client = reward.recipient.audience.client
    client.sms_reward_template = "{client}: your card {code}. Save it: {wallet}"
    client.full_clean()  # {wallet} is a known variable
    client.save()
    delivery = factories.GiftCardDeliveryFactory(reward=reward, gift_card=reward.gift_card)

    text = reward_text(delivery, reward.gift_card, masked=False)
    token = text.rsplit("/w/", 1)[1].rstrip("/")
    assert wallet.reward_id_from_token(token) == reward.pk
    assert token not in reward_text(delivery, reward.gift_card, masked=True)

    # Where no wallet is set up the link still leads to the card: its page.
    settings.WALLET_APPLE_CERT_PATH = ""
    assert reward_text(delivery, reward.gift_card, masked=False).endswith(
        "Save it: https://mike.example.com/redeem/"
    )


def test_an_opt_in_text_cannot_ask_for_the_wallet_link():
    with pytest.raises(ValidationError, match="wallet"):
        texts.validate_opt_in_template(
            "{client_name}: reply YES for your card {wallet}. STOP to end"
        )


def test_a_missing_certificate_is_told_plainly(apple, settings):
    settings.WALLET_APPLE_CERT_PATH = "/nonexistent/pass.pem"
    with pytest.raises(wallet.WalletNotConfigured, match="WALLET_APPLE_CERT_PATH"):
        wallet.build_pkpass(delivered_reward())
