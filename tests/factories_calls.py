import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from calls.models import (
    CallConditionMet,
    CallDisposition,
    CallScript,
    CallSession,
    CallStatus,
    CallStep,
    ConditionMetSource,
    DispositionType,
    MatchStatus,
    StepName,
    StepOutcome,
    TrackedNumberStatus,
    TrackedPhoneNumber,
)

__all__ = [
    "CallConditionMetFactory",
    "CallDispositionFactory",
    "CallScriptFactory",
    "CallSessionFactory",
    "CallStepFactory",
    "TrackedPhoneNumberFactory",
]


def _client_of_campaign():
    """The campaign's client when there is a campaign, else a new client."""
    return factory.Maybe(
        "campaign",
        yes_declaration=factory.SelfAttribute("campaign.client"),
        no_declaration=factory.SubFactory("tests.factories.ClientFactory"),
    )


class TrackedPhoneNumberFactory(DjangoModelFactory):
    """A number assigned to a campaign of its client; `campaign=None` leaves it available."""

    class Meta:
        model = TrackedPhoneNumber

    campaign = factory.SubFactory("tests.factories.CampaignFactory")
    client = _client_of_campaign()
    phone_number = factory.Sequence(lambda n: f"+1800{n % 10_000_000:07d}")
    friendly_name = factory.Sequence(lambda n: f"Line {n}")
    twilio_sid = factory.Sequence(lambda n: f"PN{n:032x}")
    forward_to_number = "+18005550100"
    status = factory.LazyAttribute(
        lambda o: TrackedNumberStatus.ASSIGNED if o.campaign else TrackedNumberStatus.AVAILABLE
    )
    assigned_at = factory.LazyAttribute(lambda o: timezone.now() if o.campaign else None)


class CallSessionFactory(DjangoModelFactory):
    """A finished, matched call from a recipient of the campaign to its tracked number.
    `CallSessionFactory(recipient=None)` is an unmatched call."""

    class Meta:
        model = CallSession

    campaign = factory.SubFactory("tests.factories.CampaignFactory")
    client = _client_of_campaign()
    recipient = factory.SubFactory(
        "tests.factories.RecipientFactory", campaign=factory.SelfAttribute("..campaign")
    )
    tracked_number = factory.SubFactory(
        TrackedPhoneNumberFactory, campaign=factory.SelfAttribute("..campaign")
    )
    caller_phone = factory.LazyAttribute(
        lambda o: o.recipient.phone if o.recipient else "+15559990000"
    )
    twilio_call_sid = factory.Sequence(lambda n: f"CA{n:032x}")
    call_status = CallStatus.COMPLETED
    match_status = factory.LazyAttribute(
        lambda o: MatchStatus.MATCHED if o.recipient else MatchStatus.UNMATCHED
    )
    forward_to_number = factory.LazyAttribute(
        lambda o: o.tracked_number.forward_to_number if o.tracked_number else ""
    )
    call_started_at = factory.LazyFunction(timezone.now)
    call_duration_seconds = 95


class CallConditionMetFactory(DjangoModelFactory):
    """Condition met by a recipient of the condition's campaign."""

    class Meta:
        model = CallConditionMet

    condition = factory.SubFactory("tests.factories.CampaignConditionFactory")
    campaign = factory.SelfAttribute("condition.campaign")
    condition_number = factory.SelfAttribute("condition.condition_number")
    recipient = factory.SubFactory(
        "tests.factories.RecipientFactory", campaign=factory.SelfAttribute("..campaign")
    )
    call_session = None
    source = ConditionMetSource.AGENT
    met_at = factory.LazyFunction(timezone.now)


class CallDispositionFactory(DjangoModelFactory):
    class Meta:
        model = CallDisposition

    call_session = factory.SubFactory(CallSessionFactory)
    recipient = factory.SelfAttribute("call_session.recipient")
    agent = factory.SubFactory("tests.factories.UserFactory")
    disposition_type = DispositionType.INTERESTED
    notes = "Booked an appointment."


class CallScriptFactory(DjangoModelFactory):
    """A campaign's own script; `campaign=None` (with a client) is the client's script."""

    class Meta:
        model = CallScript

    campaign = factory.SubFactory("tests.factories.CampaignFactory")
    client = _client_of_campaign()
    sections = factory.LazyFunction(
        lambda: {"greeting": "Thanks for calling.", "closing": "Your card comes by text."}
    )


class CallStepFactory(DjangoModelFactory):
    class Meta:
        model = CallStep

    call_session = factory.SubFactory(CallSessionFactory)
    step = StepName.OPENED
    outcome = StepOutcome.SUCCEEDED
    agent = factory.SubFactory("tests.factories.UserFactory")
