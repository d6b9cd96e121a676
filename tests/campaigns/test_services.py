"""Campaign services: creating, editing, conditions, status transitions and duplicates; and the
calls service that puts a tracked number on a campaign."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection, transaction

from calls import services as call_services
from calls.models import TrackedNumberStatus
from campaigns import services
from campaigns.models import (
    CAMPAIGN_TRANSITIONS,
    Campaign,
    CampaignCondition,
    CampaignStatus,
    Event,
    EventType,
    TriggerType,
)
from tests import factories
from tests.rewards.concurrency import another_backend_waits_for_a_lock, in_thread

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin():
    return factories.UserFactory()


@pytest.fixture
def brand():
    return factories.GiftCardBrandFactory()


def condition(brand, name="Booked", value="25.00", **extra):
    return {"condition_name": name, "brand": brand, "card_value": Decimal(value), **extra}


def ready_campaign(**extra) -> Campaign:
    """A draft with what proofing needs: audience, mail date and a condition."""
    extra.setdefault("status", CampaignStatus.DRAFT)
    campaign = factories.CampaignFactory(mail_date=datetime.date(2027, 3, 1), **extra)
    factories.CampaignConditionFactory(campaign=campaign)
    return campaign


# --- create / update ---------------------------------------------------------------------------


def test_create_campaign_makes_a_draft_and_records_who(admin):
    client = factories.ClientFactory()
    audience = factories.AudienceFactory(client=client)
    campaign = services.create_campaign(
        client=client, by=admin, name="  Spring mailing ", audience=audience
    )
    assert campaign.status == CampaignStatus.DRAFT
    assert campaign.name == "Spring mailing"
    assert campaign.created_by == admin
    event = Event.objects.get(campaign=campaign)
    assert event.event_type == EventType.CAMPAIGN_CREATED
    assert event.event_data["by"] == str(admin.pk)


def test_create_campaign_refuses_another_clients_audience(admin):
    client = factories.ClientFactory()
    other_audience = factories.AudienceFactory()
    with pytest.raises(services.CampaignInvalid) as caught:
        services.create_campaign(client=client, by=admin, name="X", audience=other_audience)
    assert "audience" in caught.value.errors
    assert not Campaign.objects.filter(client=client).exists()


def test_create_campaign_needs_a_name(admin):
    with pytest.raises(services.CampaignInvalid) as caught:
        services.create_campaign(client=factories.ClientFactory(), by=admin, name="   ")
    assert "name" in caught.value.errors


def test_create_campaign_refuses_fields_it_does_not_set(admin):
    with pytest.raises(TypeError):
        services.create_campaign(
            client=factories.ClientFactory(), by=admin, name="X", status=CampaignStatus.MAILED
        )


def test_update_campaign_changes_the_fields_given(admin):
    campaign = factories.CampaignFactory(status=CampaignStatus.DRAFT)
    updated = services.update_campaign(
        campaign=campaign, by=admin, name="Renamed", mail_date=datetime.date(2027, 1, 5)
    )
    campaign.refresh_from_db()
    assert (campaign.name, campaign.mail_date) == ("Renamed", datetime.date(2027, 1, 5))
    assert updated.name == "Renamed"


def test_update_campaign_refuses_a_closed_campaign(admin):
    campaign = factories.CampaignFactory(status=CampaignStatus.COMPLETED)
    with pytest.raises(services.CampaignClosed, match="can no longer be changed"):
        services.update_campaign(campaign=campaign, by=admin, name="Later")


def test_update_campaign_refuses_a_negative_budget(admin):
    campaign = factories.CampaignFactory(status=CampaignStatus.DRAFT)
    with pytest.raises(services.CampaignInvalid):
        services.update_campaign(campaign=campaign, by=admin, allocated_budget=Decimal("-1"))


# --- conditions --------------------------------------------------------------------------------


def test_set_conditions_numbers_them_in_order(admin, brand):
    campaign = factories.CampaignFactory(status=CampaignStatus.DRAFT)
    rows = services.set_conditions(
        campaign=campaign,
        by=admin,
        conditions=[
            condition(brand, "Called"),
            condition(brand, "Booked", trigger_type=TriggerType.CRM_WEBHOOK, crm_event_name="b"),
            condition(brand, "Stayed", trigger_type=TriggerType.TIME_DELAY, time_delay_hours=24),
        ],
    )
    assert [(r.condition_number, r.condition_name) for r in rows] == [
        (1, "Called"),
        (2, "Booked"),
        (3, "Stayed"),
    ]
    assert campaign.conditions.count() == 3


def test_set_conditions_refuses_more_than_three(admin, brand):
    campaign = factories.CampaignFactory(status=CampaignStatus.DRAFT)
    with pytest.raises(services.TooManyConditions, match="one to 3"):
        services.set_conditions(campaign=campaign, by=admin, conditions=[condition(brand)] * 4)
    assert not campaign.conditions.exists()


def test_set_conditions_refuses_none(admin):
    with pytest.raises(services.TooManyConditions):
        services.set_conditions(
            campaign=factories.CampaignFactory(status=CampaignStatus.DRAFT), by=admin, conditions=[]
        )


def test_set_conditions_checks_every_row_before_writing(admin, brand):
    campaign = factories.CampaignFactory(status=CampaignStatus.DRAFT)
    with pytest.raises(services.ConditionsInvalid) as caught:
        services.set_conditions(
            campaign=campaign,
            by=admin,
            conditions=[
                condition(brand),
                condition(brand, trigger_type=TriggerType.CRM_WEBHOOK, crm_event_name=""),
            ],
        )
    assert list(caught.value.errors) == [1]
    assert "crm_event_name" in caught.value.errors[1]
    assert "Condition 2" in str(caught.value)
    assert not campaign.conditions.exists()


def test_set_conditions_refuses_an_unknown_text_variable(admin, brand):
    with pytest.raises(services.ConditionsInvalid, match="frist_name"):
        services.set_conditions(
            campaign=factories.CampaignFactory(status=CampaignStatus.DRAFT),
            by=admin,
            conditions=[condition(brand, sms_template="Hi {frist_name}")],
        )


def test_set_conditions_is_idempotent_and_keeps_the_rows(admin, brand):
    campaign = factories.CampaignFactory(status=CampaignStatus.DRAFT)
    wanted = [condition(brand, "One"), condition(brand, "Two")]
    first = services.set_conditions(campaign=campaign, by=admin, conditions=wanted)
    second = services.set_conditions(campaign=campaign, by=admin, conditions=wanted)
    assert [r.pk for r in first] == [r.pk for r in second]
    assert campaign.conditions.count() == 2


def test_set_conditions_removes_the_rows_left_out(admin, brand):
    campaign = factories.CampaignFactory(status=CampaignStatus.DRAFT)
    services.set_conditions(
        campaign=campaign, by=admin, conditions=[condition(brand, "One"), condition(brand, "Two")]
    )
    services.set_conditions(campaign=campaign, by=admin, conditions=[condition(brand, "Only")])
    assert list(campaign.conditions.values_list("condition_number", "condition_name")) == [
        (1, "Only")
    ]


def test_set_conditions_will_not_remove_a_condition_recipients_met(admin, brand):
    campaign = factories.CampaignFactory(status=CampaignStatus.DRAFT)
    factories.CampaignConditionFactory(campaign=campaign, condition_number=1)
    second = factories.CampaignConditionFactory(campaign=campaign, condition_number=2)
    factories.RecipientGiftCardFactory(condition=second)
    with pytest.raises(services.ConditionInUse, match="switch it off"):
        services.set_conditions(campaign=campaign, by=admin, conditions=[condition(brand)])
    assert campaign.conditions.count() == 2


def test_set_conditions_refuses_a_cancelled_campaign(admin, brand):
    campaign = factories.CampaignFactory(status=CampaignStatus.CANCELLED)
    with pytest.raises(services.CampaignClosed):
        services.set_conditions(campaign=campaign, by=admin, conditions=[condition(brand)])


# --- status ------------------------------------------------------------------------------------

ALL_MOVES = [
    (start, to) for start in CampaignStatus.values for to in CampaignStatus.values if start != to
]


@pytest.mark.parametrize(("start", "to"), ALL_MOVES)
def test_status_moves_only_along_the_transitions(admin, start, to):
    campaign = ready_campaign(status=start)
    if to in CAMPAIGN_TRANSITIONS[start]:
        services.change_campaign_status(campaign=campaign, to=to, by=admin)
        campaign.refresh_from_db()
        assert campaign.status == to
        event = Event.objects.get(campaign=campaign, event_type=EventType.CAMPAIGN_STATUS_CHANGED)
        assert event.event_data == {"by": str(admin.pk), "status_from": start, "status_to": to}
    else:
        with pytest.raises(services.TransitionRefused):
            services.change_campaign_status(campaign=campaign, to=to, by=admin)
        campaign.refresh_from_db()
        assert campaign.status == start
        assert not Event.objects.filter(event_type=EventType.CAMPAIGN_STATUS_CHANGED).exists()


def test_the_forward_path_runs_from_draft_to_completed(admin):
    campaign = ready_campaign()
    for to in ("proofed", "in_production", "mailed", "paused", "mailed", "completed"):
        campaign = services.change_campaign_status(campaign=campaign, to=to, by=admin)
    assert campaign.status == CampaignStatus.COMPLETED


def test_a_refused_move_says_where_the_campaign_can_go(admin):
    campaign = ready_campaign()
    with pytest.raises(services.TransitionRefused) as caught:
        services.change_campaign_status(campaign=campaign, to=CampaignStatus.MAILED, by=admin)
    assert str(caught.value) == (
        "A draft campaign cannot be mailed: it can move to proofed or cancelled."
    )


def test_an_unknown_status_is_refused(admin):
    with pytest.raises(services.TransitionRefused, match="'shipped'"):
        services.change_campaign_status(campaign=ready_campaign(), to="shipped", by=admin)


def test_proofing_needs_an_audience_a_mail_date_and_a_condition(admin):
    campaign = factories.CampaignFactory(audience=None, mail_date=None, status=CampaignStatus.DRAFT)
    with pytest.raises(services.CampaignNotReady) as caught:
        services.change_campaign_status(campaign=campaign, to=CampaignStatus.PROOFED, by=admin)
    assert caught.value.missing == [
        "an audience",
        "a mail date",
        "at least one active condition",
    ]
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT


def test_cancelling_needs_nothing_ready(admin):
    campaign = factories.CampaignFactory(audience=None, status=CampaignStatus.DRAFT)
    services.change_campaign_status(campaign=campaign, to=CampaignStatus.CANCELLED, by=admin)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.CANCELLED


def test_moving_to_the_current_status_changes_nothing(admin):
    campaign = ready_campaign(status=CampaignStatus.MAILED)
    services.change_campaign_status(campaign=campaign, to=CampaignStatus.MAILED, by=admin)
    assert not Event.objects.filter(event_type=EventType.CAMPAIGN_STATUS_CHANGED).exists()


@pytest.mark.django_db(transaction=True)
def test_a_second_proofing_waits_for_the_first_and_changes_nothing(admin):
    campaign = ready_campaign()
    with transaction.atomic():
        services.change_campaign_status(campaign=campaign, to=CampaignStatus.PROOFED, by=admin)
        other = in_thread(
            lambda: services.change_campaign_status(
                campaign=campaign, to=CampaignStatus.PROOFED, by=admin
            )
        )
        with connection.cursor() as cursor:
            assert another_backend_waits_for_a_lock(cursor)
    other.join()
    assert other.errors == []
    assert other.results[0].status == CampaignStatus.PROOFED
    changes = Event.objects.filter(campaign=campaign, event_type=EventType.CAMPAIGN_STATUS_CHANGED)
    assert changes.count() == 1


# --- duplicate ---------------------------------------------------------------------------------


def test_duplicate_copies_settings_and_conditions_as_a_draft(admin, brand):
    original = ready_campaign(
        status=CampaignStatus.MAILED,
        name="Spring",
        allocated_budget=Decimal("500.00"),
        vendor="PrintCo",
    )
    factories.CampaignConditionFactory(
        campaign=original,
        condition_number=2,
        trigger_type=TriggerType.TIME_DELAY,
        time_delay_hours=48,
        sms_template="Thanks {first_name}",
    )
    factories.TrackedPhoneNumberFactory(campaign=original)
    copy = services.duplicate_campaign(campaign=original, by=admin)
    assert copy.pk != original.pk
    assert copy.name == "Copy of Spring"
    assert copy.status == CampaignStatus.DRAFT
    assert copy.client == original.client and copy.audience == original.audience
    assert copy.vendor == "PrintCo" and copy.allocated_budget == Decimal("500.00")
    assert copy.mail_date is None
    assert copy.created_by == admin
    assert not copy.tracked_numbers.exists()
    fields = ("condition_number", "condition_name", "trigger_type", "time_delay_hours")
    assert list(copy.conditions.values_list(*fields, "sms_template")) == list(
        original.conditions.values_list(*fields, "sms_template")
    )
    event = Event.objects.get(campaign=copy)
    assert event.event_data["duplicated_from"] == str(original.pk)


def test_a_second_copy_gets_its_own_name(admin):
    original = ready_campaign(name="Spring")
    services.duplicate_campaign(campaign=original, by=admin)
    second = services.duplicate_campaign(campaign=original, by=admin)
    assert second.name == "Copy of Spring (2)"
    assert CampaignCondition.objects.filter(campaign=second).count() == 1


# --- tracked numbers (calls.services) ----------------------------------------------------------


def test_assign_tracked_number_puts_it_on_the_campaign(admin):
    campaign = factories.CampaignFactory(status=CampaignStatus.DRAFT)
    number = factories.TrackedPhoneNumberFactory(campaign=None, client=campaign.client)
    call_services.assign_tracked_number(number=number, campaign=campaign, by=admin)
    number.refresh_from_db()
    assert number.campaign == campaign
    assert number.status == TrackedNumberStatus.ASSIGNED
    assert number.assigned_at is not None


def test_assigning_the_same_number_again_changes_nothing(admin):
    campaign = factories.CampaignFactory(status=CampaignStatus.DRAFT)
    number = factories.TrackedPhoneNumberFactory(campaign=campaign)
    assigned_at = number.assigned_at
    call_services.assign_tracked_number(number=number, campaign=campaign, by=admin)
    number.refresh_from_db()
    assert number.assigned_at == assigned_at


def test_assign_refuses_another_clients_number(admin):
    campaign = factories.CampaignFactory(status=CampaignStatus.DRAFT)
    number = factories.TrackedPhoneNumberFactory(campaign=None)
    with pytest.raises(call_services.TrackedNumberUnavailable, match="another client"):
        call_services.assign_tracked_number(number=number, campaign=campaign, by=admin)


def test_assign_refuses_a_number_on_another_campaign(admin):
    campaign = factories.CampaignFactory(status=CampaignStatus.DRAFT)
    other = factories.CampaignFactory(client=campaign.client)
    number = factories.TrackedPhoneNumberFactory(campaign=other)
    with pytest.raises(call_services.TrackedNumberUnavailable, match="another campaign"):
        call_services.assign_tracked_number(number=number, campaign=campaign, by=admin)
    number.refresh_from_db()
    assert number.campaign == other


def test_assign_refuses_a_decommissioned_number(admin):
    campaign = factories.CampaignFactory(status=CampaignStatus.DRAFT)
    number = factories.TrackedPhoneNumberFactory(
        campaign=None, client=campaign.client, status=TrackedNumberStatus.DECOMMISSIONED
    )
    with pytest.raises(call_services.TrackedNumberUnavailable, match="decommissioned"):
        call_services.assign_tracked_number(number=number, campaign=campaign, by=admin)


def test_assign_refuses_a_completed_campaign(admin):
    campaign = factories.CampaignFactory(status=CampaignStatus.COMPLETED)
    number = factories.TrackedPhoneNumberFactory(campaign=None, client=campaign.client)
    with pytest.raises(call_services.TrackedNumberUnavailable, match="completed campaign"):
        call_services.assign_tracked_number(number=number, campaign=campaign, by=admin)


def test_assign_with_release_others_swaps_the_campaigns_number(admin):
    campaign = factories.CampaignFactory(status=CampaignStatus.DRAFT)
    old = factories.TrackedPhoneNumberFactory(campaign=campaign)
    new = factories.TrackedPhoneNumberFactory(campaign=None, client=campaign.client)
    call_services.assign_tracked_number(
        number=new, campaign=campaign, by=admin, release_others=True
    )
    old.refresh_from_db()
    assert (old.campaign, old.status) == (None, TrackedNumberStatus.AVAILABLE)
    assert list(campaign.tracked_numbers.all()) == [new]


def test_unassign_is_idempotent(admin):
    number = factories.TrackedPhoneNumberFactory()
    call_services.unassign_tracked_number(number=number, by=admin)
    call_services.unassign_tracked_number(number=number, by=admin)
    number.refresh_from_db()
    assert (number.campaign, number.status, number.assigned_at) == (
        None,
        TrackedNumberStatus.AVAILABLE,
        None,
    )
