"""What issue "Mike for other systems" is done by, end to end: a client's admin makes a key in the
dashboard; their system, with that key, subscribes a webhook, pushes a recipient, marks the first
condition met and follows the statuses; the recipient's YES arrives from Twilio; their CRM's
signed event meets the second condition; and every step reaches the subscriber signed."""

import json
import time
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from calls.models import CallConditionMet
from campaigns.models import CampaignStatus, TriggerType
from crm.models import CrmProvider
from crm.services import create_integration
from giftcards.services import add_cards_to_pool, allocate_credit
from mike.accounts.models import ApiKey
from mike.core.signing import signature_header
from tests import factories
from tests.api.conftest import Api
from tests.dashboard.conftest import login_as, people, tenants  # noqa: F401  (fixtures)
from tests.dashboard.test_api_keys_page import RAW_KEY
from tests.webhooks.conftest import receiver  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db


def test_a_client_drives_a_campaign_from_its_own_systems(
    login_as,  # noqa: F811
    people,  # noqa: F811
    tenants,  # noqa: F811
    receiver,  # noqa: F811
    twilio_post,
    sms_outbox,
    django_capture_on_commit_callbacks,
):
    run = django_capture_on_commit_callbacks
    client = tenants.client_a
    client.auto_approve_recipients = True
    client.save(update_fields=["auto_approve_recipients"])
    allocate_credit(client, Decimal("100.00"))
    campaign = factories.CampaignFactory(
        client=client,
        audience=factories.AudienceFactory(client=client),
        status=CampaignStatus.MAILED,
    )
    first = factories.CampaignConditionFactory(
        campaign=campaign, condition_number=1, card_value=Decimal("10.00")
    )
    factories.CampaignConditionFactory(
        campaign=campaign,
        condition_number=2,
        trigger_type=TriggerType.CRM_WEBHOOK,
        crm_event_name="appointment_kept",
        brand=first.brand,
        card_value=Decimal("10.00"),
    )
    pool = factories.GiftCardPoolFactory(
        client=client, brand=first.brand, card_value=Decimal("10.00")
    )
    add_cards_to_pool(pool, ["INT-CARD-0001", "INT-CARD-0002"])
    factories.TrackedPhoneNumberFactory(campaign=campaign, phone_number="+18005550100")

    # 1. The key, made in the dashboard and shown once.
    browser = login_as(people.client_admin)
    made = browser.post(
        "/app/settings/api-keys/new/",
        {"organization": str(client.pk), "name": "Our CRM", "access": "write", "mode": "live"},
        follow=True,
    )
    (raw_key,) = set(RAW_KEY.findall(made.content.decode()))
    assert ApiKey.objects.get(organization=client).scopes == ["read", "write"]
    api = Api(raw_key)
    api.http = Client()  # the other system: no dashboard session

    # 2. A webhook subscription; its secret comes back once.
    hooked = api.post(
        "webhooks/",
        {
            "url": receiver.url,
            "events": [
                "recipient.created",
                "condition.met",
                "recipient.approved",
                "sms.opt_in",
                "gift_card.provisioned",
                "gift_card.delivered",
            ],
        },
        idempotency_key="sub-1",
    )
    assert hooked.status_code == 201, hooked.content
    receiver.secret = hooked.json()["secret"]

    # 3. A recipient pushed, the first condition met by request.
    with run(execute=True):
        pushed = api.post(
            f"audiences/{campaign.audience_id}/recipients/",
            {
                "recipients": [
                    {"external_id": "crm-42", "first_name": "Ida", "phone": "555-234-0042"}
                ]
            },
            idempotency_key="push-1",
        )
    assert pushed.json()["created"] == 1, pushed.content
    recipient_id = pushed.json()["results"][0]["id"]
    with run(execute=True):
        met = api.post(f"recipients/{recipient_id}/conditions/", {"condition_number": 1})
    assert met.status_code == 201
    assert api.get(f"recipients/{recipient_id}/").json()["approval_status"] == "approved"
    assert [m.to for m in sms_outbox] == ["+15552340042"]

    # 4. The recipient answers YES; the card is claimed and texted.
    with run(execute=True):
        twilio_post(
            reverse("twilio-sms"),
            {"MessageSid": "SMint1", "From": "+15552340042", "To": "+18005550100", "Body": "YES"},
        )
    status = api.get("recipients/lookup/", {"external_id": "crm-42"}).json()
    assert status["sms_opt_in_status"] == "opted_in"
    assert [r["status"] for r in status["rewards"]] == ["delivered"]

    # 5. The CRM's signed event meets the second condition, once.
    integration = create_integration(client=client, crm_provider=CrmProvider.ZAPIER)
    event = json.dumps(
        {"id": "evt-9", "event": "appointment_kept", "phone": "(555) 234-0042"}
    ).encode()
    crm = Client()
    for _ in range(2):  # the CRM delivers it twice
        with run(execute=True):
            answer = crm.post(
                reverse("crm-webhook", kwargs={"webhook_token": integration.webhook_token}),
                event,
                content_type="application/json",
                HTTP_X_MIKE_SIGNATURE=signature_header(
                    integration.webhook_secret, event, int(time.time())
                ),
            )
        assert answer.status_code == 200, answer.content
    assert sorted(
        CallConditionMet.objects.filter(recipient_id=recipient_id).values_list(
            "condition_number", flat=True
        )
    ) == [1, 2]
    status = api.get(f"recipients/{recipient_id}/").json()
    assert [r["status"] for r in status["rewards"]] == ["delivered", "delivered"]

    # 6. The subscriber heard every step, each signed with its secret.
    assert all(item.signature_ok for item in receiver.received)
    assert sorted(receiver.types) == sorted(
        ["recipient.created", "recipient.approved", "sms.opt_in"]
        + ["condition.met", "gift_card.provisioned", "gift_card.delivered"] * 2
    )
    created = next(item for item in receiver.received if item.type == "recipient.created")
    assert created.json["data"]["id"] == recipient_id
    assert created.headers["X-Mike-Event-Type"] == "recipient.created"
