"""The call console at /app/calls/: the live list of ringing and answered calls to the agent's
clients' numbers (polled by htmx), and one call worked step by step (recipient, consent,
condition, reward, close), with the client's call script beside the current step and the agent's
recent calls and rewards in a side panel.

Every change goes through `mike.rewards.console`, which logs each step on the call and keeps the
step reached on the call row, so a reload or a second tab resumes it. Pages read the state the
server holds; the partials polled (the live list, the opt-in text's status, the reward's status)
are the same templates the pages include.
"""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from calls import scripts as call_scripts
from calls import selectors
from calls.models import (
    CONSOLE_DISPOSITIONS,
    CallConditionMet,
    CallSession,
    ConsoleStep,
    DispositionType,
    ScriptSection,
    StepName,
    StepOutcome,
)
from giftcards.models import GiftCardDelivery, RecipientGiftCard, RewardStatus
from giftcards.services import codes as card_codes
from giftcards.services.delivery import card_message
from mike.accounts.services import HANDLE_CALLS, accessible_client_ids
from mike.core.phones import format_national
from mike.rewards import console
from recipients.models import Recipient, SmsDirection, SmsOptInLog, SmsOptInStatus, SmsStatus

from ..access import dashboard_view
from .calls import CALL_TONES, duration
from .recipients import is_uuid, local_time, mask_phone, short_time

# The steps an agent moves through, in order, as the step bar shows them.
FLOW = (
    ConsoleStep.RECIPIENT,
    ConsoleStep.CONSENT,
    ConsoleStep.CONDITION,
    ConsoleStep.REWARD,
    ConsoleStep.CLOSE,
)
# Which script sections sit beside which step (all of them stay one click away).
SCRIPT_FOR_STEP = {
    ConsoleStep.RECIPIENT: (ScriptSection.GREETING, ScriptSection.VERIFICATION),
    ConsoleStep.CONSENT: (ScriptSection.EXPLANATION, ScriptSection.OBJECTION_HANDLING),
    ConsoleStep.CONDITION: (ScriptSection.EXPLANATION, ScriptSection.OBJECTION_HANDLING),
    ConsoleStep.REWARD: (ScriptSection.CLOSING,),
    ConsoleStep.CLOSE: (ScriptSection.CLOSING, ScriptSection.ESCALATION),
    ConsoleStep.CLOSED: (ScriptSection.CLOSING,),
}
# The opt-in text's statuses the console watches, as the agent reads them.
OPT_IN_TONES = {"queued": "info", "sent": "info", "delivered": "ok", "received": "ok"}
REWARD_TONES = {
    RewardStatus.CLAIMED: "ok",
    RewardStatus.DELIVERED: "ok",
    RewardStatus.FAILED: "bad",
    RewardStatus.REJECTED: "bad",
    RewardStatus.REVOKED: "bad",
}
# A reward the console keeps polling for: its card may appear any moment.
REWARD_MOVING = (
    RewardStatus.PENDING,
    RewardStatus.AWAITING_STOCK,
    RewardStatus.AWAITING_CREDIT,
    RewardStatus.PURCHASE_PENDING,
)
LIVE_POLL_SECONDS = 3
STATUS_POLL_SECONDS = 2
RECENT = 8


class CloseForm(forms.Form):
    disposition_type = forms.ChoiceField(
        label="How did the call end?",
        choices=[(value, DispositionType(value).label) for value in CONSOLE_DISPOSITIONS],
        widget=forms.RadioSelect,
    )
    follow_up_date = forms.DateField(
        label="Call back on",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="For “Call back later”.",
    )
    notes = forms.CharField(
        label="Notes",
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 4}),
    )

    def clean(self):
        data = super().clean()
        if data.get("disposition_type") == DispositionType.CALLBACK_REQUESTED and not data.get(
            "follow_up_date"
        ):
            self.add_error("follow_up_date", "Pick the day to call back on.")
        return data


def _require_console(request, client=None) -> None:
    scope = request.scope
    allowed = scope.can_handle_calls(client) if client is not None else scope.can_handle_any_calls
    if not allowed:
        raise PermissionDenied("Your role does not work calls in the console.")


def _call(request, call_id) -> CallSession:
    call = get_object_or_404(
        request.scope.filter(CallSession.objects).select_related(
            "client", "campaign", "recipient__audience__client", "tracked_number", "agent"
        ),
        pk=call_id,
    )
    _require_console(request, call.client)
    return call


def _worked_calls(request):
    """The calls of the clients whose calls the user works (not those they only look at)."""
    calls = request.scope.filter(CallSession.objects)
    if not request.scope.is_staff:
        calls = calls.filter(client__in=accessible_client_ids(request.user, HANDLE_CALLS))
    return calls


