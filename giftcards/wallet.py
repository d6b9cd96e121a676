"""Wallet passes for a recipient's card: an Apple Wallet `.pkpass` and a "Save to Google Wallet"
link, and the signed token that names the reward in their URLs.

A pass carries the card's code, so its URL is a secret of whoever already sees the card: the
token is made only for the redemption page after a valid code and for the card's own text. It is
a Django signature (SECRET_KEY and its fallbacks, a salt of its own, WALLET_LINK_MAX_AGE_DAYS)
over the reward's id. The signature is cut to 22 characters (132 bits) because the link goes out
in a text message, where every character counts; the id is the UUID's 16 bytes in URL-safe
base64. A token names one reward and nothing else: the pass shows that reward's card only.

Apple: pass.json, three generated PNG images and manifest.json (the SHA-1 of every file) are
zipped with `signature`, a detached PKCS#7 (DER) signature over manifest.json made with the pass
type certificate and key, carrying Apple's WWDR intermediate certificate.

Google: a JWT (RS256, the service account's key) with a giftCardObject whose id is
"<issuer id>.<reward id>"; https://pay.google.com/gp/v/save/<jwt> saves it. The gift card class
(WALLET_GOOGLE_CLASS_ID) is made once in Google's console.

Each side is offered only while its settings are complete (`apple_enabled`, `google_enabled`).
"""

import base64
import hashlib
import io
import json
import struct
import time
import uuid
import zipfile
import zlib
from decimal import Decimal
from functools import cache
from pathlib import Path

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from django.conf import settings
from django.core import signing

from mike.core.errors import DomainError

from .models import GiftCardStatus, RecipientGiftCard, RewardStatus

SALT = "giftcards.wallet"
SIGNATURE_LENGTH = 22
GOOGLE_SAVE_URL = "https://pay.google.com/gp/v/save/"
# Rewards whose card the recipient already has: texted (claimed, being sent) or delivered.
PASS_REWARD_STATUSES = (RewardStatus.CLAIMED, RewardStatus.DELIVERED)
PASS_CARD_STATUSES = (GiftCardStatus.CLAIMED, GiftCardStatus.DELIVERED)


class WalletNotConfigured(DomainError):
    """A wallet's settings are missing or its files cannot be read (the message says which)."""


# --- The token ---------------------------------------------------------------------------------


class _ShortSigner(signing.TimestampSigner):
    def signature(self, value, key=None):
        return super().signature(value, key)[:SIGNATURE_LENGTH]


def _signer() -> signing.TimestampSigner:
    return _ShortSigner(salt=SALT, sep=".")


def wallet_token(reward: RecipientGiftCard) -> str:
    """The token of `reward`'s pass links."""
    short_id = base64.urlsafe_b64encode(reward.pk.bytes).rstrip(b"=").decode()
    return _signer().sign(short_id)


def reward_id_from_token(token: str) -> uuid.UUID | None:
    """The reward id a token names, or None when it is forged, changed or older than
    WALLET_LINK_MAX_AGE_DAYS."""
    max_age = settings.WALLET_LINK_MAX_AGE_DAYS * 24 * 3600
    try:
        short_id = _signer().unsign(token, max_age=max_age)
        return uuid.UUID(bytes=base64.urlsafe_b64decode(short_id + "=="))
    except (signing.BadSignature, ValueError):
        return None


def reward_for_pass(reward_id) -> RecipientGiftCard | None:
    """The reward a pass may be made for: its card is the recipient's (claimed or delivered, not
    revoked), the reward neither revoked nor rejected, the recipient not rejected. Test (sandbox)
    rewards have no real card and get no pass."""
    return (
        RecipientGiftCard.objects.select_related(
            "brand", "gift_card", "recipient__audience__client"
        )
        .filter(
            pk=reward_id,
            status__in=PASS_REWARD_STATUSES,
            is_sandbox=False,
            gift_card__status__in=PASS_CARD_STATUSES,
        )
        .exclude(recipient__approval_status="rejected")
        .first()
    )


def apple_enabled() -> bool:
    return all(
        getattr(settings, name)
        for name in (
            "WALLET_APPLE_CERT_PATH",
            "WALLET_APPLE_KEY_PATH",
            "WALLET_APPLE_WWDR_PATH",
            "WALLET_APPLE_PASS_TYPE_ID",
            "WALLET_APPLE_TEAM_ID",
        )
    )


def google_enabled() -> bool:
    return all(
        getattr(settings, name)
        for name in (
            "WALLET_GOOGLE_ISSUER_ID",
            "WALLET_GOOGLE_SERVICE_ACCOUNT_FILE",
            "WALLET_GOOGLE_CLASS_ID",
        )
    )


def any_enabled() -> bool:
    return apple_enabled() or google_enabled()


