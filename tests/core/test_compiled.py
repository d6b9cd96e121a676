"""mike.core.compiled: a queryset compiled once gives the objects the queryset gives, with new
values each run, prepared on PostgreSQL after the threshold's runs."""

import uuid

import pytest
from django.db import connection
from django.db.models import Count, OuterRef, Subquery
from django.test.utils import CaptureQueriesContext

from giftcards.models import RecipientGiftCard
from mike.core.compiled import CompiledQuery
from recipients.models import Recipient
from tests import factories


def _fields(obj, model) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in model._meta.concrete_fields}


def by_code(code):
    return (
        Recipient.objects.select_related("audience__client", "campaign")
        .annotate(
            rewards_count=Count("rewards"),
            first_brand=Subquery(
                RecipientGiftCard.objects.filter(recipient=OuterRef("pk"))
                .order_by("created_at")
                .values("brand__brand_name")[:1]
            ),
        )
        .filter(redemption_code=code)
        .order_by("pk")
    )


@pytest.mark.django_db
def test_the_objects_are_the_querysets_with_their_related_objects_and_annotations():
    compiled = CompiledQuery(by_code)
    rewards = [factories.RecipientGiftCardFactory(claimed=True) for _ in range(2)]
    for reward in rewards:
        code = reward.recipient.redemption_code
        (expected,) = by_code(code)
        (got,) = compiled.all(code)
        assert type(got) is Recipient and got._state.db == "default" and not got._state.adding
        assert _fields(got, Recipient) == _fields(expected, Recipient)
        assert got.rewards_count == expected.rewards_count == 1
        assert got.first_brand == expected.first_brand == reward.brand.brand_name
        client = got.audience.client  # loaded with the row, no query
        with CaptureQueriesContext(connection) as queries:
            assert client.name == expected.audience.client.name
            assert got.campaign.name == expected.campaign.name
        assert not queries.captured_queries
    assert compiled.all("NO-SUCH-CODE") == []
    assert compiled.first("NO-SUCH-CODE") is None


@pytest.mark.django_db
def test_only_and_a_uuid_argument():
    compiled = CompiledQuery(
        lambda recipient_id: (
            RecipientGiftCard.objects.filter(recipient_id=recipient_id)
            .select_related("brand")
            .only("id", "status", "card_value", "brand__brand_name")
        ),
        markers=(uuid.UUID(int=0),),
    )
    reward = factories.RecipientGiftCardFactory(claimed=True)
    (got,) = compiled.all(reward.recipient_id)
    assert got.pk == reward.pk and got.card_value == reward.card_value
    assert got.get_deferred_fields() >= {"gift_card_id", "recipient_id"}
    assert got.brand.brand_name == reward.brand.brand_name


@pytest.mark.django_db
def test_it_is_compiled_once_and_prepared_after_the_threshold(settings):
    settings.PREPARE_THRESHOLD = 2
    compiled = CompiledQuery(by_code)
    reward = factories.RecipientGiftCardFactory(claimed=True)
    built = []
    original = compiled._build
    compiled._build = lambda code: built.append(code) or original(code)
    for _ in range(4):
        assert compiled.first(reward.recipient.redemption_code).pk == reward.recipient_id
    assert len(built) == 1  # compiled once
    with CaptureQueriesContext(connection) as queries:
        compiled.first(reward.recipient.redemption_code)  # run by name, prepared
    (logged,) = queries.captured_queries
    assert '"recipients_recipient"."redemption_code" = $1' in logged["sql"]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
            ['%"recipients_recipient"."redemption_code" = $1%'],
        )
        assert cursor.fetchone()[0] == 1


def test_a_marker_that_does_not_reach_the_parameters_once_is_refused():
    twice = CompiledQuery(
        lambda code: (
            Recipient.objects.filter(redemption_code=code) | Recipient.objects.filter(email=code)
        )
    )
    with pytest.raises(ValueError, match="2 times"):
        twice._compile("default")
    with pytest.raises(TypeError, match="plain model queryset"):
        CompiledQuery(
            lambda code: Recipient.objects.filter(redemption_code=code).values("pk")
        )._compile("default")


@pytest.mark.django_db(transaction=True)
def test_a_locking_read_outside_a_transaction_is_refused_as_django_refuses_it():
    from django.db import transaction
    from django.db.transaction import TransactionManagementError

    compiled = CompiledQuery(
        lambda code: Recipient.objects.select_for_update().filter(redemption_code=code)
    )
    recipient = factories.RecipientFactory()
    with pytest.raises(TransactionManagementError):
        compiled.all(recipient.redemption_code)
    with transaction.atomic():
        assert [r.pk for r in compiled.all(recipient.redemption_code)] == [recipient.pk]
