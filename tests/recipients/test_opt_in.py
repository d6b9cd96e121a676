"""The SMS opt-in conversation: the opt-in text, the replies, and Twilio's status callbacks."""

import threading
from decimal import Decimal

import pytest
from celery.exceptions import Retry
from django.db import connection
from django.urls import reverse

from campaigns.models import Event, EventType
from giftcards.models import DeliveryStatus, RewardStatus
from giftcards.services import allocate_credit
from mike.core.sms import SmsProvider
from mike.rewards import approval, inbound, opt_in
from mike.rewards.sweeps import sweep_stuck_work
from mike.rewards.tasks import OPT_IN_MAX_RETRIES, send_opt_in_sms
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
from tests.factories import (
    CampaignConditionFactory,
    CampaignFactory,
    ClientFactory,
    GiftCardDeliveryFactory,
    GiftCardFactory,
    GiftCardPoolFactory,
    RecipientFactory,
    RecipientGiftCardFactory,
)
from tests.fakes import twilio as fake_twilio

pytestmark = pytest.mark.django_db

PHONE = "+15551234567"
INBOUND = "/hooks/twilio/sms/"
STATUS = "/hooks/twilio/sms/status/"
_sids = iter(range(1, 10_000))


@pytest.fixture
def campaign():
    return CampaignFactory(client=ClientFactory(name="Acme Roofing"))


@pytest.fixture
def recipient(campaign):
    return RecipientFactory(campaign=campaign, phone=PHONE, with_reward=True)


@pytest.fixture
def asked(recipient, django_capture_on_commit_callbacks, sms_outbox):
    """An approved recipient who was sent the opt-in question."""
    with django_capture_on_commit_callbacks(execute=True):
        approval.approve_recipient(recipient=recipient)
    assert len(sms_outbox) == 1
    sms_outbox.clear()
    recipient.refresh_from_db()
    assert recipient.sms_opt_in_status == SmsOptInStatus.PENDING
    return recipient


@pytest.fixture
def reply(twilio_post, django_capture_on_commit_callbacks):
    """Text the Twilio inbound webhook from a phone; returns the HTTP response."""

    def send(body, *, from_number=PHONE, sid=None):
        params = {
            "MessageSid": sid or f"SM{next(_sids):032x}",
            "AccountSid": fake_twilio.ACCOUNT_SID,
            "From": from_number,
            "To": fake_twilio.FROM_NUMBER,
            "Body": body,
        }
        with django_capture_on_commit_callbacks(execute=True):
            return twilio_post(INBOUND, params)

    return send


def reply_text(response) -> str:
    assert response.status_code == 200
    assert response["Content-Type"] == "application/xml"
    content = response.content.decode()
    assert "<Response" in content
    if "<Message>" not in content:
        return ""
    return content.split("<Message>", 1)[1].split("</Message>", 1)[0]


def status_of(recipient) -> str:
    return Recipient.objects.get(pk=recipient.pk).sms_opt_in_status


# --- The opt-in text ------------------------------------------------------------------------------


def test_opt_in_text_is_logged_with_status_callback(asked, settings, sms_outbox):
    Recipient.objects.filter(pk=asked.pk).update(sms_opt_in_status=SmsOptInStatus.NOT_SENT)
    settings.SITE_URL = "https://mike.example.com/"

    send_opt_in_sms.delay(str(asked.pk), force=True)

    [message] = sms_outbox
    assert message.to == PHONE
    assert message.body == (
        "Acme Roofing: you've earned a reward! Reply YES to receive your gift card, "
        "STOP to opt out, HELP for help. Msg & data rates may apply."
    )
    assert message.status_callback == "https://mike.example.com/hooks/twilio/sms/status/"
    log = SmsOptInLog.objects.get(message_sid=message.sid)
    assert log.direction == SmsDirection.OUTBOUND
    assert log.status == SmsStatus.SENT
    assert log.provider_used == SmsProvider.LOCMEM
    assert log.recipient == asked
    assert log.message_text == message.body
    asked.refresh_from_db()
    assert asked.sms_opt_in_status == SmsOptInStatus.PENDING
    assert asked.sms_opt_in_sent_at is not None
    assert RecipientAuditLog.objects.filter(
        recipient=asked, action=RecipientAuditAction.SMS_SENT
    ).exists()


