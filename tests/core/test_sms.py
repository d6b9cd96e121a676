"""The SMS layer: locmem/console backends, and the real twilio client against the local fake."""

import pytest

from mike.core import sms
from tests.fakes.twilio import ACCOUNT_SID


def test_locmem_backend_collects_messages(sms_outbox):
    sent = sms.send_sms("+15551230000", "hello")
    assert sms_outbox == [sent]
    assert sent.sid.startswith("SM") and sent.provider == "locmem"


def test_console_backend_prints(settings, capsys):
    settings.SMS_BACKEND = "console"
    sms.send_sms("+15551230000", "hello console")
    assert "[SMS to +15551230000] hello console" in capsys.readouterr().out


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
