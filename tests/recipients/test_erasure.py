"""Erasing a recipient's personal data, the opt-out that outlives it, and the retention purge."""

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from calls.models import CallSession
from campaigns.models import Event
from crm.models import CrmEvent
from giftcards.models import DeliveryStatus, GiftCardDelivery, RecipientGiftCard
from mike.rewards import approval, erasure, inbound, retention
from recipients.models import (
    Recipient,
    RecipientAuditAction,
    RecipientAuditLog,
    SmsOptInLog,
    SmsOptInStatus,
    SmsSuppression,
)
from tests.factories import (
    CallSessionFactory,
    CampaignFactory,
    ClientFactory,
    CrmEventFactory,
    GiftCardDeliveryFactory,
    RecipientFactory,
    SmsOptInLogFactory,
)

pytestmark = pytest.mark.django_db

PHONE = "+15551230001"


@pytest.fixture
def campaign():
    return CampaignFactory(client=ClientFactory(name="Acme Roofing"))


def _stop(phone=PHONE):
    return inbound.handle_inbound_sms(from_number=phone, body="STOP", message_sid="SMstop1")


def test_erasure_clears_the_person_and_keeps_rewards_and_counts(campaign):
    recipient = RecipientFactory(
        campaign=campaign, phone=PHONE, custom_fields={"external_id": "X1"}, with_reward=True
    )
    SmsOptInLogFactory(recipient=recipient, phone=PHONE, message_text="Reply YES, Jane")
    delivery = GiftCardDeliveryFactory(
        reward__recipient=recipient, status=DeliveryStatus.DELIVERED, sms_message="Hi Jane"
    )
    call = CallSessionFactory(
        campaign=campaign, recipient=recipient, caller_phone=PHONE, recording_url="https://r/1"
    )
    crm_event = CrmEventFactory(recipient=recipient, raw_payload={"phone": PHONE})
    rewards = RecipientGiftCard.objects.filter(recipient=recipient).count()
    events = Event.objects.count()

    assert erasure.erase_recipient(recipient=recipient, by=None, reason="Asked by email")

    recipient.refresh_from_db()
    assert (recipient.first_name, recipient.last_name, recipient.phone, recipient.email) == (
        "Erased",
        "",
        "",
        "",
    )
    assert recipient.address1 == "" and recipient.custom_fields == {}
    assert recipient.erased_at is not None
    assert SmsOptInLog.objects.get(recipient=recipient).message_text == ""
    delivery.refresh_from_db()
    assert delivery.sms_message == "" and delivery.delivery_address == "erased"
    assert delivery.status == DeliveryStatus.DELIVERED
    call.refresh_from_db()
    assert call.caller_phone == "" and call.recording_url == ""
    assert CrmEvent.objects.get(pk=crm_event.pk).raw_payload == {}
    assert RecipientGiftCard.objects.filter(recipient=recipient).count() == rewards
    assert Event.objects.count() == events
    audit = RecipientAuditLog.objects.get(recipient=recipient, action=RecipientAuditAction.ERASED)
    assert audit.metadata["reason"] == "Asked by email"
    # How many rows of each kind were cleared, and nothing about the person.
    assert audit.metadata["cleared"]["card_deliveries"] == 1
    assert audit.metadata["cleared"]["calls"] == 1
    assert all(isinstance(count, int) for count in audit.metadata["cleared"].values())
    assert PHONE not in str(audit.metadata)


def test_erasing_twice_changes_nothing_the_second_time(campaign):
    recipient = RecipientFactory(campaign=campaign, phone=PHONE)
    assert erasure.erase_recipient(recipient=recipient, by=None, reason="Request")
    assert not erasure.erase_recipient(recipient=recipient, by=None, reason="Request")
    assert (
        RecipientAuditLog.objects.filter(
            recipient=recipient, action=RecipientAuditAction.ERASED
        ).count()
        == 1
    )


def test_erasure_waits_for_a_delivery_being_sent(campaign):
    recipient = RecipientFactory(campaign=campaign, phone=PHONE, with_reward=True)
    GiftCardDeliveryFactory(reward__recipient=recipient, status=DeliveryStatus.SENDING)
    with pytest.raises(erasure.ErasureError, match="under way"):
        erasure.erase_recipient(recipient=recipient, by=None, reason="Request")
    recipient.refresh_from_db()
    assert recipient.phone == PHONE and recipient.erased_at is None


