"""The SMS layer: locmem/console backends, and the real twilio client against the local fake."""

import os
import re
import subprocess
import sys

import pytest
from django.conf import settings as django_settings

from mike.core import sms
from tests.fakes.twilio import ACCOUNT_SID

TWILIO_MESSAGE_SID = re.compile(r"^SM[0-9a-f]{32}$")

# A fresh process sending texts through a local backend, as `runserver` and `play_phone` do side
# by side; it prints the SIDs it was given.
SEND_IN_ANOTHER_PROCESS = (
    "import django; django.setup(); from mike.core import sms; "
    "print(*(sms.send_sms('+15551230000', 'hi').sid for _ in range(20)))"
)


def test_locmem_backend_collects_messages(sms_outbox):
    sent = sms.send_sms("+15551230000", "hello")
    assert sms_outbox == [sent]
    assert TWILIO_MESSAGE_SID.match(sent.sid) and sent.provider == "locmem"


def test_console_backend_prints(settings, capsys):
    settings.SMS_BACKEND = "console"
    sent = sms.send_sms("+15551230000", "hello console")
    assert "[SMS to +15551230000] hello console" in capsys.readouterr().out
    assert TWILIO_MESSAGE_SID.match(sent.sid)


@pytest.mark.parametrize("backend", ["console", "locmem"])
def test_local_backends_give_sids_no_other_process_gives(backend):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "mike.settings", "SMS_BACKEND": backend}
    runs = [
        subprocess.run(
            [sys.executable, "-c", SEND_IN_ANOTHER_PROCESS],
            cwd=django_settings.BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        for _ in range(2)
    ]
    # The console backend prints each message too; the SIDs are the last line.
    first, second = (set(run.stdout.splitlines()[-1].split()) for run in runs)

    assert len(first) == len(second) == 20
    assert not first & second
    assert all(TWILIO_MESSAGE_SID.match(sid) for sid in first | second)


def test_twilio_backend_sends_through_the_real_client(twilio_server):
    sent = sms.send_sms("+15551230000", "hi", status_callback="http://testserver/cb/")
    assert sent.provider == "twilio" and sent.sid.startswith("SM")
    [message] = twilio_server.messages
    assert message["to"] == "+15551230000" and message["body"] == "hi"
    assert message["status_callback"] == "http://testserver/cb/"
    assert message["authorization"].startswith("Basic ")
    assert message["account_sid"] == ACCOUNT_SID


def test_twilio_5xx_is_retryable_and_nothing_is_recorded(twilio_server):
    twilio_server.fail(500)
    with pytest.raises(sms.SmsError) as error:
        sms.send_sms("+15551230000", "hi")
    assert error.value.retryable
    assert twilio_server.messages == []


def test_twilio_4xx_is_final(twilio_server):
    twilio_server.fail(400)
    with pytest.raises(sms.SmsError) as error:
        sms.send_sms("+15551230000", "hi")
    assert not error.value.retryable


def test_twilio_unreachable_is_retryable(settings):
    settings.SMS_BACKEND = "twilio"
    settings.TWILIO_API_BASE_URL = "http://127.0.0.1:9"  # discard port: connection refused
    with pytest.raises(sms.SmsError) as error:
        sms.send_sms("+15551230000", "hi")
    assert error.value.retryable
