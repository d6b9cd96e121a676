"""An erasure leaves nothing of the person in the rows other domains copied them into: webhook
payloads and the receivers' answers, the API's stored answers, funnel events, form submissions,
contacts, CRM events, console steps, import reports and files."""

import io

import pytest

from calls.models import CallConditionMet, CallDisposition, CallStep
from campaigns.models import AceFormSubmission, EventType
from crm.models import Contact, CrmEvent
from mike.api.models import IdempotencyRecord
from mike.imports import services as imports
from mike.imports.models import ImportJob, ImportProblem, ImportStatus
from mike.rewards import approval, erasure
from mike.webhooks.catalogue import WebhookEventType
from mike.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEvent, WebhookSubscription
from recipients.models import Recipient, RecipientAuditAction, RecipientAuditLog
from tests.api.conftest import api_for
from tests.factories import (
    AceFormSubmissionFactory,
    CallConditionMetFactory,
    CallDispositionFactory,
    CallSessionFactory,
    CallStepFactory,
    CampaignConditionFactory,
    CampaignFactory,
    ClientFactory,
    ContactFactory,
    CrmEventFactory,
    CrmIntegrationFactory,
    EventFactory,
    RecipientFactory,
)

pytestmark = pytest.mark.django_db

PHONE = "+15552010101"
EMAIL = "ada@example.com"
PEOPLE = (
    b"first_name,last_name,phone,email\r\n"
    b"Ada,Lovelace,(555) 201-0101,ada@example.com\r\n"
    b"Grace,Hopper,(555) 201-0102,grace@example.com\r\n"
)


@pytest.fixture
def campaign():
    client = ClientFactory(name="Acme Roofing")
    return CampaignFactory(client=client)


@pytest.fixture
def ada(campaign):
    return RecipientFactory(
        campaign=campaign,
        first_name="Ada",
        last_name="Lovelace",
        phone=PHONE,
        email=EMAIL,
        custom_fields={"external_id": "crm-ada"},
        with_reward=True,
    )


def _subscribe(client, *events):
    subscription = WebhookSubscription(client=client, url="https://hooks.example.com/mike")
    subscription.events = list(events)
    subscription.set_secret("whsec_test")
    subscription.save()
    return subscription


def test_webhook_payloads_about_the_person_lose_them_and_others_are_kept(campaign, ada):
    _subscribe(
        campaign.client, WebhookEventType.RECIPIENT_APPROVED, WebhookEventType.CALL_COMPLETED
    )
    grace = RecipientFactory(campaign=campaign, first_name="Grace", phone="+15552010102")
    approval.approve_recipient(recipient=ada)
    approval.approve_recipient(recipient=grace)
    from mike import webhooks
    from mike.webhooks import payloads

    call = CallSessionFactory(campaign=campaign, recipient=ada, caller_phone=PHONE)
    webhooks.emit(
        WebhookEventType.CALL_COMPLETED, client=campaign.client, payload=payloads.call(call)
    )
    approved = WebhookEvent.objects.get(
        event_type=WebhookEventType.RECIPIENT_APPROVED, payload__id=str(ada.pk)
    )
    assert approved.payload["phone"] == PHONE
    delivery = WebhookDelivery.objects.filter(event=approved).get()
    WebhookAttempt.objects.create(
        delivery=delivery,
        number=1,
        attempted_at=delivery.created_at,
        status_code=500,
        response_excerpt=f"could not store {PHONE} {EMAIL}",
    )

    erasure.erase_recipient(recipient=ada, by=None, reason="Asked by email")

    approved.refresh_from_db()
    assert approved.payload["id"] == str(ada.pk)
    assert approved.payload["approval_status"] == "approved"
    assert (approved.payload["first_name"], approved.payload["phone"]) == ("Erased", "")
    assert approved.payload["email"] == "" and approved.payload["external_id"] == ""
    called = WebhookEvent.objects.get(event_type=WebhookEventType.CALL_COMPLETED)
    assert called.payload["caller_phone"] == "" and called.payload["call_sid"]
    assert WebhookAttempt.objects.get().response_excerpt == ""
    stored = str(list(WebhookEvent.objects.values_list("payload", flat=True)))
    assert PHONE not in stored and EMAIL not in stored and "Lovelace" not in stored
    # Grace's own event is untouched.
    theirs = WebhookEvent.objects.get(payload__id=str(grace.pk))
    assert theirs.payload["phone"] == "+15552010102"


def test_the_api_stored_answers_lose_the_person(campaign, ada):
    api = api_for(campaign.client)
    row = {"external_id": "crm-bo", "first_name": "Bo", "phone": "(555) 201-0199"}
    first = api.post(
        f"audiences/{ada.audience_id}/recipients/", {"recipients": [row]}, idempotency_key="b1"
    )
    assert first.status_code == 200, first.content
    bo = Recipient.objects.get(pk=first.json()["results"][0]["id"])
    other = api.post(
        f"audiences/{ada.audience_id}/recipients/",
        {"recipients": [{"external_id": "crm-cy", "first_name": "Cy", "phone": "5552010198"}]},
        idempotency_key="c1",
    )

    erasure.erase_recipient(recipient=bo, by=None, reason="Request")

    record = IdempotencyRecord.objects.get(key="b1")
    result = record.response_body["results"][0]
    assert result["id"] == str(bo.pk) and result["external_id"] == ""
    assert "crm-bo" not in str(record.response_body)
    replay = api.post(
        f"audiences/{ada.audience_id}/recipients/", {"recipients": [row]}, idempotency_key="b1"
    )
    assert replay["Idempotent-Replayed"] == "true"
    assert replay.json()["results"][0]["external_id"] == ""
    assert IdempotencyRecord.objects.get(key="c1").response_body == other.json()


