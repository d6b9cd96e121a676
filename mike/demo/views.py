"""The admin's phone simulator page: a thin door to `mike.demo.phone_simulator`."""

from urllib.parse import urlencode

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse

from giftcards.models import RewardStatus
from mike.core import sms
from mike.demo import phone_simulator
from mike.demo.forms import CallForm, PickRecipientForm, RecipientActionForm, ReplyForm
from recipients.models import ApprovalStatus

# Rewards that wait for nothing more: no opt-in text is owed for them.
FINISHED = (RewardStatus.DELIVERED, RewardStatus.REJECTED, RewardStatus.REVOKED)

QUICK_REPLIES = ("YES", "STOP", "HELP")
USE_SIMULATOR = "recipients.use_phone_simulator"


def phone_simulator_page(request):
    """Play a recipient's phone: call, meet a condition, approve, text back, and watch the texts.

    Mounted with `admin.site.admin_view` (staff only, CSRF), and only for staff with
    `recipients.use_phone_simulator` (403 otherwise): it meets conditions and claims cards through
    the real services. Every POST does one action through `mike.demo.phone_simulator` and
    redirects back to the recipient with a message (POST-redirect-GET); bad input becomes an error
    message, never a 500.
    """
    if not request.user.has_perm(USE_SIMULATOR):
        raise PermissionDenied
    if request.method == "POST":
        return _simulator_action(request)

    pick = PickRecipientForm(request.GET)
    pick.is_valid()  # an unknown recipient id just shows no recipient, with the form's error
    recipient = pick.cleaned_data.get("recipient")
    query = pick.cleaned_data.get("q", "")
    tracked = phone_simulator.tracked_number_of(recipient) if recipient else None
    context = {
        **admin.site.each_context(request),
        "title": "Phone simulator",
        "is_enabled": phone_simulator.is_enabled(),
        "sms_backend": sms.backend_name(),
        "pick": pick,
        "query": query,
        "results": phone_simulator.search_recipients(query),
        "recipient": recipient,
        "call_form": CallForm(
            initial={
                "tracked_number": tracked.phone_number if tracked else None,
                "caller": recipient.phone if recipient else "",
            }
        ),
    }
    if recipient is not None:
        context |= {
            "tracked": tracked,
            "conditions": phone_simulator.condition_states(recipient),
            "next_condition": phone_simulator.next_condition(recipient),
            "messages_exchanged": phone_simulator.conversation(recipient.phone),
            "calls": phone_simulator.recent_calls(recipient),
            "reply_form": ReplyForm(initial={"recipient": recipient.pk}),
            "quick_replies": QUICK_REPLIES,
            "can_approve": recipient.approval_status == ApprovalStatus.PENDING,
        }
    return render(request, "demo/phone_simulator.html", context)


def _simulator_action(request):
    actions = {
        "call": _simulate_call,
        "condition": _mark_next_condition,
        "approve": _approve,
        "reply": _reply,
    }
    action = actions.get(request.POST.get("action", ""))
    back_to = request.POST.get("recipient", "")
    if action is None:
        messages.error(request, "Unknown simulator action.")
    elif not phone_simulator.is_enabled():
        messages.error(request, str(phone_simulator.SimulatorDisabled()))
    else:
        try:
            back_to = action(request) or back_to
        except phone_simulator.SimulatorError as exc:
            messages.error(request, str(exc))
    return redirect(_simulator_url(back_to))


def _simulator_url(recipient_id) -> str:
    url = reverse("phone-simulator")
    return f"{url}?{urlencode({'recipient': recipient_id})}" if recipient_id else url


def _cleaned(form) -> dict:
    """The form's data, or SimulatorError with every field's error in one sentence."""
    if not form.is_valid():
        raise phone_simulator.SimulatorError(
            " ".join(str(error) for errors in form.errors.values() for error in errors)
        )
    return form.cleaned_data


def _simulate_call(request):
    data = _cleaned(CallForm(request.POST))
    session = phone_simulator.simulate_call(
        tracked_number=data["tracked_number"],
        caller=data["caller"],
        duration=data["duration"],
        interested=data["interested"],
        agent=request.user,
        live=data["live"],
    )
    if data["live"]:
        messages.success(
            request,
            f"Call from {session.caller_phone} is live: an agent takes it in the call console "
            "(/app/calls/).",
        )
        return str(session.recipient_id or "")
    recipient = session.recipient
    if recipient is None:
        messages.warning(
            request,
            f"Call from {session.caller_phone} to {data['tracked_number']} was unmatched: no "
            f"recipient of {session.campaign} has that phone. It lasted {data['duration']} s.",
        )
        return ""
    met = recipient.conditions_met.filter(call_session=session).count()
    messages.success(
        request,
        f"Call from {session.caller_phone} matched {recipient} and lasted {data['duration']} s; "
        f"it met {met} condition(s).",
    )
    return str(recipient.pk)


def _mark_next_condition(request):
    recipient = _cleaned(RecipientActionForm(request.POST))["recipient"]
    met = phone_simulator.mark_next_condition_met(recipient=recipient, agent=request.user)
    messages.success(
        request, f"Condition {met.condition_number} ({met.condition.condition_name}) is met."
    )
    return str(recipient.pk)


def _approve(request):
    recipient = _cleaned(RecipientActionForm(request.POST))["recipient"]
    # The same permission the admin's bulk "approve" action asks for.
    if not request.user.has_perm("recipients.change_recipient"):
        raise phone_simulator.SimulatorError("You may not approve recipients.")
    was_pending = recipient.approval_status == ApprovalStatus.PENDING
    recipient = phone_simulator.approve(recipient=recipient, by=request.user)
    if was_pending and not recipient.rewards.exclude(status__in=FINISHED).exists():
        messages.success(
            request,
            f"Approved {recipient}; no reward is waiting yet, so nothing was texted. Meet a "
            "condition and the opt-in question goes out.",
        )
    elif was_pending:
        messages.success(request, f"Approved {recipient}; the opt-in text is on its way.")
    else:
        messages.info(request, f"{recipient} was already approved.")
    return str(recipient.pk)


def _reply(request):
    data = _cleaned(ReplyForm(request.POST))
    recipient, body = data["recipient"], data["body"]
    answer = phone_simulator.simulate_reply(phone=recipient.phone, body=body)
    messages.success(
        request,
        f"{recipient.phone} texted “{body}”. "
        + (f"Mike replied: “{answer}”" if answer else "Mike sent no reply."),
    )
    return str(recipient.pk)
