"""Domain exceptions survive pickling (a multiprocessing pool or a task result carries them
between processes) with their message and what they are about."""

import pickle
from decimal import Decimal

import pytest

from calls.services import UnknownTrackedNumber
from giftcards.services import (
    InsufficientCredit,
    NoCardAvailable,
    RewardNotClaimable,
    credit_account_for,
)
from tests import factories


@pytest.mark.django_db
def test_domain_errors_round_trip_through_pickle():
    client = factories.ClientFactory()
    pool = factories.GiftCardPoolFactory(client=client)
    reward = factories.RecipientGiftCardFactory()
    errors = [
        NoCardAvailable(client=client, brand=pool.brand, card_value=pool.card_value, pool=pool),
        NoCardAvailable(client=client, brand=pool.brand, card_value=Decimal("5.00")),
        InsufficientCredit(credit_account_for(client), Decimal("-10.00")),
        RewardNotClaimable(reward),
        UnknownTrackedNumber("+15550001111"),
    ]
    for error in errors:
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error)
        assert str(copy) == str(error)
        assert copy.args == error.args
        assert copy.__dict__.keys() == error.__dict__.keys()
    card_error = pickle.loads(pickle.dumps(errors[0]))
    assert card_error.pool == pool and card_error.client == client
    assert card_error.purchase_method == pool.purchase_method
    assert pickle.loads(pickle.dumps(errors[2])).amount == Decimal("-10.00")
    assert pickle.loads(pickle.dumps(errors[4])).number == "+15550001111"


def _project_modules():
    import importlib
    import pkgutil
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    for package in ("mike", "campaigns", "recipients", "giftcards", "calls", "crm"):
        for info in pkgutil.walk_packages([str(root / package.replace(".", "/"))], f"{package}."):
            if ".migrations" in info.name or ".management.commands" in info.name:
                continue
            yield importlib.import_module(info.name)


def test_every_exception_of_the_project_is_a_domain_error():
    """One base for every exception the project raises of its own, so callers (views, tasks, the
    API) can tell a refusal with a readable message from a bug."""
    from rest_framework.exceptions import APIException

    from mike.core.errors import DomainError

    own = {
        obj
        for module in _project_modules()
        for obj in vars(module).values()
        if isinstance(obj, type)
        and issubclass(obj, BaseException)
        and obj.__module__ == module.__name__
    }
    assert len(own) >= 10
    # The API's own HTTP answers (409, 422) are DRF exceptions its handler renders, not refusals.
    http_answers = {cls for cls in own if issubclass(cls, APIException)}
    assert {cls.__name__ for cls in http_answers} == {"Conflict", "Unprocessable"}
    assert {
        cls.__qualname__ for cls in own - http_answers if not issubclass(cls, DomainError)
    } == set()
