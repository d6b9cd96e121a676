"""Twilio webhooks: every request must carry a valid `X-Twilio-Signature`.

The signature covers the full URL Twilio called and the POST parameters, signed with the auth token
of the account that sent it. Twilio names that account in `AccountSid`: the platform's
(`TWILIO_ACCOUNT_SID`, or no `AccountSid` at all) is checked with `TWILIO_AUTH_TOKEN`; any other is
looked up through `settings.TWILIO_WEBHOOK_ACCOUNT_LOOKUP` (an organization's own account,
mike.accounts.twilio_accounts), and an account nobody has is refused. A signature made with one
account's token never passes for another account. The URL is rebuilt with `request.build_absolute_uri()`:
behind a reverse proxy it matches what Twilio called only when TRUSTED_PROXY_COUNT says the proxy
is there, which makes Django believe the scheme and host it forwards (X-Forwarded-Proto/Host,
mike/settings.py); with 0 they are ignored, so a client cannot choose the URL that is checked.
A missing or wrong signature gets 403 before the view runs, so nothing is written.
"""

import functools
import logging

from django.conf import settings
from django.http import HttpResponse, HttpResponseForbidden
from django.utils.module_loading import import_string
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator

logger = logging.getLogger(__name__)


def auth_token_for(account_sid: str) -> str | None:
    """The auth token of the Twilio account `account_sid` (None for an account Mike does not
    know). No account named means the platform's: Twilio always names it, Mike's own tests and
    tools may not."""
    if not account_sid or account_sid == settings.TWILIO_ACCOUNT_SID:
        return settings.TWILIO_AUTH_TOKEN or None
    lookup = settings.TWILIO_WEBHOOK_ACCOUNT_LOOKUP
    return import_string(lookup)(account_sid) if lookup else None


def twilio_signature_is_valid(request) -> bool:
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature:
        return False
    token = auth_token_for(request.POST.get("AccountSid", "").strip())
    if not token:
        return False
    validator = RequestValidator(token)
    return validator.validate(request.build_absolute_uri(), request.POST.dict(), signature)


def twilio_webhook(view):
    """Only POSTs signed by Twilio reach `view`; CSRF does not apply (Twilio has no cookie)."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if not twilio_signature_is_valid(request):
            logger.warning("Refused a Twilio webhook with a bad signature: %s", request.path)
            return HttpResponseForbidden("Invalid Twilio signature.")
        # The account whose token the signature was checked with, for a view to compare with
        # the account of what the webhook is about.
        request.twilio_account_sid = (
            request.POST.get("AccountSid", "").strip() or settings.TWILIO_ACCOUNT_SID
        )
        return view(request, *args, **kwargs)

    return csrf_exempt(require_POST(wrapper))


def twiml_response(twiml) -> HttpResponse:
    return HttpResponse(str(twiml), content_type="application/xml")
