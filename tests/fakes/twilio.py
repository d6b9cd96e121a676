"""A local fake of Twilio's REST API (Messages) and a signer for Twilio webhooks.

The real `twilio` client is pointed at this server through TWILIO_API_BASE_URL, so the library's
request building and authentication run as in production. The fake records every message and can
be told to fail the next requests with a status code, or to refuse every message to a number that
opted out at the carrier (HTTP 400, error 21610, as Twilio answers once a number replied STOP).
"""

import itertools
import json
import threading
from dataclasses import dataclass, field

from twilio.request_validator import RequestValidator
from werkzeug import Request, Response

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
FROM_NUMBER = "+18005550000"


@dataclass
class FakeTwilio:
    url: str
    messages: list[dict] = field(default_factory=list)
    fail_next: list[int] = field(default_factory=list)
    unsubscribed: set[str] = field(default_factory=set)
    refused: list[dict] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _sids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def fail(self, status: int = 500, times: int = 1) -> None:
        with self._lock:
            self.fail_next.extend([status] * times)

    def unsubscribe(self, phone: str) -> None:
        """Refuse every message to `phone` from now on, as Twilio does after it replied STOP."""
        with self._lock:
            self.unsubscribed.add(phone)

    def resubscribe(self, phone: str) -> None:
        """Let messages to `phone` through again, as Twilio does after it replied START."""
        with self._lock:
            self.unsubscribed.discard(phone)

    def handle(self, request: Request) -> Response:
        with self._lock:
            if self.fail_next:
                status = self.fail_next.pop(0)
                body = {"code": 20500, "message": "Internal error", "status": status}
                return Response(json.dumps(body), status=status, content_type="application/json")
            if request.form.get("To") in self.unsubscribed:
                self.refused.append(
                    {"to": request.form.get("To"), "body": request.form.get("Body")}
                )
                body = {
                    "code": 21610,
                    "message": "Attempt to send to unsubscribed recipient",
                    "more_info": "https://www.twilio.com/docs/errors/21610",
                    "status": 400,
                }
                return Response(json.dumps(body), status=400, content_type="application/json")
            sid = f"SM{next(self._sids):032x}"
            message = {
                "sid": sid,
                "to": request.form.get("To"),
                "from": request.form.get("From"),
                "body": request.form.get("Body"),
                "status": "queued",
                "status_callback": request.form.get("StatusCallback", ""),
                "account_sid": ACCOUNT_SID,
                "authorization": request.headers.get("Authorization", ""),
            }
            self.messages.append(message)
        return Response(json.dumps(message), status=201, content_type="application/json")

    def bodies_to(self, phone: str) -> list[str]:
        return [m["body"] for m in self.messages if m["to"] == phone]


def signature(url: str, params: dict, token: str = AUTH_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, params)
