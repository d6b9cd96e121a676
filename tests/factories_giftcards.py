import uuid
from decimal import Decimal

import factory
from django.db.models import F
from django.utils import timezone
from factory.django import DjangoModelFactory

from giftcards.models import (
    BalanceCheckMethod,
    BalanceCheckStatus,
    BrandProvider,
    CardDeliveryMethod,
    CardSource,
    CreditAccount,
    CreditEntityType,
    CreditTransaction,
    DeliveryStatus,
    GiftCard,
    GiftCardAuditLog,
    GiftCardBalanceHistory,
    GiftCardBrand,
    GiftCardDelivery,
    GiftCardPool,
    GiftCardSale,
    GiftCardStatus,
    PoolType,
    PurchaseMethod,
    RecipientGiftCard,
    RewardStatus,
    SmsDeliveryLog,
    StaffAlert,
    TransactionType,
)
from mike.accounts.models import OrganizationKind
from mike.core.sms import SmsProvider

__all__ = [
    "StaffAlertFactory",
    "CreditAccountFactory",
    "CreditTransactionFactory",
    "GiftCardAuditLogFactory",
    "GiftCardBalanceHistoryFactory",
    "GiftCardBrandFactory",
    "GiftCardDeliveryFactory",
    "GiftCardFactory",
    "GiftCardPoolFactory",
    "GiftCardSaleFactory",
    "RecipientGiftCardFactory",
    "SmsDeliveryLogFactory",
]

CENT = Decimal("0.01")

# The pool counter that counts a card in each status (the other statuses are only in total_cards).
POOL_COUNTER_FOR_STATUS = {
    GiftCardStatus.AVAILABLE: "available_cards",
    GiftCardStatus.CLAIMED: "claimed_cards",
    GiftCardStatus.DELIVERED: "delivered_cards",
    GiftCardStatus.FAILED: "failed_cards",
}


class GiftCardBrandFactory(DjangoModelFactory):
    """A test brand; its names never collide with the brands the data migration ships."""

    class Meta:
        model = GiftCardBrand

    brand_name = factory.Sequence(lambda n: f"Test Brand {n}")
    brand_code = factory.Sequence(lambda n: f"testbrand{n}")
    provider = BrandProvider.TILLO
    tillo_brand_code = factory.LazyAttribute(lambda o: f"{o.brand_code}-us")
    category = "retail"
    typical_denominations = factory.LazyFunction(lambda: [10, 25, 50])
    redemption_instructions = "Enter the code at checkout."


class GiftCardPoolFactory(DjangoModelFactory):
    """A client's CSV pool, empty (its counters grow as GiftCardFactory adds cards to it).
    `GiftCardPoolFactory(master=True)` is a platform master pool with no client, for sale."""

    class Meta:
        model = GiftCardPool

    class Params:
        master = factory.Trait(
            is_master_pool=True,
            client=None,
            available_for_purchase=True,
            cost_per_card=factory.LazyAttribute(
                lambda o: (o.card_value * Decimal("0.95")).quantize(CENT)
            ),
            sale_price_per_card=factory.SelfAttribute("card_value"),
        )

    pool_name = factory.Sequence(lambda n: f"Pool {n}")
    pool_type = PoolType.CSV
    brand = factory.SubFactory(GiftCardBrandFactory)
    card_value = Decimal("25.00")
    client = factory.SubFactory("tests.factories.ClientFactory")
    is_master_pool = False
    purchase_method = PurchaseMethod.CSV_ONLY


def _sealed_card(o):
    """An unsaved card holding the code, PIN and card number encrypted by the model's own setters,
    so the factory stores them exactly as the services do."""
    card = GiftCard()
    card.set_code(o.code)
    card.set_pin(o.pin)
    card.set_card_number(o.card_number)
    return card


