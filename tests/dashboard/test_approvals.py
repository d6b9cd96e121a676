"""The approvals queue: who waits, who may decide (client admins where the platform lets them,
staff always), bulk approve and reject through the reward pipeline's services."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from mike.accounts.models import Organization, UserTablePreference
from recipients.models import ApprovalStatus, RecipientAuditAction, RecipientAuditLog
from tests import factories

from .helpers import assert_queries_do_not_grow

LIST = reverse("dashboard:approvals")
APPROVE = reverse("dashboard:approvals_approve")
REJECT = reverse("dashboard:approvals_reject")


@pytest.fixture
def campaign(tenants):
    return factories.CampaignFactory(client=tenants.client_a, name="Spring mailing")


@pytest.fixture
def condition(campaign):
    return factories.CampaignConditionFactory(campaign=campaign, condition_name="Booked")


@pytest.fixture
def client_decides(tenants):
    Organization.objects.filter(pk=tenants.client_a.pk).update(client_approvals=True)


def waiting(condition, **extra):
    """A pending recipient of the condition's campaign who met it."""
    return factories.CallConditionMetFactory(
        condition=condition, recipient__campaign=condition.campaign, **extra
    ).recipient


def listed(response) -> list:
    return [row.record.pk for row in response.context["table"].paginated_rows]


def texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


# --- The queue ---------------------------------------------------------------------------------


def test_the_queue_lists_pending_recipients_who_met_a_condition(
    login_as, people, condition, campaign
):
    ready = waiting(condition)
    factories.RecipientFactory(campaign=campaign)  # pending, met nothing yet
    approved = waiting(condition)
    type(approved).objects.filter(pk=approved.pk).update(approval_status=ApprovalStatus.APPROVED)
    response = login_as(people.client_user).get(LIST)
    assert response.status_code == 200
    assert listed(response) == [ready.pk]


def test_another_clients_waiting_recipients_are_not_listed(login_as, people, condition, tenants):
    mine = waiting(condition)
    other_campaign = factories.CampaignFactory(client=tenants.client_b)
    waiting(factories.CampaignConditionFactory(campaign=other_campaign))
    assert listed(login_as(people.client_admin).get(LIST)) == [mine.pk]


def test_filter_by_campaign(login_as, people, condition, tenants):
    mine = waiting(condition)
    other = factories.CampaignFactory(client=tenants.client_a)
    waiting(factories.CampaignConditionFactory(campaign=other))
    response = login_as(people.client_admin).get(LIST, {"campaign": str(condition.campaign_id)})
    assert listed(response) == [mine.pk]


def test_with_the_flag_off_the_page_is_read_only_for_client_admins(login_as, people, condition):
    waiting(condition)
    body = login_as(people.client_admin).get(LIST).content.decode()
    assert "staff review these recipients" in body
    assert 'name="recipients"' not in body
    assert "Approve selected" not in body


def test_with_the_flag_on_client_admins_get_checkboxes(login_as, people, condition, client_decides):
    person = waiting(condition)
    body = login_as(people.client_admin).get(LIST).content.decode()
    assert f'value="{person.pk}"' in body
    assert "Approve selected" in body


def test_read_only_users_see_the_queue_without_checkboxes(
    login_as, people, condition, client_decides
):
    waiting(condition)
    body = login_as(people.client_user).get(LIST).content.decode()
    assert 'name="recipients"' not in body
    assert "Your admins approve or reject these recipients" in body


def test_staff_always_get_checkboxes(login_as, people, condition):
    person = waiting(condition)
    body = login_as(people.staff).get(LIST).content.decode()
    assert f'value="{person.pk}"' in body


def test_queue_queries_do_not_grow_with_rows(login_as, people, condition, client_decides):
    UserTablePreference.objects.create(
        user=people.client_admin, table_name="ApprovalTable", page_size=200
    )
    client = login_as(people.client_admin)
    assert_queries_do_not_grow(client, LIST, lambda n: [waiting(condition) for _ in range(n)])


# --- Deciding ----------------------------------------------------------------------------------


