"""The recipients list (search, filters, masking, export) and a recipient's page with the timeline."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from calls.models import MatchStatus
from giftcards.models import RewardStatus
from mike.accounts.models import UserTablePreference
from recipients import selectors
from recipients.models import (
    ApprovalStatus,
    Audience,
    Recipient,
    RecipientAuditAction,
    SmsDirection,
    SmsOptInLog,
    SmsOptInStatus,
)
from tests import factories

from .helpers import assert_queries_do_not_grow, read_csv

LIST = reverse("dashboard:recipients")


def detail_url(recipient):
    return reverse("dashboard:recipient", args=[recipient.pk])


@pytest.fixture
def campaign(tenants):
    return factories.CampaignFactory(client=tenants.client_a, name="Spring mailing")


@pytest.fixture
def ava(campaign):
    return factories.RecipientFactory(
        campaign=campaign,
        first_name="Ava",
        last_name="Nguyen",
        phone="+15552010001",
        redemption_code="7KQ4M2XD9P",
    )


@pytest.fixture
def outsider(tenants):
    campaign = factories.CampaignFactory(client=tenants.client_b)
    return factories.RecipientFactory(
        campaign=campaign, first_name="Olga", last_name="Outside", phone="+15559990001"
    )


def names(response) -> list[str]:
    return [row.record.full_name for row in response.context["table"].paginated_rows]


# --- The list ----------------------------------------------------------------------------------


def test_client_admin_sees_their_recipients_and_not_another_clients(
    login_as, people, ava, outsider
):
    response = login_as(people.client_admin).get(LIST)
    assert response.status_code == 200
    assert names(response) == ["Ava Nguyen"]
    assert "Olga" not in response.content.decode()


def test_anonymous_is_sent_to_sign_in(client, db):
    response = client.get(LIST)
    assert response.status_code == 302
    assert response["Location"].startswith("/app/login/")


def test_agents_are_sent_to_their_calls(login_as, people):
    response = login_as(people.agent).get(LIST)
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:calls")


def test_phone_and_code_are_masked_for_clients(login_as, people, ava):
    body = login_as(people.client_admin).get(LIST).content.decode()
    assert "••••\N{NO-BREAK SPACE}0001" in body
    assert "201-0001" not in body
    assert "••••\N{NO-BREAK SPACE}9P" in body
    assert "7KQ4" not in body


def test_staff_see_the_phone_in_full_but_the_code_masked(login_as, people, ava):
    body = login_as(people.staff).get(LIST).content.decode()
    assert "(555) 201-0001" in body
    assert "7KQ4" not in body


@pytest.mark.parametrize(
    "typed",
    ["Ava", "nguyen", "ava ngu", "(555) 201-0001", "555.201.0001", "7kq4-m2xd-9p", "7KQ4 M2XD 9P"],
)
def test_search_finds_by_name_phone_or_code(login_as, people, ava, campaign, typed):
    factories.RecipientFactory(campaign=campaign, first_name="Ben", last_name="Patel")
    response = login_as(people.client_admin).get(LIST, {"q": typed})
    assert names(response) == ["Ava Nguyen"]


def test_search_by_part_of_a_code_finds_nobody(login_as, people, ava):
    response = login_as(people.client_admin).get(LIST, {"q": "7KQ4M2"})
    assert names(response) == []


def test_search_never_reaches_another_clients_recipient(login_as, people, ava, outsider):
    response = login_as(people.client_admin).get(LIST, {"q": outsider.redemption_code})
    assert names(response) == []


def test_filters_by_approval_opt_in_reward_and_campaign(login_as, people, campaign, tenants):
    approved = factories.RecipientFactory(
        campaign=campaign,
        first_name="Approved",
        approval_status=ApprovalStatus.APPROVED,
        sms_opt_in_status=SmsOptInStatus.OPTED_IN,
    )
    factories.RecipientGiftCardFactory(
        recipient=approved,
        condition=factories.CampaignConditionFactory(campaign=campaign),
        status=RewardStatus.AWAITING_STOCK,
    )
    factories.RecipientFactory(campaign=campaign, first_name="Waiting")
    other_campaign = factories.CampaignFactory(client=tenants.client_a, name="Autumn")
    factories.RecipientFactory(campaign=other_campaign, first_name="Autumnal")
    client = login_as(people.client_admin)

    def first_names(**query):
        return sorted(n.split()[0] for n in names(client.get(LIST, query)))

    assert first_names(approval_status="approved") == ["Approved"]
    assert first_names(sms_opt_in_status="opted_in") == ["Approved"]
    assert first_names(reward="awaiting_stock") == ["Approved"]
    assert first_names(reward="none") == ["Autumnal", "Waiting"]
    assert first_names(campaign=str(campaign.pk)) == ["Approved", "Waiting"]
    assert first_names(campaign=str(other_campaign.pk)) == ["Autumnal"]


def test_another_clients_campaign_in_the_filter_is_a_field_error(login_as, people, ava, outsider):
    response = login_as(people.client_admin).get(LIST, {"campaign": str(outsider.campaign_id)})
    assert response.context["filter"].errors["campaign"]
    assert names(response) == ["Ava Nguyen"]


def test_the_reward_column_shows_the_latest_reward(login_as, people, ava, campaign):
    first = factories.CampaignConditionFactory(campaign=campaign, condition_number=1)
    second = factories.CampaignConditionFactory(campaign=campaign, condition_number=2)
    old = factories.RecipientGiftCardFactory(
        recipient=ava, condition=first, status=RewardStatus.REJECTED
    )
    type(old).objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=2))
    factories.RecipientGiftCardFactory(recipient=ava, condition=second, status=RewardStatus.PENDING)
    response = login_as(people.client_admin).get(LIST)
    record = response.context["table"].paginated_rows[0].record
    assert record.reward_status == RewardStatus.PENDING


def test_sorting_by_name(login_as, people, campaign):
    for last in ("Cohen", "Able", "Baker"):
        factories.RecipientFactory(campaign=campaign, first_name="X", last_name=last)
    response = login_as(people.client_admin).get(LIST, {"sort": "name"})
    assert names(response) == ["X Able", "X Baker", "X Cohen"]
    response = login_as(people.client_admin).get(LIST, {"sort": "-name"})
    assert names(response) == ["X Cohen", "X Baker", "X Able"]


def test_htmx_filter_swaps_only_the_table(login_as, people, ava):
    response = login_as(people.client_admin).get(
        LIST, {"q": "Ava"}, headers={"HX-Request": "true", "HX-Target": "table"}
    )
    body = response.content.decode()
    assert "Ava Nguyen" in body
    assert "<html" not in body


def test_list_queries_do_not_grow_with_rows(login_as, people, campaign):
    client = login_as(people.client_admin)
    UserTablePreference.objects.create(
        user=people.client_admin, table_name="RecipientTable", page_size=200
    )
    condition = factories.CampaignConditionFactory(campaign=campaign)

    def add_rows(n):
        for _ in range(n):
            recipient = factories.RecipientFactory(campaign=campaign)
            factories.RecipientGiftCardFactory(recipient=recipient, condition=condition)
            factories.CallSessionFactory(campaign=campaign, recipient=recipient)

    assert_queries_do_not_grow(client, LIST, add_rows)


def _bulk_recipients(audience, campaign, count, *, status, start=0):
    Recipient.objects.bulk_create(
        [
            Recipient(
                audience=audience,
                campaign=campaign,
                first_name="Bulk",
                last_name=f"{status} {n:05d}",
                phone=f"+1555{n:07d}",
                redemption_code=f"B{n:09d}",
                token=f"bulk-token-{n:022d}",
                approval_status=status,
            )
            for n in range(start, start + count)
        ],
        batch_size=2000,
    )


def test_export_of_ten_thousand_rows_holds_exactly_the_filtered_rows(login_as, people, campaign):
    audience = campaign.audience
    _bulk_recipients(audience, campaign, 10_000, status=ApprovalStatus.APPROVED)
    _bulk_recipients(audience, campaign, 300, status=ApprovalStatus.PENDING, start=10_000)
    response = login_as(people.client_admin).get(
        LIST, {"approval_status": "approved", "export": "csv"}
    )
    rows = read_csv(response)
    assert len(rows) == 10_000
    assert {row["Approval"] for row in rows} == {"Approved"}
    assert {row["Campaign"] for row in rows} == {"Spring mailing"}
    # Masked in the file as on the page.
    assert all(row["Phone"].startswith("••••") for row in rows)
    assert all(row["Code"].startswith("••••") for row in rows)
    assert len({row["Name"] for row in rows}) == 10_000


def test_export_escapes_a_name_a_spreadsheet_would_run(login_as, people, campaign):
    factories.RecipientFactory(campaign=campaign, first_name="=HYPERLINK(1)", last_name="")
    rows = read_csv(login_as(people.client_admin).get(LIST, {"export": "csv"}))
    assert rows[0]["Name"] == "'=HYPERLINK(1)"


# --- A recipient's page ------------------------------------------------------------------------


def test_owner_sees_the_recipients_page(login_as, people, ava):
    response = login_as(people.client_user).get(detail_url(ava))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Ava Nguyen" in body
    assert "Spring mailing" in body
    assert "••••\N{NO-BREAK SPACE}9P" in body


def test_another_clients_recipient_is_404(login_as, people, ava):
    assert login_as(people.other_client_admin).get(detail_url(ava)).status_code == 404


def test_an_unknown_recipient_is_404(login_as, people, db):
    url = reverse("dashboard:recipient", args=["00000000-0000-0000-0000-000000000000"])
    assert login_as(people.staff).get(url).status_code == 404


def test_the_code_is_whole_on_the_page_for_who_may_see_codes(login_as, people, ava):
    people.client_admin.user_permissions.add(
        Permission.objects.get(codename="view_redemption_code")
    )
    body = login_as(people.client_admin).get(detail_url(ava)).content.decode()
    assert "7KQ4-M2XD-9P" in body


def _at(obj, when):
    """Move a row's creation time (auto_now_add) to `when`."""
    type(obj).objects.filter(pk=obj.pk).update(created_at=when)


