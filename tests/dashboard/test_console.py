"""The call console: the live list, lookups (tenancy, campaign status, rate limit), attaching a
caller, the step kept on the call, consent by text or email, conditions met once and in order,
card reveals where the client allows them, closing with a disposition, and the step log."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from calls.models import (
    CallConditionMet,
    CallSession,
    CallStatus,
    CallStep,
    ConsoleStep,
    DispositionType,
    MatchStatus,
    StepName,
    StepOutcome,
)
from campaigns.models import CampaignStatus, TriggerType
from giftcards.models import (
    CardDeliveryMethod,
    GiftCardAuditAction,
    GiftCardAuditLog,
    GiftCardDelivery,
    RecipientGiftCard,
    RewardStatus,
)
from giftcards.services import allocate_credit
from mike.rewards import console
from recipients.models import (
    Readiness,
    Recipient,
    RecipientAuditAction,
    RecipientAuditLog,
    SmsOptInLog,
    SmsOptInStatus,
)
from tests import factories

CONSOLE = reverse("dashboard:calls")


def url(name, call):
    return reverse(f"dashboard:{name}", args=[call.pk])


@pytest.fixture
def campaign(tenants):
    campaign = factories.CampaignFactory(
        client=tenants.client_a, name="Spring mailing", status=CampaignStatus.MAILED
    )
    factories.CampaignConditionFactory(campaign=campaign, condition_name="Booked an inspection")
    return campaign


@pytest.fixture
def recipient(campaign):
    return factories.RecipientFactory(
        campaign=campaign,
        first_name="Ava",
        last_name="Nguyen",
        phone="+15552010001",
        email="ava@example.test",
    )


def live_call(campaign, recipient=None, **extra):
    fields = {"call_status": CallStatus.IN_PROGRESS, "call_duration_seconds": None, **extra}
    return factories.CallSessionFactory(campaign=campaign, recipient=recipient, **fields)


@pytest.fixture
def call(campaign, recipient):
    return live_call(campaign, recipient)


def steps_of(call):
    return list(
        CallStep.objects.filter(call_session=call)
        .order_by("created_at")
        .values_list("step", "outcome")
    )


# --- The live list -------------------------------------------------------------------------------


def test_the_live_list_shows_ringing_and_answered_calls_of_the_agents_clients(
    login_as, people, tenants, call, campaign
):
    ringing = live_call(campaign, None, call_status=CallStatus.RINGING)
    ended = factories.CallSessionFactory(campaign=campaign)  # completed
    closed = live_call(campaign, None, console_step=ConsoleStep.CLOSED)
    foreign = live_call(factories.CampaignFactory(client=tenants.client_b))

    response = login_as(people.agent).get(reverse("dashboard:calls_live"))

    body = response.content.decode()
    for shown in (call, ringing):
        assert url("console_call", shown) in body
    for hidden in (ended, closed, foreign):
        assert url("console_call", hidden) not in body
    assert 'hx-trigger="every 3s"' in body
    assert "Ava Nguyen" in body and "Unknown caller" in body


def test_a_call_made_by_the_voice_webhook_shows_on_the_next_poll(
    login_as, people, campaign, recipient, twilio_post
):
    factories.TrackedPhoneNumberFactory(campaign=campaign, phone_number="+18005550111")
    agent = login_as(people.agent)
    before = agent.get(reverse("dashboard:calls_live")).content.decode()
    assert "Ava Nguyen" not in before

    answer = twilio_post(
        "/hooks/twilio/voice/",
        {"CallSid": "CA" + "7" * 32, "From": recipient.phone, "To": "+18005550111"},
    )
    assert answer.status_code == 200

    after = agent.get(reverse("dashboard:calls_live")).content.decode()
    session = CallSession.objects.get(twilio_call_sid="CA" + "7" * 32)
    assert url("console_call", session) in after and "Ava Nguyen" in after


def test_only_those_who_work_calls_open_the_console(login_as, people, call):
    assert login_as(people.client_user).get(url("console_call", call)).status_code == 403
    assert login_as(people.client_user).post(url("console_opt_in", call)).status_code == 403
    for person in (people.agent, people.client_admin, people.agency_admin, people.staff):
        assert login_as(person).get(url("console_call", call)).status_code == 200


def test_another_clients_call_is_not_found(login_as, people, tenants):
    foreign = live_call(factories.CampaignFactory(client=tenants.client_b))
    agent = login_as(people.agent)
    assert agent.get(url("console_call", foreign)).status_code == 404
    assert agent.post(url("console_step", foreign), {"step": "consent"}).status_code == 404


def test_an_ended_call_opened_from_the_log_is_not_taken(login_as, people, campaign, recipient):
    ended = factories.CallSessionFactory(campaign=campaign, recipient=recipient, agent=None)
    assert login_as(people.client_admin).get(url("console_call", ended)).status_code == 200
    ended.refresh_from_db()
    assert ended.agent is None and steps_of(ended) == []


def test_the_first_agent_to_open_a_call_takes_it(login_as, people, call, tenants):
    login_as(people.agent).get(url("console_call", call))
    login_as(people.client_admin).get(url("console_call", call))
    call.refresh_from_db()
    assert call.agent == people.agent
    assert steps_of(call) == [(StepName.OPENED, StepOutcome.SUCCEEDED)]


# --- Lookup --------------------------------------------------------------------------------------


def test_lookup_by_code_or_phone_finds_the_recipient(login_as, people, campaign, recipient):
    unmatched = live_call(campaign)
    agent = login_as(people.agent)
    for query in (recipient.display_code.lower(), "(555) 201-0001"):
        response = agent.post(url("console_lookup", unmatched), {"q": query})
        assert [r.pk for r, _ in response.context["lookup"].found] == [recipient.pk]
    assert "Attach to this call" in response.content.decode()


def test_an_agent_of_one_client_gets_not_found_for_another_clients_code(
    login_as, people, campaign, tenants
):
    theirs = factories.RecipientFactory(
        campaign=factories.CampaignFactory(client=tenants.client_b, status=CampaignStatus.MAILED)
    )
    unmatched = live_call(campaign)

    response = login_as(people.agent).post(
        url("console_lookup", unmatched), {"q": theirs.redemption_code}
    )

    lookup = response.context["lookup"]
    assert lookup.found == [] and lookup.refused == []
    assert "No recipient found" in response.content.decode()
    assert theirs.full_name not in response.content.decode()
    # And attaching it by id is a 404, not a match.
    assert (
        login_as(people.agent)
        .post(url("console_attach", unmatched), {"recipient": str(theirs.pk)})
        .status_code
        == 404
    )


def test_a_lookup_is_refused_with_the_reason_unless_the_campaign_is_out(
    login_as, people, campaign, tenants
):
    draft = factories.CampaignFactory(client=tenants.client_a, name="Autumn draft", status="draft")
    waiting = factories.RecipientFactory(campaign=draft)
    unmatched = live_call(campaign)

    response = login_as(people.agent).post(
        url("console_lookup", unmatched), {"q": waiting.redemption_code}
    )

    lookup = response.context["lookup"]
    assert lookup.found == []
    assert [r.pk for r, _ in lookup.refused] == [waiting.pk]
    assert "Autumn draft, which is draft" in response.content.decode()
    with pytest.raises(console.ConsoleRefused):
        console.attach(call_session=unmatched, agent=people.agent, recipient=waiting)


def test_lookups_are_limited_per_agent(login_as, people, campaign, recipient, settings):
    settings.CONSOLE_LOOKUP_RATE = "3/m"
    unmatched = live_call(campaign)
    agent = login_as(people.agent)
    for _ in range(3):
        found = agent.post(url("console_lookup", unmatched), {"q": recipient.redemption_code})
        assert found.context["lookup"].found
    refused = agent.post(url("console_lookup", unmatched), {"q": recipient.redemption_code})
    assert refused.context["lookup"].found == []
    assert "Too many lookups" in refused.content.decode()
    # Another agent has their own allowance.
    other = factories.UserFactory()
    from mike.accounts.models import Role
    from mike.accounts.services import grant_role

    grant_role(user=other, role=Role.CALL_CENTER_AGENT, organization=campaign.client)
    second = Client()
    second.force_login(other)
    found = second.post(url("console_lookup", unmatched), {"q": recipient.redemption_code})
    assert found.context["lookup"].found
    assert (StepName.LOOKUP, StepOutcome.FAILED) in steps_of(unmatched)


def test_attaching_an_unmatched_call(login_as, people, campaign, recipient):
    unmatched = live_call(campaign)

    response = login_as(people.agent).post(
        url("console_attach", unmatched), {"recipient": str(recipient.pk)}
    )

    assert response.status_code == 302
    unmatched.refresh_from_db()
    assert unmatched.recipient == recipient
    assert unmatched.match_status == MatchStatus.MANUAL_OVERRIDE
    assert (StepName.ATTACH, StepOutcome.SUCCEEDED) in steps_of(unmatched)
    assert RecipientAuditLog.objects.filter(
        recipient=recipient, call_session=unmatched, performed_by=people.agent
    ).exists()


def test_a_call_that_met_a_condition_cannot_change_hands(login_as, people, call, campaign):
    condition = campaign.conditions.get()
    console.meet_next_condition(call_session=call, agent=people.agent, condition_id=condition.pk)
    someone_else = factories.RecipientFactory(campaign=campaign)
    with pytest.raises(console.ConsoleRefused, match="cannot change hands"):
        console.attach(call_session=call, agent=people.agent, recipient=someone_else)


# --- Steps kept on the server --------------------------------------------------------------------


def test_the_step_survives_a_reload_and_a_second_tab(login_as, people, call):
    agent = login_as(people.agent)
    agent.post(url("console_step", call), {"step": "condition"})

    first = agent.get(url("console_call", call))
    second_tab = Client()
    second_tab.force_login(people.agent)
    second = second_tab.get(url("console_call", call))

    for page in (first, second):
        assert page.context["step"] == ConsoleStep.CONDITION
        assert "Mark condition 1 met" in page.content.decode()
    assert (StepName.CONDITION, StepOutcome.STARTED) in steps_of(call)


def test_an_unmatched_call_stays_on_the_recipient_step(login_as, people, campaign):
    unmatched = live_call(campaign)
    response = login_as(people.agent).post(url("console_step", unmatched), {"step": "reward"})
    assert response.status_code == 302
    unmatched.refresh_from_db()
    assert unmatched.console_step == ConsoleStep.RECIPIENT
    page = login_as(people.agent).get(url("console_call", unmatched))
    assert page.context["step"] == ConsoleStep.RECIPIENT


# --- Consent -------------------------------------------------------------------------------------


def test_the_opt_in_goes_out_from_the_call_to_a_recipient_awaiting_approval(
    login_as, people, call, recipient, sms_outbox, django_capture_on_commit_callbacks
):
    agent = login_as(people.agent)
    with django_capture_on_commit_callbacks(execute=True):
        agent.post(url("console_opt_in", call))

    assert [m.to for m in sms_outbox] == [recipient.phone]
    # Nothing is earned yet: the question does not say a reward was.
    assert "earned" not in sms_outbox[0].body and "Reply YES".lower() in sms_outbox[0].body.lower()
    recipient.refresh_from_db()
    assert recipient.sms_opt_in_status == SmsOptInStatus.PENDING
    assert SmsOptInLog.objects.get(recipient=recipient).call_session_id == call.pk
    # The consent panel watches for the answer.
    agent.post(url("console_step", call), {"step": "consent"})
    panel = agent.get(url("console_consent", call)).content.decode()
    assert "Awaiting reply" in panel and "hx-trigger" in panel

    # A minute later (a resend right away is a double click, refused).
    SmsOptInLog.objects.update(created_at=timezone.now() - timedelta(minutes=1))
    with django_capture_on_commit_callbacks(execute=True):
        agent.post(url("console_opt_in", call), {"resend": "1"})
    assert len(sms_outbox) == 2
    assert steps_of(call)[-1] == (StepName.OPT_IN_SENT, StepOutcome.SUCCEEDED)


def test_a_yes_shows_in_the_consent_panel(
    login_as, people, call, recipient, twilio_post, django_capture_on_commit_callbacks
):
    agent = login_as(people.agent)
    with django_capture_on_commit_callbacks(execute=True):
        agent.post(url("console_opt_in", call))
    twilio_post(
        "/hooks/twilio/sms/",
        {
            "From": recipient.phone,
            "To": "+18005550000",
            "Body": "YES",
            "MessageSid": "SM" + "1" * 32,
        },
    )
    response = agent.get(url("console_consent", call))
    panel = response.content.decode()
    assert "Opted in" in panel and "YES" in panel
    assert "hx-trigger" not in panel  # nothing more to watch for
    assert "opt-in text" not in panel  # no send or resend once they said YES
    # The question is the one Mike sent, not Mike's answer to the YES (logged without a SID).
    question = response.context["last_out"]
    assert question.message_sid and question.call_session_id == call.pk


def test_an_opted_out_recipient_is_not_texted(login_as, people, call, recipient, sms_outbox):
    Recipient.objects.filter(pk=recipient.pk).update(sms_opt_in_status=SmsOptInStatus.OPTED_OUT)
    with pytest.raises(console.ConsoleRefused, match="opted out"):
        console.send_opt_in(call_session=call, agent=people.agent)
    assert sms_outbox == []
    assert steps_of(call)[-1] == (StepName.OPT_IN_SENT, StepOutcome.FAILED)


def test_delivery_by_email_instead_needs_no_text_consent(login_as, people, call, recipient):
    login_as(people.agent).post(url("console_email", call))
    recipient.refresh_from_db()
    assert recipient.reward_by_email
    Recipient.objects.filter(pk=recipient.pk).update(approval_status="approved")
    recipient.refresh_from_db()
    assert recipient.readiness() == Readiness.READY_BY_EMAIL
    assert Recipient.objects.ready_for_reward().filter(pk=recipient.pk).exists()
    assert RecipientAuditLog.objects.filter(
        recipient=recipient, action=RecipientAuditAction.UPDATED, performed_by=people.agent
    ).exists()


def test_a_card_claimed_for_an_email_choice_is_emailed(
    login_as, people, call, recipient, campaign, django_capture_on_commit_callbacks
):
    client = campaign.client
    allocate_credit(client, Decimal("100.00"))
    client.auto_approve_recipients = True
    client.save()
    condition = campaign.conditions.get()
    factories.GiftCardFactory(
        pool=factories.GiftCardPoolFactory(
            client=client, brand=condition.brand, card_value=condition.card_value
        )
    )
    with django_capture_on_commit_callbacks(execute=True):
        console.choose_email(call_session=call, agent=people.agent)
        console.meet_next_condition(
            call_session=call, agent=people.agent, condition_id=condition.pk
        )

    reward = RecipientGiftCard.objects.get(recipient=recipient)
    assert reward.status in (RewardStatus.CLAIMED, RewardStatus.DELIVERED)
    delivery = GiftCardDelivery.objects.get(reward=reward)
    assert delivery.delivery_method == CardDeliveryMethod.EMAIL
    assert delivery.delivery_address == recipient.email


# --- Conditions ----------------------------------------------------------------------------------


def test_the_next_condition_only_and_only_an_agents_kind(login_as, people, call, campaign):
    second = factories.CampaignConditionFactory(campaign=campaign, condition_number=2)
    with pytest.raises(console.ConsoleRefused, match="in order"):
        console.meet_next_condition(call_session=call, agent=people.agent, condition_id=second.pk)
    first = campaign.conditions.get(condition_number=1)
    first.trigger_type = TriggerType.CALL_COMPLETED
    first.save()
    with pytest.raises(console.ConsoleRefused, match="not by an agent"):
        console.meet_next_condition(call_session=call, agent=people.agent, condition_id=first.pk)
    assert not CallConditionMet.objects.exists()


def test_meeting_the_condition_through_the_page(login_as, people, call, recipient, campaign):
    condition = campaign.conditions.get()
    agent = login_as(people.agent)
    agent.post(url("console_condition", call), {"condition": str(condition.pk)})

    met = CallConditionMet.objects.get(recipient=recipient)
    assert met.call_session == call and met.met_by_agent == people.agent
    call.refresh_from_db()
    assert call.console_step == ConsoleStep.REWARD
    page = agent.get(url("console_call", call)).content.decode()
    assert "Waiting for approval" in page
    # Pressing again (a second tab) meets nothing twice.
    agent.post(url("console_condition", call), {"condition": str(condition.pk)})
    assert CallConditionMet.objects.count() == 1
    assert RecipientGiftCard.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_agents_marking_the_same_condition_at_once_make_one_row():
    client = factories.ClientFactory()
    campaign = factories.CampaignFactory(client=client, status=CampaignStatus.MAILED)
    condition = factories.CampaignConditionFactory(campaign=campaign)
    recipient = factories.RecipientFactory(campaign=campaign)
    from mike.accounts.models import Role
    from mike.accounts.services import grant_role

    agents = [factories.UserFactory() for _ in range(2)]
    calls = []
    for agent in agents:
        grant_role(user=agent, role=Role.CALL_CENTER_AGENT, organization=client)
        calls.append(live_call(campaign, recipient))
    barrier = threading.Barrier(len(agents))
    results, errors = [], []

    def press(agent, call):
        try:
            barrier.wait(timeout=10)
            results.append(
                console.meet_next_condition(
                    call_session=CallSession.objects.get(pk=call.pk),
                    agent=agent,
                    condition_id=condition.pk,
                )
            )
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=press, args=pair) for pair in zip(agents, calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert len(results) == 2
    assert CallConditionMet.objects.count() == 1
    assert RecipientGiftCard.objects.count() == 1
    outcomes = sorted(
        CallStep.objects.filter(step=StepName.CONDITION).values_list("outcome", flat=True)
    )
    assert outcomes == [StepOutcome.SKIPPED, StepOutcome.SUCCEEDED]


# --- The reward and reveals ----------------------------------------------------------------------


@pytest.fixture
def claimed(campaign, recipient, call, people, django_capture_on_commit_callbacks):
    """The recipient opted in, approved, the condition met on the call and the card claimed."""
    condition = campaign.conditions.get()
    allocate_credit(campaign.client, Decimal("100.00"))
    factories.GiftCardFactory(
        code="GIFT-1234-5678",
        pool=factories.GiftCardPoolFactory(
            client=campaign.client, brand=condition.brand, card_value=condition.card_value
        ),
    )
    Recipient.objects.filter(pk=recipient.pk).update(
        approval_status="approved",
        sms_opt_in_status=SmsOptInStatus.OPTED_IN,
        sms_opt_in_response_at=timezone.now() - timedelta(minutes=1),
    )
    with django_capture_on_commit_callbacks(execute=True):
        console.meet_next_condition(
            call_session=call, agent=people.agent, condition_id=condition.pk
        )
    reward = RecipientGiftCard.objects.get(recipient=recipient)
    assert reward.gift_card_id is not None
    return reward


def test_the_reward_step_shows_the_card_as_the_recipient_gets_it_masked(
    login_as, people, call, claimed
):
    page = login_as(people.agent).get(url("console_call", call)).content.decode()
    assert "What the recipient receives" in page
    assert "5678" in page and "GIFT-1234-5678" not in page and "GIFT12345678" not in page
    assert "Reveal the full code" not in page  # the client does not allow it


def test_a_reveal_is_refused_unless_the_client_allows_it(login_as, people, call, claimed):
    response = login_as(people.agent).post(url("console_reveal", call), {"reward": str(claimed.pk)})
    assert response.status_code == 302
    assert not GiftCardAuditLog.objects.filter(action=GiftCardAuditAction.CARD_CODE_REVEALED)
    assert steps_of(call)[-1] == (StepName.CODE_REVEALED, StepOutcome.FAILED)


def test_each_reveal_is_audited_where_the_client_allows_it(
    login_as, people, call, claimed, campaign
):
    client = campaign.client
    client.agents_see_card_codes = True
    client.save()
    agent = login_as(people.agent)
    for _ in range(2):
        page = agent.post(url("console_reveal", call), {"reward": str(claimed.pk)})
        assert "GIFT-1234-5678" in page.content.decode()
    audits = GiftCardAuditLog.objects.filter(action=GiftCardAuditAction.CARD_CODE_REVEALED)
    assert audits.count() == 2
    assert {a.user_id for a in audits} == {people.agent.pk}
    assert all(a.metadata["call_session"] == str(call.pk) for a in audits)
    # A reload shows the masked card again.
    assert "GIFT-1234-5678" not in agent.get(url("console_call", call)).content.decode()


# --- Closing -------------------------------------------------------------------------------------


def test_closing_with_do_not_call_stops_every_text(login_as, people, call, recipient, sms_outbox):
    response = login_as(people.agent).post(
        url("console_close", call),
        {"disposition_type": DispositionType.DO_NOT_CALL, "notes": "Asked us to stop."},
    )
    assert response["Location"] == CONSOLE
    recipient.refresh_from_db()
    assert recipient.sms_opt_in_status == SmsOptInStatus.OPTED_OUT
    assert recipient.disposition == DispositionType.DO_NOT_CALL
    call.refresh_from_db()
    assert call.console_step == ConsoleStep.CLOSED
    assert RecipientAuditLog.objects.filter(
        recipient=recipient, action=RecipientAuditAction.OPTED_OUT, performed_by=people.agent
    ).exists()
    with pytest.raises(console.ConsoleRefused):
        console.send_opt_in(call_session=call, agent=people.agent)
    assert sms_outbox == []
    # Closed calls leave the live list.
    live = login_as(people.agent).get(reverse("dashboard:calls_live")).content.decode()
    assert url("console_call", call) not in live


def test_a_closed_call_takes_no_more_actions(login_as, people, call):
    console.close_call(
        call_session=call, agent=people.agent, disposition_type=DispositionType.NOT_INTERESTED
    )
    call.refresh_from_db()
    for action, kwargs in (
        (console.close_call, {"disposition_type": DispositionType.INTERESTED}),
        (console.send_opt_in, {}),
        (console.go_to, {"step": "consent"}),
    ):
        with pytest.raises(console.ConsoleRefused, match="closed"):
            action(call_session=call, agent=people.agent, **kwargs)
    assert call.dispositions.count() == 1
    assert not CallConditionMet.objects.exists()


def test_a_call_back_needs_its_day(login_as, people, call):
    response = login_as(people.agent).post(
        url("console_close", call), {"disposition_type": DispositionType.CALLBACK_REQUESTED}
    )
    assert response.status_code == 200
    assert "Pick the day to call back on" in response.content.decode()
    call.refresh_from_db()
    assert call.console_step != ConsoleStep.CLOSED


def test_interested_meets_the_next_agent_condition(login_as, people, call, recipient):
    login_as(people.agent).post(
        url("console_close", call), {"disposition_type": DispositionType.INTERESTED}
    )
    assert CallConditionMet.objects.filter(recipient=recipient, call_session=call).exists()


def test_the_calls_page_shows_the_step_log(login_as, people, call):
    agent = login_as(people.agent)
    agent.get(url("console_call", call))
    agent.post(url("console_step", call), {"step": "consent"})
    agent.post(url("console_close", call), {"disposition_type": DispositionType.NOT_INTERESTED})

    page = login_as(people.client_user).get(reverse("dashboard:call", args=[call.pk]))
    body = page.content.decode()
    assert "Steps in the console" in body
    for text in ("Opened the call", "Asked for consent", "Closed the call"):
        assert text in body


def test_the_side_panel_shows_the_agents_recent_calls_and_rewards(login_as, people, call, claimed):
    page = login_as(people.agent).get(CONSOLE).content.decode()
    assert "Your recent calls" in page and "Ava Nguyen" in page
    assert "Claimed" in page or "Delivered" in page


# --- What review found -----------------------------------------------------------------------


def test_interested_after_the_agent_met_a_condition_earns_no_second_reward(
    people, call, campaign, recipient
):
    factories.CampaignConditionFactory(campaign=campaign, condition_number=2)
    first = campaign.conditions.get(condition_number=1)
    console.meet_next_condition(call_session=call, agent=people.agent, condition_id=first.pk)
    console.close_call(
        call_session=call, agent=people.agent, disposition_type=DispositionType.INTERESTED
    )
    assert CallConditionMet.objects.filter(recipient=recipient).count() == 1
    assert RecipientGiftCard.objects.filter(recipient=recipient).count() == 1


def test_a_call_from_an_unknown_number_can_be_closed(login_as, people, campaign):
    unmatched = live_call(campaign)
    agent = login_as(people.agent)
    agent.post(url("console_step", unmatched), {"step": "close"})
    unmatched.refresh_from_db()
    assert unmatched.console_step == ConsoleStep.CLOSE
    response = agent.post(
        url("console_close", unmatched), {"disposition_type": DispositionType.WRONG_NUMBER}
    )
    assert response["Location"] == CONSOLE
    unmatched.refresh_from_db()
    assert unmatched.console_step == ConsoleStep.CLOSED


def test_a_clients_own_opt_in_text_is_not_sent_before_anything_is_earned(
    people, call, campaign, sms_outbox, django_capture_on_commit_callbacks
):
    client = campaign.client
    client.sms_opt_in_template = (
        "{client_name}: you earned a {value} {brand} gift card! Reply YES, STOP to opt out."
    )
    client.save()
    with django_capture_on_commit_callbacks(execute=True):
        console.send_opt_in(call_session=call, agent=people.agent)
    assert "earned" not in sms_outbox[0].body


def test_a_paused_campaigns_caller_gets_no_text_and_no_condition(
    people, call, campaign, sms_outbox
):
    campaign.status = CampaignStatus.PAUSED
    campaign.save()
    with pytest.raises(console.ConsoleRefused, match="paused"):
        console.send_opt_in(call_session=call, agent=people.agent)
    with pytest.raises(console.ConsoleRefused, match="paused"):
        console.meet_next_condition(
            call_session=call, agent=people.agent, condition_id=campaign.conditions.get().pk
        )
    assert sms_outbox == [] and not CallConditionMet.objects.exists()


def test_a_reveal_is_never_flashed_and_refused_on_a_closed_call(
    login_as, people, call, claimed, campaign
):
    client = campaign.client
    client.agents_see_card_codes = True
    client.save()
    agent = login_as(people.agent)
    page = agent.post(url("console_reveal", call), {"reward": str(claimed.pk)}).content.decode()
    assert page.count("GIFT-1234-5678") == 1
    console.close_call(
        call_session=call, agent=people.agent, disposition_type=DispositionType.NOT_INTERESTED
    )
    with pytest.raises(console.ConsoleRefused):
        console.reveal_code(call_session=call, agent=people.agent, reward=claimed)


def test_do_not_call_stops_texts_to_every_recipient_of_the_client_at_that_phone(
    people, call, recipient, campaign
):
    twin = factories.RecipientFactory(
        campaign=factories.CampaignFactory(client=campaign.client), phone=recipient.phone
    )
    elsewhere = factories.RecipientFactory(phone=recipient.phone)  # another client's
    console.close_call(
        call_session=call, agent=people.agent, disposition_type=DispositionType.DO_NOT_CALL
    )
    statuses = dict(
        Recipient.objects.filter(pk__in=[recipient.pk, twin.pk, elsewhere.pk]).values_list(
            "pk", "sms_opt_in_status"
        )
    )
    assert statuses[recipient.pk] == statuses[twin.pk] == SmsOptInStatus.OPTED_OUT
    assert statuses[elsewhere.pk] != SmsOptInStatus.OPTED_OUT


def test_an_expired_opt_in_is_asked_again_and_a_quick_resend_is_refused(
    people, call, recipient, sms_outbox, settings, django_capture_on_commit_callbacks
):
    Recipient.objects.filter(pk=recipient.pk).update(
        approval_status="approved",
        sms_opt_in_status=SmsOptInStatus.OPTED_IN,
        sms_opt_in_response_at=timezone.now() - timedelta(days=settings.OPT_IN_MAX_AGE_DAYS + 1),
    )
    call.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        assert "asked again" in console.send_opt_in(call_session=call, agent=people.agent)
    assert len(sms_outbox) == 1
    with pytest.raises(console.ConsoleRefused, match="moments ago"):
        console.send_opt_in(call_session=call, agent=people.agent, resend=True)
    assert len(sms_outbox) == 1


def test_a_nul_in_a_lookup_is_no_error(login_as, people, campaign):
    unmatched = live_call(campaign)
    response = login_as(people.agent).post(url("console_lookup", unmatched), {"q": "\x00abc"})
    assert response.status_code == 200


def test_the_live_list_leaves_out_clients_the_user_only_looks_at(login_as, people, tenants, call):
    from mike.accounts.models import Role
    from mike.accounts.services import grant_role

    grant_role(user=people.agent, role=Role.CLIENT_USER, organization=tenants.client_b)
    theirs = live_call(factories.CampaignFactory(client=tenants.client_b))
    body = (
        login_as(people.agent, select="all").get(reverse("dashboard:calls_live")).content.decode()
    )
    assert url("console_call", call) in body and url("console_call", theirs) not in body
