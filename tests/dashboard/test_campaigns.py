"""The campaign pages: the list, the wizard, a campaign's page and its tabs, status changes and
duplicates, as each role sees them."""

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from calls.models import TrackedNumberStatus
from campaigns.models import Campaign, CampaignStatus, Event, EventType, TriggerType
from giftcards.models import RewardStatus
from mike.accounts.models import UserTablePreference
from tests import factories
from tests.dashboard.helpers import assert_queries_do_not_grow, read_csv

LIST = reverse("dashboard:campaigns")
NEW = reverse("dashboard:campaign_new")


def detail_url(campaign, tab=None):
    if tab is None:
        return reverse("dashboard:campaign", args=[campaign.pk])
    return reverse("dashboard:campaign_tab", args=[campaign.pk, tab])


def step_url(campaign, step):
    return reverse("dashboard:campaign_edit", args=[campaign.pk, step])


@pytest.fixture
def campaign(tenants):
    campaign = factories.CampaignFactory(
        client=tenants.client_a,
        name="Spring storm",
        mail_date=datetime.date(2027, 3, 1),
        status=CampaignStatus.DRAFT,
    )
    factories.CampaignConditionFactory(campaign=campaign, condition_name="Booked")
    return campaign


@pytest.fixture
def brand(db):
    return factories.GiftCardBrandFactory(brand_name="Coffee Co")


def conditions_post(rows, initial=0):
    data = {
        "conditions-TOTAL_FORMS": str(len(rows)),
        "conditions-INITIAL_FORMS": str(initial),
        "conditions-MIN_NUM_FORMS": "0",
        "conditions-MAX_NUM_FORMS": "3",
    }
    for index, row in enumerate(rows):
        for field, value in row.items():
            data[f"conditions-{index}-{field}"] = value
    return data


# A row left empty, as a browser posts it: the trigger select keeps its first choice.
BLANK = {"trigger_type": TriggerType.MANUAL_AGENT}


def row(brand, **extra):
    return {
        "condition_name": "Booked an appointment",
        "trigger_type": TriggerType.MANUAL_AGENT,
        "brand": str(brand.pk),
        "card_value": "25.00",
        "sms_template": "",
        **extra,
    }


# --- List ----------------------------------------------------------------------------------------


def test_the_list_shows_the_clients_campaigns_only(login_as, people, campaign, tenants):
    factories.CampaignFactory(client=tenants.client_b, name="Other tenant's")
    response = login_as(people.client_user).get(LIST)
    assert response.status_code == 200
    assert b"Spring storm" in response.content
    assert b"Other tenant" not in response.content


def test_the_list_sends_anonymous_visitors_to_sign_in(client):
    response = client.get(LIST)
    assert response.status_code == 302
    assert response["Location"].startswith("/app/login/")


def test_the_list_figures(login_as, people, campaign):
    campaign.audience.total_count = 200
    campaign.audience.save()
    condition = campaign.conditions.get()
    recipients = factories.RecipientFactory.create_batch(3, campaign=campaign)
    for recipient in recipients[:2]:
        factories.CallSessionFactory(campaign=campaign, recipient=recipient)
    factories.CallSessionFactory(campaign=campaign, recipient=recipients[0])
    factories.CallSessionFactory(campaign=campaign, recipient=None)
    factories.CallConditionMetFactory(
        campaign=campaign, condition=condition, recipient=recipients[0]
    )
    factories.RecipientGiftCardFactory(
        condition=condition, recipient=recipients[0], claimed=True, status=RewardStatus.DELIVERED
    )
    factories.RecipientGiftCardFactory(condition=condition, recipient=recipients[1], claimed=True)
    factories.RecipientGiftCardFactory(condition=condition, recipient=recipients[2])
    response = login_as(people.client_admin).get(LIST + "?export=csv")
    (line,) = read_csv(response)
    assert line["Campaign"] == "Spring storm"
    assert line["Audience"] == "200"
    assert line["Calls"] == "4"
    assert line["Conditions met"] == "1"
    assert line["Rewards delivered"] == "1"
    # Two of the 200 called: 1%.
    assert line["Response rate"] == "1.00"
    assert line["Spend"] == "50.00"
    assert line["Status"] == "Draft"
    assert line["Mail date"] == "2027-03-01"