def test_campaign_opt_in_message_replaces_the_default(
    campaign, django_capture_on_commit_callbacks, sms_outbox
):
    campaign.sms_opt_in_message = "{client} {here}: text YES for your $25 card, STOP to opt out."
    campaign.save()
    recipient = RecipientFactory(campaign=campaign, phone=PHONE, with_reward=True)

    with django_capture_on_commit_callbacks(execute=True):
        approval.approve_recipient(recipient=recipient)

    assert [m.body for m in sms_outbox] == [
        "Acme Roofing {here}: text YES for your $25 card, STOP to opt out."
    ]


def test_opt_in_task_run_twice_texts_once(asked, sms_outbox):
    send_opt_in_sms.delay(str(asked.pk))
    send_opt_in_sms(str(asked.pk))

    assert sms_outbox == []
    assert SmsOptInLog.objects.filter(recipient=asked, direction=SmsDirection.OUTBOUND).count() == 1


def test_resend_with_force_texts_again(asked, sms_outbox):
    send_opt_in_sms.delay(str(asked.pk), force=True)

    assert [m.to for m in sms_outbox] == [PHONE]
    assert SmsOptInLog.objects.filter(recipient=asked, direction=SmsDirection.OUTBOUND).count() == 2


def test_opt_in_is_never_sent_to_a_pending_recipient(recipient, sms_outbox):
    send_opt_in_sms.delay(str(recipient.pk), force=True)

    assert sms_outbox == []
    assert status_of(recipient) == SmsOptInStatus.NOT_SENT


def test_opt_in_for_a_deleted_recipient_does_nothing(sms_outbox):
    recipient = RecipientFactory(with_reward=True)
    recipient_id = str(recipient.pk)
    recipient.delete()

    assert send_opt_in_sms.delay(recipient_id).get() is None
    assert sms_outbox == []


# --- Through the real Twilio client ---------------------------------------------------------------


