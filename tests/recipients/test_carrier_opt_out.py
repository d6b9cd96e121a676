"""Twilio error 21610: a number that replied STOP at the carrier is refused by Twilio. Whether the
refusal comes at send time or in a status callback, Mike opts the number out as a STOP text
would, does not try again, and texts it no more until it sends START."""

import pytest

from campaigns.models import Event, EventType
from mike.rewards import approval, opt_in
from mike.rewards.tasks import send_opt_in_sms
from recipients.models import (
    ApprovalStatus,
    Recipient,
    RecipientAuditAction,
    RecipientAuditLog,
    SmsDirection,
    SmsOptInLog,
    SmsOptInStatus,
    SmsStatus,
)
from tests.factories import CampaignFactory, ClientFactory, RecipientFactory
from tests.fakes import twilio as fake_twilio

pytestmark = pytest.mark.django_db

PHONE = "+15551234567"
INBOUND = "/hooks/twilio/sms/"
STATUS = "/hooks/twilio/sms/status/"


@pytest.fixture
def campaign():
    return CampaignFactory(client=ClientFactory(name="Acme Roofing"))


@pytest.fixture
def recipient(campaign):
    return RecipientFactory(campaign=campaign, phone=PHONE, with_reward=True)


@pytest.fixture
def approve(django_capture_on_commit_callbacks):
    """Approve a recipient and run what the approval queues (the opt-in text) at once."""

    def run(recipient):
        with django_capture_on_commit_callbacks(execute=True):
            approval.approve_recipient(recipient=recipient)
        return Recipient.objects.get(pk=recipient.pk)

    return run


@pytest.fixture
def text_from(twilio_post, django_capture_on_commit_callbacks):
    """A signed inbound text from PHONE."""
    sids = iter(range(1, 1000))

    def send(body):
        params = {
            "MessageSid": f"SM{next(sids):032x}",
            "AccountSid": fake_twilio.ACCOUNT_SID,
            "From": PHONE,
            "To": fake_twilio.FROM_NUMBER,
            "Body": body,
        }
        with django_capture_on_commit_callbacks(execute=True):
            return twilio_post(INBOUND, params)

    return send


def post_status(twilio_post, sid, status, error_code):
    params = {
        "MessageSid": sid,
        "SmsSid": sid,
        "AccountSid": fake_twilio.ACCOUNT_SID,
        "From": fake_twilio.FROM_NUMBER,
        "To": PHONE,
        "MessageStatus": status,
        "SmsStatus": status,
        "ErrorCode": error_code,
    }
    return twilio_post(STATUS, params)


def carrier_opt_outs(recipient):
    return RecipientAuditLog.objects.filter(
        recipient=recipient,
        action=RecipientAuditAction.OPTED_OUT,
        metadata__reason="carrier_opt_out",
    )


def opt_out_events(recipient):
    return Event.objects.filter(recipient=recipient, event_type=EventType.OPTED_OUT)


# --- At send time ---------------------------------------------------------------------------------


def test_opt_in_refused_as_unsubscribed_opts_the_recipient_out(recipient, twilio_server, approve):
    twilio_server.unsubscribe(PHONE)

    recipient = approve(recipient)

    assert recipient.sms_opt_in_status == SmsOptInStatus.OPTED_OUT
    assert recipient.approval_status == ApprovalStatus.APPROVED
    assert len(twilio_server.refused) == 1 and twilio_server.messages == []
    [log] = SmsOptInLog.objects.filter(recipient=recipient)
    assert log.direction == SmsDirection.OUTBOUND and log.status == SmsStatus.FAILED
    assert "21610" in log.error_message and "opted out at the carrier" in log.error_message
    [audit] = carrier_opt_outs(recipient)
    assert audit.metadata["error_code"] == "21610" and audit.metadata["refused"] == "opt-in"
    [event] = opt_out_events(recipient)
    assert event.event_data["reason"] == "carrier_opt_out"


def test_refused_opt_in_is_not_retried_and_nothing_texts_the_number_until_start(
    recipient, twilio_server, approve, text_from
):
    twilio_server.unsubscribe(PHONE)
    recipient = approve(recipient)

    # Neither the sweep's re-run nor the admin's forced resend reaches Twilio again.
    send_opt_in_sms.delay(str(recipient.pk))
    send_opt_in_sms.delay(str(recipient.pk), force=True)
    assert opt_in.queue_opt_in(recipient=recipient, force=True) is False
    assert len(twilio_server.refused) == 1 and twilio_server.messages == []

    twilio_server.resubscribe(PHONE)
    response = text_from("START")

    assert response.status_code == 200 and "opted in" in response.content.decode()
    assert Recipient.objects.get(pk=recipient.pk).sms_opt_in_status == SmsOptInStatus.OPTED_IN


