"""Model-level rules of campaigns' pages and forms, as the admin and full_clean() apply them."""

import pytest
from django.core.exceptions import ValidationError

from tests import factories


@pytest.mark.django_db
@pytest.mark.parametrize("factory", ["LandingPageFactory", "AceFormFactory"])
def test_a_page_or_form_cannot_point_to_another_clients_campaign(factory):
    made = getattr(factories, factory)()
    made.campaign = factories.CampaignFactory()  # another client's
    with pytest.raises(ValidationError) as refused:
        made.full_clean()
    assert refused.value.message_dict["campaign"] == ["Choose a campaign of this client."]

    made.campaign = factories.CampaignFactory(client=made.client)
    made.full_clean()  # its own client's: fine
    made.campaign = None
    made.full_clean()