def test_opt_in_through_twilio_client(recipient, twilio_server, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        approval.approve_recipient(recipient=recipient)

    [message] = twilio_server.messages
    assert message["to"] == PHONE
    assert message["from"] == fake_twilio.FROM_NUMBER
    assert message["status_callback"].endswith("/hooks/twilio/sms/status/")
    assert message["authorization"].startswith("Basic ")
    log = SmsOptInLog.objects.get(recipient=recipient, direction=SmsDirection.OUTBOUND)
    assert log.message_sid == message["sid"]
    assert log.status == SmsStatus.QUEUED
    assert log.provider_used == SmsProvider.TWILIO
    assert status_of(recipient) == SmsOptInStatus.PENDING


def test_twilio_500_is_logged_and_retried(
    recipient, twilio_server, django_capture_on_commit_callbacks
):
    twilio_server.fail(500)

    # The approval commits even though the text failed; the task asks Celery for a retry.
    with django_capture_on_commit_callbacks(execute=True):
        approval.approve_recipient(recipient=recipient)

    [failed] = SmsOptInLog.objects.filter(recipient=recipient)
    assert failed.status == SmsStatus.FAILED
    assert failed.direction == SmsDirection.OUTBOUND
    assert "temporary, to be retried" in failed.error_message
    assert failed.message_sid == ""
    assert status_of(recipient) == SmsOptInStatus.NOT_SENT
    assert Recipient.objects.get(pk=recipient.pk).approval_status == ApprovalStatus.APPROVED

    # What the worker runs when the retry's countdown is over.
    send_opt_in_sms.apply(args=[str(recipient.pk)], retries=1)

    [message] = twilio_server.messages
    sent = SmsOptInLog.objects.get(recipient=recipient, message_sid=message["sid"])
    assert sent.status == SmsStatus.QUEUED
    assert status_of(recipient) == SmsOptInStatus.PENDING


def test_twilio_failing_past_the_retries_leaves_failed_logs(recipient, twilio_server):
    Recipient.objects.filter(pk=recipient.pk).update(approval_status=ApprovalStatus.APPROVED)
    twilio_server.fail(503, times=OPT_IN_MAX_RETRIES + 1)

    for attempt in range(OPT_IN_MAX_RETRIES):
        with pytest.raises(Retry) as retry:
            send_opt_in_sms.apply(args=[str(recipient.pk)], retries=attempt)
        assert retry.value.when == 30 * 2**attempt
    # The last attempt gives up instead of asking for another retry.
    send_opt_in_sms.apply(args=[str(recipient.pk)], retries=OPT_IN_MAX_RETRIES)

    logs = SmsOptInLog.objects.filter(recipient=recipient)
    assert logs.count() == OPT_IN_MAX_RETRIES + 1
    assert set(logs.values_list("status", flat=True)) == {SmsStatus.FAILED}
    assert twilio_server.messages == []
    recipient.refresh_from_db()
    assert recipient.approval_status == ApprovalStatus.APPROVED
    assert recipient.sms_opt_in_status == SmsOptInStatus.NOT_SENT


def test_twilio_refusal_is_not_retried(
    recipient, twilio_server, django_capture_on_commit_callbacks
):
    twilio_server.fail(400)

    with django_capture_on_commit_callbacks(execute=True):
        approval.approve_recipient(recipient=recipient)

    [log] = SmsOptInLog.objects.filter(recipient=recipient)
    assert log.status == SmsStatus.FAILED
    assert "retried" not in log.error_message
    assert twilio_server.messages == []


def test_an_opt_in_refused_for_good_is_not_resent_by_the_sweep_until_staff_resend_it(
    recipient, twilio_server, django_capture_on_commit_callbacks, settings
):
    settings.DELIVERY_STUCK_MINUTES = 0
    twilio_server.fail(400)
    with django_capture_on_commit_callbacks(execute=True):
        approval.approve_recipient(recipient=recipient)
    recipient.refresh_from_db()
    assert recipient.sms_opt_in_status == SmsOptInStatus.FAILED  # shown in the admin
    assert RecipientAuditLog.objects.filter(
        recipient=recipient, metadata__reason="opt_in_text_refused"
    ).exists()

    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):
            sweep_stuck_work()
    assert SmsOptInLog.objects.filter(recipient=recipient).count() == 1
    assert twilio_server.messages == []

    # Staff fixed the number and resend: it goes out.
    with django_capture_on_commit_callbacks(execute=True):
        assert opt_in.queue_opt_in(recipient=recipient, force=True)
    recipient.refresh_from_db()
    assert recipient.sms_opt_in_status == SmsOptInStatus.PENDING
    assert len(twilio_server.messages) == 1


# --- Replies --------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", ["YES", "y", " ok ", "Yes!", "y e s", "yeah.", "Sure", "yup"])
def test_yes_opts_in(asked, reply, body):
    response = reply(body)

    # The reward's pool holds no card yet: the answer says it is being got ready, not sent.
    assert reply_text(response) == (
        "Acme Roofing: thanks, you're opted in! We're getting your gift card ready and will "
        "text it to you as soon as it is."
    )
    asked.refresh_from_db()
    assert asked.sms_opt_in_status == SmsOptInStatus.OPTED_IN
    assert asked.sms_opt_in_response == body
    assert asked.sms_opt_in_response_at is not None
    assert RecipientAuditLog.objects.filter(
        recipient=asked, action=RecipientAuditAction.OPTED_IN
    ).exists()
    assert Event.objects.filter(recipient=asked, event_type=EventType.OPTED_IN).exists()
    inbound = SmsOptInLog.objects.get(recipient=asked, direction=SmsDirection.INBOUND)
    assert inbound.status == SmsStatus.RECEIVED
    assert inbound.message_text == body
    answer = SmsOptInLog.objects.filter(recipient=asked, direction=SmsDirection.OUTBOUND).first()
    assert answer.message_text.startswith("Acme Roofing: thanks, you're opted in!")
    assert answer.status == SmsStatus.SENT