def _full_history(recipient, campaign, now):
    """A recipient who called, met a condition, was approved, opted in and was sent a card."""
    condition = factories.CampaignConditionFactory(
        campaign=campaign, condition_name="Booked an inspection"
    )
    call = factories.CallSessionFactory(
        campaign=campaign, recipient=recipient, call_started_at=now - timedelta(hours=6)
    )
    factories.CallConditionMetFactory(
        recipient=recipient,
        condition=condition,
        call_session=call,
        met_at=now - timedelta(hours=5),
    )
    reward = factories.RecipientGiftCardFactory(
        recipient=recipient, condition=condition, claimed=True, status=RewardStatus.DELIVERED
    )
    _at(reward, now - timedelta(hours=5) + timedelta(seconds=1))
    audit = factories.RecipientAuditLogFactory(
        recipient=recipient, action=RecipientAuditAction.APPROVED, performed_by=None
    )
    _at(audit, now - timedelta(hours=4))
    out = factories.SmsOptInLogFactory(recipient=recipient, direction=SmsDirection.OUTBOUND)
    _at(out, now - timedelta(hours=3))
    reply = factories.SmsOptInLogFactory(
        recipient=recipient, direction=SmsDirection.INBOUND, message_text="YES"
    )
    _at(reply, now - timedelta(hours=2))
    delivery = factories.GiftCardDeliveryFactory(reward=reward, recipient=recipient)
    _at(delivery, now - timedelta(hours=1))
    card_text = factories.SmsDeliveryLogFactory(delivery=delivery)
    _at(card_text, now - timedelta(minutes=59))
    return call