class GiftCardFactory(DjangoModelFactory):
    """An available card of a new pool, with brand and value taken from its pool.

    `GiftCardFactory(code="ABC123", pin="9876")` stores them encrypted (hash and last four too), as
    the import service does; the pool's counters are bumped to count the new card, so a claim can
    take it. `claimed=True` / `delivered=True` make a card already handed out.
    """

    class Meta:
        model = GiftCard
        skip_postgeneration_save = True

    class Params:
        code = factory.Sequence(lambda n: f"TEST-CODE-{n:06d}")
        pin = ""
        card_number = ""
        sealed = factory.LazyAttribute(_sealed_card)
        claimed = factory.Trait(
            status=GiftCardStatus.CLAIMED,
            claimed_at=factory.LazyFunction(timezone.now),
        )
        delivered = factory.Trait(
            status=GiftCardStatus.DELIVERED,
            claimed_at=factory.LazyFunction(timezone.now),
            delivered_at=factory.LazyFunction(timezone.now),
            delivery_method=CardDeliveryMethod.SMS,
        )

    pool = factory.SubFactory(GiftCardPoolFactory)
    brand = factory.SelfAttribute("pool.brand")
    card_value = factory.SelfAttribute("pool.card_value")
    code_encrypted = factory.SelfAttribute("sealed.code_encrypted")
    code_hash = factory.SelfAttribute("sealed.code_hash")
    code_last4 = factory.SelfAttribute("sealed.code_last4")
    pin_encrypted = factory.SelfAttribute("sealed.pin_encrypted")
    card_number_encrypted = factory.SelfAttribute("sealed.card_number_encrypted")
    status = GiftCardStatus.AVAILABLE
    source = CardSource.CSV

    @factory.post_generation
    def count_in_pool(obj, create, extracted, **kwargs):
        if not create:
            return
        counters = {"total_cards": F("total_cards") + 1}
        counter = POOL_COUNTER_FOR_STATUS.get(obj.status)
        if counter:
            counters[counter] = F(counter) + 1
        GiftCardPool.objects.filter(pk=obj.pool_id).update(**counters)
        obj.pool.refresh_from_db(fields=list(counters))


class RecipientGiftCardFactory(DjangoModelFactory):
    """A pending reward for a new recipient of the condition's campaign, with the condition's brand
    and value. `claimed=True` gives it a claimed card from a pool of the campaign's client."""

    class Meta:
        model = RecipientGiftCard

    class Params:
        claimed = factory.Trait(
            status=RewardStatus.CLAIMED,
            assigned_at=factory.LazyFunction(timezone.now),
            gift_card=factory.SubFactory(
                GiftCardFactory,
                claimed=True,
                pool__client=factory.SelfAttribute("...campaign.client"),
                pool__brand=factory.SelfAttribute("...brand"),
                pool__card_value=factory.SelfAttribute("...card_value"),
                claimed_by_recipient=factory.SelfAttribute("..recipient"),
                assignment_campaign=factory.SelfAttribute("..campaign"),
                assignment_condition=factory.SelfAttribute("..condition"),
            ),
        )

    condition = factory.SubFactory("tests.factories.CampaignConditionFactory")
    campaign = factory.SelfAttribute("condition.campaign")
    recipient = factory.SubFactory(
        "tests.factories.RecipientFactory", campaign=factory.SelfAttribute("..campaign")
    )
    brand = factory.SelfAttribute("condition.brand")
    card_value = factory.SelfAttribute("condition.card_value")
    status = RewardStatus.PENDING
    gift_card = None


class GiftCardDeliveryFactory(DjangoModelFactory):
    """A queued SMS delivery of a claimed reward's card to the recipient's phone."""

    class Meta:
        model = GiftCardDelivery

    reward = factory.SubFactory(RecipientGiftCardFactory, claimed=True)
    gift_card = factory.SelfAttribute("reward.gift_card")
    recipient = factory.SelfAttribute("reward.recipient")
    campaign = factory.SelfAttribute("reward.campaign")
    call_session = None
    condition_number = factory.SelfAttribute("reward.condition.condition_number")
    delivery_method = CardDeliveryMethod.SMS
    delivery_address = factory.LazyAttribute(lambda o: o.recipient.phone or "+15550000000")
    status = DeliveryStatus.QUEUED
    # As the claim leaves it: its task queued just now.
    enqueued_at = factory.LazyFunction(timezone.now)
    twilio_message_sid = None
    sms_message = factory.LazyAttribute(
        lambda o: f"Your ${o.gift_card.card_value} gift card: {o.gift_card.masked_code}"
    )


class SmsDeliveryLogFactory(DjangoModelFactory):
    """A sent SMS of a delivery, with the delivery's recipient, card, campaign and message."""

    class Meta:
        model = SmsDeliveryLog

    delivery = factory.SubFactory(GiftCardDeliveryFactory)
    recipient = factory.SelfAttribute("delivery.recipient", default=None)
    gift_card = factory.SelfAttribute("delivery.gift_card", default=None)
    campaign = factory.SelfAttribute("delivery.campaign", default=None)
    phone_number = factory.SelfAttribute("delivery.delivery_address", default="+15550000000")
    message_body = factory.SelfAttribute("delivery.sms_message", default="")
    delivery_status = DeliveryStatus.SENT
    twilio_message_sid = factory.Sequence(lambda n: f"SM{n:032x}")
    provider_used = SmsProvider.TWILIO