def test_bulk_approve_goes_through_the_service_and_writes_audit_rows(
    login_as, people, condition, client_decides, django_capture_on_commit_callbacks
):
    first, second = waiting(condition), waiting(condition)
    client = login_as(people.client_admin)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(APPROVE, {"recipients": [first.pk, second.pk], "next": LIST})
    assert response.status_code == 302
    assert response["Location"] == LIST
    for person in (first, second):
        person.refresh_from_db()
        assert person.approval_status == ApprovalStatus.APPROVED
        assert person.approved_by == people.client_admin
        assert RecipientAuditLog.objects.filter(
            recipient=person, action=RecipientAuditAction.APPROVED, performed_by=people.client_admin
        ).exists()
    # The pipeline moves each one on after its own commit (the opt-in text).
    assert len(callbacks) == 2
    assert "Approved 2 recipients." in texts(response)


def test_approving_twice_changes_nothing_the_second_time(
    login_as, people, condition, client_decides
):
    person = waiting(condition)
    client = login_as(people.client_admin)
    client.post(APPROVE, {"recipients": [person.pk]})
    client.post(APPROVE, {"recipients": [person.pk]})
    assert (
        RecipientAuditLog.objects.filter(
            recipient=person, action=RecipientAuditAction.APPROVED
        ).count()
        == 1
    )


def test_a_refusal_is_reported_with_the_services_message_and_the_rest_approved(
    login_as, people, condition, client_decides
):
    good = waiting(condition, recipient__first_name="Good", recipient__last_name="One")
    refused = waiting(
        condition,
        recipient__first_name="Refused",
        recipient__last_name="One",
        recipient__redemption_code="7KQ4M2XD9P",
    )
    type(refused).objects.filter(pk=refused.pk).update(
        approval_status=ApprovalStatus.REJECTED, rejection_reason="duplicate household"
    )
    response = login_as(people.client_admin).post(APPROVE, {"recipients": [good.pk, refused.pk]})
    good.refresh_from_db()
    assert good.approval_status == ApprovalStatus.APPROVED
    messages = texts(response)
    assert "Approved 1 recipient." in messages
    [error] = [m for m in messages if m.startswith("1 not approved")]
    assert "Refused One" in error
    assert "duplicate household" in error
    # The service names the recipient with their code: masked for who may not see codes.
    assert "7KQ4" not in error
    assert "9P" in error


def test_reject_needs_a_reason(login_as, people, condition, client_decides):
    person = waiting(condition)
    response = login_as(people.client_admin).post(
        REJECT, {"recipients": [person.pk], "reason": " "}
    )
    assert response.status_code == 400
    assert response.context["reject_form"].errors["reason"]
    # The ticks stay, so the user only adds the reason.
    assert f'value="{person.pk}" aria-label="Select {person.full_name}" checked' in (
        response.content.decode()
    )
    person.refresh_from_db()
    assert person.approval_status == ApprovalStatus.PENDING


def test_bulk_reject_with_a_reason(login_as, people, condition, client_decides):
    first, second = waiting(condition), waiting(condition)
    response = login_as(people.client_admin).post(
        REJECT, {"recipients": [first.pk, second.pk], "reason": "Not a homeowner"}
    )
    assert response.status_code == 302
    for person in (first, second):
        person.refresh_from_db()
        assert person.approval_status == ApprovalStatus.REJECTED
        assert person.rejection_reason == "Not a homeowner"
        row = RecipientAuditLog.objects.get(recipient=person, action=RecipientAuditAction.REJECTED)
        assert row.performed_by == people.client_admin
        assert row.metadata["reason"] == "Not a homeowner"
    assert "Rejected 2 recipients." in texts(response)


def test_read_only_users_cannot_approve_or_reject(login_as, people, condition, client_decides):
    person = waiting(condition)
    client = login_as(people.client_user)
    assert client.post(APPROVE, {"recipients": [person.pk]}).status_code == 403
    assert client.post(REJECT, {"recipients": [person.pk], "reason": "no"}).status_code == 403
    person.refresh_from_db()
    assert person.approval_status == ApprovalStatus.PENDING


def test_with_the_flag_off_client_admins_cannot_approve(login_as, people, condition):
    person = waiting(condition)
    response = login_as(people.client_admin).post(APPROVE, {"recipients": [person.pk]})
    assert response.status_code == 403
    person.refresh_from_db()
    assert person.approval_status == ApprovalStatus.PENDING