def test_the_export_leaves_unknown_figures_blank(login_as, people, tenants):
    factories.CampaignFactory(client=tenants.client_a, audience=None, mail_date=None)
    (line,) = read_csv(login_as(people.client_user).get(f"{LIST}?export=csv"))
    assert (line["Mail date"], line["Audience"], line["Response rate"]) == ("", "0", "")


def test_the_list_filters_by_name_status_and_mail_date(login_as, people, tenants, campaign):
    factories.CampaignFactory(
        client=tenants.client_a,
        name="Autumn mailing",
        status=CampaignStatus.MAILED,
        mail_date=datetime.date(2027, 9, 1),
    )
    browser = login_as(people.client_user)

    def names(query):
        return [line["Campaign"] for line in read_csv(browser.get(f"{LIST}?{query}&export=csv"))]

    assert names("q=autumn") == ["Autumn mailing"]
    assert names("status=draft") == ["Spring storm"]
    assert names("mailed_from=2027-06-01") == ["Autumn mailing"]
    assert names("mailed_to=2027-06-01") == ["Spring storm"]


def test_the_list_sorts_by_a_figure(login_as, people, tenants, campaign):
    busy = factories.CampaignFactory(client=tenants.client_a, name="Busy")
    factories.CallSessionFactory.create_batch(2, campaign=busy)
    browser = login_as(people.client_user)
    rows = read_csv(browser.get(f"{LIST}?sort=-calls_count&export=csv"))
    assert [r["Campaign"] for r in rows] == ["Busy", "Spring storm"]
    rows = read_csv(browser.get(f"{LIST}?sort=calls_count&export=csv"))
    assert [r["Campaign"] for r in rows] == ["Spring storm", "Busy"]


def test_the_client_column_shows_under_all_clients(login_as, people, tenants, campaign):
    factories.CampaignFactory(client=tenants.client_a2, name="Second client's")
    browser = login_as(people.agency_admin, "all")
    response = browser.get(LIST)
    assert b"Second client" in response.content and b"Spring storm" in response.content
    rows = read_csv(browser.get(f"{LIST}?client={tenants.client_a2.pk}&export=csv"))
    assert [(r["Campaign"], r["Client"]) for r in rows] == [("Second client's", "Client A2")]
    rows = read_csv(login_as(people.agency_admin, tenants.client_a).get(f"{LIST}?export=csv"))
    assert "Client" not in rows[0]


def test_the_list_swaps_only_the_table_for_htmx(login_as, people, campaign):
    response = login_as(people.client_user).get(
        LIST + "?q=spring", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="table"
    )
    assert b"<html" not in response.content
    assert b"Spring storm" in response.content
    assert "HX-Request" in response["Vary"]


def test_the_list_costs_the_same_queries_with_many_campaigns(login_as, people, tenants):
    UserTablePreference.objects.create(
        user=people.client_admin, table_name="CampaignTable", page_size=200
    )
    browser = login_as(people.client_admin)

    def add_rows(n):
        for _ in range(n):
            campaign = factories.CampaignFactory(client=tenants.client_a)
            condition = factories.CampaignConditionFactory(campaign=campaign)
            factories.CallSessionFactory(campaign=campaign)
            factories.RecipientGiftCardFactory(condition=condition)

    assert_queries_do_not_grow(browser, LIST, add_rows, few=2, many=40)


def test_the_export_holds_the_filtered_rows_only(login_as, people, tenants):
    for n in range(30):
        factories.CampaignFactory(
            client=tenants.client_a,
            name=f"Mailing {n:02d}",
            status=CampaignStatus.MAILED if n % 3 == 0 else CampaignStatus.DRAFT,
        )
    factories.CampaignFactory(client=tenants.client_b, status=CampaignStatus.MAILED)
    rows = read_csv(login_as(people.client_user).get(f"{LIST}?status=mailed&export=csv"))
    assert sorted(r["Campaign"] for r in rows) == [f"Mailing {n:02d}" for n in range(0, 30, 3)]
    assert {r["Status"] for r in rows} == {"Mailed"}


