import factory
from factory.django import DjangoModelFactory

from mike.core.sms import SmsProvider
from recipients.codes import generate_recipient_token, generate_redemption_code
from recipients.models import (
    ApprovalStatus,
    Audience,
    AudienceSource,
    AudienceStatus,
    Recipient,
    RecipientAuditAction,
    RecipientAuditLog,
    SmsDirection,
    SmsOptInLog,
    SmsStatus,
    SmsSuppression,
)

__all__ = [
    "AudienceFactory",
    "SmsSuppressionFactory",
    "RecipientAuditLogFactory",
    "RecipientFactory",
    "SmsOptInLogFactory",
]


class AudienceFactory(DjangoModelFactory):
    class Meta:
        model = Audience

    client = factory.SubFactory("tests.factories.ClientFactory")
    name = factory.Sequence(lambda n: f"Audience {n}")
    source = AudienceSource.IMPORT
    status = AudienceStatus.READY


def _audience_of_campaign(recipient):
    """A recipient mailed by a campaign belongs to that campaign's audience (or a new audience of
    the campaign's client when the campaign has none)."""
    campaign = recipient.campaign
    return campaign.audience or AudienceFactory(client=campaign.client)


class RecipientFactory(DjangoModelFactory):
    """A recipient of a new audience; `RecipientFactory(campaign=c)` joins c's audience."""

    class Meta:
        model = Recipient
        # The with_reward hook saves what it changes itself.
        skip_postgeneration_save = True

    campaign = None
    audience = factory.Maybe(
        "campaign",
        yes_declaration=factory.LazyAttribute(_audience_of_campaign),
        no_declaration=factory.SubFactory(AudienceFactory),
    )
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    address1 = factory.Faker("street_address")
    city = factory.Faker("city")
    state = factory.Faker("state_abbr")
    zip = factory.Faker("zipcode")
    email = factory.Sequence(lambda n: f"recipient{n}@example.com")
    phone = factory.Sequence(lambda n: f"+1555{n % 10_000_000:07d}")
    token = factory.LazyFunction(generate_recipient_token)
    redemption_code = factory.LazyFunction(generate_redemption_code)
    approval_status = ApprovalStatus.PENDING

    @factory.post_generation
    def with_reward(self, create, extracted, **kwargs):
        """`RecipientFactory(with_reward=True)`: the recipient met a condition of their campaign
        (made for them if they have none) and its reward waits, pending, as after
        mike.rewards.conditions.mark_condition_met."""
        if not (create and extracted):
            return
        from tests.factories import (
            CampaignConditionFactory,
            CampaignFactory,
            RecipientGiftCardFactory,
        )

        if self.campaign is None:
            self.campaign = CampaignFactory(client=self.audience.client, audience=self.audience)
            type(self).objects.filter(pk=self.pk).update(campaign=self.campaign)
        taken = self.campaign.conditions.values_list("condition_number", flat=True)
        condition = CampaignConditionFactory(
            campaign=self.campaign, condition_number=max(taken, default=0) + 1, **kwargs
        )
        RecipientGiftCardFactory(recipient=self, condition=condition)


class RecipientAuditLogFactory(DjangoModelFactory):
    class Meta:
        model = RecipientAuditLog

    recipient = factory.SubFactory(RecipientFactory)
    action = RecipientAuditAction.UPLOADED
    metadata = factory.LazyFunction(dict)


class SmsOptInLogFactory(DjangoModelFactory):
    class Meta:
        model = SmsOptInLog

    recipient = factory.SubFactory(RecipientFactory)
    campaign = factory.SelfAttribute("recipient.campaign")
    phone = factory.LazyAttribute(lambda o: o.recipient.phone or "+15550000000")
    message_sid = factory.Sequence(lambda n: f"SM{n:032x}")
    direction = SmsDirection.OUTBOUND
    message_text = "Reply YES to receive your reward, STOP to opt out, HELP for help."
    status = SmsStatus.SENT
    provider_used = SmsProvider.TWILIO


class SmsSuppressionFactory(DjangoModelFactory):
    class Meta:
        model = SmsSuppression

    client = factory.SubFactory("tests.factories.ClientFactory")
    phone_hash = factory.Sequence(lambda n: f"{n:064x}")