def test_with_the_flag_off_staff_can_approve(login_as, people, condition):
    person = waiting(condition)
    response = login_as(people.staff).post(APPROVE, {"recipients": [person.pk]})
    assert response.status_code == 302
    person.refresh_from_db()
    assert person.approval_status == ApprovalStatus.APPROVED
    assert person.approved_by == people.staff


def test_agency_admins_decide_for_their_clients_with_the_flag_on(
    login_as, people, condition, client_decides
):
    person = waiting(condition)
    response = login_as(people.agency_admin).post(APPROVE, {"recipients": [person.pk]})
    assert response.status_code == 302
    person.refresh_from_db()
    assert person.approval_status == ApprovalStatus.APPROVED


def test_another_clients_recipient_is_not_found_and_untouched(
    login_as, people, condition, client_decides, tenants
):
    other_campaign = factories.CampaignFactory(client=tenants.client_b)
    theirs = waiting(factories.CampaignConditionFactory(campaign=other_campaign))
    response = login_as(people.client_admin).post(APPROVE, {"recipients": [theirs.pk, "junk"]})
    assert response.status_code == 302
    theirs.refresh_from_db()
    assert theirs.approval_status == ApprovalStatus.PENDING
    assert any("could not be found" in m for m in texts(response))


def test_a_mixed_selection_with_a_client_the_admin_cannot_decide_for_is_refused(
    login_as, people, condition, client_decides, tenants
):
    """An agency admin reaches both clients, but only client A lets its admins decide."""
    mine = waiting(condition)
    other = factories.CampaignFactory(client=tenants.client_a2)
    staff_only = waiting(factories.CampaignConditionFactory(campaign=other))
    response = login_as(people.agency_admin, "all").post(
        APPROVE, {"recipients": [mine.pk, staff_only.pk]}
    )
    assert response.status_code == 403
    mine.refresh_from_db()
    assert mine.approval_status == ApprovalStatus.PENDING


def test_the_recipients_page_offers_approve_to_who_may(login_as, people, condition, client_decides):
    person = waiting(condition)
    url = reverse("dashboard:recipient", args=[person.pk])
    assert "Approve" in login_as(people.client_admin).get(url).content.decode()
    assert 'action="' + APPROVE not in login_as(people.client_user).get(url).content.decode()


def test_staff_set_client_approvals_in_the_organization_admin(client, tenants):
    client.force_login(factories.UserFactory(is_staff=True, is_superuser=True))
    url = reverse("admin:accounts_organization_change", args=[tenants.client_a.pk])
    assert 'name="client_approvals"' in client.get(url).content.decode()


def test_the_demo_gives_summit_roofings_admin_recipients_to_decide_for(client, db, settings):
    from io import StringIO

    from django.core.management import call_command

    from calls.models import CallSession
    from mike.accounts.models import User

    settings.DEBUG = True
    call_command("seed_demo", stdout=StringIO())
    summit = Organization.objects.get(slug="summit-roofing")
    assert summit.client_approvals
    assert not Organization.objects.get(slug="bayside-auto").client_approvals
    client.force_login(User.objects.get(email="client.admin@summit-roofing.test"))
    response = client.get(LIST)
    assert len(listed(response)) == 3
    assert response.content.decode().count('name="recipients"') == 3
    # The finished calls of the last days (two more are on the line for the call console).
    assert CallSession.objects.filter(client=summit, call_ended_at__isnull=False).count() == 10
    # The recipient the play_phone docs call is left for the demo to play.
    fresh = summit.audiences.get().recipients.get(phone="+15552010001")
    assert not fresh.call_sessions.exists()
    assert not fresh.conditions_met.exists()


def test_a_decision_returns_to_the_page_as_filtered(login_as, people, condition, client_decides):
    person = waiting(condition)
    filtered = f"{LIST}?campaign={condition.campaign_id}"
    response = login_as(people.client_admin).post(
        APPROVE,
        {"recipients": [person.pk], "next": LIST},
        headers={"Referer": f"http://testserver{filtered}"},
    )
    assert response["Location"] == filtered


def test_a_decision_never_returns_to_another_site_or_a_decision_url(
    login_as, people, condition, client_decides
):
    person = waiting(condition)
    response = login_as(people.client_admin).post(
        APPROVE,
        {"recipients": [person.pk], "next": "https://evil.test/"},
        headers={"Referer": f"http://testserver{REJECT}"},
    )
    assert response["Location"] == LIST
