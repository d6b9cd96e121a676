"""The public redemption page: a customer types the code from their mailer and sees their
delivered cards, and where each other reward stands (under review, reply YES, being made ready, on
its way), told from the reward and delivery rows that exist (`reward_answer`); a code that has
earned nothing yet is told how to earn a reward.

Only wrong codes count against the rate limit (per client address, through TRUSTED_PROXY_COUNT
proxies), so a customer checking their own code repeatedly is never locked out, while guessing
codes stops after REDEEM_RATE misses. Each POST takes its unit before the code is looked up and
gives it back when the code is found (mike.core.ratelimit), so a concurrent burst of guesses is
looked up no more than REDEEM_RATE times.
"""

import uuid
from dataclasses import dataclass
from enum import StrEnum

from django import forms
from django.conf import settings
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from calls.models import TrackedNumberStatus, TrackedPhoneNumber
from campaigns.daily_counts import zone
from campaigns.models import Event, EventSource, EventType
from giftcards import wallet
from giftcards.models import (
    OPT_OUT_FAILURE_REASONS,
    OWED_A_CARD_STATUSES,
    CardDeliveryMethod,
    DeliveryStatus,
    GiftCardDelivery,
    RecipientGiftCard,
    RewardStatus,
)
from mike import webhooks
from mike.core import ratelimit
from mike.core.clientip import UNKNOWN, client_ip
from mike.core.compiled import CompiledQuery
from mike.core.phones import format_national
from mike.core.views import ratelimited
from mike.webhooks import payloads
from mike.webhooks.catalogue import WebhookEventType