def test_a_refusal_with_another_code_is_no_opt_out(recipient, twilio_server, approve):
    twilio_server.fail(400)  # the fake's generic error, not 21610

    recipient = approve(recipient)

    # Refused for good, but not an opt-out: the number could not be texted.
    assert recipient.sms_opt_in_status == SmsOptInStatus.FAILED
    assert not carrier_opt_outs(recipient).exists()
    assert not opt_out_events(recipient).exists()


def test_a_carrier_opt_out_moves_every_recipient_texted_at_the_number(
    recipient, twilio_server, approve
):
    elsewhere = RecipientFactory(
        campaign=CampaignFactory(),
        phone=PHONE,
        approval_status=ApprovalStatus.APPROVED,
        sms_opt_in_status=SmsOptInStatus.OPTED_IN,
    )
    twilio_server.unsubscribe(PHONE)

    approve(recipient)

    assert Recipient.objects.get(pk=elsewhere.pk).sms_opt_in_status == SmsOptInStatus.OPTED_OUT
    assert carrier_opt_outs(elsewhere).count() == 1


# --- In a status callback -------------------------------------------------------------------------


@pytest.fixture
def asked(recipient, approve, sms_outbox):
    """An approved recipient who was sent the opt-in question and has not answered."""
    recipient = approve(recipient)
    sms_outbox.clear()
    assert recipient.sms_opt_in_status == SmsOptInStatus.PENDING
    return recipient


@pytest.mark.parametrize("status", ["failed", "undelivered"])
def test_status_callback_with_21610_opts_the_recipient_out(asked, twilio_post, status):
    log = SmsOptInLog.objects.get(recipient=asked, direction=SmsDirection.OUTBOUND)

    response = post_status(twilio_post, log.message_sid, status, "21610")

    assert response.status_code == 204
    log.refresh_from_db()
    assert log.status in (SmsStatus.FAILED, SmsStatus.UNDELIVERED)
    assert "21610" in log.error_message and "opted out at the carrier" in log.error_message
    assert log.message_sid in log.error_message
    asked.refresh_from_db()
    assert asked.sms_opt_in_status == SmsOptInStatus.OPTED_OUT
    [audit] = carrier_opt_outs(asked)
    assert audit.metadata["message_sid"] == log.message_sid
    assert opt_out_events(asked).count() == 1


def test_repeated_21610_callback_writes_nothing_more(asked, twilio_post):
    log = SmsOptInLog.objects.get(recipient=asked, direction=SmsDirection.OUTBOUND)

    post_status(twilio_post, log.message_sid, "undelivered", "21610")
    post_status(twilio_post, log.message_sid, "undelivered", "21610")
    post_status(twilio_post, log.message_sid, "failed", "21610")

    assert carrier_opt_outs(asked).count() == 1
    assert opt_out_events(asked).count() == 1
    assert SmsOptInLog.objects.filter(recipient=asked).count() == 1


def test_carrier_opt_out_keeps_the_recipients_last_reply(asked, twilio_post, text_from):
    text_from("what is this?")
    log = SmsOptInLog.objects.get(
        recipient=asked, direction=SmsDirection.OUTBOUND, message_sid__startswith="SM"
    )

    post_status(twilio_post, log.message_sid, "undelivered", "21610")

    asked.refresh_from_db()
    assert asked.sms_opt_in_status == SmsOptInStatus.OPTED_OUT
    assert asked.sms_opt_in_response == "what is this?"


def test_21610_callback_with_a_forged_signature_changes_nothing(asked, twilio_post):
    log = SmsOptInLog.objects.get(recipient=asked, direction=SmsDirection.OUTBOUND)

    response = twilio_post(
        STATUS,
        {"MessageSid": log.message_sid, "MessageStatus": "failed", "ErrorCode": "21610"},
        signature="forged",
    )

    assert response.status_code == 403
    assert Recipient.objects.get(pk=asked.pk).sms_opt_in_status == SmsOptInStatus.PENDING
    assert not carrier_opt_outs(asked).exists()
