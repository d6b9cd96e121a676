"""The admin's phone simulator: staff play a recipient's phone through the real services — a call,
a condition met, approval, an SMS reply — and see the texts, the reward and the code."""

from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from calls.models import CallConditionMet, CallSession, CallStatus, ConditionMetSource, MatchStatus
from campaigns.models import TriggerType
from giftcards.models import RewardStatus
from giftcards.services import add_cards_to_pool, allocate_credit
from mike.demo import phone_simulator
from recipients.models import ApprovalStatus, SmsOptInLog, SmsOptInStatus
from tests import factories

URL = reverse("phone-simulator")


@pytest.fixture
def world(db):
    """A campaign whose first condition is a call of a minute, whose second an agent marks."""
    client = factories.ClientFactory(name="Bayside Auto")
    allocate_credit(client, Decimal("100.00"))
    campaign = factories.CampaignFactory(client=client, name="Oil change reminder")
    called = factories.CampaignConditionFactory(
        campaign=campaign,
        condition_number=1,
        condition_name="Called for a minute",
        trigger_type=TriggerType.CALL_COMPLETED,
        min_call_duration_seconds=60,
        card_value=Decimal("15.00"),
    )
    booked = factories.CampaignConditionFactory(
        campaign=campaign,
        condition_number=2,
        condition_name="Booked a visit",
        trigger_type=TriggerType.MANUAL_AGENT,
        brand=called.brand,
        card_value=Decimal("15.00"),
    )
    pool = factories.GiftCardPoolFactory(
        client=client, brand=called.brand, card_value=Decimal("15")
    )
    add_cards_to_pool(pool, ["SIM-CARD-0001", "SIM-CARD-0002"])
    tracked = factories.TrackedPhoneNumberFactory(campaign=campaign, phone_number="+18005550102")
    recipient = factories.RecipientFactory(
        campaign=campaign, phone="+15552020001", first_name="Ava", last_name="Nguyen"
    )
    return {"called": called, "booked": booked, "tracked": tracked, "recipient": recipient}


@pytest.fixture
def staff(db):
    return factories.UserFactory(is_staff=True, is_superuser=True)


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _post(client, capture, **data):
    # A request commits in real use; here the test's transaction holds, so run the on-commit
    # work (queued texts, claims, deliveries) as the commit would.
    with capture(execute=True):
        return client.post(URL, data)


# --- Who may use it ------------------------------------------------------------------------------


def test_staff_see_the_simulator_with_the_tracked_numbers(staff_client, world):
    response = staff_client.get(URL)
    assert response.status_code == 200
    assert "demo/phone_simulator.html" in [t.name for t in response.templates]
    assert "+18005550102" in response.content.decode()


def test_the_admin_index_links_to_the_simulator(staff_client):
    assert URL in staff_client.get(reverse("admin:index")).content.decode()


def _staff_with(client, *codenames):
    user = factories.UserFactory(is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client.force_login(user)
    return user


def test_staff_without_the_simulator_permission_get_403_and_no_link(
    client, world, django_capture_on_commit_callbacks
):
    _staff_with(client, "view_recipient", "change_recipient")
    recipient = world["recipient"]

    assert client.get(URL).status_code == 403
    assert client.get(URL, {"recipient": recipient.pk}).status_code == 403
    for data in (
        {"action": "call", "tracked_number": "+18005550102", "caller": recipient.phone},
        {"action": "condition", "recipient": recipient.pk},
        {"action": "approve", "recipient": recipient.pk},
        {"action": "reply", "recipient": recipient.pk, "body": "YES"},
    ):
        assert (
            _post(client, django_capture_on_commit_callbacks, duration="90", **data).status_code
            == 403
        )
    assert not CallSession.objects.exists()
    assert not CallConditionMet.objects.exists()
    assert not SmsOptInLog.objects.exists()
    recipient.refresh_from_db()
    assert recipient.approval_status == ApprovalStatus.PENDING
    assert URL not in client.get(reverse("admin:index")).content.decode()


def test_staff_with_the_simulator_permission_can_play_a_call(
    client, world, django_capture_on_commit_callbacks
):
    _staff_with(client, "use_phone_simulator")
    assert client.get(URL).status_code == 200
    assert URL in client.get(reverse("admin:index")).content.decode()

    response = _post(
        client,
        django_capture_on_commit_callbacks,
        action="call",
        tracked_number="+18005550102",
        caller=world["recipient"].phone,
        duration="90",
    )

    assert response.status_code == 302
    assert CallSession.objects.get().recipient == world["recipient"]


@pytest.mark.django_db
def test_the_simulator_permission_is_named_for_people():
    permission = Permission.objects.get(codename="use_phone_simulator")
    assert permission.content_type.app_label == "recipients"
    assert permission.name == "Can use the phone simulator"


@pytest.mark.django_db
def test_anonymous_visitors_are_sent_to_the_admin_login(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_a_signed_in_user_who_is_not_staff_is_sent_to_the_admin_login(client, world):
    client.force_login(factories.UserFactory(is_staff=False))
    for response in (client.get(URL), client.post(URL, {"action": "approve"})):
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))
    assert world["recipient"].call_sessions.count() == 0


