"""A local endpoint that receives Mike's webhooks as a subscriber's server would: it checks the
signature with the subscription's secret and answers what the test tells it to."""

import json
import time
from dataclasses import dataclass, field

import pytest
from werkzeug.wrappers import Response

from mike.core.signing import SignatureError, verify
from mike.webhooks.services import create_subscription
from tests import factories


@dataclass
class Received:
    headers: dict
    body: bytes
    signature_ok: bool

    @property
    def json(self) -> dict:
        return json.loads(self.body)

    @property
    def type(self) -> str:
        return self.json["type"]


@dataclass
class Receiver:
    url: str
    secret: str = ""
    answers: list = field(default_factory=list)  # status codes to give, in order; then 200
    delay: float = 0.0
    received: list = field(default_factory=list)

    def handle(self, request):
        body = request.get_data()
        try:
            verify(
                header=request.headers.get("X-Mike-Signature", ""),
                body=body,
                secrets=[self.secret],
                now=int(time.time()),
            )
        except SignatureError:
            ok = False
        else:
            ok = bool(self.secret)
        self.received.append(Received(dict(request.headers), body, ok))
        if self.delay:
            time.sleep(self.delay)
        status = self.answers.pop(0) if self.answers else 200
        return Response("ok" if status < 300 else "nope", status=status)

    @property
    def types(self) -> list[str]:
        return [item.type for item in self.received]


@pytest.fixture
def receiver(httpserver):
    fake = Receiver(url=httpserver.url_for("/hooks/mike"))
    httpserver.expect_request("/hooks/mike", method="POST").respond_with_handler(fake.handle)
    return fake


@pytest.fixture
def client_org(db):
    return factories.ClientFactory(name="Summit Roofing")


@pytest.fixture
def subscribe(receiver, client_org):
    """Subscribe the receiver to `events` (all by default) of `client` (the test's client)."""

    def make(events=None, *, client=None, is_test=False, url=None):
        from mike.webhooks.catalogue import EVENT_TYPES

        subscription, secret = create_subscription(
            client=client or client_org,
            url=url or receiver.url,
            events=list(events or EVENT_TYPES),
            is_test=is_test,
        )
        receiver.secret = secret
        return subscription

    return make
