"""What /redeem/ costs for a found code: a few statements whatever the reward's stage, no lock
or write for a recipient already redeemed, one `code_viewed` event per recipient and day of the
client's calendar, and one Redis script per rate-limit unit taken or given back."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns.models import Event, EventType
from mike.core import ratelimit
from recipients.models import ApprovalStatus
from recipients.redemption import record_code_viewed
from tests import factories
from tests.recipients.test_redemption_answers import CASES, build
from tests.recipients.test_redemption_page import delivered_reward, post_code

# The rewards (with brand and card) and their recipient (with its client and tracked number) in
# one read, a second for a recipient without rewards; the `code_viewed` event; a claimed card's
# sending also reads its deliveries.
FOUND_CODE_STATEMENTS = 3


def views(recipient) -> int:
    return Event.objects.filter(recipient=recipient, event_type=EventType.CODE_VIEWED).count()


@pytest.mark.django_db
@pytest.mark.parametrize("name", CASES)
def test_every_answer_takes_a_few_statements(client, name, django_assert_max_num_queries):
    recipient = build(CASES[name])
    # A first view of a delivered card also redeems it (tested in test_redemption_page); the
    # page is measured once the recipient is as it stays.
    if recipient.rewards.filter(status="delivered").exists():
        type(recipient).objects.filter(pk=recipient.pk).update(
            approval_status=ApprovalStatus.REDEEMED
        )
    with django_assert_max_num_queries(FOUND_CODE_STATEMENTS):
        assert post_code(client, recipient.redemption_code).status_code == 200


@pytest.mark.django_db
def test_a_redeemed_recipient_viewing_again_takes_no_lock_and_writes_only_the_days_view(client):
    _, recipient = delivered_reward("VIEW-AGAIN-0001")
    post_code(client, recipient.redemption_code)  # redeems them
    with CaptureQueriesContext(connection) as queries:
        response = post_code(client, recipient.redemption_code)
    assert "VIEW-AGAIN-0001" in response.content.decode()
    statements = [q["sql"] for q in queries.captured_queries]
    # The recipient with its rewards, and the day's view (which, the day's row being there, writes
    # nothing); inside the test's transaction the process cannot yet know that row stands.
    assert len(statements) == 2
    assert statements[1].startswith('INSERT INTO "campaigns_event"')
    assert not any("FOR UPDATE" in sql or sql.startswith("UPDATE") for sql in statements)
    assert views(recipient) == 1


@pytest.mark.django_db(transaction=True)
def test_once_the_days_view_is_committed_viewing_again_is_one_statement(client):
    _, recipient = delivered_reward("VIEW-AGAIN-0002")
    post_code(client, recipient.redemption_code)  # redeems them, records the day's view
    for _ in range(3):
        with CaptureQueriesContext(connection) as queries:
            response = post_code(client, recipient.redemption_code)
        assert "VIEW-AGAIN-0002" in response.content.decode()
        assert len(queries.captured_queries) == 1  # the recipient with its rewards
    assert views(recipient) == 1


@pytest.mark.django_db(transaction=True)
def test_a_view_another_process_wrote_is_found_and_not_asked_again():
    from campaigns.models import _RECORDED_TODAY

    _, recipient = delivered_reward("VIEW-AGAIN-0003")
    recipient = type(recipient).objects.select_related("audience__client").get(pk=recipient.pk)
    record_code_viewed(recipient, rewards=1)
    _RECORDED_TODAY.clear()  # as another process, which never saw it
    with CaptureQueriesContext(connection) as queries:
        record_code_viewed(recipient, rewards=1)  # finds the row: writes nothing
        record_code_viewed(recipient, rewards=1)  # remembers it: asks nothing
    assert len(queries.captured_queries) == 1
    assert views(recipient) == 1


@pytest.mark.django_db(transaction=True)
def test_a_view_whose_transaction_rolled_back_is_written_again():
    from django.db import transaction

    _, recipient = delivered_reward("VIEW-AGAIN-0004")
    recipient = type(recipient).objects.select_related("audience__client").get(pk=recipient.pk)

    class Undo(Exception):
        pass

    with pytest.raises(Undo), transaction.atomic():
        record_code_viewed(recipient, rewards=1)
        raise Undo
    assert views(recipient) == 0
    record_code_viewed(recipient, rewards=1)  # not remembered: the row was never committed
    assert views(recipient) == 1


@pytest.mark.django_db
def test_the_view_is_recorded_once_a_day_of_the_clients_calendar(client, monkeypatch):
    _, recipient = delivered_reward("VIEW-DAYS-0001")
    org = recipient.audience.client
    org.timezone = "America/Los_Angeles"
    org.save(update_fields=["timezone"])
    la = ZoneInfo("America/Los_Angeles")
    moments = [
        datetime(2026, 5, 4, 9, 0, tzinfo=la),
        datetime(2026, 5, 4, 23, 30, tzinfo=la),  # 06:30 UTC on the 5th: still the 4th there
        datetime(2026, 5, 5, 0, 30, tzinfo=la),  # the next day there
        datetime(2026, 5, 5, 8, 0, tzinfo=la),
    ]
    now = {}
    monkeypatch.setattr(timezone, "now", lambda: now["moment"])
    for moment in moments:
        now["moment"] = moment
        assert "VIEW-DAYS-0001" in post_code(client, recipient.redemption_code).content.decode()

    recorded = Event.objects.filter(recipient=recipient, event_type=EventType.CODE_VIEWED)
    assert sorted(e.event_data["day"] for e in recorded) == ["2026-05-04", "2026-05-05"]
    assert all(e.event_data["rewards"] == 1 for e in recorded)
    assert all(e.client_id == org.pk and e.campaign_id == recipient.campaign_id for e in recorded)


@pytest.mark.django_db
def test_two_views_recorded_at_once_make_one_event():
    _, recipient = delivered_reward("VIEW-ONCE-0001")
    recipient = type(recipient).objects.select_related("audience__client").get(pk=recipient.pk)
    record_code_viewed(recipient, rewards=1)
    record_code_viewed(recipient, rewards=1)  # the unique index, not a check before, stops it
    assert views(recipient) == 1


@pytest.mark.django_db
def test_a_code_with_nothing_delivered_records_no_view(client):
    recipient = factories.RecipientFactory()
    post_code(client, recipient.redemption_code)
    assert views(recipient) == 0


def test_a_window_is_one_counter_with_an_expiry_on_redis():
    unit = ratelimit.reserve(group="cost", key="203.0.113.9", rate="5/m")
    key = cache.make_and_validate_key(unit.key)
    redis = cache._cache.get_client(write=True)
    assert int(redis.get(key)) == 1
    assert 0 < redis.ttl(key) <= 60
    unit.give_back()
    assert int(redis.get(key)) == 0


def test_a_counter_left_without_an_expiry_is_given_one():
    key = cache.make_and_validate_key("ratelimit:cost:5/60s:198.51.100.9")
    redis = cache._cache.get_client(write=True)
    redis.set(key, 3)  # as a bare INCR re-creates an expired counter
    unit = ratelimit.reserve(group="cost", key="198.51.100.9", rate="5/m")
    assert unit.count == 4
    assert 0 < redis.ttl(key) <= 60


def test_a_unit_given_back_after_its_window_ended_opens_no_window():
    unit = ratelimit.reserve(group="cost", key="192.0.2.9", rate="5/m")
    redis = cache._cache.get_client(write=True)
    key = cache.make_and_validate_key(unit.key)
    redis.delete(key)  # the window expired
    unit.give_back()
    assert redis.get(key) is None