class GiftCardAuditLogFactory(DjangoModelFactory):
    class Meta:
        model = GiftCardAuditLog

    client = factory.SubFactory("tests.factories.ClientFactory")
    action = "cards_added"
    entity_type = "gift_card_pool"
    entity_id = factory.LazyFunction(uuid.uuid4)
    user = factory.SubFactory("tests.factories.UserFactory")
    changes = factory.LazyFunction(lambda: {"added": 1})


class StaffAlertFactory(DjangoModelFactory):
    """An open low-stock alert about a client's pool."""

    class Meta:
        model = StaffAlert

    key = factory.Sequence(lambda n: f"low_stock:pool:{uuid.uuid4()}:{n}")
    kind = "low_stock"
    client = factory.SubFactory("tests.factories.ClientFactory")
    organization = factory.LazyAttribute(lambda alert: alert.client.name)
    entity_type = "gift_card_pool"
    entity_id = factory.LazyFunction(uuid.uuid4)
    summary = "Target $15.00 pool: 2 cards left (alert at 10 or fewer)"


class GiftCardBalanceHistoryFactory(DjangoModelFactory):
    """A successful manual check that found $5 spent."""

    class Meta:
        model = GiftCardBalanceHistory

    gift_card = factory.SubFactory(GiftCardFactory, delivered=True)
    previous_balance = factory.SelfAttribute("gift_card.card_value")
    new_balance = factory.LazyAttribute(lambda o: max(o.previous_balance - 5, Decimal("0.00")))
    change_amount = factory.LazyAttribute(lambda o: o.new_balance - o.previous_balance)
    check_method = BalanceCheckMethod.MANUAL
    status = BalanceCheckStatus.SUCCESS


def _entity_type_of(account):
    if account.organization is None:
        return CreditEntityType.PLATFORM
    if account.organization.kind == OrganizationKind.AGENCY:
        return CreditEntityType.AGENCY
    return CreditEntityType.CLIENT


class CreditAccountFactory(DjangoModelFactory):
    """An empty client account; one per organization (an existing account is returned), and its
    type follows the organization's kind. `platform=True` is the one platform account. Fund it with
    CreditTransactionFactory (or the ledger services) so the ledger explains the balance."""

    class Meta:
        model = CreditAccount
        django_get_or_create = ("organization",)

    class Params:
        platform = factory.Trait(organization=None)

    organization = factory.SubFactory("tests.factories.ClientFactory")
    entity_type = factory.LazyAttribute(_entity_type_of)
    balance = Decimal("0.00")


class CreditTransactionFactory(DjangoModelFactory):
    """A $100 allocation posted to the account as the ledger service posts it: balance_before is
    the account's balance, balance_after = balance_before + amount, and the account's balance
    becomes balance_after. A debit (negative amount) needs a balance that covers it."""

    class Meta:
        model = CreditTransaction
        skip_postgeneration_save = True

    account = factory.SubFactory(CreditAccountFactory)
    transaction_type = TransactionType.ALLOCATION
    amount = Decimal("100.00")
    balance_before = factory.SelfAttribute("account.balance")
    balance_after = factory.LazyAttribute(lambda o: (o.balance_before + o.amount).quantize(CENT))
    description = factory.LazyAttribute(lambda o: f"Test {o.transaction_type}")

    @factory.post_generation
    def post_to_account(obj, create, extracted, **kwargs):
        if not create:
            return
        CreditAccount.objects.filter(pk=obj.account_id).update(balance=obj.balance_after)
        obj.account.balance = obj.balance_after


class GiftCardSaleFactory(DjangoModelFactory):
    """Ten cards sold from a master pool of the same brand and value into a pool of the client, at
    face value with a 95 % cost basis. No ledger row (`credit_transaction`) unless given."""

    class Meta:
        model = GiftCardSale

    client = factory.SubFactory("tests.factories.ClientFactory")
    pool = factory.SubFactory(GiftCardPoolFactory, client=factory.SelfAttribute("..client"))
    source_pool = factory.SubFactory(
        GiftCardPoolFactory,
        master=True,
        brand=factory.SelfAttribute("..pool.brand"),
        card_value=factory.SelfAttribute("..pool.card_value"),
    )
    reward = None
    quantity = 10
    price_per_card = factory.SelfAttribute("pool.card_value")
    total_amount = factory.LazyAttribute(lambda o: (o.price_per_card * o.quantity).quantize(CENT))
    cost_per_card = factory.LazyAttribute(
        lambda o: (o.price_per_card * Decimal("0.95")).quantize(CENT)
    )
    margin = factory.LazyAttribute(lambda o: o.total_amount - o.cost_per_card * o.quantity)
    sold_by = None
    credit_transaction = None