def test_events_forms_contacts_crm_and_console_steps_lose_the_person(campaign, ada):
    contact = ContactFactory(client=campaign.client, phone=PHONE, email=EMAIL)
    Recipient.objects.filter(pk=ada.pk).update(contact=contact)
    form_contact = ContactFactory(client=campaign.client, first_name="Ada", email=EMAIL)
    same_phone = ContactFactory(client=campaign.client, first_name="Lin", phone=PHONE)
    submission = AceFormSubmissionFactory(
        recipient=ada,
        contact=form_contact,
        form__client=campaign.client,
        submission_data={"first_name": "Ada", "phone": PHONE},
    )
    event = EventFactory(
        campaign=campaign,
        recipient=ada,
        event_type=EventType.OPTED_IN,
        event_data={"body": "YES Ada here", "phone": PHONE, "message_sid": "SM1"},
    )
    other_event = EventFactory(campaign=campaign, event_data={"phone": "+15550000000"})
    call = CallSessionFactory(campaign=campaign, recipient=ada, caller_phone=PHONE)
    step = CallStepFactory(call_session=call, detail="Attached to Ada Lovelace")
    met = CallConditionMetFactory(
        recipient=ada,
        campaign=campaign,
        condition=CampaignConditionFactory(campaign=campaign, condition_number=2),
        notes="Ada booked, call her on 555 201 0101",
    )
    disposition = CallDispositionFactory(call_session=call, recipient=ada, notes="Ada: interested")
    integration = CrmIntegrationFactory(client=campaign.client)
    matched = CrmEventFactory(
        integration=integration, recipient=ada, error_message=f"no condition for {EMAIL}"
    )
    unmatched = CrmEventFactory(integration=integration, raw_payload={"contact": {"email": EMAIL}})
    stranger = CrmEventFactory(integration=integration, raw_payload={"email": "x@example.com"})

    erasure.erase_recipient(recipient=ada, by=None, reason="Request")

    event.refresh_from_db()
    assert event.event_data == {"body": "", "phone": "", "message_sid": "SM1"}
    assert event.event_type == EventType.OPTED_IN
    other_event.refresh_from_db()
    assert other_event.event_data == {"phone": "+15550000000"}
    submission = AceFormSubmission.objects.get(pk=submission.pk)
    assert (submission.submission_data, submission.ip_address, submission.user_agent) == (
        {},
        None,
        "",
    )
    for erased in (contact, form_contact):
        erased.refresh_from_db()
        assert (erased.first_name, erased.phone, erased.email) == ("Erased", "", "")
    same_phone.refresh_from_db()
    assert same_phone.phone == PHONE and same_phone.first_name == "Lin"
    assert CallStep.objects.get(pk=step.pk).detail == "Attached to Erased"
    assert CallConditionMet.objects.get(pk=met.pk).notes == ""
    assert CallDisposition.objects.get(pk=disposition.pk).notes == ""
    assert CrmEvent.objects.get(pk=matched.pk).error_message == "no condition for Erased"
    assert CrmEvent.objects.get(pk=unmatched.pk).raw_payload == {}
    assert CrmEvent.objects.get(pk=stranger.pk).raw_payload == {"email": "x@example.com"}
    assert Contact.objects.count() == 3

    audit = RecipientAuditLog.objects.get(recipient=ada, action=RecipientAuditAction.ERASED)
    assert audit.metadata["reason"] == "Request"
    assert audit.metadata["cleared"]["events_and_forms"] == 2
    # The matched event's payload and error, the unmatched event, the two contacts.
    assert audit.metadata["cleared"]["crm"] == 5


def test_import_reports_and_files_lose_the_person(campaign, django_capture_on_commit_callbacks):
    audience = campaign.audience
    first = imports.import_file("recipients", target=audience, source=io.BytesIO(PEOPLE))
    again = imports.import_file("recipients", target=audience, source=io.BytesIO(PEOPLE))
    assert again.duplicates == 2
    quoted = ImportProblem.objects.filter(job=again, message__contains=PHONE)
    assert quoted.count() == 1
    ada = Recipient.objects.get(audience=audience, phone=PHONE)
    storage = first.file.storage
    names = [first.file.name, again.file.name]
    assert all(storage.exists(name) for name in names)

    with django_capture_on_commit_callbacks(execute=True):
        erasure.erase_recipient(recipient=ada, by=None, reason="Request")

    report = list(ImportProblem.objects.filter(job=again).values_list("message", flat=True))
    assert PHONE not in str(report) and any("Erased" in line for line in report)
    assert any("+15552010102" in line for line in report)  # Grace's line is hers
    assert not any(storage.exists(name) for name in names)
    again.refresh_from_db()
    assert again.file.name == "" and again.duplicates == 2 and again.status == ImportStatus.DONE


def test_erasure_waits_for_an_import_into_the_audience(campaign, ada):
    job = imports.create_job(
        "recipients", target=ada.audience, file=io.BytesIO(PEOPLE), via="command"
    )
    assert job.status == ImportStatus.PENDING
    with pytest.raises(erasure.ErasureError, match="import"):
        erasure.erase_recipient(recipient=ada, by=None, reason="Request")
    ada.refresh_from_db()
    assert ada.erased_at is None and ada.phone == PHONE
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.CANCELLED)
    assert erasure.erase_recipient(recipient=ada, by=None, reason="Request")