from .codes import CODE_LENGTH, is_well_formed, normalize_code
from .models import (
    READY,
    ApprovalStatus,
    Readiness,
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


class Standing(StrEnum):
    """Where one reward not yet shown as a card stands, as the page tells it."""

    SENDING = "sending"  # its card is claimed and being texted (or emailed)
    TEXT_START = "text_start"  # it waits for a text the recipient has opted out of
    PREPARING = "preparing"  # approved and opted in: the card is being claimed or bought
    REPLY_YES = "reply_yes"  # approved: the opt-in text went out, the YES has not come back
    TEXT_COMING = "text_coming"  # approved: the opt-in text has not gone out yet
    NO_PHONE = "no_phone"  # approved, but there is no phone to text the opt-in or card to
    UNDER_REVIEW = "under_review"  # the recipient is not approved yet
    PROBLEM = "problem"  # sending failed for good, or the reward failed: a person has to look


@dataclass(frozen=True)
class RewardLine:
    reward: RecipientGiftCard
    standing: Standing
    # SENDING: "text" or "email"; the last digits of the phone a text goes (or went) to.
    by: str = ""
    phone_ending: str = ""


@dataclass(frozen=True)
class RewardAnswer:
    """What the page says about a found code. `state` is "cards" (delivered cards to show, and
    perhaps lines), "waiting" (only lines), "no_reward" (the code earned nothing yet, or nothing
    it earned is still coming) or "not_eligible" (the recipient was rejected)."""

    state: str
    cards: list[RecipientGiftCard]
    lines: list[RewardLine]


DELIVERY_FAILED = (DeliveryStatus.FAILED, DeliveryStatus.UNDELIVERED, DeliveryStatus.BOUNCED)


def _ending(phone: str) -> str:
    return phone[-4:] if phone else ""


def _claimed_line(recipient: Recipient, reward: RecipientGiftCard) -> RewardLine:
    """A claimed card goes out through its latest delivery; that row says how it is going."""
    delivery = reward.latest_deliveries[0] if reward.latest_deliveries else None
    if delivery is None:
        # The claim writes its delivery in the same transaction; without one, say no more than
        # that the card is on the way to being sent.
        return RewardLine(reward, Standing.PREPARING)
    by_text = delivery.delivery_method == CardDeliveryMethod.SMS
    sending = RewardLine(
        reward,
        Standing.SENDING,
        by="text" if by_text else "email",
        phone_ending=_ending(delivery.delivery_address) if by_text else "",
    )
    if delivery.status in DELIVERY_FAILED:
        if delivery.failure_reason in OPT_OUT_FAILURE_REASONS:
            return RewardLine(reward, Standing.TEXT_START)
        if delivery.status == DeliveryStatus.FAILED and delivery.can_retry:
            return sending  # the sweep tries again
        return RewardLine(reward, Standing.PROBLEM)
    if by_text and recipient.sms_opt_in_status == SmsOptInStatus.OPTED_OUT:
        # Queued, but the send will refuse an opted-out number.
        return RewardLine(reward, Standing.TEXT_START)
    return sending


def _waiting_line(recipient: Recipient, reward: RecipientGiftCard) -> RewardLine | None:
    """A reward with no card yet waits for approval, then the opt-in, then the claim
    (Recipient.readiness says which)."""
    readiness = recipient.readiness()
    if readiness == Readiness.NOT_APPROVED:
        return RewardLine(reward, Standing.UNDER_REVIEW)
    if readiness == Readiness.REJECTED:
        return None  # not coming
    if readiness in READY:
        by = "email" if readiness == Readiness.READY_BY_EMAIL else "text"
        return RewardLine(reward, Standing.PREPARING, by=by)
    if readiness == Readiness.OPTED_OUT:
        return RewardLine(reward, Standing.TEXT_START)
    if readiness == Readiness.UNREACHABLE:
        return RewardLine(reward, Standing.NO_PHONE)
    if readiness == Readiness.TEXT_REFUSED:
        return RewardLine(reward, Standing.PROBLEM)  # the phone could not be texted
    # Waiting for the opt-in: asked already, or (not asked yet, or asked again once an old
    # opt-in expired) the question is on its way.
    asked = recipient.sms_opt_in_status in (
        SmsOptInStatus.PENDING,
        SmsOptInStatus.INVALID_RESPONSE,
    )
    standing = Standing.REPLY_YES if asked else Standing.TEXT_COMING
    return RewardLine(reward, standing, phone_ending=_ending(recipient.phone))


# What the page reads of a reward and its brand and card: Django compiles and loads these columns
# only, not the wide rows (a public page, hit by every customer checking a code).
REWARD_FIELDS = (
    "id",
    "recipient_id",
    "status",
    "is_sandbox",
    "sandbox_code",
    "card_value",
    "created_at",
    "brand__brand_name",
    "brand__logo_url",
    "brand__redemption_instructions",
    "gift_card__code_encrypted",
    "gift_card__pin_encrypted",
    "gift_card__expiration_date",
)
# What the page reads of the recipient (readiness, the lines, the event) and of its client.
RECIPIENT_FIELDS = (
    "id",
    "campaign_id",
    "approval_status",
    "sms_opt_in_status",
    "sms_opt_in_response_at",
    "phone",
    "email",
    "reward_by_email",
    "audience__client__name",
    "audience__client__logo_url",
    "audience__client__timezone",
)


def reward_answer(
    recipient: Recipient, rewards: list[RecipientGiftCard] | None = None
) -> RewardAnswer:
    """Where each of the recipient's rewards stands, from the reward and delivery rows that exist:
    delivered cards to show, and one line for every other reward still coming (rejected and
    revoked ones are not), in condition order. One query for the rewards with their brand and
    card, unless `rewards` are those `find_with_rewards` read; the deliveries are read (a second
    query) only when a claimed card's sending is told."""
    if rewards is None:
        rewards = REWARDS_OF.all(recipient.pk)
        for reward in rewards:
            RecipientGiftCard.recipient.field.set_cached_value(reward, recipient)
    claimed = {reward.pk: reward for reward in rewards if reward.status == RewardStatus.CLAIMED}
    for reward in rewards:
        reward.latest_deliveries = []  # latest first
    if claimed:
        deliveries = GiftCardDelivery.objects.filter(reward_id__in=claimed)
        for delivery in deliveries.order_by("-created_at"):
            claimed[delivery.reward_id].latest_deliveries.append(delivery)
    cards, lines = [], []
    for reward in rewards:
        line = None
        if reward.status == RewardStatus.DELIVERED and (reward.gift_card_id or reward.is_sandbox):
            cards.append(reward)
        elif reward.status == RewardStatus.CLAIMED:
            line = _claimed_line(recipient, reward)
        elif reward.status in OWED_A_CARD_STATUSES:
            line = _waiting_line(recipient, reward)
        elif reward.status == RewardStatus.FAILED:
            line = RewardLine(reward, Standing.PROBLEM)
        if line is not None:
            lines.append(line)
    if cards:
        state = "cards"
    elif lines:
        state = "waiting"
    elif recipient.approval_status == ApprovalStatus.REJECTED:
        state = "not_eligible"
    else:
        state = "no_reward"
    return RewardAnswer(state=state, cards=cards, lines=lines)


def _number_to_call(campaign: str = "campaign_id") -> Subquery:
    """The tracked number printed on the recipient's mailer (E.164), as a subquery of a row whose
    `campaign` is the recipient's campaign: NULL when none is linked."""
    numbers = TrackedPhoneNumber.objects.filter(
        campaign_id=OuterRef(campaign), status=TrackedNumberStatus.ASSIGNED
    )
    return Subquery(numbers.order_by("phone_number").values("phone_number")[:1])


# Both reads are compiled once per process (mike.core.compiled): a public page, hit by every
# customer checking a code, where Django would otherwise spend more time building these two SELECTs
# than the database spends answering them.
REWARDS_OF = CompiledQuery(
    lambda recipient_id: (
        RecipientGiftCard.objects.filter(recipient_id=recipient_id)
        .select_related("brand", "gift_card")
        .only(*REWARD_FIELDS)
        .order_by("condition__condition_number", "created_at")
    ),
    markers=(uuid.UUID(int=0),),
)
REWARDS_BY_CODE = CompiledQuery(
    lambda code: (
        RecipientGiftCard.objects.filter(recipient__redemption_code=code)
        .select_related("brand", "gift_card", "recipient__audience__client")
        .only(*REWARD_FIELDS, *(f"recipient__{name}" for name in RECIPIENT_FIELDS))
        .annotate(call_number=_number_to_call("recipient__campaign_id"))
        .order_by("condition__condition_number", "created_at")
    )
)
RECIPIENT_BY_CODE = CompiledQuery(
    lambda code: (
        Recipient.objects.select_related("audience__client")
        .only(*RECIPIENT_FIELDS)
        .annotate(call_number=_number_to_call())
        .filter(redemption_code=code)
        .order_by("pk")[:1]
    )
)


def attach_wallet_links(answer: RewardAnswer) -> None:
    """Give each card shown its wallet link's token (`wallet_token`, "" for none). The links are
    made only for someone who has just been shown the card (this page, the form's reveal) and in
    the card's own text; nothing when no wallet is configured."""
    if not (answer.cards and wallet.any_enabled()):
        return
    for reward in answer.cards:
        shown = not reward.is_sandbox and reward.gift_card.status in wallet.PASS_CARD_STATUSES
        reward.wallet_token = wallet.wallet_token(reward) if shown else ""


def wallet_context() -> dict:
    """Which wallet buttons a page showing cards offers (`_gift_card.html`)."""
    return {"wallet_apple": wallet.apple_enabled(), "wallet_google": wallet.google_enabled()}


def number_to_call(recipient: Recipient) -> str:
    """The tracked number printed on the recipient's mailer (E.164), or "" when none is linked:
    the one `find_recipient` read with the row, else one query."""
    if hasattr(recipient, "call_number"):
        return recipient.call_number or ""
    if recipient.campaign_id is None:
        return ""
    numbers = TrackedPhoneNumber.objects.filter(
        campaign_id=recipient.campaign_id, status=TrackedNumberStatus.ASSIGNED
    )
    return numbers.order_by("phone_number").values_list("phone_number", flat=True).first() or ""


def find_with_rewards(code: str) -> tuple[Recipient | None, list[RecipientGiftCard]]:
    """The recipient of a well-formed code as `find_recipient` gives it, and its rewards as
    `reward_answer` reads them: one query when the code has rewards (the page a customer checks
    their card on), a second when it has none."""
    rewards = REWARDS_BY_CODE.all(code)
    if not rewards:
        return find_recipient(code), []
    recipient = rewards[0].recipient
    recipient.call_number = rewards[0].call_number
    for reward in rewards:
        RecipientGiftCard.recipient.field.set_cached_value(reward, recipient)
    return recipient, rewards


def find_recipient(code: str) -> Recipient | None:
    """The recipient of a well-formed code, with what the page shows of it and of its client, and
    the tracked number to call (`call_number`), in one query; None when no recipient has it."""
    return RECIPIENT_BY_CODE.first(code)


def record_code_viewed(recipient: Recipient, *, rewards: int) -> None:
    """The recipient saw their cards: one `code_viewed` event per recipient and day (of the
    client's calendar, the day the daily rollup counts it in) however often they look, so a day's
    count is the people who viewed their cards that day (Event.objects.record_once_a_day)."""
    client = recipient.audience.client
    Event.objects.record_once_a_day(
        EventType.CODE_VIEWED,
        client_id=client.pk,
        campaign_id=recipient.campaign_id,
        recipient_id=recipient.pk,
        day=timezone.localtime(timezone.now(), zone(client.timezone)).date(),
        source=EventSource.PURL,
        rewards=rewards,
    )


def mark_redeemed(*, recipient: Recipient, ip: str, user_agent: str) -> bool:
    """The customer saw their delivered card: the recipient is `redeemed` (once). True if changed.
    A recipient already redeemed when `recipient` was read changes no more: nothing is locked or
    written for them (a redemption is never undone)."""
    if recipient.approval_status == ApprovalStatus.REDEEMED:
        return False
    return _mark_redeemed(recipient=recipient, ip=ip, user_agent=user_agent)


@transaction.atomic
def _mark_redeemed(*, recipient: Recipient, ip: str, user_agent: str) -> bool:
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
    Event.objects.record(EventType.REDEEMED, recipient=locked, source=EventSource.PURL)
    webhooks.emit(
        WebhookEventType.RECIPIENT_REDEEMED,
        client=locked.audience.client_id,
        payload=lambda: {
            **payloads.recipient(locked),
            "approval_status": ApprovalStatus.REDEEMED,
            "redeemed_at": now.isoformat(),
        },
        is_test=locked.is_test,
    )
    return True


@never_cache
def redeem(request):
    """GET shows the form; POST looks the code up. Card codes are shown only here, never cached."""
    if request.method != "POST":
        # The link printed on a mailer carries its code: filled in here, looked up on submit.
        form = RedeemForm(initial={"code": request.GET.get("code", "")[:40]})
        return render(request, "public/redeem.html", {"form": form, "state": None})
    # Every try is a miss until the code is found: the unit is taken before the lookup.
    reservation = ratelimit.reserve(
        group=RATE_GROUP, key=ratelimit.client_key(request), rate=settings.REDEEM_RATE
    )
    if reservation.exceeded:
        response = ratelimited(request)
        response["Retry-After"] = str(reservation.rate.seconds)
        return response

    form = RedeemForm(request.POST)
    recipient, rewards = None, []
    if form.is_valid():
        recipient, rewards = find_with_rewards(form.cleaned_data["code"])
    if recipient is None:
        state = "not_found" if form.is_valid() else None
        return render(request, "public/redeem.html", {"form": form, "state": state}, status=200)
    reservation.give_back()

    answer = reward_answer(recipient, rewards)
    if answer.cards:
        ip, agent = client_ip(request), request.headers.get("User-Agent", "")
        if ip == UNKNOWN:
            ip = ""
        record_code_viewed(recipient, rewards=len(answer.cards))
        mark_redeemed(recipient=recipient, ip=ip, user_agent=agent)
    attach_wallet_links(answer)
    call = number_to_call(recipient)
    context = {
        **wallet_context(),
        "form": RedeemForm(),
        "state": answer.state,
        "answer": answer,
        "call_number": format_national(call),
        "call_link": call,
        "client_name": recipient.audience.client.name,
        "client_logo_url": recipient.audience.client.logo_url,
    }
    return render(request, "public/redeem.html", context)
