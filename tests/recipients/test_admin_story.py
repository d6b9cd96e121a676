"""The recipient's change page tells their story: calls, conditions met, rewards (card masked),
deliveries, texts and the audit log, read-only, newest first, capped, in a constant number of
queries."""

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from recipients.admin.story import STORY_ROWS
from recipients.models import RecipientAuditAction
from tests import factories
from tests.admin_forms import form_data

pytestmark = pytest.mark.django_db

STORY = {
    "call_sessions": "Calls",
    "conditions_met": "Conditions met",
    "rewards": "Rewards",
    "gift_card_deliveries": "Deliveries",
    "sms_opt_in_logs": "Opt-in texts",
    "sms_delivery_logs": "Reward texts",
    "audit_logs": "Audit log",
}


@pytest.fixture
def staff(client):
    client.force_login(factories.UserFactory(is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def recipient():
    return factories.RecipientFactory(campaign=factories.CampaignFactory())


def change_url(recipient):
    return reverse("admin:recipients_recipient_change", args=[recipient.pk])


def add_story(recipient, rows: int, start: int = 1):
    """`rows` rows of every kind, each pointing at its other rows as the pipeline's do."""
    campaign = recipient.campaign
    for number in range(start, start + rows):
        agent = factories.UserFactory()
        call = factories.CallSessionFactory(recipient=recipient, campaign=campaign, agent=agent)
        condition = factories.CampaignConditionFactory(campaign=campaign, condition_number=number)
        factories.CallConditionMetFactory(
            recipient=recipient, condition=condition, call_session=call, met_by_agent=agent
        )
        reward = factories.RecipientGiftCardFactory(
            recipient=recipient, condition=condition, claimed=True
        )
        delivery = factories.GiftCardDeliveryFactory(reward=reward, call_session=call)
        factories.SmsDeliveryLogFactory(delivery=delivery)
        factories.SmsOptInLogFactory(recipient=recipient, call_session=call)
        factories.RecipientAuditLogFactory(
            recipient=recipient,
            action=RecipientAuditAction.CONDITION_MET,
            performed_by=agent,
            call_session=call,
        )


def story_of(response) -> dict:
    return {inline.formset.prefix: inline for inline in response.context["inline_admin_formsets"]}


def test_the_page_shows_every_part_of_the_story_read_only(staff, recipient):
    add_story(recipient, 2)

    response = staff.get(change_url(recipient))

    assert response.status_code == 200
    story = story_of(response)
    assert list(story) == list(STORY)
    for prefix, inline in story.items():
        assert inline.opts.verbose_name_plural == STORY[prefix]
        assert len(inline.formset.forms) == 2, prefix
        assert not (
            inline.has_add_permission
            or inline.has_change_permission
            or inline.has_delete_permission
        )
    html = response.content.decode()
    for heading in STORY.values():
        assert heading in html


def test_the_newest_rows_come_first(staff, recipient):
    factories.RecipientAuditLogFactory(recipient=recipient, action=RecipientAuditAction.UPLOADED)
    factories.RecipientAuditLogFactory(recipient=recipient, action=RecipientAuditAction.APPROVED)

    response = staff.get(change_url(recipient))

    actions = [form.instance.action for form in story_of(response)["audit_logs"].formset.forms]
    assert actions == [RecipientAuditAction.APPROVED, RecipientAuditAction.UPLOADED]


def test_the_reward_shows_its_card_masked(staff, recipient):
    add_story(recipient, 1)
    card = recipient.rewards.get().gift_card

    html = staff.get(change_url(recipient)).content.decode()

    assert card.masked_code in html
    assert card.code not in html


def test_a_long_story_shows_the_newest_rows_and_links_to_the_rest(staff, recipient):
    factories.RecipientAuditLogFactory.create_batch(STORY_ROWS + 10, recipient=recipient)
    factories.RecipientAuditLogFactory.create_batch(3)  # someone else's

    response = staff.get(change_url(recipient))

    audit = story_of(response)["audit_logs"]
    assert len(audit.formset.forms) == STORY_ROWS
    more = reverse("admin:recipients_recipientauditlog_changelist")
    more += f"?recipient__id__exact={recipient.pk}"
    assert more.replace("&", "&amp;") in response.content.decode()
    listed = staff.get(more)
    assert listed.status_code == 200
    assert listed.context["cl"].result_count == STORY_ROWS + 10


def test_a_short_story_has_no_more_link(staff, recipient):
    factories.RecipientAuditLogFactory.create_batch(3, recipient=recipient)

    html = staff.get(change_url(recipient)).content.decode()

    assert "recipient__id__exact" not in html


def test_the_page_costs_the_same_queries_for_5_or_30_rows_of_each_kind(staff, recipient):
    add_story(recipient, 5)

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert staff.get(change_url(recipient)).status_code == 200
        return len(captured)

    with_five = queries()
    add_story(recipient, 25, start=6)
    assert recipient.audit_logs.count() == 30 and recipient.rewards.count() == 30
    assert queries() == with_five


def test_saving_the_recipient_with_its_story_on_the_page(staff, recipient):
    add_story(recipient, 2)
    page = staff.get(change_url(recipient))

    response = staff.post(change_url(recipient), form_data(page, first_name="Renamed"))

    assert response.status_code == 302
    recipient.refresh_from_db()
    assert recipient.first_name == "Renamed"
    assert recipient.rewards.count() == 2 and recipient.audit_logs.count() == 2


def test_a_user_sees_only_the_parts_they_may_view(client, recipient):
    add_story(recipient, 1)
    user = factories.UserFactory(is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_recipient", "view_recipientauditlog"])
    )
    client.force_login(user)

    response = client.get(change_url(recipient))

    assert response.status_code == 200
    assert list(story_of(response)) == ["audit_logs"]
