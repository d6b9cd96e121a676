"""Processing a stored CRM event: matching it to a recipient through the field mappings, meeting
the condition its name maps to, once, and what is recorded when it cannot."""

from datetime import timedelta

import pytest
from django.utils import timezone

from calls.models import CallConditionMet, ConditionMetSource
from campaigns.models import TriggerType
from crm.models import CrmEvent, CrmProvider
from crm.presets import PRESETS
from crm.services import create_integration, record_event, update_integration
from giftcards.models import RecipientGiftCard
from mike.rewards.crm_events import (
    process_crm_event,
    reprocess_crm_events,
    sweep_crm_events,
)
from tests import factories
from tests.crm.conftest import zapier_event
from tests.rewards.concurrency import in_thread

pytestmark = pytest.mark.django_db


def store(integration, payload, signed_at=1_800_000_000):
    event, _ = record_event(integration=integration, payload=payload, signed_at=signed_at)
    return event


def processed(integration, payload):
    event = store(integration, payload)
    process_crm_event(event.pk)
    event.refresh_from_db()
    return event


@pytest.mark.parametrize(
    "phone",
    [
        "+15552010001",
        "5552010001",
        "(555) 201-0001",
        "555.201.0001",
        "1-555-201-0001",
        " +1 555 201 0001 ",
    ],
)
def test_matches_by_phone_in_any_usual_format(world, phone):
    event = processed(world.integration, zapier_event(phone=phone))

    assert event.matched and event.recipient == world.recipient
    assert event.condition_triggered == 1
    assert event.outcome == "processed"


@pytest.mark.parametrize("email", ["ada.lovelace@example.com", "ADA.LOVELACE@EXAMPLE.COM"])
def test_matches_by_email_ignoring_case(world, email):
    event = processed(world.integration, zapier_event(email=email))

    assert event.recipient == world.recipient


@pytest.mark.parametrize("how", ["plain", "dashed", "lower"])
def test_matches_by_redemption_code_as_people_write_it(world, how):
    code = world.recipient.redemption_code
    written = {
        "plain": code,
        "dashed": f"{code[:4]}-{code[4:8]}-{code[8:]}",
        "lower": code.lower(),
    }[how]

    event = processed(world.integration, zapier_event(redemption_code=written))

    assert event.recipient == world.recipient


def test_the_code_wins_over_a_phone_of_someone_else(world):
    other = factories.RecipientFactory(campaign=world.campaign, phone="+15552019999")

    event = processed(
        world.integration,
        zapier_event(redemption_code=other.redemption_code, phone="5552010001"),
    )

    assert event.recipient == other


def test_nested_paths_and_alternatives(world):
    update_integration(
        integration=world.integration,
        name="",
        campaign=None,
        field_mappings={
            "event_id": "meta.id",
            "event_name": "meta.type",
            "phone": "contact.mobile|contact.phone",
            "email": "properties.email",
        },
        event_mappings={},
        is_active=True,
    )
    world.integration.refresh_from_db()
    payload = {
        "meta": {"id": "n-1", "type": "appointment_booked"},
        "contact": {"mobile": "", "phone": "555 201 0001"},
    }

    event = processed(world.integration, payload)

    assert event.external_id == "n-1"
    assert event.recipient == world.recipient
    assert event.condition_triggered == 1


def test_list_items_and_hubspot_value_objects(world):
    hubspot = create_integration(client=world.client, crm_provider=CrmProvider.HUBSPOT)
    payload = dict(PRESETS[CrmProvider.HUBSPOT].example)
    payload["properties"] = {
        "email": {"value": "ADA.lovelace@example.com"},
        "phone": {"value": ""},
    }

    event = processed(hubspot, payload)

    assert event.external_id == "4213"
    assert event.recipient == world.recipient


@pytest.mark.parametrize("provider", list(PRESETS))
def test_each_presets_example_is_read_by_its_own_mappings(world, provider):
    """The example each preset shows is read by it: by its code, and without the code by its
    phone (written the way that CRM writes phones)."""
    integration = create_integration(client=world.client, crm_provider=provider)
    by_code = factories.RecipientFactory(
        campaign=world.campaign, redemption_code="7KQ4M2XD9P", phone="+15550000000"
    )
    example = PRESETS[provider].example

    event = processed(integration, example)

    assert event.event_type == "appointment_booked"
    assert event.external_id
    assert event.recipient == by_code

    by_code.delete()
    event.delete()
    assert processed(integration, example).recipient == world.recipient