def test_erasure_needs_a_reason(campaign):
    recipient = RecipientFactory(campaign=campaign, phone=PHONE)
    with pytest.raises(erasure.ErasureError):
        erasure.erase_recipient(recipient=recipient, by=None, reason="  ")


def test_an_erased_opt_out_stays_honoured_for_a_new_recipient_at_that_phone(
    campaign, django_capture_on_commit_callbacks, sms_outbox
):
    recipient = RecipientFactory(campaign=campaign, phone=PHONE, with_reward=True)
    with django_capture_on_commit_callbacks(execute=True):
        approval.approve_recipient(recipient=recipient)
    sms_outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        _stop()
    recipient.refresh_from_db()
    assert recipient.sms_opt_in_status == SmsOptInStatus.OPTED_OUT
    erasure.erase_recipient(recipient=recipient, by=None, reason="Request")
    assert SmsSuppression.objects.filter(client=campaign.client).count() == 1
    assert PHONE not in SmsSuppression.objects.get().phone_hash

    again = RecipientFactory(
        campaign=CampaignFactory(client=campaign.client), phone=PHONE, with_reward=True
    )
    with django_capture_on_commit_callbacks(execute=True):
        approval.approve_recipient(recipient=again)
    assert sms_outbox == []
    again.refresh_from_db()
    assert again.sms_opt_in_status == SmsOptInStatus.OPTED_OUT

    # Another client never heard the STOP: it may ask.
    other = RecipientFactory(campaign=CampaignFactory(), phone=PHONE, with_reward=True)
    with django_capture_on_commit_callbacks(execute=True):
        approval.approve_recipient(recipient=other)
    assert len(sms_outbox) == 1


def test_start_from_the_number_lifts_the_suppression(campaign, django_capture_on_commit_callbacks):
    recipient = RecipientFactory(campaign=campaign, phone=PHONE, with_reward=True)
    with django_capture_on_commit_callbacks(execute=True):
        approval.approve_recipient(recipient=recipient)
        _stop()
    erasure.erase_recipient(recipient=recipient, by=None, reason="Request")
    again = RecipientFactory(campaign=campaign, phone=PHONE, with_reward=True)
    with django_capture_on_commit_callbacks(execute=True):
        approval.approve_recipient(recipient=again)
        inbound.handle_inbound_sms(from_number=PHONE, body="START", message_sid="SMstart1")
    assert not SmsSuppression.objects.exists()


def test_the_command_erases_by_code_and_refuses_an_unknown_one(campaign):
    recipient = RecipientFactory(campaign=campaign, phone=PHONE)
    call_command("erase_recipient", recipient.display_code, "--reason", "Request")
    recipient.refresh_from_db()
    assert recipient.erased_at is not None
    with pytest.raises(CommandError, match="No recipient"):
        call_command("erase_recipient", "NOPE-NOPE-NOPE")


def test_retention_purges_old_bodies_and_keeps_new_ones_and_the_funnel(campaign, settings):
    settings.RETENTION_SMS_TEXT_DAYS = 30
    settings.RETENTION_CALL_RECORDING_DAYS = 30
    settings.RETENTION_CRM_PAYLOAD_DAYS = 30
    settings.RETENTION_BATCH_SIZE = 2
    long_ago = timezone.now() - timedelta(days=40)
    recipient = RecipientFactory(campaign=campaign, phone=PHONE, with_reward=True)
    old_logs = [SmsOptInLogFactory(recipient=recipient, message_text="old") for _ in range(3)]
    SmsOptInLog.objects.filter(pk__in=[log.pk for log in old_logs]).update(created_at=long_ago)
    new_log = SmsOptInLogFactory(recipient=recipient, message_text="new")
    delivery = GiftCardDeliveryFactory(
        reward__recipient=recipient, status=DeliveryStatus.DELIVERED, sms_message="card"
    )
    GiftCardDelivery.objects.filter(pk=delivery.pk).update(created_at=long_ago)
    call = CallSessionFactory(campaign=campaign, recipient=recipient, recording_url="https://r/1")
    CallSession.objects.filter(pk=call.pk).update(created_at=long_ago)
    event = CrmEventFactory(recipient=recipient, processed=True, processed_at=long_ago)
    waiting = CrmEventFactory(recipient=recipient)
    CrmEvent.objects.filter(pk__in=[event.pk, waiting.pk]).update(created_at=long_ago)
    funnel = list(Event.objects.order_by("pk").values_list("pk", "event_type"))

    purged = retention.purge_expired_personal_data()

    assert purged == {
        "opt_in_texts": 3,
        "reply_copies": 0,
        "delivery_texts": 1,
        "call_recordings": 1,
        "crm_payloads": 1,
    }
    assert SmsOptInLog.objects.filter(message_text="old").count() == 0
    new_log.refresh_from_db()
    assert new_log.message_text == "new"
    assert CrmEvent.objects.get(pk=waiting.pk).raw_payload != {}
    assert list(Event.objects.order_by("pk").values_list("pk", "event_type")) == funnel
    assert Recipient.objects.filter(pk=recipient.pk).exists()
    assert retention.purge_expired_personal_data() == dict.fromkeys(purged, 0)


