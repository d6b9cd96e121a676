"""The database itself makes double rewards impossible and holds statuses to their allowed values."""

import pytest
from django.db import IntegrityError, transaction

from calls.models import CallConditionMet
from giftcards.models import RecipientGiftCard
from tests import factories


def refused(create):
    with pytest.raises(IntegrityError), transaction.atomic():
        create()


@pytest.mark.django_db
def test_one_reward_per_recipient_and_condition():
    reward = factories.RecipientGiftCardFactory()
    refused(
        lambda: RecipientGiftCard.objects.create(
            recipient=reward.recipient,
            campaign=reward.campaign,
            condition=reward.condition,
            brand=reward.brand,
            card_value=reward.card_value,
        )
    )


@pytest.mark.django_db
def test_one_condition_met_per_recipient_and_condition():
    met = factories.CallConditionMetFactory()
    refused(
        lambda: CallConditionMet.objects.create(
            recipient=met.recipient,
            campaign=met.campaign,
            condition=met.condition,
            condition_number=met.condition_number,
            met_at=met.met_at,
        )
    )


@pytest.mark.django_db
def test_a_card_backs_at_most_one_reward():
    card = factories.GiftCardFactory()
    first = factories.RecipientGiftCardFactory()
    second = factories.RecipientGiftCardFactory()
    RecipientGiftCard.objects.filter(pk=first.pk).update(gift_card=card)
    refused(lambda: RecipientGiftCard.objects.filter(pk=second.pk).update(gift_card=card))


@pytest.mark.django_db
def test_a_claimed_reward_must_have_its_card():
    reward = factories.RecipientGiftCardFactory()
    refused(lambda: RecipientGiftCard.objects.filter(pk=reward.pk).update(status="claimed"))


@pytest.mark.django_db
def test_statuses_outside_the_allowed_values_are_refused():
    recipient = factories.RecipientFactory()
    call = factories.CallSessionFactory()
    card = factories.GiftCardFactory()
    refused(lambda: type(recipient).objects.filter(pk=recipient.pk).update(approval_status="maybe"))
    refused(lambda: type(call).objects.filter(pk=call.pk).update(call_status="exploded"))
    refused(lambda: type(card).objects.filter(pk=card.pk).update(status="lost"))


@pytest.mark.django_db
def test_a_card_code_is_stored_once_across_pools():
    factories.GiftCardFactory(code="SAME-CODE-1")
    refused(lambda: factories.GiftCardFactory(code="same-code-1"))


@pytest.mark.django_db
def test_a_twilio_call_is_one_session():
    call = factories.CallSessionFactory()
    refused(lambda: factories.CallSessionFactory(twilio_call_sid=call.twilio_call_sid))
