"""Twilio's SMS webhooks: replies to the opt-in question and status callbacks of our texts.

Both are signed by Twilio (`@twilio_webhook` answers 403 otherwise) and do their work through
`mike.rewards.inbound`, which makes a repeated delivery of the same callback harmless.
"""

import logging

from django.conf import settings
from django.http import HttpResponse, HttpResponseBadRequest
from twilio.twiml.messaging_response import MessagingResponse

from mike.accounts import twilio_accounts
from mike.core.webhooks import twilio_webhook, twiml_response
from mike.rewards import inbound

logger = logging.getLogger(__name__)


@twilio_webhook
def sms_inbound(request):
    from_number = request.POST.get("From", "")
    if not from_number:
        return HttpResponseBadRequest("From is required.")
    # A text that came through a client's (or agency's) own Twilio account concerns that
    # account's clients only: its token is known to their admins, so it cannot speak for others.
    client_ids = None
    if request.twilio_account_sid != settings.TWILIO_ACCOUNT_SID:
        client_ids = twilio_accounts.clients_of_account(request.twilio_account_sid)
    reply = inbound.handle_inbound_sms(
        from_number=from_number,
        body=request.POST.get("Body", ""),
        message_sid=request.POST.get("MessageSid", "") or request.POST.get("SmsSid", ""),
        to_number=request.POST.get("To", ""),
        client_ids=client_ids,
    )
    response = MessagingResponse()
    if reply:
        response.message(reply)
    return twiml_response(response)


@twilio_webhook
def sms_status(request):
    if request.twilio_account_sid != settings.TWILIO_ACCOUNT_SID:
        # Mike texts (opt-in questions, cards) from the platform's account only, so a callback
        # signed with a client's or agency's own token is about no text of Mike's: its admins
        # know that token, and it must not move another client's delivery.
        logger.info(
            "SMS status callback of account %s ignored: Mike sends no texts from it",
            request.twilio_account_sid,
        )
        return HttpResponse(status=204)
    inbound.apply_sms_status(
        message_sid=request.POST.get("MessageSid", "") or request.POST.get("SmsSid", ""),
        status=request.POST.get("MessageStatus", "") or request.POST.get("SmsStatus", ""),
        error_code=request.POST.get("ErrorCode", ""),
    )
    return HttpResponse(status=204)
