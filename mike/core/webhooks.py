"""Twilio webhooks: every request must carry a valid `X-Twilio-Signature`.

The signature covers the full URL Twilio called and the POST parameters, signed with the account's
auth token. The URL is rebuilt with `request.build_absolute_uri()`, so behind a proxy set
`USE_X_FORWARDED_HOST`/`SECURE_PROXY_SSL_HEADER` (or `SITE_URL`) to make it match what Twilio saw.
A missing or wrong signature gets 403 before the view runs, so nothing is written.
"""

import functools
import logging

from django.conf import settings
from django.http import HttpResponse, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator

logger = logging.getLogger(__name__)


def twilio_signature_is_valid(request) -> bool:
    token = settings.TWILIO_AUTH_TOKEN
    signature = request.headers.get("X-Twilio-Signature", "")
    if not token or not signature:
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
        return view(request, *args, **kwargs)

    return csrf_exempt(require_POST(wrapper))


def twiml_response(twiml) -> HttpResponse:
    return HttpResponse(str(twiml), content_type="application/xml")
