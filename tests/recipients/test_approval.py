"""Approving and rejecting recipients: the services, the client's auto-approval and the admin."""

import threading

import pytest
from django.db import connection

from campaigns.models import Event, EventType
from giftcards.models import GiftCardAuditLog, RewardStatus
from mike.rewards import approval
from recipients import services
from recipients.models import (
    ApprovalStatus,
    Recipient,
    RecipientAuditAction,
    RecipientAuditLog,
    SmsOptInStatus,
)
from tests.factories import (
    CallSessionFactory,
    CampaignConditionFactory,
    CampaignFactory,
    ClientFactory,
    RecipientFactory,
    RecipientGiftCardFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/recipients/recipient/"


@pytest.fixture
def campaign():
    return CampaignFactory(client=ClientFactory(name="Acme Roofing"))


@pytest.fixture
def recipient(campaign):
    return RecipientFactory(campaign=campaign, phone="+15551230001", with_reward=True)


@pytest.fixture
def staff_client(client):
    user = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(user)
    client.user = user
    return client


def reward_for(recipient, *, condition_number=None, **kwargs):
    """Another reward of the recipient, for the next condition of their campaign."""
    taken = recipient.campaign.conditions.values_list("condition_number", flat=True)
    condition = CampaignConditionFactory(
        campaign=recipient.campaign,
        condition_number=condition_number or max(taken, default=0) + 1,
    )
    return RecipientGiftCardFactory(
        recipient=recipient,
        campaign=recipient.campaign,
        condition=condition,
        brand=condition.brand,
        card_value=condition.card_value,
        **kwargs,
    )


# --- approve_recipient ---------------------------------------------------------------------------


def test_approval_records_who_when_audit_and_event(recipient):
    agent = UserFactory()
    call = CallSessionFactory()

    approved = approval.approve_recipient(recipient=recipient, by=agent, call_session=call)

    recipient.refresh_from_db()
    assert approved.approval_status == recipient.approval_status == ApprovalStatus.APPROVED
    assert recipient.approved_by == agent
    assert recipient.approved_at is not None
    assert recipient.approved_call_session == call
    log = RecipientAuditLog.objects.get(recipient=recipient, action=RecipientAuditAction.APPROVED)
    assert log.performed_by == agent
    assert log.call_session == call
    event = Event.objects.get(recipient=recipient, event_type=EventType.APPROVED)
    assert event.client == recipient.audience.client
    assert event.campaign == recipient.campaign


def test_approval_texts_the_opt_in_only_after_commit(
    recipient, django_capture_on_commit_callbacks, sms_outbox
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        approval.approve_recipient(recipient=recipient)
    assert sms_outbox == []
    assert len(callbacks) == 1

    # The callback moves the recipient on, which queues the text after its own commit.
    with django_capture_on_commit_callbacks(execute=True):
        callbacks[0]()

    assert [m.to for m in sms_outbox] == ["+15551230001"]
    assert sms_outbox[0].body.startswith("Acme Roofing: you've earned a reward! Reply YES")
    recipient.refresh_from_db()
    assert recipient.sms_opt_in_status == SmsOptInStatus.PENDING
    assert recipient.sms_opt_in_sent_at is not None


def test_approving_twice_changes_nothing_and_texts_once(
    recipient, django_capture_on_commit_callbacks, sms_outbox
):
    with django_capture_on_commit_callbacks(execute=True):
        approval.approve_recipient(recipient=recipient, by=UserFactory())
    first = Recipient.objects.get(pk=recipient.pk)

    with django_capture_on_commit_callbacks(execute=True):
        again = approval.approve_recipient(recipient=recipient, by=UserFactory())

    assert again.approved_by_id == first.approved_by_id
    assert again.approved_at == first.approved_at
    assert RecipientAuditLog.objects.filter(action=RecipientAuditAction.APPROVED).count() == 1
    assert Event.objects.filter(event_type=EventType.APPROVED).count() == 1
    assert len(sms_outbox) == 1


def test_rejected_recipient_cannot_be_approved(recipient):
    approval.reject_recipient(recipient=recipient, reason="Called from a different number")

    with pytest.raises(services.ApprovalError, match="was rejected"):
        approval.approve_recipient(recipient=recipient)

    recipient.refresh_from_db()
    assert recipient.approval_status == ApprovalStatus.REJECTED
    assert recipient.approved_at is None


def test_approving_an_opted_out_recipient_sends_no_text(
    recipient, django_capture_on_commit_callbacks, sms_outbox
):
    Recipient.objects.filter(pk=recipient.pk).update(sms_opt_in_status=SmsOptInStatus.OPTED_OUT)

    with django_capture_on_commit_callbacks(execute=True):
        approval.approve_recipient(recipient=recipient)

    assert sms_outbox == []


def test_approving_a_recipient_who_already_opted_in_claims_instead_of_texting(
    recipient, django_capture_on_commit_callbacks, sms_outbox
):
    Recipient.objects.filter(pk=recipient.pk).update(sms_opt_in_status=SmsOptInStatus.OPTED_IN)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        approval.approve_recipient(recipient=recipient)

    # One callback, the claim: no opt-in text is queued for someone who already said YES.
    assert len(callbacks) == 1
    for callback in callbacks:
        callback()
    assert sms_outbox == []


@pytest.mark.django_db(transaction=True)
def test_concurrent_approvals_approve_once_and_text_once(sms_outbox):
    recipient = RecipientFactory(campaign=CampaignFactory(), phone="+15551230009", with_reward=True)
    barrier = threading.Barrier(4)
    errors = []

    def approve():
        try:
            barrier.wait(timeout=10)
            approval.approve_recipient(recipient=recipient, by=None)
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=approve) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert (
        RecipientAuditLog.objects.filter(
            recipient=recipient, action=RecipientAuditAction.APPROVED
        ).count()
        == 1
    )
    assert Event.objects.filter(recipient=recipient, event_type=EventType.APPROVED).count() == 1
    assert [m.to for m in sms_outbox] == ["+15551230009"]


# --- reject_recipient ----------------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["", "   "])
def test_rejection_needs_a_reason(recipient, reason):
    with pytest.raises(ValueError, match="reason is required"):
        approval.reject_recipient(recipient=recipient, reason=reason)

    recipient.refresh_from_db()
    assert recipient.approval_status == ApprovalStatus.PENDING
    assert not RecipientAuditLog.objects.filter(action=RecipientAuditAction.REJECTED).exists()


def test_rejection_records_reason_audit_event_and_rejects_waiting_rewards(recipient):
    staff = UserFactory()
    waiting = recipient.rewards.get()
    out_of_stock = reward_for(recipient, status=RewardStatus.AWAITING_STOCK)

    approval.reject_recipient(recipient=recipient, by=staff, reason="Duplicate household")

    recipient.refresh_from_db()
    assert recipient.approval_status == ApprovalStatus.REJECTED
    assert recipient.rejection_reason == "Duplicate household"
    waiting.refresh_from_db()
    out_of_stock.refresh_from_db()
    assert waiting.status == out_of_stock.status == RewardStatus.REJECTED
    log = RecipientAuditLog.objects.get(recipient=recipient, action=RecipientAuditAction.REJECTED)
    assert log.performed_by == staff
    assert log.metadata["reason"] == "Duplicate household"
    rejections = GiftCardAuditLog.objects.filter(action="reward_rejected", user=staff)
    assert {row.entity_id for row in rejections} == {waiting.pk, out_of_stock.pk}
    assert {row.metadata["reason"] for row in rejections} == {"Duplicate household"}
    event = Event.objects.get(recipient=recipient, event_type=EventType.REJECTED)
    assert event.event_data["reason"] == "Duplicate household"


def test_rejecting_an_approved_recipient_keeps_a_claimed_card(recipient):
    approval.approve_recipient(recipient=recipient)
    claimed = reward_for(recipient, claimed=True)

    approval.reject_recipient(recipient=recipient, reason="Fraud check failed")

    claimed.refresh_from_db()
    assert claimed.status == RewardStatus.CLAIMED
    assert claimed.gift_card is not None
    recipient.refresh_from_db()
    assert recipient.approval_status == ApprovalStatus.REJECTED


def test_rejecting_twice_is_a_no_op(recipient):
    approval.reject_recipient(recipient=recipient, reason="First")
    approval.reject_recipient(recipient=recipient, reason="Second")

    recipient.refresh_from_db()
    assert recipient.rejection_reason == "First"
    assert RecipientAuditLog.objects.filter(action=RecipientAuditAction.REJECTED).count() == 1


def test_redeemed_recipient_cannot_be_rejected(recipient):
    Recipient.objects.filter(pk=recipient.pk).update(approval_status=ApprovalStatus.REDEEMED)

    with pytest.raises(services.ApprovalError, match="already redeemed"):
        approval.reject_recipient(recipient=recipient, reason="Too late")


# --- on_condition_met ----------------------------------------------------------------------------


def test_condition_met_auto_approves_when_the_client_says_so(
    campaign, django_capture_on_commit_callbacks, sms_outbox
):
    campaign.client.auto_approve_recipients = True
    campaign.client.save()
    recipient = RecipientFactory(campaign=campaign, phone="+15551230002", with_reward=True)

    with django_capture_on_commit_callbacks(execute=True):
        approval.advance_recipient(recipient.pk)

    recipient.refresh_from_db()
    assert recipient.approval_status == ApprovalStatus.APPROVED
    assert recipient.approved_by is None
    log = RecipientAuditLog.objects.get(recipient=recipient, action=RecipientAuditAction.APPROVED)
    assert log.metadata == {"automatic": True}
    assert [m.to for m in sms_outbox] == ["+15551230002"]


def test_condition_met_leaves_recipient_pending_for_staff_review(
    recipient, django_capture_on_commit_callbacks, sms_outbox
):
    with django_capture_on_commit_callbacks(execute=True):
        approval.advance_recipient(recipient.pk)

    recipient.refresh_from_db()
    assert recipient.approval_status == ApprovalStatus.PENDING
    assert sms_outbox == []


def test_condition_met_texts_an_approved_recipient_who_never_got_the_opt_in(
    recipient, django_capture_on_commit_callbacks, sms_outbox
):
    Recipient.objects.filter(pk=recipient.pk).update(approval_status=ApprovalStatus.APPROVED)

    with django_capture_on_commit_callbacks(execute=True):
        approval.advance_recipient(recipient.pk)

    assert [m.to for m in sms_outbox] == ["+15551230001"]


def test_condition_met_never_approves_a_rejected_recipient(campaign):
    campaign.client.auto_approve_recipients = True
    campaign.client.save()
    recipient = RecipientFactory(campaign=campaign)
    approval.reject_recipient(recipient=recipient, reason="Not eligible")

    approval.advance_recipient(recipient.pk)

    recipient.refresh_from_db()
    assert recipient.approval_status == ApprovalStatus.REJECTED


# --- Admin actions -------------------------------------------------------------------------------


def test_admin_approve_selected(staff_client, campaign, django_capture_on_commit_callbacks):
    first, second = RecipientFactory.create_batch(2, campaign=campaign)
    other = RecipientFactory(campaign=campaign)

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            CHANGELIST,
            {"action": "approve_selected", "_selected_action": [first.pk, second.pk]},
            follow=True,
        )

    assert response.status_code == 200
    assert "Approved 2 recipient(s)" in response.content.decode()
    approved = Recipient.objects.filter(approval_status=ApprovalStatus.APPROVED)
    assert set(approved) == {first, second}
    assert {r.approved_by for r in approved} == {staff_client.user}
    other.refresh_from_db()
    assert other.approval_status == ApprovalStatus.PENDING


