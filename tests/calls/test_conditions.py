"""Meeting campaign conditions: order, idempotency, CRM events, dispositions and time delays."""

import threading
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from calls.models import CallConditionMet, CallDisposition, ConditionMetSource, DispositionType
from calls.services import CampaignNotRunning, ConditionOrderError
from campaigns.models import Campaign, CampaignStatus, Event, EventType, TriggerType
from giftcards.models import RecipientGiftCard, RewardStatus
from mike.rewards.conditions import (
    apply_time_delays,
    mark_condition_met,
    mark_condition_met_by_crm_event,
    record_disposition,
)
from mike.rewards.tasks import apply_time_delay_conditions
from recipients.models import ApprovalStatus, RecipientAuditAction, RecipientAuditLog
from tests.factories import (
    CallConditionMetFactory,
    CallSessionFactory,
    CampaignConditionFactory,
    CampaignFactory,
    RecipientFactory,
    UserFactory,
)


@pytest.fixture
def campaign(db):
    return CampaignFactory()


@pytest.fixture
def recipient(campaign):
    return RecipientFactory(campaign=campaign)


@pytest.fixture
def first(campaign):
    return CampaignConditionFactory(campaign=campaign, condition_number=1)


@pytest.fixture
def second(campaign, first):
    return CampaignConditionFactory(campaign=campaign, condition_number=2)


# --- mark_condition_met --------------------------------------------------------------------------


def test_mark_condition_met_records_condition_reward_audit_and_event(recipient, first):
    agent = UserFactory()

    met = mark_condition_met(
        recipient=recipient, condition=first, source=ConditionMetSource.AGENT, agent=agent
    )

    assert met.recipient == recipient
    assert met.campaign == first.campaign
    assert met.condition_number == 1
    assert met.met_by_agent == agent
    assert met.met_at is not None
    reward = RecipientGiftCard.objects.get(recipient=recipient, condition=first)
    assert reward.status == RewardStatus.PENDING
    assert reward.brand == first.brand
    assert reward.card_value == first.card_value
    audit = RecipientAuditLog.objects.get(recipient=recipient)
    assert audit.action == RecipientAuditAction.CONDITION_MET
    assert audit.performed_by == agent
    event = Event.objects.get(event_type=EventType.CONDITION_MET)
    assert event.recipient == recipient
    assert event.campaign == first.campaign
    assert event.event_data["condition_number"] == 1


def test_mark_condition_met_twice_returns_the_first_row_and_writes_nothing_more(recipient, first):
    one = mark_condition_met(recipient=recipient, condition=first, source=ConditionMetSource.AGENT)
    two = mark_condition_met(
        recipient=recipient, condition=first, source=ConditionMetSource.CRM_WEBHOOK
    )

    assert one.pk == two.pk
    assert two.source == ConditionMetSource.AGENT
    assert CallConditionMet.objects.count() == 1
    assert RecipientGiftCard.objects.count() == 1
    assert RecipientAuditLog.objects.count() == 1
    assert Event.objects.filter(event_type=EventType.CONDITION_MET).count() == 1