def _live_context(request) -> dict:
    calls = list(selectors.live_calls(_worked_calls(request))[:50])
    return {
        "live_calls": [
            {
                "call": call,
                "caller": mask_phone(call.caller_phone, request.user) or "Unknown",
                "since": short_time(call.call_started_at or call.created_at, call.client),
                "tone": CALL_TONES.get(call.call_status, ""),
            }
            for call in calls
        ],
        "poll_seconds": LIVE_POLL_SECONDS,
        "show_client": request.scope.client is None,
    }


def _state(call: CallSession) -> str:
    """How a call stands for the agent who took it: closed in the console, over on the phone
    (still to close), or live."""
    if call.console_step == ConsoleStep.CLOSED:
        return "closed"
    return "ended, not closed" if call.is_final else "live"


def _side_context(request) -> dict:
    """The agent's recent calls and the rewards their calls earned."""
    user = request.user
    since = timezone.now() - timedelta(days=30)
    recent_calls = list(
        request.scope.filter(CallSession.objects)
        .filter(agent=user, created_at__gte=since)
        .select_related("recipient", "client", "campaign")
        .order_by("-created_at")[:RECENT]
    )
    met = list(
        request.scope.filter(CallConditionMet.objects)
        .filter(met_by_agent=user, met_at__gte=since)
        .order_by("-met_at")
        .values_list("recipient_id", "condition_id")[:RECENT]
    )
    earned = Q(pk__in=[])
    for recipient_id, condition_id in met:
        earned |= Q(recipient_id=recipient_id, condition_id=condition_id)
    rewards = list(
        RecipientGiftCard.objects.filter(earned)
        .select_related("recipient", "brand")
        .order_by("-created_at")
    )
    return {
        "recent_calls": [
            (call, short_time(call.call_started_at or call.created_at, call.client), _state(call))
            for call in recent_calls
        ],
        "recent_rewards": [(r, REWARD_TONES.get(r.status, "info")) for r in rewards],
    }


@require_safe
@dashboard_view(section="calls", agents=True)
def calls_console(request):
    if not request.scope.can_handle_any_calls:
        return redirect("dashboard:calls_log")
    return render(
        request, "app/calls/console.html", {**_live_context(request), **_side_context(request)}
    )


@require_safe
@dashboard_view(section="calls", agents=True)
def live_calls(request):
    _require_console(request)
    return render(request, "app/calls/_live.html", _live_context(request))


def _opt_in_state(call: CallSession, recipient: Recipient | None) -> dict:
    if recipient is None:
        return {}
    texts = list(
        SmsOptInLog.objects.filter(recipient=recipient)
        .only("direction", "status", "message_sid", "message_text", "created_at", "error_message")
        .order_by("-created_at")[:6]
    )
    # The opt-in question: an outbound text the provider took (it has a SID) or refused. Mike's
    # answers to a reply go back in the webhook's TwiML, logged without a SID (log_reply).
    last_out = next(
        (
            t
            for t in texts
            if t.direction == SmsDirection.OUTBOUND
            and (t.message_sid or t.status in (SmsStatus.FAILED, SmsStatus.UNDELIVERED))
        ),
        None,
    )
    last_in = next((t for t in texts if t.direction == SmsDirection.INBOUND), None)
    status = recipient.sms_opt_in_status
    # Watched while an answer may come: the question is out (or queued from this call and not
    # logged yet), and the recipient has not answered YES or STOP.
    asked_here = call.steps.filter(step=StepName.OPT_IN_SENT, outcome=StepOutcome.SUCCEEDED)
    waiting = status in (SmsOptInStatus.PENDING, SmsOptInStatus.INVALID_RESPONSE) or (
        status == SmsOptInStatus.NOT_SENT and asked_here.exists()
    )
    return {
        "opt_in_status": status,
        "opt_in_label": recipient.get_sms_opt_in_status_display(),
        "opt_in_tone": {
            SmsOptInStatus.OPTED_IN: "ok",
            SmsOptInStatus.OPTED_OUT: "bad",
            SmsOptInStatus.FAILED: "bad",
            SmsOptInStatus.PENDING: "info",
            SmsOptInStatus.INVALID_RESPONSE: "warn",
        }.get(status, ""),
        "last_out": last_out,
        "last_out_tone": OPT_IN_TONES.get(last_out.status, "bad") if last_out else "",
        "last_in": last_in,
        "last_in_time": local_time(last_in.created_at, call.client) if last_in else "",
        "last_out_time": local_time(last_out.created_at, call.client) if last_out else "",
        "consent_polling": waiting,
        "opted_in": status == SmsOptInStatus.OPTED_IN and recipient.opt_in_is_current(),
        "by_email": recipient.reward_by_email and bool(recipient.email),
    }


