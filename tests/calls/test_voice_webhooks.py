"""The Twilio voice webhooks: /hooks/twilio/voice/ and /hooks/twilio/voice/status/."""

import pytest

from calls.models import CallConditionMet, CallSession, CallStatus, MatchStatus
from campaigns.models import Campaign, CampaignStatus, Event, EventType, TriggerType
from giftcards.models import RecipientGiftCard, RewardStatus
from mike.core.phones import normalize_phone
from tests.factories import (
    CampaignConditionFactory,
    CampaignFactory,
    RecipientFactory,
    TrackedPhoneNumberFactory,
)

pytestmark = pytest.mark.django_db

VOICE = "/hooks/twilio/voice/"
STATUS = "/hooks/twilio/voice/status/"
TRACKED = "+18005551234"
CALL_CENTRE = "+18005559999"
CALLER = "+15552010001"


@pytest.fixture
def campaign():
    return CampaignFactory()


@pytest.fixture
def tracked(campaign):
    return TrackedPhoneNumberFactory(
        campaign=campaign, phone_number=TRACKED, forward_to_number=CALL_CENTRE
    )


@pytest.fixture
def recipient(campaign):
    return RecipientFactory(campaign=campaign, phone=CALLER)


def incoming(twilio_post, *, sid="CA0001", from_number=CALLER, to=TRACKED, **extra):
    return twilio_post(VOICE, {"CallSid": sid, "From": from_number, "To": to}, **extra)


def test_normalize_phone_accepts_us_formats_and_rejects_garbage():
    assert normalize_phone("(555) 201-0001") == "+15552010001"
    assert normalize_phone("555.201.0001") == "+15552010001"
    assert normalize_phone("+1 555 201 0001") == "+15552010001"
    assert normalize_phone("anonymous") == ""
    assert normalize_phone("") == ""
    assert normalize_phone("12") == ""


@pytest.mark.parametrize("signature", ["forged-signature", ""])
def test_voice_with_bad_or_missing_signature_is_refused_and_writes_nothing(
    twilio_post, tracked, recipient, signature
):
    response = incoming(twilio_post, signature=signature)

    assert response.status_code == 403
    assert not CallSession.objects.exists()
    assert not Event.objects.exists()


def test_voice_signed_for_other_params_is_refused(client, tracked):
    from tests.fakes.twilio import signature

    params = {"CallSid": "CA0001", "From": CALLER, "To": TRACKED}
    sig = signature(f"http://testserver{VOICE}", {**params, "From": "+15550000000"})
    response = client.post(VOICE, params, HTTP_X_TWILIO_SIGNATURE=sig)

    assert response.status_code == 403
    assert not CallSession.objects.exists()


def test_voice_rejects_get(client, tracked):
    assert client.get(VOICE).status_code == 405


def test_call_from_recipient_is_matched_and_forwarded_with_recording(
    twilio_post, tracked, recipient, campaign
):
    response = incoming(twilio_post)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/xml"
    body = response.content.decode()
    assert f">{CALL_CENTRE}</Dial>" in body
    assert 'record="record-from-answer-dual"' in body
    assert f'action="http://testserver{STATUS}"' in body
    assert f'recordingStatusCallback="http://testserver{STATUS}"' in body

    session = CallSession.objects.get()
    assert session.twilio_call_sid == "CA0001"
    assert session.match_status == MatchStatus.MATCHED
    assert session.recipient == recipient
    assert session.campaign == campaign
    assert session.client == campaign.client
    assert session.tracked_number == tracked
    assert session.caller_phone == CALLER
    assert session.forward_to_number == CALL_CENTRE
    assert session.call_status == CallStatus.RINGING
    assert session.call_started_at is not None
    events = set(Event.objects.values_list("event_type", flat=True))
    assert events == {EventType.CALLED, EventType.MATCHED}


def test_call_from_unknown_caller_is_unmatched_but_forwarded(twilio_post, tracked, recipient):
    response = incoming(twilio_post, from_number="+15559998888")

    assert response.status_code == 200
    assert f">{CALL_CENTRE}</Dial>" in response.content.decode()
    session = CallSession.objects.get()
    assert session.match_status == MatchStatus.UNMATCHED
    assert session.recipient is None
    assert session.caller_phone == "+15559998888"
    assert list(Event.objects.values_list("event_type", flat=True)) == [EventType.CALLED]


def test_recipient_of_another_campaign_is_not_matched(twilio_post, tracked):
    RecipientFactory(campaign=CampaignFactory(), phone=CALLER)

    incoming(twilio_post)

    assert CallSession.objects.get().match_status == MatchStatus.UNMATCHED


@pytest.mark.parametrize(
    ("caller_id", "dialled"),
    [
        ("(555) 201-0001", TRACKED),
        ("5552010001", TRACKED),
        ("+1 555-201-0001", "(800) 555-1234"),
    ],
)
def test_caller_and_dialled_numbers_match_after_normalisation(
    twilio_post, tracked, recipient, caller_id, dialled
):
    response = incoming(twilio_post, from_number=caller_id, to=dialled)

    assert response.status_code == 200
    session = CallSession.objects.get()
    assert session.recipient == recipient
    assert session.caller_phone == CALLER


