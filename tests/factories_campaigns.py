import datetime
from decimal import Decimal

import factory
from factory.django import DjangoModelFactory

from campaigns.models import (
    AceFieldType,
    AceForm,
    AceFormField,
    AceFormSubmission,
    Campaign,
    CampaignCondition,
    CampaignStatus,
    DailyCount,
    DailyCountCoverage,
    Event,
    EventSource,
    EventType,
    LandingPage,
    MailSize,
    MailTemplate,
    TriggerType,
)

__all__ = [
    "AceFormFactory",
    "AceFormFieldFactory",
    "AceFormSubmissionFactory",
    "CampaignConditionFactory",
    "CampaignFactory",
    "DailyCountCoverageFactory",
    "DailyCountFactory",
    "EventFactory",
    "LandingPageFactory",
    "MailTemplateFactory",
]


class MailTemplateFactory(DjangoModelFactory):
    class Meta:
        model = MailTemplate

    client = factory.SubFactory("tests.factories.ClientFactory")
    name = factory.Sequence(lambda n: f"Template {n}")
    size = MailSize.SIZE_4X6


class LandingPageFactory(DjangoModelFactory):
    class Meta:
        model = LandingPage

    client = factory.SubFactory("tests.factories.ClientFactory")
    campaign = None
    name = factory.Sequence(lambda n: f"Landing page {n}")
    slug = factory.Sequence(lambda n: f"page-{n}")
    published = True
    meta_title = factory.SelfAttribute("name")


class CampaignFactory(DjangoModelFactory):
    class Meta:
        model = Campaign

    client = factory.SubFactory("tests.factories.ClientFactory")
    audience = factory.SubFactory(
        "tests.factories.AudienceFactory", client=factory.SelfAttribute("..client")
    )
    name = factory.Sequence(lambda n: f"Campaign {n}")
    # Mailed: a campaign whose recipients call, text and earn (the state most tests are about);
    # a test of the steps before says draft.
    status = CampaignStatus.MAILED


class CampaignConditionFactory(DjangoModelFactory):
    """Condition 1 by default; pass `condition_number` for the next steps of the same campaign."""

    class Meta:
        model = CampaignCondition

    campaign = factory.SubFactory(CampaignFactory)
    condition_number = 1
    condition_name = factory.LazyAttribute(lambda o: f"Condition {o.condition_number}")
    trigger_type = TriggerType.MANUAL_AGENT
    brand = factory.SubFactory("tests.factories.GiftCardBrandFactory")
    card_value = Decimal("25.00")


class AceFormFactory(DjangoModelFactory):
    class Meta:
        model = AceForm

    client = factory.SubFactory("tests.factories.ClientFactory")
    campaign = None
    name = factory.Sequence(lambda n: f"Form {n}")
    slug = factory.Sequence(lambda n: f"form-{n}")
    is_active = True
    is_draft = False


class AceFormFieldFactory(DjangoModelFactory):
    class Meta:
        model = AceFormField

    form = factory.SubFactory(AceFormFactory)
    name = factory.Sequence(lambda n: f"field_{n}")
    label = factory.Sequence(lambda n: f"Field {n}")
    field_type = AceFieldType.TEXT
    position = factory.Sequence(lambda n: n)


class AceFormSubmissionFactory(DjangoModelFactory):
    class Meta:
        model = AceFormSubmission

    form = factory.SubFactory(AceFormFactory)
    recipient = None
    submission_data = factory.LazyFunction(lambda: {"first_name": "Pat"})
    ip_address = "203.0.113.7"
    user_agent = "Mozilla/5.0 (test)"


class EventFactory(DjangoModelFactory):
    """An event of a campaign, with the campaign's client (a new client with `campaign=None`)."""

    class Meta:
        model = Event

    campaign = factory.SubFactory(CampaignFactory)
    client = factory.Maybe(
        "campaign",
        yes_declaration=factory.SelfAttribute("campaign.client"),
        no_declaration=factory.SubFactory("tests.factories.ClientFactory"),
    )
    recipient = None
    event_type = EventType.MAILED
    source = EventSource.SYSTEM


class DailyCountFactory(DjangoModelFactory):
    """A day's count of one event type for a campaign (each of a new campaign, so unique)."""

    class Meta:
        model = DailyCount

    campaign = factory.SubFactory(CampaignFactory)
    client = factory.SelfAttribute("campaign.client")
    day = factory.LazyFunction(lambda: datetime.date.today() - datetime.timedelta(days=2))
    metric = EventType.CALLED
    count = 3
    amount = Decimal("0.00")


class DailyCountCoverageFactory(DjangoModelFactory):
    class Meta:
        model = DailyCountCoverage

    client = factory.SubFactory("tests.factories.ClientFactory")
    through_day = factory.LazyFunction(lambda: datetime.date.today() - datetime.timedelta(days=1))
