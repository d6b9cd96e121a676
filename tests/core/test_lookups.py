"""`field__any` and stored_values: the imports' membership checks, one array parameter however
long the list, the same answers as `__in`."""

import pytest

from giftcards.models import GiftCard
from mike.core.lookups import stored_values
from recipients.models import Recipient
from tests.factories import AudienceFactory, RecipientFactory

pytestmark = pytest.mark.django_db


def test_any_finds_what_in_finds_with_one_parameter(django_assert_num_queries):
    audience = AudienceFactory()
    people = [RecipientFactory(audience=audience) for _ in range(3)]
    codes = [p.redemption_code for p in people[:2]] + [f"NOPE{n:06d}" for n in range(3000)]
    found = Recipient.objects.filter(redemption_code__any=codes)
    assert set(found) == set(Recipient.objects.filter(redemption_code__in=codes)) == set(people[:2])
    sql, params = found.query.sql_with_params()
    assert "ANY" in sql and len(params) == 1
    assert not Recipient.objects.filter(redemption_code__any=[]).exists()
    assert set(Recipient.objects.filter(pk__any=[people[2].pk])) == {people[2]}


def test_any_takes_values_that_need_quoting():
    odd = "a,b\"c'{d}\\e@example.com"
    recipient = RecipientFactory(email=odd)
    assert list(Recipient.objects.filter(email__any=[odd, "other@example.com"])) == [recipient]
    assert not GiftCard.objects.filter(code_hash__any=[odd]).exists()


def test_stored_values_of_an_audience_by_column_and_by_expression():
    audience, other = AudienceFactory(), AudienceFactory()
    mine = RecipientFactory(audience=audience, custom_fields={"external_id": "C-1"})
    theirs = RecipientFactory(audience=other, custom_fields={"external_id": "C-2"})
    where = {"audience": audience.pk}

    phones = stored_values(Recipient.objects, "phone", [mine.phone, theirs.phone, ""], where=where)
    assert phones == {mine.phone}
    assert stored_values(Recipient.objects, "phone", [], where=where) == set()
    # Through recipient_audience_phone_idx: the same answer.
    indexed = stored_values(
        Recipient.objects, "phone", [mine.phone, theirs.phone], where=where, where_indexed=True
    )
    assert indexed == {mine.phone}

    from django.db.models.fields.json import KT

    ids = stored_values(
        Recipient.objects.annotate(external_id=KT("custom_fields__external_id")),
        "external_id",
        ["C-1", "C-2", "C-3"],
        where=where,
        expression="(\"custom_fields\" ->> 'external_id')",
    )
    assert ids == {"C-1"}