def test_the_admin_action_asks_for_a_reason_then_erases(client, campaign):
    from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
    from django.contrib.auth.models import Permission
    from django.urls import reverse

    from tests.factories import UserFactory

    recipient = RecipientFactory(campaign=campaign, phone=PHONE)
    url = reverse("admin:recipients_recipient_changelist")
    chosen = {"action": "erase_selected", ACTION_CHECKBOX_NAME: [str(recipient.pk)]}
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_recipient", "change_recipient"])
    )
    client.force_login(staff)
    # Allowed to change recipients, not to erase them: the action is not offered.
    assert "erase_selected" not in client.get(url).content.decode()

    staff.user_permissions.add(Permission.objects.get(codename="erase_recipient"))
    page = client.post(url, chosen)
    assert page.status_code == 200 and "Erase recipients" in page.content.decode()
    recipient.refresh_from_db()
    assert recipient.erased_at is None

    client.post(url, {**chosen, "apply": "1", "reason": "Asked by phone"})
    recipient.refresh_from_db()
    assert recipient.erased_at is not None and recipient.phone == ""
    audit = RecipientAuditLog.objects.get(recipient=recipient, action=RecipientAuditAction.ERASED)
    assert audit.performed_by == staff and audit.metadata["reason"] == "Asked by phone"


def test_retention_blanks_old_replies_copied_into_audit_rows_and_the_recipient(
    campaign, settings, django_capture_on_commit_callbacks
):
    settings.RETENTION_SMS_TEXT_DAYS = 30
    settings.RETENTION_BATCH_SIZE = 1
    long_ago = timezone.now() - timedelta(days=40)
    old, recent = (
        RecipientFactory(campaign=campaign, phone=phone, with_reward=True)
        for phone in (PHONE, "+15551230002")
    )
    for recipient, sid in ((old, "SMold"), (recent, "SMnew")):
        with django_capture_on_commit_callbacks(execute=True):
            approval.approve_recipient(recipient=recipient)
        inbound.handle_inbound_sms(from_number=recipient.phone, body="Yes", message_sid=sid)
    RecipientAuditLog.objects.filter(recipient=old).update(created_at=long_ago)
    Recipient.objects.filter(pk=old.pk).update(sms_opt_in_response_at=long_ago)
    old_rows = RecipientAuditLog.objects.filter(recipient=old, metadata__has_key="body")
    assert old_rows.filter(metadata__body="Yes").exists()

    purged = retention.purge_expired_personal_data()

    assert purged["reply_copies"] == old_rows.count() + 1
    assert not old_rows.exclude(metadata__body="").exists()
    assert old_rows.filter(metadata__message_sid="SMold").exists()  # the rest of the row stays
    old.refresh_from_db()
    assert old.sms_opt_in_response == "" and old.sms_opt_in_status == SmsOptInStatus.OPTED_IN
    recent.refresh_from_db()
    assert recent.sms_opt_in_response == "Yes"
    kept = RecipientAuditLog.objects.filter(recipient=recent, metadata__has_key="body")
    assert kept.filter(metadata__body="Yes").exists()
    assert retention.purge_expired_personal_data()["reply_copies"] == 0
