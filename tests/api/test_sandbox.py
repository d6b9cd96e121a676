"""The sandbox: a test key drives the same API and the same pipeline, and nothing it does reaches
stock, credit, Tillo, Twilio or email."""

from decimal import Decimal

import pytest
from django.core import mail
from django.urls import reverse

from campaigns.models import CampaignStatus
from giftcards.models import (
    CreditTransaction,
    DeliveryStatus,
    GiftCard,
    GiftCardDelivery,
    GiftCardPool,
    GiftCardSale,
    GiftCardStatus,
    PurchaseMethod,
    RecipientGiftCard,
    RewardStatus,
)
from giftcards.services import add_cards_to_pool, allocate_credit, claim_card_atomic
from giftcards.services.email import send_card_email
from giftcards.services.purchase import purchase_for_reward
from giftcards.services.sandbox import RefusedForTestData
from mike.core.sms import SmsProvider
from mike.rewards import sweeps
from mike.rewards.delivery import retry_delivery
from mike.rewards.inbound import simulate_reply
from recipients.models import ApprovalStatus, SmsOptInLog, SmsOptInStatus
from tests import factories
from tests.api.conftest import api_for
from tests.webhooks.conftest import receiver  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    """A client that approves automatically, with credit and a pool that would buy from Tillo
    when empty (`fallback`): every live side effect is within reach of a reward."""
    client = factories.ClientFactory(auto_approve_recipients=True)
    allocate_credit(client, Decimal("100.00"))
    campaign = factories.CampaignFactory(client=client, status=CampaignStatus.MAILED)
    condition = factories.CampaignConditionFactory(
        campaign=campaign, condition_number=1, card_value=Decimal("25.00")
    )
    pool = factories.GiftCardPoolFactory(
        client=client,
        brand=condition.brand,
        card_value=Decimal("25.00"),
        purchase_method=PurchaseMethod.FALLBACK,
    )
    add_cards_to_pool(pool, ["LIVE-CARD-0001"])
    factories.TrackedPhoneNumberFactory(campaign=campaign, phone_number="+18005550100")
    test_audience = factories.AudienceFactory(client=client, is_test=True)
    campaign.audience = test_audience
    campaign.save(update_fields=["audience"])
    return {
        "client": client,
        "campaign": campaign,
        "condition": condition,
        "pool": pool,
        "audience": test_audience,
        "test_api": api_for(client, is_test=True),
        "live_api": api_for(client),
    }


def stock_snapshot(pool):
    pool = GiftCardPool.objects.get(pk=pool.pk)
    return {
        "counters": (
            pool.total_cards,
            pool.available_cards,
            pool.claimed_cards,
            pool.delivered_cards,
        ),
        "cards": sorted(GiftCard.objects.values_list("code_last4", "status")),
        "ledger": list(CreditTransaction.objects.order_by("pk").values_list("pk", flat=True)),
        "sales": GiftCardSale.objects.count(),
    }


def push_test_recipient(world, **row):
    row = {"external_id": "t-1", "first_name": "Tess", "phone": "555-234-0099", **row}
    pushed = world["test_api"].post(
        f"audiences/{world['audience'].pk}/recipients/", {"recipients": [row]}
    )
    assert pushed.status_code == 200, pushed.content
    return pushed.json()["results"][0]["id"]