def test_a_post_without_the_csrf_token_is_refused(client, staff, world):
    client = type(client)(enforce_csrf_checks=True)
    client.force_login(staff)
    response = client.post(URL, {"action": "approve", "recipient": world["recipient"].pk})
    assert response.status_code == 403
    world["recipient"].refresh_from_db()
    assert world["recipient"].approval_status == ApprovalStatus.PENDING


# --- Each action ---------------------------------------------------------------------------------


def test_a_call_from_a_recipients_phone_is_matched_completed_and_meets_the_call_condition(
    staff_client, world, django_capture_on_commit_callbacks
):
    recipient = world["recipient"]
    response = _post(
        staff_client,
        django_capture_on_commit_callbacks,
        action="call",
        tracked_number="+18005550102",
        caller="(555) 202-0001",
        duration="90",
    )
    assert response.status_code == 302
    assert response["Location"] == f"{URL}?recipient={recipient.pk}"
    session = CallSession.objects.get()
    assert session.twilio_call_sid.startswith("CAsim")
    assert (session.recipient, session.match_status) == (recipient, MatchStatus.MATCHED)
    assert (session.call_status, session.call_duration_seconds) == (CallStatus.COMPLETED, 90)
    met = CallConditionMet.objects.get(recipient=recipient)
    assert met.condition == world["called"] and met.call_session == session
    assert recipient.rewards.get().status == RewardStatus.PENDING
    assert "matched" in _messages(response)[0]


def test_a_short_call_meets_no_condition(staff_client, world, django_capture_on_commit_callbacks):
    _post(
        staff_client,
        django_capture_on_commit_callbacks,
        action="call",
        tracked_number="+18005550102",
        caller="+15552020001",
        duration="20",
    )
    assert CallSession.objects.get().call_duration_seconds == 20
    assert not CallConditionMet.objects.exists()


def test_a_call_from_an_unknown_phone_is_unmatched(
    staff_client, world, django_capture_on_commit_callbacks
):
    response = _post(
        staff_client,
        django_capture_on_commit_callbacks,
        action="call",
        tracked_number="+18005550102",
        caller="+15559990000",
        duration="90",
    )
    assert response["Location"] == URL
    session = CallSession.objects.get()
    assert session.match_status == MatchStatus.UNMATCHED and session.recipient is None
    assert "unmatched" in _messages(response)[0]


def test_an_interested_call_meets_the_agents_condition_too(
    staff_client, staff, world, django_capture_on_commit_callbacks
):
    _post(
        staff_client,
        django_capture_on_commit_callbacks,
        action="call",
        tracked_number="+18005550102",
        caller="+15552020001",
        duration="90",
        interested="on",
    )
    met = CallConditionMet.objects.filter(recipient=world["recipient"]).order_by("condition_number")
    assert [m.condition_number for m in met] == [1, 2]
    assert met[1].source == ConditionMetSource.DISPOSITION and met[1].met_by_agent == staff


def test_marking_the_next_condition_meets_it_as_the_staff_agent(
    staff_client, staff, world, django_capture_on_commit_callbacks
):
    recipient = world["recipient"]
    for number in (1, 2):
        response = _post(
            staff_client,
            django_capture_on_commit_callbacks,
            action="condition",
            recipient=recipient.pk,
        )
        assert f"Condition {number}" in _messages(response)[-1]
    met = CallConditionMet.objects.filter(recipient=recipient).order_by("condition_number")
    assert [(m.condition_number, m.source, m.met_by_agent) for m in met] == [
        (1, ConditionMetSource.AGENT, staff),
        (2, ConditionMetSource.AGENT, staff),
    ]
    assert recipient.rewards.count() == 2

    response = _post(
        staff_client, django_capture_on_commit_callbacks, action="condition", recipient=recipient.pk
    )
    assert "every condition" in _messages(response)[-1]
    assert CallConditionMet.objects.filter(recipient=recipient).count() == 2