def test_yes_claims_the_approved_reward(asked, reply):
    asked.rewards.update(status=RewardStatus.REVOKED)  # only the stocked reward below counts
    condition = CampaignConditionFactory(
        campaign=asked.campaign, condition_number=2, card_value=Decimal("25.00")
    )
    pool = GiftCardPoolFactory(
        client=asked.campaign.client, brand=condition.brand, card_value=Decimal("25.00")
    )
    card = GiftCardFactory(pool=pool)
    allocate_credit(asked.campaign.client, Decimal("100.00"))
    reward = RecipientGiftCardFactory(recipient=asked, condition=condition)

    response = reply("YES")

    assert reply_text(response) == (
        f"Acme Roofing: thanks, you're opted in! Your $25.00 {condition.brand.brand_name} gift "
        "card is on its way by text."
    )
    reward.refresh_from_db()
    assert reward.gift_card == card
    assert reward.status in (RewardStatus.CLAIMED, RewardStatus.DELIVERED)


def test_hint_or_help_claims_nothing(asked, reply):
    reward = asked.rewards.get()

    reply("HELP")
    reply("maybe")

    reward.refresh_from_db()
    assert reward.status == RewardStatus.PENDING


def test_yes_matches_a_number_written_differently(campaign, reply, sms_outbox):
    recipient = RecipientFactory(
        campaign=campaign,
        phone=PHONE,
        approval_status=ApprovalStatus.APPROVED,
        sms_opt_in_status=SmsOptInStatus.PENDING,
    )

    reply("YES", from_number="(555) 123-4567")

    assert status_of(recipient) == SmsOptInStatus.OPTED_IN


@pytest.mark.parametrize(
    "body", ["STOP", "unsubscribe", "Stop all", "cancel", "QUIT", "end", "opt out", "optout"]
)
def test_stop_words_opt_out_and_nothing_is_texted_after(asked, reply, body, sms_outbox):
    response = reply(body)

    assert reply_text(response) == ""
    assert status_of(asked) == SmsOptInStatus.OPTED_OUT
    assert RecipientAuditLog.objects.filter(
        recipient=asked, action=RecipientAuditAction.OPTED_OUT
    ).exists()
    assert Event.objects.filter(recipient=asked, event_type=EventType.OPTED_OUT).exists()
    # Only the opt-in question went out: no answer to the STOP.
    assert SmsOptInLog.objects.filter(recipient=asked, direction=SmsDirection.OUTBOUND).count() == 1

    send_opt_in_sms.delay(str(asked.pk), force=True)
    assert sms_outbox == []


def test_start_after_stop_opts_an_approved_recipient_back_in(asked, reply):
    reply("STOP")

    response = reply("START")

    assert status_of(asked) == SmsOptInStatus.OPTED_IN
    assert "opted in" in reply_text(response)


@pytest.mark.parametrize("body", ["SURE", "ok", "Y", "Yeah!"])
def test_another_opt_in_word_after_stop_leaves_the_number_opted_out(asked, reply, body):
    """Only START, UNSTOP or YES lift the carrier's block of a number that sent STOP; opting it
    in on another word would have every text to it refused (21610), and opted out again."""
    reply("STOP")
    audits = RecipientAuditLog.objects.filter(recipient=asked).count()

    response = reply(body)

    assert status_of(asked) == SmsOptInStatus.OPTED_OUT
    assert RecipientAuditLog.objects.filter(recipient=asked).count() == audits
    assert "Reply YES" in reply_text(response) and "opted in" not in reply_text(response)

    reply("YES")
    assert status_of(asked) == SmsOptInStatus.OPTED_IN