def test_the_export_escapes_formulas(login_as, people, tenants):
    factories.CampaignFactory(client=tenants.client_a, name="=HYPERLINK(1)")
    (line,) = read_csv(login_as(people.client_user).get(f"{LIST}?export=csv"))
    assert line["Campaign"] == "'=HYPERLINK(1)"


def test_readers_see_no_new_campaign_button(login_as, people, campaign):
    assert NEW.encode() not in login_as(people.client_user).get(LIST).content
    assert NEW.encode() in login_as(people.client_admin).get(LIST).content


def test_the_navigation_has_campaigns(login_as, people):
    response = login_as(people.client_user).get(reverse("dashboard:home"))
    assert LIST.encode() in response.content


# --- Creating ------------------------------------------------------------------------------------


def test_a_client_admin_creates_a_draft(login_as, people, tenants):
    audience = factories.AudienceFactory(client=tenants.client_a)
    browser = login_as(people.client_admin)
    assert browser.get(NEW).status_code == 200
    response = browser.post(
        NEW,
        {
            "name": "Winter mailing",
            "mailing_method": "platform_handled",
            "mail_date": "2027-01-10",
            "audience": str(audience.pk),
        },
    )
    campaign = Campaign.objects.get(name="Winter mailing")
    assert response.status_code == 302
    assert response["Location"] == step_url(campaign, "conditions")
    assert (campaign.client, campaign.status, campaign.audience) == (
        tenants.client_a,
        CampaignStatus.DRAFT,
        audience,
    )
    assert campaign.created_by == people.client_admin


def test_creating_without_a_name_is_a_field_error(login_as, people):
    response = login_as(people.client_admin).post(NEW, {"name": "", "mailing_method": "x"})
    assert response.status_code == 200
    assert "name" in response.context["form"].errors
    assert "mailing_method" in response.context["form"].errors
    assert not Campaign.objects.exists()


def test_creating_cannot_use_another_clients_audience(login_as, people, tenants):
    other = factories.AudienceFactory(client=tenants.client_b)
    response = login_as(people.client_admin).post(
        NEW, {"name": "X", "mailing_method": "customer_handled", "audience": str(other.pk)}
    )
    assert "audience" in response.context["form"].errors
    assert not Campaign.objects.exists()


def test_a_reader_may_not_create(login_as, people):
    browser = login_as(people.client_user)
    assert browser.get(NEW).status_code == 403
    assert browser.post(NEW, {"name": "X", "mailing_method": "customer_handled"}).status_code == 403
    assert not Campaign.objects.exists()


def test_under_all_clients_creating_asks_which_client(login_as, people, tenants):
    browser = login_as(people.agency_admin, "all")
    response = browser.get(NEW)
    assert response.status_code == 200
    assert "Which client" in response.content.decode()
    assert b"Client A2" in response.content and b"Client B" not in response.content
    assert browser.get(f"{NEW}?client={tenants.client_a2.pk}").status_code == 200
    response = browser.post(
        NEW,
        {"client": str(tenants.client_a2.pk), "name": "For A2", "mailing_method": "self"},
    )
    assert response.status_code == 200  # "self" is no mailing method: a field error
    browser.post(
        NEW,
        {
            "client": str(tenants.client_a2.pk),
            "name": "For A2",
            "mailing_method": "customer_handled",
        },
    )
    assert Campaign.objects.get(name="For A2").client == tenants.client_a2


def test_under_all_clients_another_agencys_client_is_not_found(login_as, people, tenants):
    browser = login_as(people.agency_admin, "all")
    assert browser.get(f"{NEW}?client={tenants.client_b.pk}").status_code == 404


def test_an_agency_user_may_not_create(login_as, people):
    assert login_as(people.agency_user, "all").get(NEW).status_code == 403


# --- The wizard's steps --------------------------------------------------------------------------


