import factory
from factory.django import DjangoModelFactory

from crm.models import (
    Contact,
    ContactCampaignParticipation,
    ContactList,
    ContactListMember,
    CrmEvent,
    CrmIntegration,
    CrmProvider,
    LifecycleStage,
    ListType,
    ParticipationStatus,
)

__all__ = [
    "ContactCampaignParticipationFactory",
    "ContactFactory",
    "ContactListFactory",
    "ContactListMemberFactory",
    "CrmEventFactory",
    "CrmIntegrationFactory",
]


class ContactFactory(DjangoModelFactory):
    class Meta:
        model = Contact

    client = factory.SubFactory("tests.factories.ClientFactory")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.Sequence(lambda n: f"contact{n}@example.com")
    phone = factory.Sequence(lambda n: f"+1555{n % 10_000_000:07d}")
    customer_code = factory.Sequence(lambda n: f"C{n:06d}")
    lifecycle_stage = LifecycleStage.LEAD


class ContactListFactory(DjangoModelFactory):
    class Meta:
        model = ContactList

    client = factory.SubFactory("tests.factories.ClientFactory")
    name = factory.Sequence(lambda n: f"List {n}")
    list_type = ListType.STATIC


class ContactListMemberFactory(DjangoModelFactory):
    """A contact of the list's client on the list."""

    class Meta:
        model = ContactListMember

    contact_list = factory.SubFactory(ContactListFactory)
    contact = factory.SubFactory(
        ContactFactory, client=factory.SelfAttribute("..contact_list.client")
    )


class ContactCampaignParticipationFactory(DjangoModelFactory):
    class Meta:
        model = ContactCampaignParticipation

    campaign = factory.SubFactory("tests.factories.CampaignFactory")
    contact = factory.SubFactory(ContactFactory, client=factory.SelfAttribute("..campaign.client"))
    recipient = None
    participation_status = ParticipationStatus.MAILED


class CrmIntegrationFactory(DjangoModelFactory):
    class Meta:
        model = CrmIntegration

    client = factory.SubFactory("tests.factories.ClientFactory")
    name = factory.Sequence(lambda n: f"CRM {n}")
    crm_provider = CrmProvider.HUBSPOT
    field_mappings = factory.LazyFunction(lambda: {"phone": "phone", "email": "email"})


class CrmEventFactory(DjangoModelFactory):
    class Meta:
        model = CrmEvent

    integration = factory.SubFactory(CrmIntegrationFactory)
    external_id = factory.Sequence(lambda n: f"evt_{n}")
    event_type = "appointment_booked"
    raw_payload = factory.LazyAttribute(lambda o: {"id": o.external_id, "event": o.event_type})