def test_an_event_name_is_mapped_to_the_conditions_name(world):
    update_integration(
        integration=world.integration,
        name="",
        campaign=None,
        field_mappings=world.integration.field_mappings,
        event_mappings={"Meeting Booked": "appointment_booked"},
        is_active=True,
    )
    world.integration.refresh_from_db()

    event = processed(world.integration, zapier_event(event="meeting booked", phone="5552010001"))

    assert event.event_type == "meeting booked"
    assert event.condition_triggered == 1


def test_an_event_no_condition_names_is_processed_and_meets_nothing(world):
    event = processed(world.integration, zapier_event(event="deal_lost", phone="5552010001"))

    assert event.outcome == "processed"
    assert event.matched and event.condition_triggered is None
    assert not CallConditionMet.objects.exists()


def test_no_match_is_recorded_as_unmatched(world):
    event = processed(world.integration, zapier_event(phone="5559990000", email="x@y.test"))

    assert event.processed and not event.matched
    assert event.outcome == "unmatched"
    assert "+15559990000" in event.error_message and "x@y.test" in event.error_message
    assert CrmEvent.objects.filter(matched=False, processed=True).count() == 1


def test_an_event_with_nothing_to_match_by_is_unmatched(world):
    event = processed(world.integration, zapier_event())

    assert event.outcome == "unmatched"
    assert "no phone, email or redemption code" in event.error_message


def test_recipients_of_another_client_are_never_matched(world):
    stranger = factories.RecipientFactory(phone="+15552017777")

    event = processed(world.integration, zapier_event(phone="5552017777"))

    assert stranger.audience.client != world.client
    assert event.outcome == "unmatched"


def test_an_integration_of_one_campaign_matches_only_its_recipients(world):
    other_campaign = factories.CampaignFactory(client=world.client, status="mailed")
    elsewhere = factories.RecipientFactory(campaign=other_campaign, phone="+15552018888")
    update_integration(
        integration=world.integration,
        name="",
        campaign=world.campaign,
        field_mappings=world.integration.field_mappings,
        event_mappings={},
        is_active=True,
    )
    world.integration.refresh_from_db()

    event = processed(world.integration, zapier_event(phone="5552018888"))

    assert elsewhere.campaign != world.campaign
    assert event.outcome == "unmatched"
    assert world.campaign.name in event.error_message


def test_a_shared_phone_matches_the_recipient_whose_campaign_has_the_condition(world):
    other_campaign = factories.CampaignFactory(client=world.client, status="mailed")
    factories.RecipientFactory(campaign=other_campaign, phone=world.recipient.phone)

    event = processed(world.integration, zapier_event(phone="5552010001"))

    assert event.recipient == world.recipient


def test_a_condition_whose_turn_has_not_come_is_recorded_as_failed(world):
    second = factories.CampaignConditionFactory(
        campaign=world.campaign,
        condition_number=2,
        trigger_type=TriggerType.CRM_WEBHOOK,
        crm_event_name="deal_won",
    )

    event = processed(world.integration, zapier_event(event="deal_won", phone="5552010001"))

    assert event.outcome == "failed"
    assert event.matched and event.error_message
    assert not CallConditionMet.objects.filter(condition=second).exists()


def test_processing_twice_meets_the_condition_once(world):
    event = store(world.integration, zapier_event(phone="5552010001"))

    process_crm_event(event.pk)
    process_crm_event(event.pk)

    assert CallConditionMet.objects.filter(recipient=world.recipient).count() == 1
    met = CallConditionMet.objects.get()
    assert met.source == ConditionMetSource.CRM_WEBHOOK
    assert RecipientGiftCard.objects.filter(recipient=world.recipient).count() == 1


def test_two_events_for_the_same_person_meet_the_condition_once(world):
    first = processed(world.integration, zapier_event(event_id="a", phone="5552010001"))
    second = processed(
        world.integration, zapier_event(event_id="b", email="ada.lovelace@example.com")
    )

    assert first.condition_triggered == second.condition_triggered == 1
    assert CallConditionMet.objects.filter(recipient=world.recipient).count() == 1
    assert RecipientGiftCard.objects.filter(recipient=world.recipient).count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_events_racing_for_the_same_person_meet_the_condition_once(world):
    events = [
        store(world.integration, zapier_event(event_id=f"race-{i}", phone="5552010001"))
        for i in range(4)
    ]

    runs = [in_thread(lambda pk=event.pk: process_crm_event(pk)) for event in events]
    for run in runs:
        run.join()

    assert not [error for run in runs for error in run.errors]
    assert [run.results[0] for run in runs] == ["processed"] * 4
    assert CallConditionMet.objects.filter(recipient=world.recipient).count() == 1
    assert RecipientGiftCard.objects.filter(recipient=world.recipient).count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_same_event_processed_at_once_by_task_and_sweep_is_processed_once(world):
    event = store(world.integration, zapier_event(phone="5552010001"))

    runs = [in_thread(lambda: process_crm_event(event.pk)) for _ in range(3)]
    for run in runs:
        run.join()

    assert not [error for run in runs for error in run.errors]
    assert CallConditionMet.objects.count() == 1
    event.refresh_from_db()
    assert event.outcome == "processed"