def test_approve_approves_as_the_staff_user_and_texts_the_opt_in_question(
    staff_client, staff, world, sms_outbox, django_capture_on_commit_callbacks
):
    recipient = world["recipient"]
    _post(
        staff_client, django_capture_on_commit_callbacks, action="condition", recipient=recipient.pk
    )
    response = _post(
        staff_client, django_capture_on_commit_callbacks, action="approve", recipient=recipient.pk
    )
    assert response["Location"] == f"{URL}?recipient={recipient.pk}"
    recipient.refresh_from_db()
    assert recipient.approval_status == ApprovalStatus.APPROVED
    assert recipient.approved_by == staff
    assert recipient.sms_opt_in_status == SmsOptInStatus.PENDING
    assert [m.to for m in sms_outbox] == ["+15552020001"]
    assert "Reply YES" in sms_outbox[0].body


def test_a_staff_user_without_the_change_permission_cannot_approve(
    client, world, django_capture_on_commit_callbacks
):
    _staff_with(client, "use_phone_simulator")
    response = _post(
        client,
        django_capture_on_commit_callbacks,
        action="approve",
        recipient=world["recipient"].pk,
    )
    assert "may not approve" in _messages(response)[0]
    world["recipient"].refresh_from_db()
    assert world["recipient"].approval_status == ApprovalStatus.PENDING


def test_a_rejected_recipient_cannot_be_approved(
    staff_client, world, django_capture_on_commit_callbacks
):
    recipient = factories.RecipientFactory(
        campaign=world["recipient"].campaign,
        approval_status=ApprovalStatus.REJECTED,
        rejection_reason="Duplicate household",
    )
    response = _post(
        staff_client, django_capture_on_commit_callbacks, action="approve", recipient=recipient.pk
    )
    assert "cannot be approved" in _messages(response)[0]
    recipient.refresh_from_db()
    assert recipient.approval_status == ApprovalStatus.REJECTED


def test_replying_yes_opts_in_and_the_card_is_claimed_and_delivered(
    staff_client, world, sms_outbox, django_capture_on_commit_callbacks
):
    recipient = world["recipient"]
    run = django_capture_on_commit_callbacks
    _post(
        staff_client,
        run,
        action="call",
        tracked_number="+18005550102",
        caller=recipient.phone,
        duration="90",
    )
    _post(staff_client, run, action="approve", recipient=recipient.pk)
    response = _post(staff_client, run, action="reply", recipient=recipient.pk, body="yes")

    recipient.refresh_from_db()
    assert recipient.sms_opt_in_status == SmsOptInStatus.OPTED_IN
    reward = recipient.rewards.get()
    assert reward.status == RewardStatus.DELIVERED
    assert reward.gift_card.code in sms_outbox[-1].body
    assert "Mike replied" in _messages(response)[-1]
    inbound = SmsOptInLog.objects.get(recipient=recipient, direction="inbound")
    assert inbound.message_text == "yes" and inbound.message_sid.startswith("SMsim")


def test_replying_stop_opts_out(staff_client, world, django_capture_on_commit_callbacks):
    recipient = world["recipient"]
    run = django_capture_on_commit_callbacks
    _post(staff_client, run, action="condition", recipient=recipient.pk)
    _post(staff_client, run, action="approve", recipient=recipient.pk)
    response = _post(staff_client, run, action="reply", recipient=recipient.pk, body="STOP")
    recipient.refresh_from_db()
    assert recipient.sms_opt_in_status == SmsOptInStatus.OPTED_OUT
    assert "no reply" in _messages(response)[-1]


def test_the_page_shows_the_conditions_texts_reward_and_code(
    staff_client, world, django_capture_on_commit_callbacks
):
    recipient = world["recipient"]
    run = django_capture_on_commit_callbacks
    _post(
        staff_client,
        run,
        action="call",
        tracked_number="+18005550102",
        caller=recipient.phone,
        duration="90",
    )
    _post(staff_client, run, action="approve", recipient=recipient.pk)
    _post(staff_client, run, action="reply", recipient=recipient.pk, body="YES")

    page = staff_client.get(URL, {"recipient": recipient.pk}).content.decode()
    assert recipient.display_code in page
    assert reverse("redeem") in page
    assert "Called for a minute" in page and "Booked a visit" in page
    assert "Mark condition 2 met" in page
    assert "Delivered" in page
    assert "you&#x27;ve earned a reward" in page  # the opt-in question
    assert "YES" in page  # the reply
    assert "SIM-CARD-0001" not in page  # the card text is shown as logged: code masked


def test_recipients_can_be_found_by_phone_digits_or_code(staff_client, world):
    recipient = world["recipient"]
    other = factories.RecipientFactory(campaign=recipient.campaign, phone="+15552029999")
    by_phone = staff_client.get(URL, {"q": "202-0001"}).context["results"]
    assert by_phone == [recipient]
    by_code = staff_client.get(URL, {"q": other.display_code.lower()}).context["results"]
    assert by_code == [other]


