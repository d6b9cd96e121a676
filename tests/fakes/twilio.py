"""A local fake of Twilio's REST API (Messages) and a signer for Twilio webhooks.

The real `twilio` client is pointed at this server through TWILIO_API_BASE_URL, so the library's
request building and authentication run as in production. The fake records every message and can
be told to fail the next requests with a status code, or to refuse every message to a number that
opted out at the carrier (HTTP 400, error 21610, as Twilio answers once a number replied STOP).

`FakeTwilioNumbers` (the `twilio_numbers` fixture) adds the phone-number resources: numbers for
sale, and buying, re-pointing and releasing them, per account.
"""

import base64
import email.utils
import functools
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

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
    list_requests: int = 0
    fail_lists: int = 0  # answer the next this many list requests with a 500
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
                "date_created": email.utils.format_datetime(datetime.now(UTC)),
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

    def list_messages(self, request: Request) -> Response:
        """Twilio's message list (GET Messages.json), newest first, filtered by To and From as
        the real API filters them; one page."""
        to, sender = request.args.get("To"), request.args.get("From")
        with self._lock:
            self.list_requests += 1
            if self.fail_lists:
                self.fail_lists -= 1
                body = {"code": 20500, "message": "Internal error", "status": 500}
                return Response(json.dumps(body), status=500, content_type="application/json")
            found = [
                m
                for m in self.messages
                if (not to or m["to"] == to) and (not sender or m["from"] == sender)
            ]
        page_size = int(request.args.get("PageSize") or 50)
        body = {
            "messages": list(reversed(found))[:page_size],
            "next_page_uri": None,
            "page": 0,
            "page_size": page_size,
        }
        return Response(json.dumps(body), status=200, content_type="application/json")

    def register(self, httpserver, *, send_handler=None) -> None:
        """Answer sending (POST) and listing (GET) Messages.json on `httpserver`."""
        messages = re.compile(r"/2010-04-01/Accounts/[^/]+/Messages\.json")
        httpserver.expect_request(messages, method="POST").respond_with_handler(
            send_handler or self.handle
        )
        httpserver.expect_request(messages, method="GET").respond_with_handler(self.list_messages)

    def bodies_to(self, phone: str) -> list[str]:
        return [m["body"] for m in self.messages if m["to"] == phone]


def signature(url: str, params: dict, token: str = AUTH_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, params)


# --- Phone numbers: AvailablePhoneNumbers and IncomingPhoneNumbers --------------------------------

NUMBERS_PATH = r"/2010-04-01/Accounts/(?P<account>AC[0-9a-fA-F]+)/"


def _twilio_error(status: int, code: int, message: str) -> Response:
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return Response(json.dumps(body), status=status, content_type="application/json")


def _available(phone: str, locality: str, region: str, postal_code: str) -> dict:
    return {
        "phone_number": phone,
        "friendly_name": f"({phone[2:5]}) {phone[5:8]}-{phone[8:]}",
        "locality": locality,
        "region": region,
        "postal_code": postal_code,
        "iso_country": "US",
        "capabilities": {"voice": True, "SMS": True, "MMS": True},
    }


def default_inventory() -> dict[str, list[dict]]:
    return {
        "US": [
            _available("+14155550101", "San Francisco", "CA", "94105"),
            _available("+14155550102", "San Francisco", "CA", "94107"),
            _available("+14155550103", "Oakland", "CA", "94607"),
            _available("+12125550101", "New York", "NY", "10001"),
        ],
        "CA": [_available("+16045550101", "Vancouver", "BC", "V6B")],
    }


