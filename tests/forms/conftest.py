import pytest

from campaigns.models import AceFieldType, CampaignStatus, TriggerType
from tests import factories


@pytest.fixture(autouse=True)
def _no_fill_wait(settings):
    settings.FORM_MIN_FILL_SECONDS = 0
    settings.FORM_SUBMIT_RATE = "100/m"


@pytest.fixture
def campaign(db):
    return factories.CampaignFactory(status=CampaignStatus.MAILED)


@pytest.fixture
def ace_form(campaign):
    form = factories.AceFormFactory(
        client=campaign.client, campaign=campaign, slug="book-now", reveal_reward=True
    )
    factories.AceFormFieldFactory(
        form=form, name="first_name", label="First name", required=True, position=0
    )
    factories.AceFormFieldFactory(
        form=form,
        name="email",
        label="Email",
        field_type=AceFieldType.EMAIL,
        required=True,
        position=1,
    )
    factories.AceFormFieldFactory(
        form=form, name="phone", label="Phone", field_type=AceFieldType.PHONE, position=2
    )
    factories.AceFormFieldFactory(
        form=form,
        name="code",
        label="Your code",
        field_type=AceFieldType.REDEMPTION_CODE,
        position=3,
    )
    return form


@pytest.fixture
def condition(ace_form, campaign):
    return factories.CampaignConditionFactory(
        campaign=campaign, trigger_type=TriggerType.FORM_SUBMITTED, form=ace_form
    )


@pytest.fixture
def recipient(campaign):
    return factories.RecipientFactory(campaign=campaign, audience=campaign.audience)