def test_admin_approve_selected_reports_rejected_recipients(staff_client, recipient):
    approval.reject_recipient(recipient=recipient, reason="Wrong address")

    response = staff_client.post(
        CHANGELIST, {"action": "approve_selected", "_selected_action": [recipient.pk]}, follow=True
    )

    content = response.content.decode()
    assert "Approved 0 recipient(s)" in content
    assert "1 not approved" in content
    recipient.refresh_from_db()
    assert recipient.approval_status == ApprovalStatus.REJECTED


def test_admin_reject_selected_asks_for_a_reason_first(staff_client, recipient):
    response = staff_client.post(
        CHANGELIST, {"action": "reject_selected", "_selected_action": [recipient.pk]}
    )

    assert response.status_code == 200
    assert "admin/action_form.html" in [t.name for t in response.templates]
    page = response.content.decode()
    assert 'name="reason"' in page
    # The recipients are listed with their codes masked, as everywhere in the admin.
    assert recipient.display_code not in page and recipient.redemption_code not in page
    recipient.refresh_from_db()
    assert recipient.approval_status == ApprovalStatus.PENDING


def test_admin_reject_selected_without_reason_shows_field_error(staff_client, recipient):
    response = staff_client.post(
        CHANGELIST,
        {
            "action": "reject_selected",
            "_selected_action": [recipient.pk],
            "apply": "Reject",
            "reason": "",
        },
    )

    assert response.status_code == 200
    assert response.context["form"].errors["reason"]
    recipient.refresh_from_db()
    assert recipient.approval_status == ApprovalStatus.PENDING