def test_duplicate_voice_webhook_makes_one_session_and_one_set_of_events(
    twilio_post, tracked, recipient
):
    first = incoming(twilio_post)
    second = incoming(twilio_post)

    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    assert CallSession.objects.count() == 1
    assert Event.objects.filter(event_type=EventType.CALLED).count() == 1
    assert Event.objects.filter(event_type=EventType.MATCHED).count() == 1


def test_unknown_dialled_number_says_sorry_and_hangs_up(twilio_post, tracked):
    response = incoming(twilio_post, to="+18005550001")

    assert response.status_code == 200
    body = response.content.decode()
    assert "<Say>" in body
    assert "<Hangup" in body
    assert "<Dial" not in body
    assert not CallSession.objects.exists()


def test_number_without_forwarding_target_says_sorry(twilio_post, campaign):
    TrackedPhoneNumberFactory(campaign=campaign, phone_number=TRACKED, forward_to_number="")

    body = incoming(twilio_post).content.decode()

    assert "<Hangup" in body
    assert "<Dial" not in body
    assert CallSession.objects.count() == 1


def test_recording_disabled_number_dials_without_recording(twilio_post, campaign):
    TrackedPhoneNumberFactory(
        campaign=campaign,
        phone_number=TRACKED,
        forward_to_number=CALL_CENTRE,
        recording_enabled=False,
    )

    body = incoming(twilio_post).content.decode()

    assert f">{CALL_CENTRE}</Dial>" in body
    assert "record=" not in body
    assert "recordingStatusCallback" not in body


# --- Status callbacks ----------------------------------------------------------------------------


def status(twilio_post, params, **extra):
    return twilio_post(STATUS, {"CallSid": "CA0001", **params}, **extra)


def test_status_with_forged_signature_is_refused_and_changes_nothing(
    twilio_post, tracked, recipient
):
    incoming(twilio_post)

    response = status(
        twilio_post, {"CallStatus": "completed", "CallDuration": "300"}, signature="forged"
    )

    assert response.status_code == 403
    session = CallSession.objects.get()
    assert session.call_status == CallStatus.RINGING
    assert session.call_duration_seconds is None


def test_status_callback_stores_status_duration_and_end(twilio_post, tracked, recipient):
    incoming(twilio_post)

    response = status(twilio_post, {"CallStatus": "in-progress"})
    assert response.status_code == 200
    assert response.content.decode().strip().endswith("<Response />")
    session = CallSession.objects.get()
    assert session.call_status == CallStatus.IN_PROGRESS
    assert session.call_answered_at is not None

    status(twilio_post, {"CallStatus": "completed", "CallDuration": "95"})
    session.refresh_from_db()
    assert session.call_status == CallStatus.COMPLETED
    assert session.call_duration_seconds == 95
    assert session.call_ended_at is not None
    assert Event.objects.filter(event_type=EventType.CALL_COMPLETED).count() == 1


def test_status_never_moves_backwards(twilio_post, tracked, recipient):
    incoming(twilio_post)

    status(twilio_post, {"CallStatus": "completed", "CallDuration": "40"})
    status(twilio_post, {"CallStatus": "ringing"})
    status(twilio_post, {"CallStatus": "in-progress"})
    status(twilio_post, {"CallStatus": "no-answer", "CallDuration": "0"})

    session = CallSession.objects.get()
    assert session.call_status == CallStatus.COMPLETED
    assert session.call_duration_seconds == 40


def test_recording_callback_stores_recording_idempotently(twilio_post, tracked, recipient):
    incoming(twilio_post)
    params = {
        "RecordingUrl": "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1",
        "RecordingSid": "RE1",
        "RecordingDuration": "88",
        "RecordingStatus": "completed",
    }

    status(twilio_post, params)
    status(twilio_post, params)

    session = CallSession.objects.get()
    assert session.recording_url == params["RecordingUrl"]
    assert session.recording_sid == "RE1"
    assert session.recording_duration == 88
    assert session.call_status == CallStatus.RINGING


def test_status_for_unknown_call_is_accepted_and_writes_nothing(twilio_post):
    response = status(twilio_post, {"CallStatus": "completed", "CallDuration": "10"})

    assert response.status_code == 200
    assert not CallSession.objects.exists()


def test_dial_action_result_is_preferred_over_parent_call_status(twilio_post, tracked, recipient):
    incoming(twilio_post)

    status(
        twilio_post,
        {"CallStatus": "in-progress", "DialCallStatus": "completed", "DialCallDuration": "130"},
    )

    session = CallSession.objects.get()
    assert session.call_status == CallStatus.COMPLETED
    assert session.call_duration_seconds == 130


# --- Call triggers -------------------------------------------------------------------------------


