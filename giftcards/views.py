"""The public wallet pages of a recipient's card: /redeem/wallet/<token>/ offers the passes that
are set up, `apple.pkpass` downloads the signed pass and `google/` goes to Google's save page;
/w/<token>/ is the short link the card's text carries. Any token that is forged, expired or names
a reward without a card to show (revoked, rejected, a test card) is a 404, as is a wallet that is
not set up."""

from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache

from mike.core.clientip import UNKNOWN, client_ip

from . import wallet
from .services.wallet import record_pass_download


def _reward(token: str):
    reward_id = wallet.reward_id_from_token(token)
    reward = wallet.reward_for_pass(reward_id) if reward_id else None
    if reward is None:
        raise Http404("No card for this link.")
    return reward


def _record(request, reward, kind: str) -> None:
    ip = client_ip(request)
    record_pass_download(
        reward=reward,
        wallet=kind,
        ip="" if ip == UNKNOWN else ip,
        user_agent=request.headers.get("User-Agent", ""),
    )


def short_link(request, token):
    return redirect("wallet-page", token=token)


@never_cache
def wallet_page(request, token):
    if not wallet.any_enabled():
        raise Http404("Wallet passes are not set up.")
    reward = _reward(token)
    context = {
        "reward": reward,
        "token": token,
        "apple": wallet.apple_enabled(),
        "google": wallet.google_enabled(),
        "client_name": reward.recipient.audience.client.name,
        "client_logo_url": reward.recipient.audience.client.logo_url,
    }
    return render(request, "public/wallet.html", context)


@never_cache
def apple_pass(request, token):
    if not wallet.apple_enabled():
        raise Http404("Apple Wallet passes are not set up.")
    reward = _reward(token)
    body = wallet.build_pkpass(reward)
    _record(request, reward, "apple")
    response = HttpResponse(body, content_type="application/vnd.apple.pkpass")
    slug = reward.brand.brand_code or "gift-card"
    response["Content-Disposition"] = f'attachment; filename="{slug}-gift-card.pkpass"'
    return response


@never_cache
def google_save(request, token):
    if not wallet.google_enabled():
        raise Http404("Google Wallet is not set up.")
    reward = _reward(token)
    url = wallet.google_save_url(reward)
    _record(request, reward, "google")
    return redirect(url)
