"""Twilio voice webhooks: an incoming call to a tracked number, and its status callbacks.

Point a tracked number's "A call comes in" webhook at /hooks/twilio/voice/ and its call status
callback at /hooks/twilio/voice/status/. The TwiML answered here sends the forwarded call's result
(`<Dial action>`) and its recording (`recordingStatusCallback`) to the status URL as well; all of
them are idempotent, so Twilio's retries and overlapping callbacks are harmless.
"""

from django.http import HttpResponseBadRequest, HttpResponseForbidden
from django.urls import reverse
from twilio.twiml.voice_response import VoiceResponse

from mike.accounts import twilio_accounts
from mike.core.webhooks import twilio_webhook, twiml_response
from mike.rewards import conditions

from . import numbers, services
from .models import CallSession, CallStatus

NOT_IN_SERVICE = "Sorry, this number is not in service. Goodbye."
CANNOT_CONNECT = "Sorry, we cannot take your call right now. Please try again later. Goodbye."

# <Dial action> reports the forwarded leg's outcome as DialCallStatus; "answered" means the called
# party picked up and the dial has ended, which for the caller is a completed call.
_DIAL_STATUS = {"answered": CallStatus.COMPLETED}


def _say_and_hang_up(text: str) -> VoiceResponse:
    response = VoiceResponse()
    response.say(text)
    response.hangup()
    return response


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


def _signed_by_another_account(request, client) -> bool:
    return not twilio_accounts.account_speaks_for(request.twilio_account_sid, client)


@twilio_webhook
def voice(request):
    call_sid = request.POST.get("CallSid", "")
    if not call_sid:
        return HttpResponseBadRequest("CallSid is required.")
    dialled = numbers.tracked_number_for(request.POST.get("To", ""))
    if dialled is not None and _signed_by_another_account(request, dialled.client):
        return HttpResponseForbidden("This number is not on the account that signed the request.")
    try:
        session = services.handle_incoming_call(
            call_sid=call_sid,
            from_number=request.POST.get("From", ""),
            to_number=request.POST.get("To", ""),
            tracked=dialled,
        )
    except services.UnknownTrackedNumber:
        return twiml_response(_say_and_hang_up(NOT_IN_SERVICE))
    if not session.forward_to_number:
        return twiml_response(_say_and_hang_up(CANNOT_CONNECT))

    status_url = request.build_absolute_uri(reverse("twilio-voice-status"))
    recording = session.tracked_number is None or session.tracked_number.recording_enabled
    dial_options = {"action": status_url, "method": "POST"}
    if recording:
        dial_options |= {
            "record": "record-from-answer-dual",
            "recording_status_callback": status_url,
            "recording_status_callback_method": "POST",
        }
    response = VoiceResponse()
    response.dial(session.forward_to_number, **dial_options)
    return twiml_response(response)


@twilio_webhook
def voice_status(request):
    params = request.POST
    call_sid = params.get("CallSid", "")
    if not call_sid:
        return HttpResponseBadRequest("CallSid is required.")
    session = CallSession.objects.select_related("client").filter(twilio_call_sid=call_sid).first()
    if session is not None and _signed_by_another_account(request, session.client):
        return HttpResponseForbidden("This call is not on the account that signed the request.")
    # The <Dial action> request carries the forwarded leg's result; prefer it over the parent
    # call's CallStatus, which is still "in-progress" at that moment.
    dial_status = params.get("DialCallStatus", "")
    status = _DIAL_STATUS.get(dial_status, dial_status) or params.get("CallStatus", "")
    duration = _int_or_none(params.get("DialCallDuration"))
    if duration is None:
        duration = _int_or_none(params.get("CallDuration"))
    conditions.apply_call_status(
        call_sid=call_sid,
        status=status,
        duration=duration,
        recording_url=params.get("RecordingUrl", ""),
        recording_sid=params.get("RecordingSid", ""),
        recording_duration=_int_or_none(params.get("RecordingDuration")),
    )
    return twiml_response(VoiceResponse())