@dataclass
class FakeTwilioNumbers:
    """Twilio's phone-number resources, per account: numbers for sale (by country, filtered by
    AreaCode), numbers bought (IncomingPhoneNumbers: buy, update, release), each request recorded
    with the account in its path and the one its Basic authorization names, so a test proves
    whose credentials were used. An account whose token does not match is refused (401, 20003).

    Failure injection, each for the next request to a numbers resource: `fail(status, code,
    message)` answers a Twilio error, `slow(seconds)` sleeps before answering (past the client's
    timeout). `on_buy(number)` runs in the server's thread after a purchase is recorded and before
    it is answered, as another request racing the buyer would."""

    accounts: dict[str, str] = field(default_factory=lambda: {ACCOUNT_SID: AUTH_TOKEN})
    available: dict[str, list[dict]] = field(default_factory=default_inventory)
    owned: dict[str, dict] = field(default_factory=dict)
    released: list[dict] = field(default_factory=list)
    requests: list[dict] = field(default_factory=list)
    failures: list[tuple[int, int, str]] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)
    on_buy: object = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _sids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def add_account(self, account_sid: str, auth_token: str) -> None:
        self.accounts[account_sid] = auth_token

    def fail(self, status: int = 500, code: int = 20500, message: str = "Internal error") -> None:
        self.failures.append((status, code, message))

    def slow(self, seconds: float) -> None:
        self.delays.append(seconds)

    def own(self, phone: str, *, account_sid: str = ACCOUNT_SID) -> dict:
        """A number the account already has (bought before the test)."""
        sid = f"PN{next(self._sids):032x}"
        number = {"sid": sid, "account_sid": account_sid, "phone_number": phone}
        self.owned[sid] = number
        return number

    def register(self, httpserver) -> None:
        for pattern, method in (
            (NUMBERS_PATH + r"AvailablePhoneNumbers/(?P<country>[A-Z]{2})/Local\.json", "GET"),
            (NUMBERS_PATH + r"IncomingPhoneNumbers\.json", "POST"),
            (NUMBERS_PATH + r"IncomingPhoneNumbers/(?P<sid>PN[0-9a-f]+)\.json", "POST"),
            (NUMBERS_PATH + r"IncomingPhoneNumbers/(?P<sid>PN[0-9a-f]+)\.json", "DELETE"),
        ):
            httpserver.expect_request(re.compile(pattern), method=method).respond_with_handler(
                functools.partial(self.handle, re.compile(pattern))
            )

    def requests_to(self, kind: str) -> list[dict]:
        return [r for r in self.requests if r["kind"] == kind]

    def handle(self, pattern, request: Request) -> Response:
        match = pattern.match(request.path)
        account = match["account"]
        user, password = _basic_auth(request)
        kind = _kind(request.method, request.path)
        with self._lock:
            self.requests.append(
                {
                    "kind": kind,
                    "method": request.method,
                    "path": request.path,
                    "account_sid": account,
                    "auth_user": user,
                    "auth_matches": self.accounts.get(user) == password,
                    "params": dict(request.args if request.method == "GET" else request.form),
                }
            )
            delay = self.delays.pop(0) if self.delays else 0
            failure = self.failures.pop(0) if self.failures else None
        if delay:
            time.sleep(delay)
        if self.accounts.get(user) != password or user != account:
            return _twilio_error(401, 20003, "Authenticate")
        if failure:
            return _twilio_error(*failure)
        groups = match.groupdict()
        if kind == "search":
            return self._search(groups["country"], request.args)
        if kind == "buy":
            return self._buy(account, request.form)
        if kind == "update":
            return self._update(account, groups["sid"], request.form)
        return self._release(account, groups["sid"])

    def _search(self, country: str, args) -> Response:
        area_code = args.get("AreaCode", "")
        limit = int(args.get("PageSize") or 50)
        with self._lock:
            found = [
                n
                for n in self.available.get(country, [])
                if not area_code or n["phone_number"][2:5] == area_code
            ][:limit]
        body = {"available_phone_numbers": found, "uri": "/AvailablePhoneNumbers/Local.json"}
        return Response(json.dumps(body), status=200, content_type="application/json")

    def _buy(self, account: str, form) -> Response:
        phone = form.get("PhoneNumber", "")
        with self._lock:
            for country, numbers in self.available.items():
                offer = next((n for n in numbers if n["phone_number"] == phone), None)
                if offer is not None:
                    numbers.remove(offer)
                    break
            else:
                offer = None
            if offer is None:
                return _twilio_error(400, 21422, "PhoneNumber requested is not available")
            sid = f"PN{next(self._sids):032x}"
            number = {
                "sid": sid,
                "account_sid": account,
                "phone_number": phone,
                "friendly_name": form.get("FriendlyName", offer["friendly_name"]),
                "iso_country": country,
                "capabilities": offer["capabilities"],
                "date_created": "Wed, 02 Dec 2026 10:00:00 +0000",
                **_urls(form),
            }
            self.owned[sid] = number
        if self.on_buy is not None:
            self.on_buy(number)
        return Response(json.dumps(number), status=201, content_type="application/json")

    def _update(self, account: str, sid: str, form) -> Response:
        with self._lock:
            number = self.owned.get(sid)
            if number is None or number["account_sid"] != account:
                return _twilio_error(404, 20404, f"The requested resource {sid} was not found")
            number.update(_urls(form))
        return Response(json.dumps(number), status=200, content_type="application/json")

    def _release(self, account: str, sid: str) -> Response:
        with self._lock:
            number = self.owned.get(sid)
            if number is None or number["account_sid"] != account:
                return _twilio_error(404, 20404, f"The requested resource {sid} was not found")
            self.released.append(self.owned.pop(sid))
        return Response("", status=204)


_URL_FIELDS = {
    "VoiceUrl": "voice_url",
    "VoiceMethod": "voice_method",
    "StatusCallback": "status_callback",
    "StatusCallbackMethod": "status_callback_method",
    "SmsUrl": "sms_url",
    "SmsMethod": "sms_method",
}


def _urls(form) -> dict:
    return {name: form[param] for param, name in _URL_FIELDS.items() if param in form}


def _kind(method: str, path: str) -> str:
    if "AvailablePhoneNumbers" in path:
        return "search"
    if path.endswith("IncomingPhoneNumbers.json"):
        return "buy"
    return "update" if method == "POST" else "release"


def _basic_auth(request: Request) -> tuple[str, str]:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return "", ""
    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    return user, password
