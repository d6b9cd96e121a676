"""The public redemption page: a customer types the code from their mailer and sees where their
reward stands — under review, text YES, on its way, or the card itself.

Only wrong codes count against the rate limit (per client address, through TRUSTED_PROXY_COUNT
proxies), so a customer checking their own code repeatedly is never locked out, while guessing
codes stops after REDEEM_RATE misses. Each POST takes its unit before the code is looked up and
gives it back when the code is found (mike.core.ratelimit), so a concurrent burst of guesses is
looked up no more than REDEEM_RATE times.
"""

from django import forms
from django.conf import settings
from django.db import transaction
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from campaigns.events import record_event
from campaigns.models import EventSource, EventType
from giftcards.models import RewardStatus
from mike.core import ratelimit
from mike.core.clientip import UNKNOWN, client_ip
from mike.core.views import ratelimited

from .codes import CODE_LENGTH, is_well_formed, normalize_code
from .models import (
    ApprovalStatus,
    Recipient,
    RecipientAuditAction,
    RecipientAuditLog,
    SmsOptInStatus,
)

RATE_GROUP = "redeem-miss"


class RedeemForm(forms.Form):
    code = forms.CharField(
        max_length=40,
        strip=True,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "autocapitalize": "characters",
                "spellcheck": "false",
                "inputmode": "text",
                "placeholder": "7KQ4-M2XD-9P",
            }
        ),
        error_messages={"required": "Enter the code printed on your mailer."},
    )

    def clean_code(self):
        code = normalize_code(self.cleaned_data["code"])
        if len(code) != CODE_LENGTH or not is_well_formed(code):
            raise forms.ValidationError(
                f"A code has {CODE_LENGTH} letters and numbers, like 7KQ4-M2XD-9P."
            )
        return code


def reward_state(recipient: Recipient) -> tuple[str, list]:
    """Which answer the page gives for a recipient, and the delivered rewards to show."""
    rewards = list(
        recipient.rewards.select_related("brand", "gift_card").order_by(
            "condition__condition_number"
        )
    )
    delivered = [r for r in rewards if r.status == RewardStatus.DELIVERED and r.gift_card_id]
    if delivered:
        return "delivered", delivered
    if recipient.approval_status == ApprovalStatus.REJECTED:
        return "not_eligible", []
    if recipient.approval_status in (ApprovalStatus.APPROVED, ApprovalStatus.REDEEMED):
        if recipient.sms_opt_in_status == SmsOptInStatus.OPTED_OUT:
            return "opted_out", []
        if recipient.sms_opt_in_status == SmsOptInStatus.OPTED_IN:
            return "on_its_way", []
        return "text_yes", []
    return "under_review", []


@transaction.atomic
def mark_redeemed(*, recipient: Recipient, ip: str, user_agent: str) -> bool:
    """The customer saw their delivered card: the recipient is `redeemed` (once). True if changed."""
    locked = Recipient.objects.select_for_update().get(pk=recipient.pk)
    if locked.approval_status == ApprovalStatus.REDEEMED:
        return False
    now = timezone.now()
    Recipient.objects.filter(pk=locked.pk).update(
        approval_status=ApprovalStatus.REDEEMED,
        redemption_completed_at=now,
        redemption_ip=ip or None,
        redemption_user_agent=user_agent[:1000],
        updated_at=now,
    )
    RecipientAuditLog.objects.create(
        recipient=locked,
        action=RecipientAuditAction.REDEEMED,
        ip_address=ip or None,
        user_agent=user_agent[:1000],
    )
    record_event(EventType.REDEEMED, recipient=locked, source=EventSource.PURL)
    return True


@never_cache
def redeem(request):
    """GET shows the form; POST looks the code up. Card codes are shown only here, never cached."""
    if request.method != "POST":
        return render(request, "public/redeem.html", {"form": RedeemForm(), "state": None})
    # Every try is a miss until the code is found: the unit is taken before the lookup.
    reservation = ratelimit.reserve(
        group=RATE_GROUP, key=ratelimit.client_key(request), rate=settings.REDEEM_RATE
    )
    if reservation.exceeded:
        response = ratelimited(request)
        response["Retry-After"] = str(reservation.rate.seconds)
        return response

    form = RedeemForm(request.POST)
    recipient = None
    if form.is_valid():
        recipient = (
            Recipient.objects.select_related("audience__client", "campaign")
            .filter(redemption_code=form.cleaned_data["code"])
            .first()
        )
    if recipient is None:
        state = "not_found" if form.is_valid() else None
        return render(request, "public/redeem.html", {"form": form, "state": state}, status=200)
    reservation.give_back()

    state, rewards = reward_state(recipient)
    if state == "delivered":
        ip, agent = client_ip(request), request.headers.get("User-Agent", "")
        if ip == UNKNOWN:
            ip = ""
        record_event(
            EventType.CODE_VIEWED,
            recipient=recipient,
            source=EventSource.PURL,
            rewards=len(rewards),
        )
        mark_redeemed(recipient=recipient, ip=ip, user_agent=agent)
    context = {
        "form": RedeemForm(),
        "state": state,
        "rewards": rewards,
        "pending_more": state == "delivered"
        and recipient.rewards.exclude(
            status__in=[RewardStatus.DELIVERED, RewardStatus.REJECTED, RewardStatus.REVOKED]
        ).exists(),
        "phone_hint": recipient.phone[-4:] if recipient.phone else "",
    }
    return render(request, "public/redeem.html", context)