@pytest.mark.parametrize("step", ["details", "conditions", "number", "budget", "review"])
def test_each_step_opens_for_a_manager_only(login_as, people, campaign, step):
    assert login_as(people.client_admin).get(step_url(campaign, step)).status_code == 200
    assert login_as(people.client_user).get(step_url(campaign, step)).status_code == 403
    assert login_as(people.client_user).post(step_url(campaign, step)).status_code == 403
    assert login_as(people.other_client_admin).get(step_url(campaign, step)).status_code == 404


def test_an_unknown_step_is_not_found(login_as, people, campaign):
    assert login_as(people.client_admin).get(step_url(campaign, "nope")).status_code == 404


def test_the_details_step_saves(login_as, people, campaign):
    response = login_as(people.client_admin).post(
        step_url(campaign, "details"),
        {"name": "Renamed", "mailing_method": "customer_handled", "mail_date": "2027-04-02"},
    )
    assert response["Location"] == step_url(campaign, "conditions")
    campaign.refresh_from_db()
    assert (campaign.name, campaign.mail_date, campaign.audience) == (
        "Renamed",
        datetime.date(2027, 4, 2),
        None,
    )


def test_the_details_step_shows_a_bad_date(login_as, people, campaign):
    response = login_as(people.client_admin).post(
        step_url(campaign, "details"),
        {"name": "X", "mailing_method": "customer_handled", "mail_date": "soon"},
    )
    assert "mail_date" in response.context["form"].errors


def test_a_closed_campaign_cannot_be_edited(login_as, people, campaign):
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.COMPLETED)
    response = login_as(people.client_admin).post(
        step_url(campaign, "details"), {"name": "Later", "mailing_method": "customer_handled"}
    )
    assert response["Location"] == detail_url(campaign)
    campaign.refresh_from_db()
    assert campaign.name == "Spring storm"


def test_the_conditions_step_sets_them_in_order(login_as, people, campaign, brand):
    data = conditions_post(
        [
            row(brand, condition_name="Called"),
            row(
                brand,
                condition_name="Booked",
                trigger_type=TriggerType.CRM_WEBHOOK,
                crm_event_name="appointment.booked",
                sms_template="Hi {first_name}, your {brand} card: {code}",
            ),
            BLANK,
        ],
        initial=1,
    )
    response = login_as(people.client_admin).post(step_url(campaign, "conditions"), data)
    assert response.status_code == 302
    assert response["Location"] == step_url(campaign, "number")
    rows = list(campaign.conditions.values_list("condition_number", "condition_name", "brand"))
    assert rows == [(1, "Called", brand.pk), (2, "Booked", brand.pk)]
    assert campaign.conditions.get(condition_number=2).crm_event_name == "appointment.booked"


def test_the_conditions_step_shows_a_missing_trigger_field(login_as, people, campaign, brand):
    data = conditions_post([row(brand, trigger_type=TriggerType.TIME_DELAY)], initial=1)
    response = login_as(people.client_admin).post(step_url(campaign, "conditions"), data)
    assert response.status_code == 200
    assert "time_delay_hours" in response.context["formset"].forms[0].errors
    assert campaign.conditions.get().condition_name == "Booked"


def test_the_conditions_step_shows_an_unknown_text_variable(login_as, people, campaign, brand):
    data = conditions_post([row(brand, sms_template="Hi {frist_name}")], initial=1)
    response = login_as(people.client_admin).post(step_url(campaign, "conditions"), data)
    assert "sms_template" in response.context["formset"].forms[0].errors


def test_the_conditions_step_takes_no_more_than_three(login_as, people, campaign, brand):
    data = conditions_post([row(brand)] * 4, initial=1)
    response = login_as(people.client_admin).post(step_url(campaign, "conditions"), data)
    assert response.status_code == 200
    assert response.context["formset"].non_form_errors()
    assert campaign.conditions.count() == 1


def test_the_conditions_step_needs_one(login_as, people, campaign, brand):
    data = conditions_post([{**row(brand), "DELETE": "on"}, BLANK], initial=1)
    response = login_as(people.client_admin).post(step_url(campaign, "conditions"), data)
    assert "Add at least one condition." in response.context["formset"].non_form_errors()