def test_completed_call_long_enough_meets_call_completed_condition(
    twilio_post, tracked, recipient, campaign
):
    condition = CampaignConditionFactory(
        campaign=campaign, trigger_type=TriggerType.CALL_COMPLETED, min_call_duration_seconds=60
    )
    incoming(twilio_post)

    status(twilio_post, {"DialCallStatus": "completed", "DialCallDuration": "60"})

    met = CallConditionMet.objects.get()
    session = CallSession.objects.get()
    assert met.recipient == recipient
    assert met.condition == condition
    assert met.source == "call_completed"
    assert met.call_session == session
    reward = RecipientGiftCard.objects.get()
    assert reward.recipient == recipient
    assert reward.condition == condition
    assert reward.status == RewardStatus.PENDING
    assert reward.brand == condition.brand
    assert reward.card_value == condition.card_value


@pytest.mark.parametrize(
    "campaign_status", [CampaignStatus.PAUSED, CampaignStatus.COMPLETED, CampaignStatus.CANCELLED]
)
def test_a_call_to_a_campaign_on_hold_or_over_is_logged_but_meets_nothing(
    twilio_post, tracked, recipient, campaign, campaign_status
):
    CampaignConditionFactory(campaign=campaign, trigger_type=TriggerType.CALL_COMPLETED)
    Campaign.objects.filter(pk=campaign.pk).update(status=campaign_status)
    incoming(twilio_post)

    status(twilio_post, {"DialCallStatus": "completed", "DialCallDuration": "90"})

    session = CallSession.objects.get()
    assert session.recipient == recipient  # the agent still sees who called
    assert session.call_status == CallStatus.COMPLETED
    assert not CallConditionMet.objects.exists()
    assert not RecipientGiftCard.objects.exists()


def test_duplicate_completed_callback_meets_the_condition_once(
    twilio_post, tracked, recipient, campaign
):
    CampaignConditionFactory(campaign=campaign, trigger_type=TriggerType.CALL_COMPLETED)
    incoming(twilio_post)

    for _ in range(3):
        status(twilio_post, {"CallStatus": "completed", "CallDuration": "30"})

    assert CallConditionMet.objects.count() == 1
    assert RecipientGiftCard.objects.count() == 1
    assert Event.objects.filter(event_type=EventType.CONDITION_MET).count() == 1


def test_call_shorter_than_minimum_meets_nothing(twilio_post, tracked, recipient, campaign):
    CampaignConditionFactory(
        campaign=campaign, trigger_type=TriggerType.CALL_COMPLETED, min_call_duration_seconds=60
    )
    incoming(twilio_post)

    status(twilio_post, {"CallStatus": "completed", "CallDuration": "59"})

    assert CallSession.objects.get().call_status == CallStatus.COMPLETED
    assert not CallConditionMet.objects.exists()
    assert not RecipientGiftCard.objects.exists()


def test_unanswered_call_meets_nothing(twilio_post, tracked, recipient, campaign):
    CampaignConditionFactory(campaign=campaign, trigger_type=TriggerType.CALL_COMPLETED)
    incoming(twilio_post)

    status(twilio_post, {"DialCallStatus": "no-answer", "DialCallDuration": "0"})
    status(twilio_post, {"CallStatus": "completed", "CallDuration": "25"})

    assert CallSession.objects.get().call_status == CallStatus.NO_ANSWER
    assert not CallConditionMet.objects.exists()


def test_unmatched_completed_call_meets_nothing(twilio_post, tracked, campaign):
    CampaignConditionFactory(campaign=campaign, trigger_type=TriggerType.CALL_COMPLETED)
    incoming(twilio_post, from_number="+15559998888")

    status(twilio_post, {"CallStatus": "completed", "CallDuration": "300"})

    assert not CallConditionMet.objects.exists()


def test_completed_call_skips_condition_whose_predecessor_is_unmet(
    twilio_post, tracked, recipient, campaign
):
    CampaignConditionFactory(campaign=campaign, condition_number=1)
    CampaignConditionFactory(
        campaign=campaign, condition_number=2, trigger_type=TriggerType.CALL_COMPLETED
    )
    incoming(twilio_post)

    response = status(twilio_post, {"CallStatus": "completed", "CallDuration": "300"})

    assert response.status_code == 200
    assert CallSession.objects.get().call_status == CallStatus.COMPLETED
    assert not CallConditionMet.objects.exists()
    assert not RecipientGiftCard.objects.exists()


def test_a_new_call_takes_a_fixed_handful_of_statements(
    twilio_post, tracked, recipient, django_assert_max_num_queries
):
    # The SID look-up, the dialled number with its client (read once, for the signing account
    # and the session), the caller's recipient, then BEGIN, the session, its two events, COMMIT.
    with django_assert_max_num_queries(8):
        response = incoming(twilio_post, sid="CA0042")
    assert response.status_code == 200
    session = CallSession.objects.get(twilio_call_sid="CA0042")
    assert session.recipient == recipient and session.campaign_id == tracked.campaign_id
    assert Event.objects.filter(event_type=EventType.CALLED, campaign=tracked.campaign).count() == 1