def _reward_rows(call: CallSession, ladder, revealed: dict) -> list[dict]:
    deliveries = {
        d.reward_id: d
        for d in GiftCardDelivery.objects.filter(
            reward_id__in=[r.reward.pk for r in ladder if r.reward]
        ).order_by("created_at")
    }
    rows = []
    for rung in ladder:
        reward = rung.reward
        if reward is None:
            continue
        delivery = deliveries.get(reward.pk)
        card = reward.gift_card
        rows.append(
            {
                "rung": rung,
                "reward": reward,
                "tone": REWARD_TONES.get(reward.status, "info"),
                "delivery": delivery,
                "message": card_message(delivery, card, masked=True) if delivery and card else "",
                "card": card,
                "revealed": revealed.get(str(reward.pk), ""),
            }
        )
    return rows


def _work_context(request, call: CallSession, *, lookup=None, revealed=None, form=None) -> dict:
    recipient = call.recipient
    ladder = selectors.condition_ladder(recipient)
    step = call.console_step
    if recipient is None and step not in (ConsoleStep.CLOSE, ConsoleStep.CLOSED):
        step = ConsoleStep.RECIPIENT
    script = call_scripts.script_for(client_id=call.client_id, campaign_id=call.campaign_id)
    sections = call_scripts.sections_of(script)
    current = SCRIPT_FOR_STEP.get(step, ())
    client = call.client
    return {
        **_status_context(call),
        "step": step,
        "flow": [(s, ConsoleStep(s).label, s == step) for s in FLOW],
        "closed": step == ConsoleStep.CLOSED,
        "caller": mask_phone(call.caller_phone, request.user) or "Unknown",
        "recipient_phone": mask_phone(recipient.phone, request.user) if recipient else "",
        "tracked_number": format_national(call.tracked_number.phone_number)
        if call.tracked_number
        else "",
        "status_tone": CALL_TONES.get(call.call_status, ""),
        "started": local_time(call.call_started_at or call.created_at, client),
        "duration": duration(call.call_duration_seconds),
        "ladder": ladder,
        "next_rung": next((r for r in ladder if r.state == "next"), None),
        **_reward_context(request, call, ladder, revealed),
        "script_sections": [{**s, "current": s["key"] in current} for s in sections],
        "lookup": lookup,
        "form": form or CloseForm(),
        "dispositions": list(call.dispositions.select_related("agent").order_by("-created_at")),
        **_opt_in_state(call, recipient),
    }


def _status_context(call: CallSession) -> dict:
    """What every panel of the call needs, the polled ones too."""
    return {"call": call, "recipient": call.recipient, "poll_seconds": STATUS_POLL_SECONDS}


def _reward_context(request, call: CallSession, ladder, revealed=None) -> dict:
    """The reward panel: each reward with its card and delivery, and whether to keep polling."""
    rewards = _reward_rows(call, ladder, revealed or {})
    return {
        "rewards": rewards,
        "reward_polling": any(row["reward"].status in REWARD_MOVING for row in rewards)
        or any(
            row["delivery"] is not None and row["delivery"].status in ("queued", "sending")
            for row in rewards
        ),
        "may_reveal": card_codes.agent_may_reveal(request.user, call.client),
    }


def _work_page(request, call, **extra):
    return render(request, "app/calls/work.html", _work_context(request, call, **extra))


@require_safe
@dashboard_view(section="calls", agents=True)
def work_call(request, call_id):
    call = _call(request, call_id)
    console.open_call(call_session=call, agent=request.user)
    return _work_page(request, call)


def _back_to(call: CallSession):
    return redirect(reverse("dashboard:console_call", args=[call.pk]))


def _act(request, call, action, **kwargs):
    """Run one console action; its message (or refusal) becomes a flash message."""
    try:
        result = action(call_session=call, agent=request.user, **kwargs)
    except console.ConsoleRefused as exc:
        messages.error(request, str(exc))
        return None
    if isinstance(result, str):
        messages.success(request, result)
    return result


@require_POST
@dashboard_view(section="calls", agents=True)
def go_to_step(request, call_id):
    call = _call(request, call_id)
    _act(request, call, console.go_to, step=request.POST.get("step", ""))
    return _back_to(call)


@require_POST
@dashboard_view(section="calls", agents=True)
def lookup(request, call_id):
    call = _call(request, call_id)
    recipients = request.scope.filter(Recipient.objects).for_client(call.client)
    found = console.lookup(
        call_session=call,
        agent=request.user,
        recipients=recipients,
        query=request.POST.get("q", ""),
    )
    found.found = [(r, mask_phone(r.phone, request.user)) for r in found.found]
    return _work_page(request, call, lookup=found)