def test_the_conditions_step_removes_a_ticked_row(login_as, people, campaign, brand):
    factories.CampaignConditionFactory(campaign=campaign, condition_number=2)
    data = conditions_post(
        [row(brand, condition_name="Kept"), {**row(brand), "DELETE": "on"}, BLANK], initial=2
    )
    login_as(people.client_admin).post(step_url(campaign, "conditions"), data)
    assert list(campaign.conditions.values_list("condition_name", flat=True)) == ["Kept"]


def test_the_conditions_step_refuses_removing_a_met_condition(login_as, people, campaign, brand):
    second = factories.CampaignConditionFactory(campaign=campaign, condition_number=2)
    factories.RecipientGiftCardFactory(condition=second)
    data = conditions_post([row(brand), {**row(brand), "DELETE": "on"}, BLANK], initial=2)
    response = login_as(people.client_admin).post(
        step_url(campaign, "conditions"), data, follow=True
    )
    assert "switch it off" in response.content.decode()
    assert campaign.conditions.count() == 2


def test_the_reward_text_preview_fills_in_sample_values(login_as, people, campaign, brand):
    url = reverse("dashboard:campaign_sms_preview", args=[campaign.pk])
    response = login_as(people.client_admin).get(
        url,
        {
            "prefix": "conditions-0",
            "conditions-0-sms_template": "{client_name}: hi {first_name}, {value} {brand}: {code}",
            "conditions-0-brand": str(brand.pk),
            "conditions-0-card_value": "15",
        },
    )
    assert response.status_code == 200
    assert "Client A: hi Jordan, $15.00 Coffee Co" in response.content.decode()


def test_the_reward_text_preview_names_an_unknown_variable(login_as, people, campaign):
    url = reverse("dashboard:campaign_sms_preview", args=[campaign.pk])
    response = login_as(people.client_admin).get(url, {"sms_template": "Hi {frist_name}"})
    assert "Unknown variable {frist_name}" in response.content.decode()


def test_the_reward_text_preview_is_for_managers(login_as, people, campaign):
    url = reverse("dashboard:campaign_sms_preview", args=[campaign.pk])
    assert login_as(people.client_user).get(url).status_code == 403
    assert login_as(people.other_client_admin).get(url).status_code == 404


def test_the_conditions_page_previews_each_saved_text(login_as, people, campaign):
    condition = campaign.conditions.get()
    condition.sms_template = "Thanks {first_name}! Your card: {link}"
    condition.save()
    response = login_as(people.client_admin).get(step_url(campaign, "conditions"))
    assert "Thanks Jordan!" in response.content.decode()


def test_the_number_step_assigns_a_free_number(login_as, people, campaign, tenants):
    free = factories.TrackedPhoneNumberFactory(campaign=None, client=tenants.client_a)
    taken = factories.TrackedPhoneNumberFactory(
        campaign=factories.CampaignFactory(client=tenants.client_a)
    )
    browser = login_as(people.client_admin)
    page = browser.get(step_url(campaign, "number")).content.decode()
    assert free.phone_number in page and taken.phone_number not in page
    response = browser.post(step_url(campaign, "number"), {"number": str(free.pk)})
    assert response["Location"] == step_url(campaign, "budget")
    free.refresh_from_db()
    assert (free.campaign, free.status) == (campaign, TrackedNumberStatus.ASSIGNED)


def test_the_number_step_refuses_another_clients_number(login_as, people, campaign, tenants):
    foreign = factories.TrackedPhoneNumberFactory(campaign=None, client=tenants.client_b)
    response = login_as(people.client_admin).post(
        step_url(campaign, "number"), {"number": str(foreign.pk)}
    )
    assert "number" in response.context["form"].errors
    foreign.refresh_from_db()
    assert foreign.campaign is None


def test_the_number_step_can_release_the_number(login_as, people, campaign):
    number = factories.TrackedPhoneNumberFactory(campaign=campaign)
    login_as(people.client_admin).post(step_url(campaign, "number"), {"number": ""})
    number.refresh_from_db()
    assert number.campaign is None


