"""A campaign's audience becomes its recipients' campaign once its mail is out, so imported codes
can meet its conditions: those already in the audience when it goes out, and those imported or
pushed while it is out. Recipients on another campaign keep theirs."""

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from campaigns.models import Campaign, CampaignStatus
from campaigns.services import TransitionRefused
from mike.rewards.campaigns import change_campaign_status
from mike.rewards.conditions import mark_condition_met_by_api
from recipients.models import Recipient
from recipients.services.imports import import_recipients
from tests.api.conftest import api_for
from tests.factories import (
    AudienceFactory,
    CampaignConditionFactory,
    CampaignFactory,
    RecipientFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

FILE = "first_name,phone\r\nAnn,555-201-0001\r\nBob,555-201-0002\r\n"


def _campaign(status=CampaignStatus.PROOFED, audience=None):
    audience = audience or AudienceFactory()
    campaign = CampaignFactory(
        client=audience.client,
        audience=audience,
        status=status,
        mail_date=datetime.date(2027, 1, 4),
    )
    CampaignConditionFactory(campaign=campaign, card_value=Decimal("10.00"))
    return campaign


def _import(tmp_path, audience, text=FILE):
    path = tmp_path / "people.csv"
    path.write_text(text)
    return import_recipients(audience=audience, source=path)


def test_going_into_production_gives_the_audiences_recipients_the_campaign(tmp_path):
    campaign = _campaign()
    _import(tmp_path, campaign.audience)
    elsewhere = RecipientFactory(audience=campaign.audience)
    other = _campaign(status=CampaignStatus.MAILED, audience=campaign.audience)
    Recipient.objects.filter(pk=elsewhere.pk).update(campaign=other)
    assert Recipient.objects.filter(audience=campaign.audience, campaign=None).count() == 2

    change_campaign_status(campaign=campaign, to=CampaignStatus.IN_PRODUCTION, by=None)

    assert Recipient.objects.filter(campaign=campaign).count() == 2
    elsewhere.refresh_from_db()
    assert elsewhere.campaign == other


def test_a_refused_status_change_adopts_nothing(tmp_path):
    campaign = _campaign(status=CampaignStatus.DRAFT)
    _import(tmp_path, campaign.audience)
    with pytest.raises(TransitionRefused):
        change_campaign_status(campaign=campaign, to=CampaignStatus.MAILED, by=None)
    assert not Recipient.objects.filter(campaign=campaign).exists()


def test_recipients_imported_while_the_campaign_is_mailed_are_its_own(tmp_path):
    campaign = _campaign(status=CampaignStatus.MAILED)
    report = _import(tmp_path, campaign.audience)
    assert report.imported == 2
    assert Recipient.objects.filter(campaign=campaign).count() == 2


def test_an_audience_two_campaigns_mail_at_once_leaves_the_choice_to_the_caller(tmp_path):
    campaign = _campaign(status=CampaignStatus.MAILED)
    _campaign(status=CampaignStatus.MAILED, audience=campaign.audience)
    _import(tmp_path, campaign.audience)
    assert Recipient.objects.filter(audience=campaign.audience, campaign=None).count() == 2


def test_an_imported_recipient_meets_a_condition_once_the_campaign_is_out(tmp_path):
    campaign = _campaign()
    _import(tmp_path, campaign.audience)
    recipient = Recipient.objects.get(audience=campaign.audience, first_name="Ann")
    change_campaign_status(campaign=campaign, to=CampaignStatus.IN_PRODUCTION, by=None)
    recipient.refresh_from_db()
    met, created = mark_condition_met_by_api(recipient=recipient, condition_number=1)
    assert created and met.campaign_id == campaign.pk


def test_a_push_into_a_mailed_audience_joins_its_mailing_campaign():
    campaign = _campaign(status=CampaignStatus.MAILED)
    _campaign(status=CampaignStatus.COMPLETED, audience=campaign.audience)
    api = api_for(campaign.client)
    response = api.post(
        f"audiences/{campaign.audience.pk}/recipients/",
        {"recipients": [{"external_id": "c-1", "phone": "5552010101"}]},
    )
    assert response.status_code == 200, response.content
    assert Recipient.objects.get(custom_fields__external_id="c-1").campaign == campaign


def test_the_admin_changes_status_only_through_its_action(client, tmp_path):
    staff = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(staff)
    campaign = _campaign()
    _import(tmp_path, campaign.audience)
    change_url = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
    page = client.get(change_url)
    assert page.status_code == 200
    assert 'name="status"' not in page.content.decode()

    changelist = reverse("admin:campaigns_campaign_changelist")
    asked = client.post(changelist, {"action": "change_status", "_selected_action": [campaign.pk]})
    assert "admin/action_form.html" in [t.name for t in asked.templates]
    done = client.post(
        changelist,
        {
            "action": "change_status",
            "_selected_action": [campaign.pk],
            "to": CampaignStatus.IN_PRODUCTION,
            "apply": "1",
        },
    )
    assert done.status_code == 302
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.IN_PRODUCTION
    assert Recipient.objects.filter(campaign=campaign).count() == 2

    refused = client.post(
        changelist,
        {
            "action": "change_status",
            "_selected_action": [campaign.pk],
            "to": CampaignStatus.DRAFT,
            "apply": "1",
        },
        follow=True,
    )
    assert "cannot be" in refused.content.decode()
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.IN_PRODUCTION