# --- Bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (
            {"action": "call", "tracked_number": "+18009990000", "caller": "+15552020001"},
            "not a tracked number",
        ),
        ({"action": "call", "tracked_number": "+18005550102", "caller": "call me"}, "not a phone"),
        ({"action": "call", "tracked_number": "+18005550102", "caller": ""}, "required"),
        (
            {"action": "call", "tracked_number": "+18005550102", "caller": "+15552020001"},
            "greater than or equal to 0",
        ),
        ({"action": "reply", "body": "   "}, "Type the text"),
        ({"action": "reply", "recipient": "not-a-uuid", "body": "YES"}, "does not exist"),
        ({"action": "approve", "recipient": "0190f0e0-0000-7000-8000-000000000000"}, "not exist"),
        ({"action": "condition"}, "required"),
        ({"action": "explode"}, "Unknown simulator action"),
    ],
    ids=[
        "unknown-tracked-number",
        "invalid-caller",
        "no-caller",
        "negative-duration",
        "empty-text",
        "bad-recipient-id",
        "unknown-recipient",
        "no-recipient",
        "unknown-action",
    ],
)
def test_bad_input_gets_an_error_message_and_writes_nothing(
    staff_client, world, data, error, django_capture_on_commit_callbacks
):
    data = {"duration": "-5" if error.startswith("greater") else "90", **data}
    if data["action"] == "reply" and "recipient" not in data:
        data["recipient"] = world["recipient"].pk
    response = _post(staff_client, django_capture_on_commit_callbacks, **data)
    assert response.status_code == 302
    assert any(error in message for message in _messages(response)), _messages(response)
    assert not CallSession.objects.exists()
    assert not SmsOptInLog.objects.exists()
    world["recipient"].refresh_from_db()
    assert world["recipient"].approval_status == ApprovalStatus.PENDING


def test_an_unknown_recipient_in_the_address_shows_an_error_not_a_500(staff_client, world):
    for value in ("nope", "0190f0e0-0000-7000-8000-000000000000"):
        response = staff_client.get(URL, {"recipient": value})
        assert response.status_code == 200
        assert response.context["recipient"] is None
        assert "does not exist" in response.content.decode()


# --- Refused where it would text real phones -------------------------------------------------------


def test_with_the_twilio_backend_the_page_warns_and_refuses_every_action(
    staff_client, world, settings, django_capture_on_commit_callbacks
):
    settings.SMS_BACKEND = "twilio"
    recipient = world["recipient"]
    page = staff_client.get(URL, {"recipient": recipient.pk})
    assert page.status_code == 200 and "simulator is off" in page.content.decode()

    for data in (
        {"action": "call", "tracked_number": "+18005550102", "caller": recipient.phone},
        {"action": "condition", "recipient": recipient.pk},
        {"action": "approve", "recipient": recipient.pk},
        {"action": "reply", "recipient": recipient.pk, "body": "YES"},
    ):
        response = _post(staff_client, django_capture_on_commit_callbacks, duration="90", **data)
        assert response.status_code == 302
        assert "simulator is off" in _messages(response)[-1]
    assert not CallSession.objects.exists()
    assert not CallConditionMet.objects.exists()
    assert not SmsOptInLog.objects.exists()
    recipient.refresh_from_db()
    assert recipient.approval_status == ApprovalStatus.PENDING


def test_with_the_twilio_backend_the_services_and_the_command_refuse_too(world, settings):
    settings.SMS_BACKEND = "twilio"
    with pytest.raises(phone_simulator.SimulatorDisabled):
        phone_simulator.simulate_reply(phone="+15552020001", body="YES")
    with pytest.raises(phone_simulator.SimulatorDisabled):
        phone_simulator.approve(recipient=world["recipient"])
    with pytest.raises(CommandError, match="simulator is off"):
        call_command("play_phone", "call", "+15552020001", stdout=StringIO())
    assert not CallSession.objects.exists()


def test_approving_a_recipient_who_earned_nothing_texts_nothing_and_says_so(
    staff_client, world, sms_outbox, django_capture_on_commit_callbacks
):
    recipient = world["recipient"]
    response = _post(
        staff_client, django_capture_on_commit_callbacks, action="approve", recipient=recipient.pk
    )
    recipient.refresh_from_db()
    assert recipient.approval_status == ApprovalStatus.APPROVED
    assert sms_outbox == []
    follow = staff_client.get(response["Location"])
    assert "no reward is waiting yet" in " ".join(_messages(follow))
