"""The public ACE form pages. `/f/<slug>/` keeps the site's frame policy (DENY);
`/f/<slug>/embed/` is the same form for an iframe, with FORM_EMBED_FRAME_ANCESTORS as its
frame-ancestors. Unpublished or inactive forms are 404 on both."""

from csp.decorators import csp_replace
from django.conf import settings
from django.http import Http404
from django.shortcuts import get_object_or_404, render
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from campaigns import ace_forms
from campaigns.models import AceForm
from mike.core import ratelimit
from mike.core.clientip import UNKNOWN, client_ip
from mike.core.phones import format_national
from mike.rewards.forms import submit_form
from recipients.redemption import (
    attach_wallet_links,
    mark_redeemed,
    number_to_call,
    record_code_viewed,
    reward_answer,
    wallet_context,
)

from .fields import (
    HONEYPOT,
    STARTED,
    TOKEN,
    PublicForm,
    SpamRefused,
    check_spam,
    initial_for,
    match_recipient,
    sign_start,
)

RATE_GROUP = "ace-form"


def _live_form(slug) -> AceForm:
    form = get_object_or_404(AceForm.objects.select_related("client", "campaign"), slug=slug)
    if not form.is_live:
        raise Http404("No such form.")
    return form


def _page(request, form, *, embed, status=200, **context):
    base = {
        "ace_form": form,
        "embed": embed,
        "client_name": form.client.name,
        "client_logo_url": form.client.logo_url,
        "honeypot": HONEYPOT,
        "started_name": STARTED,
        "token_name": TOKEN,
        "started": sign_start(),
    }
    return render(request, "public/ace_form.html", {**base, **context}, status=status)


def _reveal(request, recipient) -> dict:
    """Where the recipient's rewards stand, told as the redemption page tells it; delivered
    cards shown (and the recipient marked redeemed) exactly as that page does."""
    answer = reward_answer(recipient)
    if answer.cards:
        ip = client_ip(request)
        record_code_viewed(recipient, rewards=len(answer.cards))
        mark_redeemed(
            recipient=recipient,
            ip="" if ip == UNKNOWN else ip,
            user_agent=request.headers.get("User-Agent", ""),
        )
    attach_wallet_links(answer)
    call = number_to_call(recipient)
    return {
        **wallet_context(),
        "answer": answer,
        "state": answer.state,
        "call_number": format_national(call),
        "call_link": call,
    }


def _handle(request, slug, *, embed):
    form = _live_form(slug)
    if request.method != "POST":
        recipient = match_recipient(
            form, code=request.GET.get("code", ""), token=request.GET.get("t", "")
        )
        ace_forms.count_view(form=form)
        public = PublicForm(ace_form=form, initial=initial_for(form, recipient))
        return _page(
            request,
            form,
            embed=embed,
            public=public,
            token=recipient.token if recipient else "",
        )

    reservation = ratelimit.reserve(
        group=RATE_GROUP, key=ratelimit.client_key(request), rate=settings.FORM_SUBMIT_RATE
    )
    if reservation.exceeded:
        response = render(
            request,
            "public/ratelimited.html",
            {
                "reason": "This address has sent this form too many times. Please wait a few "
                "minutes and try again."
            },
            status=429,
        )
        response["Retry-After"] = str(reservation.rate.seconds)
        return response

    token = request.POST.get(TOKEN, "")
    recipient = match_recipient(form, token=token) if token else None
    public = PublicForm(request.POST, ace_form=form, recipient=recipient)
    try:
        check_spam(request.POST)
    except SpamRefused as refusal:
        return _page(
            request, form, embed=embed, public=public, token=token, refusal=str(refusal), status=400
        )
    if not public.is_valid():
        return _page(request, form, embed=embed, public=public, token=token, status=400)

    recipient = public.recipient
    ip = client_ip(request)
    submit_form(
        form=form,
        values=public.values(),
        recipient=recipient,
        ip="" if ip == UNKNOWN else ip,
        user_agent=request.headers.get("User-Agent", ""),
    )
    context = {"submitted": True}
    if form.reveal_reward and recipient is not None:
        context.update(_reveal(request, recipient))
    return _page(request, form, embed=embed, **context)


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def public_form(request, slug):
    return _handle(request, slug, embed=False)


# The embedded form is posted from inside a third-party page, where browsers withhold Mike's
# (SameSite) CSRF cookie, so CSRF cannot protect it; an anonymous form guards itself with the
# signed start time, the honeypot and the rate limit instead, and changes no signed-in state.
@never_cache
@csrf_exempt
@xframe_options_exempt
@csp_replace({"frame-ancestors": settings.FORM_EMBED_FRAME_ANCESTORS})
@require_http_methods(["GET", "HEAD", "POST"])
def embedded_form(request, slug):
    return _handle(request, slug, embed=True)