def _read(setting: str) -> bytes:
    path = getattr(settings, setting)
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise WalletNotConfigured(f"{setting} ({path}) cannot be read: {error.strerror}.") from None


# --- Images (generated, so a pass needs no artwork) ---------------------------------------------


def _rgb(color: str) -> tuple[int, int, int]:
    """A brand colour written #RRGGBB (or RRGGBB); Mike's ink colour when unset or unreadable."""
    value = (color or "").strip().lstrip("#")
    if len(value) == 6:
        try:
            return tuple(int(value[i : i + 2], 16) for i in (0, 2, 4))
        except ValueError:
            pass
    return (31, 41, 55)


def _foreground(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    luminance = 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]
    return (17, 24, 39) if luminance > 160 else (255, 255, 255)


def _png(width: int, height: int, pixel) -> bytes:
    """A PNG of RGBA pixels from pixel(x, y) (the standard library only: a wallet image needs no
    imaging library)."""
    rows = b"".join(
        b"\x00" + b"".join(bytes(pixel(x, y)) for x in range(width)) for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


def _gift_icon(size: int, rgb, ink) -> bytes:
    """A rounded square in the brand's colour with a gift box's ribbon across it."""
    radius, band = size * 0.22, max(1, size // 9)
    middle = size // 2

    def pixel(x, y):
        cx = min(max(x + 0.5, radius), size - radius)
        cy = min(max(y + 0.5, radius), size - radius)
        if (x + 0.5 - cx) ** 2 + (y + 0.5 - cy) ** 2 > radius**2:
            return (0, 0, 0, 0)
        if abs(x - middle) < band or abs(y - middle) < band:
            return (*ink, 255)
        return (*rgb, 255)

    return _png(size, size, pixel)


@cache
def _images(rgb, ink) -> dict[str, bytes]:
    return {
        "icon.png": _gift_icon(29, rgb, ink),
        "icon@2x.png": _gift_icon(58, rgb, ink),
        "logo.png": _gift_icon(50, rgb, ink),
        "logo@2x.png": _gift_icon(100, rgb, ink),
    }


# --- Apple -------------------------------------------------------------------------------------


def _money(amount: Decimal) -> str:
    return f"${amount:.2f}"


def pass_json(reward: RecipientGiftCard) -> dict:
    """pass.json of `reward`'s card (a store card: value first, brand second, code as QR)."""
    card, brand = reward.gift_card, reward.brand
    rgb = _rgb(brand.brand_color)
    fields = {
        "primaryFields": [{"key": "value", "label": "VALUE", "value": _money(reward.card_value)}],
        "secondaryFields": [{"key": "brand", "label": "BRAND", "value": brand.brand_name}],
        "auxiliaryFields": [{"key": "code", "label": "CODE", "value": card.code}],
        "backFields": [],
    }
    if card.pin:
        fields["auxiliaryFields"].append({"key": "pin", "label": "PIN", "value": card.pin})
    if card.expiration_date:
        fields["auxiliaryFields"].append(
            {"key": "expires", "label": "USE BY", "value": card.expiration_date.isoformat()}
        )
    if brand.redemption_instructions:
        fields["backFields"].append(
            {"key": "how", "label": "How to use it", "value": brand.redemption_instructions}
        )
    client_name = reward.recipient.audience.client.name
    if client_name:
        fields["backFields"].append({"key": "from", "label": "From", "value": client_name})
    data = {
        "formatVersion": 1,
        "passTypeIdentifier": settings.WALLET_APPLE_PASS_TYPE_ID,
        "teamIdentifier": settings.WALLET_APPLE_TEAM_ID,
        "serialNumber": str(reward.pk),
        "organizationName": brand.brand_name,
        "description": f"{_money(reward.card_value)} {brand.brand_name} gift card",
        "logoText": brand.brand_name,
        "backgroundColor": "rgb({}, {}, {})".format(*rgb),
        "foregroundColor": "rgb({}, {}, {})".format(*_foreground(rgb)),
        "labelColor": "rgb({}, {}, {})".format(*_foreground(rgb)),
        "storeCard": fields,
        "barcodes": [
            {
                "format": "PKBarcodeFormatQR",
                "message": card.code,
                "messageEncoding": "iso-8859-1",
                "altText": card.code,
            }
        ],
    }
    if card.expiration_date:
        data["expirationDate"] = f"{card.expiration_date.isoformat()}T23:59:59Z"
    return data


def _apple_signing_material():
    try:
        certificate = x509.load_pem_x509_certificate(_read("WALLET_APPLE_CERT_PATH"))
        wwdr_bytes = _read("WALLET_APPLE_WWDR_PATH")
        try:
            wwdr = x509.load_pem_x509_certificate(wwdr_bytes)
        except ValueError:
            wwdr = x509.load_der_x509_certificate(wwdr_bytes)  # Apple ships it as .cer (DER)
        password = settings.WALLET_APPLE_KEY_PASSWORD or None
        key = serialization.load_pem_private_key(
            _read("WALLET_APPLE_KEY_PATH"), password=password.encode() if password else None
        )
    except (ValueError, TypeError) as error:
        raise WalletNotConfigured(
            f"The Apple Wallet certificate, key or WWDR certificate cannot be loaded: {error}"
        ) from None
    return certificate, key, wwdr


def sign_manifest(manifest: bytes) -> bytes:
    """The detached PKCS#7 signature (DER) of manifest.json, as Apple Wallet checks it."""
    certificate, key, wwdr = _apple_signing_material()
    return (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(manifest)
        .add_signer(certificate, key, hashes.SHA256())
        .add_certificate(wwdr)
        .sign(
            serialization.Encoding.DER,
            [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary],
        )
    )


def build_pkpass(reward: RecipientGiftCard) -> bytes:
    """The signed .pkpass (a zip) of `reward`'s card. Raises WalletNotConfigured."""
    if not apple_enabled():
        raise WalletNotConfigured("Apple Wallet passes are not set up (WALLET_APPLE_* settings).")
    rgb = _rgb(reward.brand.brand_color)
    files = {
        "pass.json": json.dumps(pass_json(reward), ensure_ascii=False, indent=1).encode(),
        **_images(rgb, _foreground(rgb)),
    }
    manifest = json.dumps(
        {
            name: hashlib.sha1(data, usedforsecurity=False).hexdigest()
            for name, data in files.items()
        },
        indent=1,
    ).encode()
    files["manifest.json"] = manifest
    files["signature"] = sign_manifest(manifest)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


# --- Google ------------------------------------------------------------------------------------


def _service_account() -> dict:
    try:
        account = json.loads(_read("WALLET_GOOGLE_SERVICE_ACCOUNT_FILE"))
    except json.JSONDecodeError:
        raise WalletNotConfigured(
            "WALLET_GOOGLE_SERVICE_ACCOUNT_FILE is not a service account's JSON key file."
        ) from None
    if (
        not isinstance(account, dict)
        or not account.get("client_email")
        or not account.get("private_key")
    ):
        raise WalletNotConfigured(
            "The service account file has no client_email or private_key: download a JSON key "
            "of the service account."
        )
    return account


def _qualified(identifier: str) -> str:
    """An id as Google wants it, "<issuer id>.<suffix>" (a bare suffix gets the issuer id)."""
    issuer = str(settings.WALLET_GOOGLE_ISSUER_ID)
    return identifier if identifier.startswith(f"{issuer}.") else f"{issuer}.{identifier}"


def gift_card_object(reward: RecipientGiftCard) -> dict:
    card = reward.gift_card
    data = {
        "id": _qualified(str(reward.pk)),
        "classId": _qualified(settings.WALLET_GOOGLE_CLASS_ID),
        "state": "ACTIVE",
        "cardNumber": card.card_number or card.code,
        "balance": {
            "micros": int(reward.card_value * 1_000_000),
            "currencyCode": card.pool.currency if card.pool_id else "USD",
        },
        "barcode": {"type": "QR_CODE", "value": card.code, "alternateText": card.code},
        "textModulesData": [
            {"id": "brand", "header": "Brand", "body": reward.brand.brand_name},
        ],
    }
    if card.pin:
        data["pin"] = card.pin
    if card.card_number:
        data["textModulesData"].append({"id": "code", "header": "Code", "body": card.code})
    if reward.brand.redemption_instructions:
        data["textModulesData"].append(
            {"id": "how", "header": "How to use it", "body": reward.brand.redemption_instructions}
        )
    return data


def google_jwt(reward: RecipientGiftCard) -> str:
    """The signed JWT that saves `reward`'s card to Google Wallet. Raises WalletNotConfigured."""
    if not google_enabled():
        raise WalletNotConfigured("Google Wallet is not set up (WALLET_GOOGLE_* settings).")
    account = _service_account()
    claims = {
        "iss": account["client_email"],
        "aud": "google",
        "typ": "savetowallet",
        "iat": int(time.time()),
        "origins": [settings.SITE_URL.rstrip("/")],
        "payload": {"giftCardObjects": [gift_card_object(reward)]},
    }
    try:
        return jwt.encode(claims, account["private_key"], algorithm="RS256")
    except (ValueError, TypeError, jwt.PyJWTError) as error:
        raise WalletNotConfigured(
            f"The service account's private key cannot sign: {error}"
        ) from None


def google_save_url(reward: RecipientGiftCard) -> str:
    return GOOGLE_SAVE_URL + google_jwt(reward)