def test_reprocess_after_fixing_the_mappings_meets_the_condition(
    world, django_capture_on_commit_callbacks
):
    """The CRM sends the phone where the integration does not look: unmatched. The mapping is
    fixed and the event reprocessed: it meets the condition."""
    event = processed(world.integration, zapier_event(contact={"cell": "555-201-0001"}))
    assert event.outcome == "unmatched"

    mappings = {**world.integration.field_mappings, "phone": "contact.cell"}
    update_integration(
        integration=world.integration,
        name="",
        campaign=None,
        field_mappings=mappings,
        event_mappings={},
        is_active=True,
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert reprocess_crm_events([event.pk]) == 1

    event.refresh_from_db()
    assert event.outcome == "processed"
    assert event.error_message == ""
    assert event.condition_triggered == 1
    assert CallConditionMet.objects.filter(recipient=world.recipient).count() == 1


def test_reprocessing_an_event_that_met_its_condition_meets_nothing_more(
    world, django_capture_on_commit_callbacks
):
    event = processed(world.integration, zapier_event(phone="5552010001"))

    with django_capture_on_commit_callbacks(execute=True):
        reprocess_crm_events([event.pk])

    assert CallConditionMet.objects.count() == 1
    assert RecipientGiftCard.objects.count() == 1


def test_the_sweep_processes_an_event_whose_task_was_lost(world):
    lost = store(world.integration, zapier_event(event_id="lost", phone="5552010001"))
    fresh = store(world.integration, zapier_event(event_id="fresh", phone="5552010001"))
    CrmEvent.objects.filter(pk=lost.pk).update(updated_at=timezone.now() - timedelta(minutes=6))

    assert sweep_crm_events() == 1

    lost.refresh_from_db()
    fresh.refresh_from_db()
    assert lost.outcome == "processed" and lost.condition_triggered == 1
    assert fresh.outcome == "received"  # its own task may still be on the way


def test_the_sweep_leaves_processed_events_alone(world):
    event = processed(world.integration, zapier_event(phone="5552010001"))
    CrmEvent.objects.filter(pk=event.pk).update(updated_at=timezone.now() - timedelta(hours=1))

    assert sweep_crm_events() == 0


def test_the_sweep_is_on_the_beat_schedule(settings):
    entries = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "crm.tasks.sweep_crm_events" in entries


def test_a_processing_error_is_recorded_and_the_event_listed_as_failed(world, monkeypatch):
    from mike.rewards import crm_events

    def broken(**kwargs):
        raise RuntimeError("the pipeline is down")

    monkeypatch.setattr(crm_events, "mark_condition_met_by_crm_event", broken)

    event = processed(world.integration, zapier_event(phone="5552010001"))

    assert event.outcome == "failed"
    assert "the pipeline is down" in event.error_message
    assert not CallConditionMet.objects.exists()


@pytest.mark.parametrize("status", ["draft", "paused", "completed"])
def test_a_campaign_whose_mail_is_not_out_meets_nothing_and_says_so(world, status):
    world.campaign.status = status
    world.campaign.save()

    event = processed(world.integration, zapier_event(phone="5552010001"))

    assert event.outcome == "failed"
    assert "only while it is in production or mailed" in event.error_message
    assert not CallConditionMet.objects.exists()


def test_once_the_campaign_is_mailed_reprocessing_meets_the_condition(
    world, django_capture_on_commit_callbacks
):
    world.campaign.status = "draft"
    world.campaign.save()
    event = processed(world.integration, zapier_event(phone="5552010001"))
    world.campaign.status = "mailed"
    world.campaign.save()

    with django_capture_on_commit_callbacks(execute=True):
        reprocess_crm_events([event.pk])

    event.refresh_from_db()
    assert event.outcome == "processed" and event.condition_triggered == 1
