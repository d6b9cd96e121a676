"""A local fake of Tillo's digital issue endpoint: checks the signature, issues one card per
`client_request_id` (a repeated key returns the same card), and can be told to fail or stall."""

import hashlib
import hmac
import itertools
import json
import threading
import time
from dataclasses import dataclass, field

from werkzeug import Request, Response

API_KEY = "tillo-test-key"
SECRET = "tillo-test-secret"


@dataclass
class FakeTillo:
    issued: dict[str, dict] = field(default_factory=dict)
    requests: int = 0
    fail_next: list[int] = field(default_factory=list)
    stall_next: list[float] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _codes: itertools.count = field(default_factory=lambda: itertools.count(1))

    def handle(self, request: Request) -> Response:
        body = json.loads(request.get_data())
        key = body["client_request_id"]
        with self._lock:
            self.requests += 1
            stall = self.stall_next.pop(0) if self.stall_next else 0
            failure = self.fail_next.pop(0) if self.fail_next else None
        if stall:
            # Issue first, then answer too late: the client times out on a card that exists.
            self._issue(key, body)
            time.sleep(stall)
        if failure:
            return Response(json.dumps({"code": "999", "message": "boom"}), status=failure)
        expected = hmac.new(
            SECRET.encode(),
            "-".join(
                [
                    request.headers["API-Key"],
                    "POST",
                    "digital-issue",
                    key,
                    body["brand"],
                    body["face_value"]["currency"],
                    body["face_value"]["amount"],
                    request.headers["Timestamp"],
                ]
            ).encode(),
            hashlib.sha256,
        ).hexdigest()
        if (
            request.headers.get("API-Key") != API_KEY
            or request.headers.get("Signature") != expected
        ):
            return Response(json.dumps({"code": "401", "message": "bad signature"}), status=401)
        if body["brand"] == "unknown-brand":
            return Response(json.dumps({"code": "704", "message": "Brand not found"}), status=422)
        card = self._issue(key, body)
        return Response(
            json.dumps({"code": "000", "status": "success", "data": card}),
            status=200,
            content_type="application/json",
        )

    def _issue(self, key: str, body: dict) -> dict:
        with self._lock:
            if key not in self.issued:
                n = next(self._codes)
                self.issued[key] = {
                    "code": f"TILLO-{n:08d}",
                    "pin": f"{n:04d}",
                    "reference": f"ORD-{n}",
                    "brand": body["brand"],
                    "face_value": body["face_value"],
                }
            return self.issued[key]