def test_another_opt_in_word_still_opts_in_a_number_that_never_sent_stop(asked, reply):
    reply("sure")
    assert status_of(asked) == SmsOptInStatus.OPTED_IN


def test_start_after_stop_waits_for_yes_when_not_approved(campaign, reply):
    recipient = RecipientFactory(
        campaign=campaign, phone=PHONE, sms_opt_in_status=SmsOptInStatus.OPTED_OUT, with_reward=True
    )

    response = reply("unstop")

    assert status_of(recipient) == SmsOptInStatus.PENDING
    assert "Reply YES" in reply_text(response)


def test_yes_before_approval_opts_in_and_says_the_reward_is_under_review(campaign, reply):
    recipient = RecipientFactory(
        campaign=campaign, phone=PHONE, sms_opt_in_status=SmsOptInStatus.PENDING, with_reward=True
    )

    response = reply("Yes")

    assert status_of(recipient) == SmsOptInStatus.OPTED_IN
    assert "as soon as your reward is approved" in reply_text(response)


@pytest.mark.parametrize("body", ["HELP", "info"])
def test_help_gets_help_and_changes_nothing(asked, reply, body):
    response = reply(body)

    assert reply_text(response).startswith("Acme Roofing rewards: reply YES")
    assert status_of(asked) == SmsOptInStatus.PENDING


@pytest.mark.parametrize("body", ["what is this??", "NO"])
def test_anything_else_gets_a_hint_then_yes_still_works(asked, reply, body):
    response = reply(body)

    assert reply_text(response) == "Reply YES to opt in or STOP to opt out."
    assert status_of(asked) == SmsOptInStatus.INVALID_RESPONSE

    reply("yes")
    assert status_of(asked) == SmsOptInStatus.OPTED_IN


def test_gibberish_after_opting_in_keeps_the_opt_in(asked, reply):
    reply("YES")

    reply("thanks!!")

    assert status_of(asked) == SmsOptInStatus.OPTED_IN


def test_duplicate_message_sid_is_handled_once(asked, reply):
    first = reply("YES", sid="SM" + "d" * 32)
    second = reply("YES", sid="SM" + "d" * 32)

    assert reply_text(first) == reply_text(second) != ""
    assert SmsOptInLog.objects.filter(direction=SmsDirection.INBOUND).count() == 1
    # The opt-in question plus one answer: the repeated webhook wrote no second answer.
    assert SmsOptInLog.objects.filter(direction=SmsDirection.OUTBOUND).count() == 2
    assert RecipientAuditLog.objects.filter(action=RecipientAuditAction.OPTED_IN).count() == 1


def test_stop_applies_to_every_recipient_at_the_number(asked, reply):
    other_client = RecipientFactory(
        campaign=CampaignFactory(), phone=PHONE, sms_opt_in_status=SmsOptInStatus.PENDING
    )

    reply("STOP")

    assert status_of(asked) == status_of(other_client) == SmsOptInStatus.OPTED_OUT


def test_unknown_number_gets_a_generic_reply_and_nothing_is_written(asked, reply):
    response = reply("YES", from_number="+15559876543")

    assert "couldn't find a reward" in reply_text(response)
    assert not SmsOptInLog.objects.filter(direction=SmsDirection.INBOUND).exists()
    assert status_of(asked) == SmsOptInStatus.PENDING


def test_stop_from_an_unknown_number_gets_no_reply(reply):
    assert reply_text(reply("STOP", from_number="+15559876543")) == ""


@pytest.mark.parametrize("signature", ["", "forged-signature"])
def test_forged_signature_is_refused_and_nothing_written(asked, twilio_post, signature):
    params = {"MessageSid": "SM" + "f" * 32, "From": PHONE, "To": "+18005550000", "Body": "YES"}

    response = twilio_post(INBOUND, params, signature=signature)

    assert response.status_code == 403
    assert status_of(asked) == SmsOptInStatus.PENDING
    assert not SmsOptInLog.objects.filter(direction=SmsDirection.INBOUND).exists()


