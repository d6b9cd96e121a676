import pytest

from campaigns.models import TriggerType
from mike.landing.services import create_landing_page, set_published
from tests import factories


@pytest.fixture
def offer_page(db):
    """A published page of a campaign with two conditions, a tracked number and a recipient."""
    campaign = factories.CampaignFactory(client__name="Summit Roofing")
    brand = factories.GiftCardBrandFactory(brand_name="Acme Coffee")
    factories.CampaignConditionFactory(
        campaign=campaign,
        condition_name="Call us for a minute",
        trigger_type=TriggerType.CALL_COMPLETED,
        min_call_duration_seconds=60,
        brand=brand,
        card_value="25.00",
    )
    factories.CampaignConditionFactory(
        campaign=campaign,
        condition_number=2,
        condition_name="Book an inspection",
        brand=brand,
        card_value="50.00",
    )
    factories.TrackedPhoneNumberFactory(campaign=campaign, phone_number="+18005550101")
    page = create_landing_page(
        client=campaign.client, campaign=campaign, name="Offer", slug="summit-offer", by=None
    )
    page = set_published(page=page, published=True)
    recipient = factories.RecipientFactory(campaign=campaign, first_name="Zoë")
    return page, recipient