def test_the_budget_step_warns_when_credit_is_short(login_as, people, campaign):
    campaign.audience.total_count = 1000
    campaign.audience.save()
    account = factories.CreditAccountFactory(organization=campaign.client)
    factories.CreditTransactionFactory(account=account, amount=Decimal("100.00"))
    browser = login_as(people.client_admin)
    response = browser.get(step_url(campaign, "budget"))
    figures = response.context["figures"]
    # 2% of 1,000 is 20 responses of one $25 card: $500 against $100.
    assert (figures["expected"], figures["needed"], figures["available"]) == (
        20,
        Decimal("500.00"),
        Decimal("100.00"),
    )
    assert "Not enough credit" in response.content.decode()
    response = browser.get(step_url(campaign, "budget") + "?response_rate=0.4")
    assert response.context["figures"]["needed"] == Decimal("100.00")
    assert "covers the expected rewards" in response.content.decode()


def test_the_budget_step_saves_the_budget_and_remembers_the_rate(login_as, people, campaign):
    campaign.audience.total_count = 1000
    campaign.audience.save()
    browser = login_as(people.client_admin)
    response = browser.post(step_url(campaign, "budget"), {"response_rate": "3"})
    assert response["Location"] == step_url(campaign, "review")
    campaign.refresh_from_db()
    assert campaign.allocated_budget == Decimal("750.00")
    response = browser.get(step_url(campaign, "budget"))
    assert response.context["form"]["response_rate"].value() == Decimal("3.00")


def test_the_budget_step_shows_a_bad_rate(login_as, people, campaign):
    response = login_as(people.client_admin).post(
        step_url(campaign, "budget"), {"response_rate": "0"}
    )
    assert response.status_code == 200
    assert "response_rate" in response.context["form"].errors


def test_the_review_step_offers_proofing_once_ready(login_as, people, campaign):
    browser = login_as(people.client_admin)
    status_url = reverse("dashboard:campaign_status", args=[campaign.pk])
    page = browser.get(step_url(campaign, "review")).content.decode()
    assert status_url in page
    Campaign.objects.filter(pk=campaign.pk).update(mail_date=None)
    page = browser.get(step_url(campaign, "review")).content.decode()
    assert status_url not in page and "A mail date" in page


# --- Status and duplicates -----------------------------------------------------------------------


def test_a_manager_moves_the_status_along(login_as, people, campaign):
    url = reverse("dashboard:campaign_status", args=[campaign.pk])
    response = login_as(people.client_admin).post(url, {"to": "proofed"}, follow=True)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.PROOFED
    assert "Spring storm is now proofed." in response.content.decode()
    assert Event.objects.filter(
        campaign=campaign, event_type=EventType.CAMPAIGN_STATUS_CHANGED
    ).exists()


def test_a_refused_move_is_explained(login_as, people, campaign):
    url = reverse("dashboard:campaign_status", args=[campaign.pk])
    response = login_as(people.client_admin).post(url, {"to": "completed"}, follow=True)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT
    assert "cannot be completed" in response.content.decode()


def test_an_unready_campaign_is_not_proofed(login_as, people, campaign):
    Campaign.objects.filter(pk=campaign.pk).update(audience=None)
    url = reverse("dashboard:campaign_status", args=[campaign.pk])
    response = login_as(people.client_admin).post(url, {"to": "proofed"}, follow=True)
    assert "needs an audience" in response.content.decode()


def test_status_changes_are_for_managers(login_as, people, campaign):
    url = reverse("dashboard:campaign_status", args=[campaign.pk])
    assert login_as(people.client_user).post(url, {"to": "proofed"}).status_code == 403
    assert login_as(people.other_client_admin).post(url, {"to": "proofed"}).status_code == 404
    assert login_as(people.client_admin).get(url).status_code == 405
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT


def test_the_page_offers_only_the_allowed_moves(login_as, people, campaign):
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.MAILED)
    page = login_as(people.client_admin).get(detail_url(campaign)).content.decode()
    assert 'value="completed"' in page and 'value="paused"' in page
    assert 'value="cancelled"' not in page and 'value="draft"' not in page
    page = login_as(people.client_user).get(detail_url(campaign)).content.decode()
    assert 'value="completed"' not in page and "Duplicate" not in page


def test_a_manager_duplicates_a_campaign(login_as, people, campaign):
    url = reverse("dashboard:campaign_duplicate", args=[campaign.pk])
    response = login_as(people.client_admin).post(url)
    copy = Campaign.objects.get(name="Copy of Spring storm")
    assert response["Location"] == step_url(copy, "details")
    assert copy.status == CampaignStatus.DRAFT
    assert list(copy.conditions.values_list("condition_name", flat=True)) == ["Booked"]


def test_duplicating_is_for_managers(login_as, people, campaign):
    url = reverse("dashboard:campaign_duplicate", args=[campaign.pk])
    assert login_as(people.client_user).post(url).status_code == 403
    assert login_as(people.other_client_admin).post(url).status_code == 404
    assert Campaign.objects.count() == 1


# --- The campaign's page and tabs ----------------------------------------------------------------


@pytest.mark.parametrize(
    "tab", [None, "overview", "conditions", "recipients", "calls", "rewards", "approvals"]
)
def test_each_tab_opens_for_the_owner_and_no_one_else(login_as, people, campaign, tab, client):
    assert login_as(people.client_user).get(detail_url(campaign, tab)).status_code == 200
    assert login_as(people.other_client_admin).get(detail_url(campaign, tab)).status_code == 404
    client.logout()
    response = client.get(detail_url(campaign, tab))
    assert response.status_code == 302 and "/app/login/" in response["Location"]


def test_an_unknown_tab_is_not_found(login_as, people, campaign):
    assert login_as(people.client_user).get(detail_url(campaign, "secrets")).status_code == 404


def test_a_tab_link_swaps_only_the_tabs_for_htmx(login_as, people, campaign):
    response = login_as(people.client_user).get(
        detail_url(campaign, "conditions"), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="tab-area"
    )
    page = response.content.decode()
    assert "<html" not in page
    assert 'id="tab-area"' in page and "Booked" in page
    assert "HX-Request" in response["Vary"]


def test_the_tabs_summarise_and_link_to_the_full_lists(login_as, people, campaign):
    condition = campaign.conditions.get()
    recipient = factories.RecipientFactory(campaign=campaign, first_name="Ava", last_name="Kim")
    factories.CallSessionFactory(campaign=campaign, recipient=recipient)
    factories.RecipientGiftCardFactory(condition=condition, recipient=recipient)
    browser = login_as(people.client_user)
    page = browser.get(detail_url(campaign, "recipients")).content.decode()
    assert "Ava Kim" in page and f"/app/recipients/?campaign={campaign.pk}" in page
    page = browser.get(detail_url(campaign, "calls")).content.decode()
    assert "Ava Kim" in page and f"/app/calls/log/?campaign={campaign.pk}" in page
    page = browser.get(detail_url(campaign, "rewards")).content.decode()
    assert "Coffee" not in page and "Booked" in page
    assert f"/app/deliveries/?campaign={campaign.pk}" in page
    response = browser.get(detail_url(campaign, "approvals"))
    assert response.context["summary"]["waiting"] == 1
    assert f"/app/approvals/?campaign={campaign.pk}" in response.content.decode()


def test_the_tabs_cost_the_same_queries_with_many_rows(login_as, people, campaign):
    condition = campaign.conditions.get()
    browser = login_as(people.client_user)

    def add_rows(n):
        for _ in range(n):
            recipient = factories.RecipientFactory(campaign=campaign)
            factories.CallSessionFactory(campaign=campaign, recipient=recipient)
            factories.RecipientGiftCardFactory(condition=condition, recipient=recipient)

    for tab in ("recipients", "calls", "rewards"):
        assert_queries_do_not_grow(browser, detail_url(campaign, tab), add_rows, few=2, many=15)