def test_inbound_webhook_refuses_get(client):
    assert client.get(INBOUND).status_code == 405


# --- Status callbacks -----------------------------------------------------------------------------


def test_urls_are_named():
    assert reverse("twilio-sms") == INBOUND
    assert reverse("twilio-sms-status") == STATUS


def opt_in_log(recipient) -> SmsOptInLog:
    return SmsOptInLog.objects.get(
        recipient=recipient, direction=SmsDirection.OUTBOUND, message_sid__startswith="SM"
    )


def post_status(twilio_post, sid, status, **extra):
    params = {"MessageSid": sid, "MessageStatus": status, **extra}
    return twilio_post(STATUS, params)


def test_status_callbacks_move_forward_only(asked, twilio_post):
    log = opt_in_log(asked)

    assert post_status(twilio_post, log.message_sid, "delivered").status_code == 204
    log.refresh_from_db()
    assert log.status == SmsStatus.DELIVERED

    post_status(twilio_post, log.message_sid, "sent")
    post_status(twilio_post, log.message_sid, "queued")
    log.refresh_from_db()
    assert log.status == SmsStatus.DELIVERED


def test_undelivered_opt_in_is_final_and_may_be_sent_again(asked, twilio_post, sms_outbox):
    log = opt_in_log(asked)

    post_status(twilio_post, log.message_sid, "undelivered", ErrorCode="30003")
    post_status(twilio_post, log.message_sid, "delivered")

    log.refresh_from_db()
    assert log.status == SmsStatus.UNDELIVERED
    assert "30003" in log.error_message
    send_opt_in_sms.delay(str(asked.pk))
    assert [m.to for m in sms_outbox] == [PHONE]


def test_status_callback_with_forged_signature_is_refused(asked, twilio_post):
    log = opt_in_log(asked)

    response = twilio_post(
        STATUS, {"MessageSid": log.message_sid, "MessageStatus": "failed"}, signature="bad"
    )

    assert response.status_code == 403
    log.refresh_from_db()
    assert log.status == SmsStatus.SENT


def test_status_callback_for_another_message_changes_no_opt_in(asked, twilio_post):
    response = post_status(twilio_post, "SM" + "9" * 32, "delivered")

    assert response.status_code == 204
    assert opt_in_log(asked).status == SmsStatus.SENT


@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_of_the_same_reply_are_handled_once():
    recipient = RecipientFactory(
        campaign=CampaignFactory(),
        phone=PHONE,
        approval_status=ApprovalStatus.APPROVED,
        sms_opt_in_status=SmsOptInStatus.PENDING,
    )
    barrier = threading.Barrier(4)
    replies, errors = [], []

    def deliver():
        try:
            barrier.wait(timeout=10)
            replies.append(
                inbound.handle_inbound_sms(
                    from_number=PHONE, body="YES", message_sid="SM" + "c" * 32
                )
            )
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert len(set(replies)) == 1 and len(replies) == 4
    assert SmsOptInLog.objects.filter(direction=SmsDirection.INBOUND).count() == 1
    assert SmsOptInLog.objects.filter(direction=SmsDirection.OUTBOUND).count() == 1
    assert (
        RecipientAuditLog.objects.filter(
            recipient=recipient, action=RecipientAuditAction.OPTED_IN
        ).count()
        == 1
    )
    assert status_of(recipient) == SmsOptInStatus.OPTED_IN


def test_status_callback_of_a_card_text_reaches_its_delivery(twilio_post):
    delivery = GiftCardDeliveryFactory(
        twilio_message_sid="SM" + "7" * 32, status=DeliveryStatus.SENT
    )

    response = post_status(twilio_post, delivery.twilio_message_sid, "delivered")

    assert response.status_code == 204
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert not SmsOptInLog.objects.exists()
