"""A test recipient's sandbox card is given once, however many claims race for it."""

from decimal import Decimal

import pytest
from django.db import connection, transaction

from campaigns.models import CampaignStatus
from giftcards.models import GiftCardDelivery, RecipientGiftCard
from giftcards.services.sandbox import claim_sandbox_card
from recipients.models import ApprovalStatus, Recipient, SmsOptInStatus
from tests import factories
from tests.rewards.concurrency import another_backend_waits_for_a_lock, in_thread


@pytest.mark.django_db(transaction=True)
def test_two_racing_sandbox_claims_give_one_card_and_one_delivery():
    client = factories.ClientFactory()
    campaign = factories.CampaignFactory(client=client, status=CampaignStatus.MAILED)
    condition = factories.CampaignConditionFactory(
        campaign=campaign, condition_number=1, card_value=Decimal("25.00")
    )
    recipient = factories.RecipientFactory(
        audience=factories.AudienceFactory(client=client, is_test=True),
        campaign=campaign,
        is_test=True,
        approval_status=ApprovalStatus.APPROVED,
        sms_opt_in_status=SmsOptInStatus.OPTED_IN,
    )
    with transaction.atomic():
        # Hold the recipient's lock so both claims queue behind it, then let them go at once.
        Recipient.objects.select_for_update().get(pk=recipient.pk)
        runs = [
            in_thread(lambda: claim_sandbox_card(recipient=recipient, condition=condition))
            for _ in range(2)
        ]
        with connection.cursor() as cursor:
            assert another_backend_waits_for_a_lock(cursor)
    for run in runs:
        run.join()
        assert run.errors == []
    deliveries = [run.results[0][1] for run in runs]
    assert sum(delivery is not None for delivery in deliveries) == 1
    reward = RecipientGiftCard.objects.get(recipient=recipient)
    assert reward.is_sandbox and reward.sandbox_code.startswith("TEST-")
    assert GiftCardDelivery.objects.filter(reward=reward).count() == 1
