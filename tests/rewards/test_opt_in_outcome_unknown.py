"""The opt-in question is texted at most once, also when a worker dies mid-send or Twilio's
answer never comes: the attempt is taken (a `queued` log row with no SID, committed) before the
text is sent, and an attempt whose outcome is unknown is settled by asking Twilio's message list
before texting again (recipients.services.request_opt_in)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from mike.core import sms
from mike.rewards.sweeps import sweep_stuck_work
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
from recipients.services import opt_in as opt_in_service
from recipients.services.opt_in import OUTCOME_UNKNOWN_PREFIX, request_opt_in
from tests.factories import CampaignFactory, RecipientFactory
from tests.rewards.concurrency import at_once

PHONE = "+15551239876"


def approved() -> Recipient:
    """An approved recipient with a waiting reward, whose opt-in question is not sent yet (as
    an approval leaves them before its queued text runs)."""
    recipient = RecipientFactory(campaign=CampaignFactory(), phone=PHONE, with_reward=True)
    Recipient.objects.filter(pk=recipient.pk).update(
        approval_status=ApprovalStatus.APPROVED, approved_at=timezone.now()
    )
    recipient.refresh_from_db()
    assert recipient.sms_opt_in_status == SmsOptInStatus.NOT_SENT
    return recipient


def outbound(recipient):
    return SmsOptInLog.objects.filter(recipient=recipient, direction=SmsDirection.OUTBOUND)


def _lose_the_worker(recipient, *, texted: bool, fake) -> SmsOptInLog:
    """What a worker SIGKILLed mid-send leaves: the attempt's row `queued` with no SID, older than
    the lease, and, when `texted`, the question at Twilio with nothing recorded of it."""
    body = opt_in_service.opt_in_message(recipient)
    attempt = SmsOptInLog.objects.create(
        recipient=recipient,
        campaign=recipient.campaign,
        phone=recipient.phone,
        direction=SmsDirection.OUTBOUND,
        message_text=body,
        status=SmsStatus.QUEUED,
        provider_used="twilio",
    )
    long_ago = timezone.now() - timedelta(minutes=30)
    SmsOptInLog.objects.filter(pk=attempt.pk).update(created_at=long_ago)
    Recipient.objects.filter(pk=recipient.pk).update(approved_at=long_ago, updated_at=long_ago)
    if texted:
        sms.send_sms(recipient.phone, body)
        assert len(fake.messages) == 1
    return attempt


@pytest.mark.django_db
def test_a_lost_attempt_whose_text_left_is_recorded_not_texted_again(
    twilio_server, django_capture_on_commit_callbacks
):
    recipient = approved()
    attempt = _lose_the_worker(recipient, texted=True, fake=twilio_server)

    with django_capture_on_commit_callbacks(execute=True):
        assert sweep_stuck_work()["opt_ins"] == 1  # the recipient is still `not_sent`

    assert len(twilio_server.messages) == 1  # not texted twice
    assert twilio_server.list_requests == 1
    attempt.refresh_from_db()
    assert attempt.message_sid == twilio_server.messages[0]["sid"]
    assert attempt.status in (SmsStatus.QUEUED, SmsStatus.SENT) and not attempt.error_message
    assert outbound(recipient).count() == 1
    recipient.refresh_from_db()
    assert recipient.sms_opt_in_status == SmsOptInStatus.PENDING
    audit = RecipientAuditLog.objects.get(recipient=recipient, action=RecipientAuditAction.SMS_SENT)
    assert audit.metadata["found_at_provider"] is True


@pytest.mark.django_db
def test_a_lost_attempt_whose_text_never_left_is_sent_once(twilio_server):
    recipient = approved()
    attempt = _lose_the_worker(recipient, texted=False, fake=twilio_server)

    log = request_opt_in(recipient=recipient)

    assert log.pk == attempt.pk  # the same attempt, settled
    assert twilio_server.list_requests == 1
    assert len(twilio_server.messages) == 1
    assert log.message_sid == twilio_server.messages[0]["sid"]
    assert outbound(recipient).count() == 1
    assert request_opt_in(recipient=recipient) is None  # sent: nothing more
    assert len(twilio_server.messages) == 1


@pytest.mark.django_db
def test_an_attempt_in_progress_is_left_to_its_worker(twilio_server):
    recipient = approved()
    attempt = _lose_the_worker(recipient, texted=False, fake=twilio_server)
    SmsOptInLog.objects.filter(pk=attempt.pk).update(created_at=timezone.now())  # just taken

    assert request_opt_in(recipient=recipient) is None
    assert request_opt_in(recipient=recipient, force=True) is None  # not even a resend
    assert twilio_server.messages == [] and twilio_server.list_requests == 0


@pytest.mark.django_db
def test_when_twilio_cannot_be_asked_nothing_is_texted_blind(twilio_server):
    recipient = approved()
    attempt = _lose_the_worker(recipient, texted=True, fake=twilio_server)
    twilio_server.fail_lists = 1

    with pytest.raises(sms.SmsError):
        request_opt_in(recipient=recipient)
    attempt.refresh_from_db()
    assert attempt.status == SmsStatus.QUEUED and attempt.message_sid == ""
    assert attempt.error_message.startswith(OUTCOME_UNKNOWN_PREFIX)
    assert len(twilio_server.messages) == 1

    log = request_opt_in(recipient=recipient)  # the retry asks again, and finds it
    assert log.pk == attempt.pk and log.message_sid == twilio_server.messages[0]["sid"]
    assert len(twilio_server.messages) == 1 and twilio_server.list_requests == 2


@pytest.mark.django_db(transaction=True)
def test_a_send_that_timed_out_is_checked_before_the_retry(late_twilio):
    recipient = approved()

    # The task retries the timed-out send (eager here: at once), after Twilio's late answer.
    with pytest.raises(sms.SmsError):
        request_opt_in(recipient=recipient)
    (attempt,) = outbound(recipient)
    assert attempt.error_message.startswith(OUTCOME_UNKNOWN_PREFIX)
    assert late_twilio.answered.wait(timeout=5)

    send_opt_in_sms.apply(args=(str(recipient.pk),))
    attempt.refresh_from_db()
    assert len(late_twilio.messages) == 1
    assert late_twilio.list_requests == 1
    assert attempt.message_sid == late_twilio.messages[0]["sid"]
    recipient.refresh_from_db()
    assert recipient.sms_opt_in_status == SmsOptInStatus.PENDING


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_text_once(twilio_server):
    recipient = approved()
    results, errors = at_once(lambda: request_opt_in(recipient=recipient))

    assert errors == []
    assert len(twilio_server.messages) == 1
    assert len([log for log in results if log is not None]) == 1
    assert outbound(recipient).count() == 1


@pytest.mark.django_db
def test_a_stop_while_the_question_was_sent_stays_a_stop(twilio_server, monkeypatch):
    recipient = approved()
    real_send = opt_in_service.send_sms

    def send_then_stop(*args, **kwargs):
        sent = real_send(*args, **kwargs)
        Recipient.objects.filter(pk=recipient.pk).update(
            sms_opt_in_status=SmsOptInStatus.OPTED_OUT
        )  # the reply came in while this worker held no lock
        return sent

    monkeypatch.setattr(opt_in_service, "send_sms", send_then_stop)
    assert request_opt_in(recipient=recipient) is not None
    recipient.refresh_from_db()
    assert recipient.sms_opt_in_status == SmsOptInStatus.OPTED_OUT