def test_admin_reject_selected_with_reason(staff_client, campaign):
    first, second = RecipientFactory.create_batch(2, campaign=campaign)

    response = staff_client.post(
        CHANGELIST,
        {
            "action": "reject_selected",
            "_selected_action": [first.pk, second.pk],
            "apply": "Reject",
            "reason": "Outside the service area",
        },
        follow=True,
    )

    assert "Rejected 2 recipient(s)" in response.content.decode()
    for recipient in (first, second):
        recipient.refresh_from_db()
        assert recipient.approval_status == ApprovalStatus.REJECTED
        assert recipient.rejection_reason == "Outside the service area"
        log = RecipientAuditLog.objects.get(
            recipient=recipient, action=RecipientAuditAction.REJECTED
        )
        assert log.performed_by == staff_client.user


def test_admin_resend_opt_in(
    staff_client, campaign, django_capture_on_commit_callbacks, sms_outbox
):
    texted = RecipientFactory(campaign=campaign, phone="+15551230003")
    opted_out = RecipientFactory(campaign=campaign, phone="+15551230004")
    not_approved = RecipientFactory(campaign=campaign, phone="+15551230005")
    with django_capture_on_commit_callbacks(execute=True):
        approval.approve_recipient(recipient=texted)
        approval.approve_recipient(recipient=opted_out)
    Recipient.objects.filter(pk=opted_out.pk).update(sms_opt_in_status=SmsOptInStatus.OPTED_OUT)
    sms_outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            CHANGELIST,
            {
                "action": "resend_opt_in",
                "_selected_action": [texted.pk, opted_out.pk, not_approved.pk],
            },
            follow=True,
        )

    assert "Queued the opt-in text for 1 recipient(s); skipped 2" in response.content.decode()
    assert [m.to for m in sms_outbox] == ["+15551230003"]


def test_admin_actions_need_staff(client, recipient):
    client.force_login(UserFactory())

    response = client.post(
        CHANGELIST, {"action": "approve_selected", "_selected_action": [recipient.pk]}
    )

    assert response.status_code == 302
    recipient.refresh_from_db()
    assert recipient.approval_status == ApprovalStatus.PENDING