def test_full_sandbox_flow_never_touches_stock_twilio_or_tillo(
    world, twilio_server, tillo, django_capture_on_commit_callbacks
):
    api, before = world["test_api"], stock_snapshot(world["pool"])
    run = django_capture_on_commit_callbacks
    recipient_id = push_test_recipient(world, email="tess@example.com")

    with run(execute=True):
        met = api.post(f"recipients/{recipient_id}/conditions/", {"condition_number": 1})
    assert met.status_code == 201
    status = api.get(f"recipients/{recipient_id}/").json()
    assert status["is_test"] is True
    assert status["approval_status"] == "approved" and status["sms_opt_in_status"] == "pending"
    question = SmsOptInLog.objects.get(recipient_id=recipient_id, direction="outbound")
    assert question.provider_used == SmsProvider.SANDBOX and question.message_sid.startswith("SB")
    assert "YES" in question.message_text

    with run(execute=True):
        replied = api.post(
            f"recipients/{recipient_id}/simulate-reply/", {"body": "yes"}, idempotency_key="r-1"
        )
    assert replied.status_code == 200, replied.content
    answer = replied.json()
    assert answer["recipient"]["sms_opt_in_status"] == "opted_in"
    assert "on its way" in answer["reply"]

    status = api.get(f"recipients/{recipient_id}/").json()
    (reward,) = status["rewards"]
    assert reward["status"] == "delivered" and reward["is_sandbox"] is True
    assert reward["delivery_status"] == "delivered"
    assert reward["card_code"].startswith("TEST-") and len(reward["card_code"]) == 14
    assert reward["brand"] == world["condition"].brand.brand_name
    assert reward["card_value"] == "25.00"
    (delivery,) = api.get("deliveries/", {"recipient": recipient_id}).json()["results"]
    assert delivery["status"] == "delivered" and delivery["is_sandbox"] is True
    assert delivery["sms_status"] == "delivered (test)"
    assert reward["card_code"] in delivery["message"]

    # Nothing real moved: no card, counter, ledger row or sale; Twilio, Tillo and email got nothing.
    assert stock_snapshot(world["pool"]) == before
    assert twilio_server.messages == [] and tillo.requests == 0 and mail.outbox == []
    replies = SmsOptInLog.objects.filter(recipient_id=recipient_id)
    assert set(replies.values_list("provider_used", flat=True)) == {SmsProvider.SANDBOX}

    # A repeat of the same request is the first answer, not a second reply.
    again = api.post(
        f"recipients/{recipient_id}/simulate-reply/", {"body": "yes"}, idempotency_key="r-1"
    )
    assert again.status_code == 200 and again["Idempotent-Replayed"] == "true"
    assert replies.filter(direction="inbound").count() == 1


def test_live_key_flow_still_delivers_for_real(
    world, twilio_server, django_capture_on_commit_callbacks
):
    campaign = world["campaign"]
    live_audience = factories.AudienceFactory(client=world["client"])
    campaign.audience = live_audience
    campaign.save(update_fields=["audience"])
    api, run = world["live_api"], django_capture_on_commit_callbacks
    pushed = api.post(
        f"audiences/{live_audience.pk}/recipients/",
        {"recipients": [{"external_id": "l-1", "phone": "555-234-0011"}]},
    ).json()
    recipient_id = pushed["results"][0]["id"]
    with run(execute=True):
        api.post(f"recipients/{recipient_id}/conditions/", {"condition_number": 1})
    assert [m["to"] for m in twilio_server.messages] == ["+15552340011"]
    refused = api.post(f"recipients/{recipient_id}/simulate-reply/", {"body": "YES"})
    assert refused.status_code == 403
    assert "test key" in refused.json()["error"]["message"]
    reward = RecipientGiftCard.objects.get(recipient_id=recipient_id)
    assert reward.status == RewardStatus.PENDING and not reward.is_sandbox


def test_simulate_reply_tenancy(world):
    recipient_id = push_test_recipient(world)
    other = api_for(factories.ClientFactory(), is_test=True)
    assert (
        other.post(f"recipients/{recipient_id}/simulate-reply/", {"body": "YES"}).status_code == 404
    )
    # A live recipient is not the test key's to answer for: the same 404.
    live = factories.RecipientFactory(
        audience=factories.AudienceFactory(client=world["client"]), campaign=world["campaign"]
    )
    answer = world["test_api"].post(f"recipients/{live.pk}/simulate-reply/", {"body": "YES"})
    assert answer.status_code == 404
    bad = world["test_api"].post(f"recipients/{recipient_id}/simulate-reply/", {"body": ""})
    assert bad.status_code == 400 and "body" in bad.json()["error"]["fields"]


def test_simulated_stop_opts_out_only_the_test_recipient(world):
    recipient_id = push_test_recipient(world, phone="555-234-0042")
    live = factories.RecipientFactory(
        audience=factories.AudienceFactory(client=world["client"]),
        campaign=world["campaign"],
        phone="+15552340042",
        approval_status=ApprovalStatus.APPROVED,
        sms_opt_in_status=SmsOptInStatus.PENDING,
    )
    answer = world["test_api"].post(f"recipients/{recipient_id}/simulate-reply/", {"body": "STOP"})
    assert answer.status_code == 200
    assert answer.json()["reply"] == ""
    assert answer.json()["recipient"]["sms_opt_in_status"] == "opted_out"
    live.refresh_from_db()
    assert live.sms_opt_in_status == SmsOptInStatus.PENDING


