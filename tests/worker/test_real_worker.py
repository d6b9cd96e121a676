"""Deliveries through a real Celery worker process on Redis, including a worker killed while it
is talking to Twilio: the card still arrives, recorded once, and nothing is lost."""

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from django.db import connection
from django.utils import timezone
from werkzeug import Request

from giftcards.models import DeliveryStatus, GiftCardDelivery, SmsDeliveryLog
from mike.celery import app
from mike.rewards.tasks import deliver_gift_card, sweep_stuck_work
from tests import factories
from tests.fakes import twilio as fake_twilio

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
BROKER = "redis://127.0.0.1:6379/14"  # not the cache's database: tests flush that one


def wait_for(predicate, timeout=30.0, interval=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


class Worker:
    def __init__(self, twilio_url: str):
        settings_dict = connection.settings_dict
        self.env = {
            **os.environ,
            "DATABASE_URL": (
                f"postgres://{settings_dict['USER']}@{settings_dict['HOST']}:"
                f"{settings_dict['PORT']}/{settings_dict['NAME']}"
            ),
            "CELERY_BROKER_URL": BROKER,
            "CELERY_TASK_ALWAYS_EAGER": "False",
            "SMS_BACKEND": "twilio",
            "TWILIO_API_BASE_URL": twilio_url,
            "TWILIO_ACCOUNT_SID": fake_twilio.ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": fake_twilio.AUTH_TOKEN,
            "TWILIO_FROM_NUMBER": fake_twilio.FROM_NUMBER,
            "TWILIO_TIMEOUT_SECONDS": "30",
        }
        self.env.pop("PYTEST_VERSION", None)
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "mike",
                "worker",
                "--pool",
                "solo",
                "-l",
                "info",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        return self

    def kill(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def producer():
    """This process sends tasks to Redis instead of running them in place."""
    redis.Redis.from_url(BROKER).flushdb()
    saved = (app.conf.task_always_eager, app.conf.broker_url)
    app.conf.task_always_eager = False
    app.conf.broker_url = BROKER
    _reset_connections()
    yield
    app.conf.task_always_eager, app.conf.broker_url = saved
    _reset_connections()


def _reset_connections():
    # Celery builds its connection pools lazily from broker_url; drop them so the next task
    # is sent with the URL set above.
    from kombu import pools

    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def slow_twilio(httpserver):
    """The Twilio fake; `hold` makes it wait before answering, to catch a worker mid-request."""
    fake = fake_twilio.FakeTwilio(url=httpserver.url_for("/"))
    fake.hold = threading.Event()
    fake.hold.set()
    fake.arrived = threading.Event()

    def handler(request: Request):
        fake.arrived.set()
        fake.hold.wait(timeout=30)
        return fake.handle(request)

    fake.register(httpserver, send_handler=handler)
    fake.base = httpserver.url_for("/").rstrip("/")
    return fake


def test_a_real_worker_delivers_the_card(producer, slow_twilio):
    delivery = factories.GiftCardDeliveryFactory()
    worker = Worker(slow_twilio.base).start()
    try:
        deliver_gift_card.delay(str(delivery.pk))
        assert wait_for(
            lambda: GiftCardDelivery.objects.get(pk=delivery.pk).status == DeliveryStatus.SENT
        ), "the worker did not deliver within 30 s"
    finally:
        worker.stop()
    assert len(slow_twilio.messages) == 1
    assert SmsDeliveryLog.objects.filter(delivery=delivery, delivery_status="sent").count() == 1


def test_a_worker_killed_mid_delivery_loses_nothing(producer, slow_twilio):
    delivery = factories.GiftCardDeliveryFactory()
    slow_twilio.hold.clear()
    first = Worker(slow_twilio.base).start()
    try:
        deliver_gift_card.delay(str(delivery.pk))
        assert slow_twilio.arrived.wait(timeout=30), "the worker never called Twilio"
        first.kill()  # dies while Twilio is answering
    finally:
        first.kill()
    slow_twilio.hold.set()
    stuck = GiftCardDelivery.objects.get(pk=delivery.pk)
    assert stuck.status == DeliveryStatus.SENDING  # the row shows where it stopped
    assert stuck.lease_expires_at is not None

    # While the dead worker's lease lasts, the sweep leaves the delivery alone: nothing sends it.
    # Once the lease lapses, the sweep counts the lost attempt and a new worker finishes it.
    GiftCardDelivery.objects.filter(pk=delivery.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    second = Worker(slow_twilio.base).start()
    try:
        sweep_stuck_work.delay()
        assert wait_for(
            lambda: GiftCardDelivery.objects.get(pk=delivery.pk).status == DeliveryStatus.SENT
        ), "the re-queued delivery was not finished"
    finally:
        second.stop()
    assert SmsDeliveryLog.objects.filter(delivery=delivery, delivery_status="sent").count() == 1
    lost = SmsDeliveryLog.objects.get(delivery=delivery, delivery_status="failed")
    assert "stopped before it recorded" in lost.error_message
    # The killed attempt reached Twilio: the next attempt asked Twilio what it had sent and
    # recorded that text rather than texting the card again. Exactly once.
    assert len(slow_twilio.messages) == 1
    assert slow_twilio.list_requests == 1
    sent = GiftCardDelivery.objects.get(pk=delivery.pk)
    assert sent.twilio_message_sid == slow_twilio.messages[0]["sid"]
