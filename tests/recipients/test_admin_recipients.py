"""The recipient admin is no back door: approval, opt-in, reward and redemption state (and the
secrets that unlock a recipient) are read-only there; the approve, reject and resend actions,
which go through the services and write the audit rows, are the only way to change them."""

import pytest
from django.urls import reverse

from recipients.models import (
    ApprovalStatus,
    Recipient,
    RecipientAuditLog,
    SmsOptInStatus,
)
from tests import factories
from tests.admin_forms import form_data

pytestmark = pytest.mark.django_db

STATE_FIELDS = {
    "approval_status",
    "approved_by",
    "approved_at",
    "approved_call_session",
    "rejection_reason",
    "disposition",
    "sms_opt_in_status",
    "sms_opt_in_sent_at",
    "sms_opt_in_response_at",
    "sms_opt_in_response",
    "gift_card_assigned",
    "redemption_ip",
    "redemption_user_agent",
    "redemption_completed_at",
    "redemption_code",
    "token",
    "email_verification_token",
    "email_verification_sent_at",
    "email_verified_at",
}


@pytest.fixture
def superuser(db):
    return factories.UserFactory(is_staff=True, is_superuser=True)


@pytest.fixture
def staff(client, superuser):
    client.force_login(superuser)
    return client


def change_url(recipient):
    return reverse("admin:recipients_recipient_change", args=[recipient.pk])


def test_state_and_secrets_are_not_in_the_change_form(staff):
    recipient = factories.RecipientFactory()

    form = staff.get(change_url(recipient)).context["adminform"].form

    assert STATE_FIELDS.isdisjoint(form.fields)
    assert {"first_name", "last_name", "phone", "email", "address1"} <= set(form.fields)


def test_state_and_secrets_are_not_in_the_add_form(staff):
    form = staff.get(reverse("admin:recipients_recipient_add")).context["adminform"].form

    assert STATE_FIELDS.isdisjoint(form.fields)


def test_a_number_that_texted_stop_cannot_be_opted_in_by_the_form(staff, sms_outbox):
    recipient = factories.RecipientFactory(
        approval_status=ApprovalStatus.APPROVED, sms_opt_in_status=SmsOptInStatus.OPTED_OUT
    )
    card = factories.GiftCardFactory()
    audits = RecipientAuditLog.objects.count()
    page = staff.get(change_url(recipient))

    response = staff.post(
        change_url(recipient),
        form_data(
            page,
            first_name="Renamed",
            sms_opt_in_status=SmsOptInStatus.OPTED_IN,
            sms_opt_in_response="YES",
            approval_status=ApprovalStatus.REDEEMED,
            gift_card_assigned=str(card.pk),
            redemption_code="ABCDEFGH23",
            token="x" * 40,
            rejection_reason="",
            disposition="interested",
        ),
    )

    assert response.status_code == 302
    after = Recipient.objects.get(pk=recipient.pk)
    assert after.first_name == "Renamed"
    assert after.sms_opt_in_status == SmsOptInStatus.OPTED_OUT
    assert after.approval_status == ApprovalStatus.APPROVED
    assert after.gift_card_assigned is None
    assert (after.redemption_code, after.token) == (recipient.redemption_code, recipient.token)
    assert after.disposition == ""
    assert sms_outbox == []
    assert RecipientAuditLog.objects.count() == audits


def test_a_recipient_added_in_the_admin_starts_pending_with_a_fresh_code(staff):
    audience = factories.AudienceFactory()
    add = reverse("admin:recipients_recipient_add")
    page = staff.get(add)

    response = staff.post(
        add,
        form_data(
            page,
            audience=str(audience.pk),
            first_name="Pat",
            phone="555 201 0077",
            approval_status=ApprovalStatus.APPROVED,
            sms_opt_in_status=SmsOptInStatus.OPTED_IN,
            redemption_code="ABCDEFGH23",
        ),
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    recipient = Recipient.objects.get(first_name="Pat")
    assert recipient.approval_status == ApprovalStatus.PENDING
    assert recipient.sms_opt_in_status == SmsOptInStatus.NOT_SENT
    assert recipient.redemption_code != "ABCDEFGH23" and len(recipient.redemption_code) == 10
    assert recipient.phone == "+15552010077"


def test_the_change_page_still_shows_the_state(staff, superuser):
    recipient = factories.RecipientFactory(
        approval_status=ApprovalStatus.REJECTED, rejection_reason="Duplicate household"
    )

    page = staff.get(change_url(recipient)).content.decode()

    assert "Duplicate household" in page
    assert "Rejected" in page