def test_the_timeline_holds_every_kind_newest_first(ava, campaign):
    now = timezone.now()
    _full_history(ava, campaign, now)
    entries = selectors.recipient_timeline(ava)
    assert [e.kind for e in entries] == [
        "text_out",  # the card text
        "delivery",
        "text_in",  # YES
        "text_out",  # the opt-in question
        "audit",  # approved
        "reward",
        "condition",
        "call",
    ]
    assert entries == sorted(entries, key=lambda e: e.at, reverse=True)
    assert entries[2].detail == "YES"
    assert "Booked an inspection" in entries[6].title


def test_the_timeline_costs_the_same_queries_with_more_history(
    ava, campaign, django_assert_max_num_queries
):
    now = timezone.now()
    _full_history(ava, campaign, now)
    with django_assert_max_num_queries(7):
        selectors.recipient_timeline(ava)
    for n in range(5):
        factories.CallSessionFactory(campaign=campaign, recipient=ava)
        factories.SmsOptInLogFactory(recipient=ava)
        factories.RecipientAuditLogFactory(recipient=ava, action=RecipientAuditAction.VIEWED)
    with django_assert_max_num_queries(7):
        assert len(selectors.recipient_timeline(ava)) == 8 + 15


def test_the_page_shows_the_timeline_and_links_the_call(login_as, people, ava, campaign):
    call = _full_history(ava, campaign, timezone.now())
    body = login_as(people.client_admin).get(detail_url(ava)).content.decode()
    assert "Booked an inspection" in body
    assert "Text received" in body
    assert reverse("dashboard:call", args=[call.pk]) in body
    # The card text is stored with the code masked, and shown as stored.
    assert SmsOptInLog.objects.filter(recipient=ava).count() == 2


def test_the_recipients_page_queries_do_not_grow_with_history(login_as, people, ava, campaign):
    client = login_as(people.client_admin)
    url = detail_url(ava)

    def add_rows(n):
        for _ in range(n):
            factories.CallSessionFactory(
                campaign=campaign, recipient=ava, match_status=MatchStatus.MATCHED
            )
            factories.SmsOptInLogFactory(recipient=ava)

    assert_queries_do_not_grow(client, url, add_rows, few=2, many=40)


def test_a_recipient_of_an_audience_without_campaign_shows(login_as, people, tenants):
    audience = Audience.objects.create(client=tenants.client_a, name="Loose list")
    recipient = factories.RecipientFactory(audience=audience, first_name="Nobody")
    response = login_as(people.client_admin).get(detail_url(recipient))
    assert response.status_code == 200


def test_the_client_column_shows_with_all_clients_only(login_as, people, ava, tenants):
    other = factories.RecipientFactory(campaign=factories.CampaignFactory(client=tenants.client_a2))
    client = login_as(people.agency_admin, "all")
    rows = read_csv(client.get(LIST, {"export": "csv"}))
    assert {row["Client"] for row in rows} == {"Client A", "Client A2"}
    assert other.pk in [row.record.pk for row in client.get(LIST).context["table"].paginated_rows]
    rows = read_csv(login_as(people.agency_admin, tenants.client_a).get(LIST, {"export": "csv"}))
    assert "Client" not in rows[0]


def test_a_user_who_hid_the_client_column_still_gets_the_page(login_as, people, ava):
    UserTablePreference.objects.create(
        user=people.client_admin, table_name="RecipientTable", visible_columns=["phone"]
    )
    response = login_as(people.client_admin).get(LIST)
    assert response.status_code == 200
    assert [c.name for c in response.context["table"].columns] == ["name", "phone"]