def test_recipients_hook_is_scheduled_after_commit_only_when_a_condition_is_new(
    recipient, first, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        mark_condition_met(recipient=recipient, condition=first, source="agent")
    assert len(callbacks) == 1

    with django_capture_on_commit_callbacks() as callbacks:
        mark_condition_met(recipient=recipient, condition=first, source="agent")
    assert callbacks == []


def test_condition_met_hands_over_to_auto_approval_after_commit(
    campaign, recipient, first, django_capture_on_commit_callbacks
):
    client = campaign.client
    client.auto_approve_recipients = True
    client.save()

    with django_capture_on_commit_callbacks(execute=True):
        mark_condition_met(recipient=recipient, condition=first, source="agent")

    recipient.refresh_from_db()
    assert recipient.approval_status == ApprovalStatus.APPROVED


def test_condition_two_before_condition_one_is_refused_and_nothing_written(recipient, second):
    with pytest.raises(ConditionOrderError) as refusal:
        mark_condition_met(recipient=recipient, condition=second, source=ConditionMetSource.AGENT)

    assert str(refusal.value) == "Condition 2 can only be met after condition 1."
    assert isinstance(refusal.value, ValidationError)
    assert refusal.value.messages == ["Condition 2 can only be met after condition 1."]
    assert not CallConditionMet.objects.exists()
    assert not RecipientGiftCard.objects.exists()
    assert not RecipientAuditLog.objects.exists()


def test_condition_two_after_condition_one_is_met(recipient, first, second):
    mark_condition_met(recipient=recipient, condition=first, source=ConditionMetSource.AGENT)
    met = mark_condition_met(recipient=recipient, condition=second, source=ConditionMetSource.AGENT)

    assert met.condition_number == 2
    assert RecipientGiftCard.objects.filter(recipient=recipient).count() == 2


def test_other_recipients_progress_does_not_unlock_the_next_condition(
    campaign, recipient, first, second
):
    other = RecipientFactory(campaign=campaign)
    mark_condition_met(recipient=other, condition=first, source=ConditionMetSource.AGENT)

    with pytest.raises(ConditionOrderError):
        mark_condition_met(recipient=recipient, condition=second, source=ConditionMetSource.AGENT)


def test_inactive_condition_is_refused(recipient, campaign):
    condition = CampaignConditionFactory(campaign=campaign, is_active=False)

    with pytest.raises(ValueError, match="not active"):
        mark_condition_met(recipient=recipient, condition=condition, source="agent")

    assert not CallConditionMet.objects.exists()


def test_condition_of_another_campaign_is_refused(recipient):
    foreign = CampaignConditionFactory(campaign=CampaignFactory())

    with pytest.raises(ValueError, match="another campaign"):
        mark_condition_met(recipient=recipient, condition=foreign, source="agent")

    assert not CallConditionMet.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_marks_of_one_condition_make_one_row_and_one_reward():
    campaign = CampaignFactory()
    recipient = RecipientFactory(campaign=campaign)
    condition = CampaignConditionFactory(campaign=campaign)
    workers = 8
    barrier = threading.Barrier(workers)
    results, errors = [], []

    def mark():
        try:
            barrier.wait(timeout=10)
            met = mark_condition_met(recipient=recipient, condition=condition, source="agent")
            results.append(met.pk)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=mark) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert len(results) == workers
    assert len(set(results)) == 1
    assert CallConditionMet.objects.count() == 1
    assert RecipientGiftCard.objects.count() == 1
    assert RecipientAuditLog.objects.count() == 1
    assert Event.objects.filter(event_type=EventType.CONDITION_MET).count() == 1


# --- CRM events ----------------------------------------------------------------------------------


def test_crm_event_meets_its_condition(recipient, first, campaign):
    crm = CampaignConditionFactory(
        campaign=campaign,
        condition_number=2,
        trigger_type=TriggerType.CRM_WEBHOOK,
        crm_event_name="appointment_booked",
    )
    mark_condition_met(recipient=recipient, condition=first, source="agent")

    met = mark_condition_met_by_crm_event(recipient=recipient, event_name="appointment_booked")

    assert met.condition == crm
    assert met.source == ConditionMetSource.CRM_WEBHOOK
    assert RecipientGiftCard.objects.filter(condition=crm).exists()


def test_crm_event_without_matching_condition_returns_none(recipient, campaign):
    CampaignConditionFactory(
        campaign=campaign, trigger_type=TriggerType.CRM_WEBHOOK, crm_event_name="sold"
    )

    assert mark_condition_met_by_crm_event(recipient=recipient, event_name="quoted") is None
    assert not CallConditionMet.objects.exists()


# --- Dispositions --------------------------------------------------------------------------------


def test_interested_disposition_meets_lowest_unmet_manual_condition(campaign, recipient):
    first = CampaignConditionFactory(campaign=campaign, condition_number=1)
    second = CampaignConditionFactory(campaign=campaign, condition_number=2)
    call = CallSessionFactory(campaign=campaign, recipient=recipient)
    agent = UserFactory()

    disposition = record_disposition(
        call_session=call, disposition_type=DispositionType.INTERESTED, agent=agent
    )

    assert disposition.recipient == recipient
    assert disposition.agent == agent
    met = CallConditionMet.objects.get()
    assert met.condition == first
    assert met.source == ConditionMetSource.DISPOSITION
    assert met.call_session == call
    assert met.met_by_agent == agent
    recipient.refresh_from_db()
    assert recipient.disposition == DispositionType.INTERESTED

    record_disposition(call_session=call, disposition_type=DispositionType.INTERESTED)

    assert set(CallConditionMet.objects.values_list("condition", flat=True)) == {
        first.pk,
        second.pk,
    }


def test_not_interested_disposition_meets_nothing(campaign, recipient, first):
    call = CallSessionFactory(campaign=campaign, recipient=recipient)

    record_disposition(call_session=call, disposition_type=DispositionType.NOT_INTERESTED)

    assert CallDisposition.objects.count() == 1
    assert not CallConditionMet.objects.exists()