def test_a_real_text_from_the_number_does_not_move_test_data(world, twilio_post):
    test = factories.RecipientFactory(
        audience=world["audience"],
        campaign=world["campaign"],
        is_test=True,
        phone="+15552340077",
        approval_status=ApprovalStatus.APPROVED,
        sms_opt_in_status=SmsOptInStatus.PENDING,
    )
    twilio_post(
        reverse("twilio-sms"),
        {"MessageSid": "SMreal1", "From": "+15552340077", "To": "+18005550100", "Body": "YES"},
    )
    test.refresh_from_db()
    assert test.sms_opt_in_status == SmsOptInStatus.PENDING


def test_live_services_refuse_test_recipients(world, tillo):
    test = factories.RecipientFactory(
        audience=world["audience"],
        campaign=world["campaign"],
        is_test=True,
        approval_status=ApprovalStatus.APPROVED,
        sms_opt_in_status=SmsOptInStatus.OPTED_IN,
    )
    before = stock_snapshot(world["pool"])
    with pytest.raises(RefusedForTestData):
        claim_card_atomic(recipient=test, condition=world["condition"])
    reward = RecipientGiftCard.objects.create(
        recipient=test,
        condition=world["condition"],
        campaign=world["campaign"],
        brand=world["condition"].brand,
        card_value=Decimal("25.00"),
    )
    with pytest.raises(RefusedForTestData):
        purchase_for_reward(reward=reward, pool=world["pool"])
    with pytest.raises(ValueError):
        simulate_reply(recipient=factories.RecipientFactory(audience=world["audience"]), body="YES")
    assert stock_snapshot(world["pool"]) == before and tillo.requests == 0
    reward.refresh_from_db()
    assert reward.status == RewardStatus.PENDING and reward.provider_request_id is None


def _ready_test_reward(world):
    test = factories.RecipientFactory(
        audience=world["audience"],
        campaign=world["campaign"],
        is_test=True,
        email="t@example.com",
        approval_status=ApprovalStatus.APPROVED,
        sms_opt_in_status=SmsOptInStatus.OPTED_IN,
    )
    from django.utils import timezone

    test.sms_opt_in_response_at = timezone.now()
    test.save(update_fields=["sms_opt_in_response_at"])
    return RecipientGiftCard.objects.create(
        recipient=test,
        condition=world["condition"],
        campaign=world["campaign"],
        brand=world["condition"].brand,
        card_value=Decimal("25.00"),
    )


def test_sweep_claims_test_rewards_in_the_sandbox(
    world, twilio_server, tillo, django_capture_on_commit_callbacks
):
    reward = _ready_test_reward(world)
    before = stock_snapshot(world["pool"])
    with django_capture_on_commit_callbacks(execute=True):
        sweeps.claim_ready_rewards(None, None)
    reward.refresh_from_db()
    assert reward.is_sandbox and reward.status == RewardStatus.DELIVERED
    assert reward.gift_card_id is None and reward.sandbox_code.startswith("TEST-")
    delivery = GiftCardDelivery.objects.get(reward=reward)
    assert delivery.is_sandbox and delivery.status == DeliveryStatus.DELIVERED
    assert stock_snapshot(world["pool"]) == before
    assert twilio_server.messages == [] and tillo.requests == 0 and mail.outbox == []


def test_swept_and_retried_sandbox_deliveries_are_delivered_without_sending(
    world, twilio_server, django_capture_on_commit_callbacks, settings
):
    from django.utils import timezone

    from giftcards.services.sandbox import claim_sandbox_card

    reward = _ready_test_reward(world)
    _, delivery = claim_sandbox_card(recipient=reward.recipient, condition=world["condition"])
    assert claim_sandbox_card(recipient=reward.recipient, condition=world["condition"])[1] is None
    # Left queued (its task lost): the sweep queues it and it is delivered (test).
    long_ago = timezone.now() - timezone.timedelta(hours=2)
    GiftCardDelivery.objects.filter(pk=delivery.pk).update(enqueued_at=long_ago)
    sweeps.requeue_deliveries(timezone.now(), None)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.sms_status == "delivered (test)"
    # A staff retry of a failed sandbox delivery goes through the sandbox again.
    GiftCardDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.FAILED, retry_count=5, next_attempt_at=None
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert retry_delivery(GiftCardDelivery.objects.get(pk=delivery.pk)) is True
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert twilio_server.messages == [] and mail.outbox == []
    with pytest.raises(RefusedForTestData):
        send_card_email(delivery, None, to="t@example.com")
    assert mail.outbox == []
    assert GiftCard.objects.filter(status=GiftCardStatus.AVAILABLE).count() == 1