@require_POST
@dashboard_view(section="calls", agents=True)
def attach(request, call_id):
    call = _call(request, call_id)
    recipient_id = request.POST.get("recipient", "")
    recipient = None
    if is_uuid(recipient_id):
        recipient = (
            request.scope.filter(Recipient.objects)
            .for_client(call.client)
            .select_related("audience__client", "campaign")
            .filter(pk=recipient_id)
            .first()
        )
    if recipient is None:
        raise Http404("No such recipient.")
    try:
        console.attach(call_session=call, agent=request.user, recipient=recipient)
    except console.ConsoleRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Call attached to {recipient.full_name or 'the recipient'}.")
    return _back_to(call)


@require_POST
@dashboard_view(section="calls", agents=True)
def send_opt_in(request, call_id):
    call = _call(request, call_id)
    _act(request, call, console.send_opt_in, resend=request.POST.get("resend") == "1")
    return _back_to(call)


@require_POST
@dashboard_view(section="calls", agents=True)
def choose_email(request, call_id):
    call = _call(request, call_id)
    _act(request, call, console.choose_email)
    return _back_to(call)


@require_POST
@dashboard_view(section="calls", agents=True)
def meet_condition(request, call_id):
    call = _call(request, call_id)
    condition = request.POST.get("condition", "")
    if not is_uuid(condition):
        raise Http404("No such condition.")
    _act(request, call, console.meet_next_condition, condition_id=condition)
    return _back_to(call)


@require_POST
@dashboard_view(section="calls", agents=True)
def reveal(request, call_id):
    call = _call(request, call_id)
    reward_id = request.POST.get("reward", "")
    reward = (
        RecipientGiftCard.objects.filter(pk=reward_id, recipient_id=call.recipient_id)
        .select_related("gift_card__pool__client")
        .first()
        if is_uuid(reward_id) and call.recipient_id
        else None
    )
    if reward is None:
        raise Http404("No such reward.")
    try:
        code = console.reveal_code(call_session=call, agent=request.user, reward=reward)
    except console.ConsoleRefused as exc:
        messages.error(request, str(exc))
        return _back_to(call)
    # Shown in this answer only: a reload shows the masked card again.
    return _work_page(request, call, revealed={str(reward.pk): code})


@require_POST
@dashboard_view(section="calls", agents=True)
def close_call(request, call_id):
    call = _call(request, call_id)
    form = CloseForm(request.POST)
    if not form.is_valid():
        # The form is shown again with its errors, on the closing step.
        if call.console_step != ConsoleStep.CLOSED:
            call.console_step = ConsoleStep.CLOSE
        return _work_page(request, call, form=form)
    data = form.cleaned_data
    result = _act(
        request,
        call,
        console.close_call,
        disposition_type=data["disposition_type"],
        notes=data["notes"],
        follow_up_date=data["follow_up_date"],
    )
    if result is not None:
        messages.success(request, f"Call closed: {result.get_disposition_type_display()}.")
        return redirect("dashboard:calls")
    return _back_to(call)


@require_safe
@dashboard_view(section="calls", agents=True)
def consent_status(request, call_id):
    call = _call(request, call_id)
    context = {**_status_context(call), **_opt_in_state(call, call.recipient)}
    return render(request, "app/calls/_consent_status.html", context)


@require_safe
@dashboard_view(section="calls", agents=True)
def reward_status(request, call_id):
    call = _call(request, call_id)
    ladder = selectors.condition_ladder(call.recipient)
    context = {**_status_context(call), **_reward_context(request, call, ladder)}
    return render(request, "app/calls/_reward_status.html", context)


urlpatterns = [
    path("calls/", calls_console, name="calls"),
    path("calls/live/", live_calls, name="calls_live"),
    path("calls/<uuid:call_id>/", work_call, name="console_call"),
    path("calls/<uuid:call_id>/step/", go_to_step, name="console_step"),
    path("calls/<uuid:call_id>/lookup/", lookup, name="console_lookup"),
    path("calls/<uuid:call_id>/attach/", attach, name="console_attach"),
    path("calls/<uuid:call_id>/opt-in/", send_opt_in, name="console_opt_in"),
    path("calls/<uuid:call_id>/email/", choose_email, name="console_email"),
    path("calls/<uuid:call_id>/condition/", meet_condition, name="console_condition"),
    path("calls/<uuid:call_id>/reveal/", reveal, name="console_reveal"),
    path("calls/<uuid:call_id>/close/", close_call, name="console_close"),
    path("calls/<uuid:call_id>/consent/", consent_status, name="console_consent"),
    path("calls/<uuid:call_id>/reward/", reward_status, name="console_reward"),
]