def test_interested_disposition_is_kept_when_order_forbids_the_condition(campaign, recipient):
    CampaignConditionFactory(
        campaign=campaign, condition_number=1, trigger_type=TriggerType.CALL_COMPLETED
    )
    CampaignConditionFactory(campaign=campaign, condition_number=2)
    call = CallSessionFactory(campaign=campaign, recipient=recipient)

    record_disposition(call_session=call, disposition_type=DispositionType.INTERESTED)

    assert CallDisposition.objects.count() == 1
    assert not CallConditionMet.objects.exists()


def test_interested_disposition_on_unmatched_call_meets_nothing(campaign, first):
    call = CallSessionFactory(campaign=campaign, recipient=None)

    disposition = record_disposition(call_session=call, disposition_type=DispositionType.INTERESTED)

    assert disposition.recipient is None
    assert not CallConditionMet.objects.exists()


def test_callback_disposition_needs_a_date(campaign, recipient):
    call = CallSessionFactory(campaign=campaign, recipient=recipient)

    with pytest.raises(ValueError, match="follow-up date"):
        record_disposition(call_session=call, disposition_type=DispositionType.CALLBACK_REQUESTED)

    assert not CallDisposition.objects.exists()


# --- Time delays ---------------------------------------------------------------------------------


@pytest.fixture
def delayed(campaign, first):
    return CampaignConditionFactory(
        campaign=campaign,
        condition_number=2,
        trigger_type=TriggerType.TIME_DELAY,
        time_delay_hours=24,
    )


def test_time_delay_sweep_meets_condition_after_the_delay(campaign, first, delayed):
    now = timezone.now()
    due = CallConditionMetFactory(condition=first, met_at=now - timedelta(hours=25))
    CallConditionMetFactory(condition=first, met_at=now - timedelta(hours=1))

    assert apply_time_delays(now=now) == 1

    met = CallConditionMet.objects.get(condition=delayed)
    assert met.recipient == due.recipient
    assert met.source == ConditionMetSource.TIME_DELAY
    assert RecipientGiftCard.objects.filter(condition=delayed).count() == 1


def test_a_paused_campaigns_delays_wait_until_it_resumes(campaign, first, delayed):
    now = timezone.now()
    due = CallConditionMetFactory(condition=first, met_at=now - timedelta(hours=25))
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.PAUSED)

    assert apply_time_delays(now=now) == 0
    assert not CallConditionMet.objects.filter(condition=delayed).exists()

    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.MAILED)
    assert apply_time_delays(now=now) == 1
    assert CallConditionMet.objects.get(condition=delayed).recipient == due.recipient


@pytest.mark.parametrize("campaign_status", [CampaignStatus.DRAFT, CampaignStatus.PAUSED])
def test_a_condition_of_a_campaign_not_running_is_refused(recipient, first, campaign_status):
    Campaign.objects.filter(pk=first.campaign_id).update(status=campaign_status)
    first.campaign.refresh_from_db()
    with pytest.raises(CampaignNotRunning, match="in production or mailed"):
        mark_condition_met(recipient=recipient, condition=first, source="manual")
    assert not CallConditionMet.objects.exists() and not RecipientGiftCard.objects.exists()


def test_interested_on_a_paused_campaign_keeps_the_disposition_and_meets_nothing(
    campaign, recipient, first
):
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.PAUSED)
    session = CallSessionFactory(campaign=campaign, recipient=recipient)
    disposition = record_disposition(call_session=session, disposition_type="interested")
    assert disposition.pk is not None
    assert not CallConditionMet.objects.exists()


def test_time_delay_sweep_is_idempotent(campaign, first, delayed):
    now = timezone.now()
    CallConditionMetFactory(condition=first, met_at=now - timedelta(hours=30))

    assert apply_time_delays(now=now) == 1
    assert apply_time_delays(now=now) == 0
    assert CallConditionMet.objects.filter(condition=delayed).count() == 1


def test_time_delay_sweep_ignores_inactive_conditions(campaign, first, delayed):
    delayed.is_active = False
    delayed.save()
    CallConditionMetFactory(condition=first, met_at=timezone.now() - timedelta(hours=30))

    assert apply_time_delays() == 0


def test_time_delay_task_runs_the_sweep(campaign, first, delayed):
    CallConditionMetFactory(condition=first, met_at=timezone.now() - timedelta(hours=30))

    assert apply_time_delay_conditions.apply().get() == 1
    assert CallConditionMet.objects.filter(condition=delayed).count() == 1