def test_simulate_reply_is_in_the_schema(world):
    schema = world["test_api"].get("schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    paths = schema.json()["paths"] if schema["Content-Type"].startswith("application/json") else {}
    if not paths:
        import yaml

        paths = yaml.safe_load(schema.content)["paths"]
    operation = paths["/api/v1/recipients/{id}/simulate-reply/"]["post"]
    assert "Sandbox only" in operation["description"]
    assert "Idempotency-Key" in [p["name"] for p in operation["parameters"]]


def test_revoking_a_sandbox_reward_refunds_nothing(world):
    from giftcards.services.revocation import revoke_reward
    from giftcards.services.sandbox import claim_sandbox_card

    reward = _ready_test_reward(world)
    claim_sandbox_card(recipient=reward.recipient, condition=world["condition"])
    before = stock_snapshot(world["pool"])
    revoked = revoke_reward(reward=reward, by=None, reason="Integration test finished")
    assert revoked.status == RewardStatus.REVOKED and revoked.gift_card_id is None
    assert stock_snapshot(world["pool"]) == before
    delivery = GiftCardDelivery.objects.get(reward=reward)
    assert delivery.status == DeliveryStatus.FAILED  # queued, never sent: stopped


def test_admin_resend_opt_in_and_retry_stay_in_the_sandbox(
    world, client, twilio_server, django_capture_on_commit_callbacks
):
    from giftcards.services.sandbox import claim_sandbox_card

    client.force_login(factories.UserFactory(is_staff=True, is_superuser=True))
    asked = factories.RecipientFactory(
        audience=world["audience"],
        campaign=world["campaign"],
        is_test=True,
        approval_status=ApprovalStatus.APPROVED,
        sms_opt_in_status=SmsOptInStatus.PENDING,
    )
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("admin:recipients_recipient_changelist"),
            {"action": "resend_opt_in", "_selected_action": [asked.pk]},
            follow=True,
        )
    log = SmsOptInLog.objects.get(recipient=asked)
    assert log.provider_used == SmsProvider.SANDBOX

    reward = _ready_test_reward(world)
    _, delivery = claim_sandbox_card(recipient=reward.recipient, condition=world["condition"])
    GiftCardDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.FAILED, retry_count=5, max_retries=5, next_attempt_at=None
    )
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("admin:giftcards_giftcarddelivery_changelist"),
            {"action": "retry_deliveries", "_selected_action": [str(delivery.pk)]},
            follow=True,
        )
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.sms_status == "delivered (test)"
    assert twilio_server.messages == [] and mail.outbox == []
    # The admin shows a sandbox delivery and reward (no card) without error.
    for name, pk in (
        ("giftcards_giftcarddelivery", delivery.pk),
        ("giftcards_recipientgiftcard", reward.pk),
    ):
        assert client.get(reverse(f"admin:{name}_change", args=[pk])).status_code == 200
        assert client.get(reverse(f"admin:{name}_changelist")).status_code == 200


def test_an_email_only_test_recipient_gets_a_sandbox_card_without_an_email(
    world, django_capture_on_commit_callbacks
):
    api = world["test_api"]
    recipient_id = push_test_recipient(world, phone="", email="inbox@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        api.post(f"recipients/{recipient_id}/conditions/", {"condition_number": 1})
    (delivery,) = api.get("deliveries/", {"recipient": recipient_id}).json()["results"]
    assert delivery["delivery_method"] == "email" and delivery["status"] == "delivered"
    assert mail.outbox == []
    # A reply simulated for a recipient without a phone is answered all the same.
    answer = api.post(f"recipients/{recipient_id}/simulate-reply/", {"body": "HELP"})
    assert answer.status_code == 200 and answer.json()["reply"]


def test_a_test_subscription_hears_the_sandbox_card_and_a_live_one_does_not(
    world,
    receiver,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    from mike.webhooks.services import create_subscription

    run = django_capture_on_commit_callbacks
    events = ["gift_card.provisioned", "gift_card.delivered"]
    _, secret = create_subscription(
        client=world["client"], url=receiver.url, events=events, is_test=True
    )
    create_subscription(
        client=world["client"], url=receiver.url + "/live", events=events, is_test=False
    )
    receiver.secret = secret
    recipient_id = push_test_recipient(world)
    with run(execute=True):
        world["test_api"].post(f"recipients/{recipient_id}/conditions/", {"condition_number": 1})
    with run(execute=True):
        world["test_api"].post(f"recipients/{recipient_id}/simulate-reply/", {"body": "YES"})
    assert receiver.types == ["gift_card.provisioned", "gift_card.delivered"]
    assert all(item.signature_ok for item in receiver.received)
    assert all(item.json["data"]["sandbox"] is True for item in receiver.received)
