"""`manage.py rotate_card_key`: every encrypted value moves to the newest key, resumably."""

import io
import threading

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.management import call_command
from django.db import connections, transaction

from giftcards.models import GiftCard, GiftCardAuditAction, GiftCardAuditLog
from mike.core import crypto
from tests.factories_giftcards import GiftCardFactory

KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()


def under(key, token):
    try:
        Fernet(key).decrypt(token.encode())
        return True
    except InvalidToken:
        return False


def make_cards(settings, count):
    settings.CARD_CODE_KEYS = [KEY_A]
    return [
        GiftCardFactory(code=f"ROT-{n:04d}", pin=f"{n:04d}", card_number=f"6006{n:08d}")
        for n in range(count)
    ]


def rotate(**options):
    call_command("rotate_card_key", stdout=io.StringIO(), **options)


@pytest.mark.django_db
def test_rotation_moves_every_card_to_the_newest_key_and_the_old_key_can_go(settings):
    cards = make_cards(settings, 5)
    settings.CARD_CODE_KEYS = [KEY_B, KEY_A]

    rotate(batch_size=2)

    for card in GiftCard.objects.filter(pk__in=[c.pk for c in cards]):
        for token in (card.code_encrypted, card.pin_encrypted, card.card_number_encrypted):
            assert under(KEY_B, token) and not under(KEY_A, token)
    settings.CARD_CODE_KEYS = [KEY_B]  # the old key dropped
    codes = {card.code for card in GiftCard.objects.filter(pk__in=[c.pk for c in cards])}
    assert codes == {f"ROT-{n:04d}" for n in range(5)}
    assert GiftCard.objects.get(pk=cards[3].pk).pin == "0003"


@pytest.mark.django_db
def test_a_run_stopped_half_way_and_resumed_ends_the_same(settings):
    cards = make_cards(settings, 6)
    settings.CARD_CODE_KEYS = [KEY_B, KEY_A]

    rotate(batch_size=2, max_batches=1)
    tokens = dict(GiftCard.objects.values_list("pk", "code_encrypted"))
    assert sum(under(KEY_B, t) for t in tokens.values()) == 2  # one batch done, four left
    rotate(batch_size=2)

    after = dict(GiftCard.objects.values_list("pk", "code_encrypted"))
    assert all(under(KEY_B, t) for t in after.values())
    # What the first run re-encrypted was left alone by the second (idempotent).
    assert all(after[pk] == tokens[pk] for pk in tokens if under(KEY_B, tokens[pk]))
    runs = GiftCardAuditLog.objects.filter(action=GiftCardAuditAction.CARD_KEY_ROTATED)
    assert runs.count() == 2
    first, second = runs.order_by("created_at")
    assert first.metadata["completed"] is False
    assert first.metadata["results"]["giftcards.GiftCard"]["rotated"] == 6  # 2 cards x 3 fields
    assert second.metadata["completed"] is True
    assert second.metadata["results"]["giftcards.GiftCard"] == {
        "scanned": 18,
        "rotated": 12,
        "current": 6,
        "unreadable": 0,
        "skipped_locked": 0,
    }
    settings.CARD_CODE_KEYS = [KEY_B]
    assert sorted(c.code for c in GiftCard.objects.filter(pk__in=[c.pk for c in cards])) == [
        f"ROT-{n:04d}" for n in range(6)
    ]


@pytest.mark.django_db
def test_a_second_run_changes_nothing(settings):
    make_cards(settings, 3)
    settings.CARD_CODE_KEYS = [KEY_B, KEY_A]
    rotate()
    before = dict(GiftCard.objects.values_list("pk", "code_encrypted"))
    rotate()
    assert dict(GiftCard.objects.values_list("pk", "code_encrypted")) == before
    last = GiftCardAuditLog.objects.filter(action=GiftCardAuditAction.CARD_KEY_ROTATED).latest(
        "created_at"
    )
    assert last.metadata["results"]["giftcards.GiftCard"]["rotated"] == 0


@pytest.mark.django_db
def test_a_value_under_no_configured_key_is_counted_not_changed(settings):
    card = make_cards(settings, 1)[0]
    settings.CARD_CODE_KEYS = [KEY_B]  # key A gone before rotating
    rotate()
    assert GiftCard.objects.get(pk=card.pk).code_encrypted == card.code_encrypted
    last = GiftCardAuditLog.objects.filter(action=GiftCardAuditAction.CARD_KEY_ROTATED).get()
    assert last.metadata["results"]["giftcards.GiftCard"]["unreadable"] == 3


@pytest.mark.django_db(transaction=True)
def test_a_row_the_app_holds_is_skipped_not_waited_for(settings):
    cards = make_cards(settings, 2)
    settings.CARD_CODE_KEYS = [KEY_B, KEY_A]
    locked, released = threading.Event(), threading.Event()

    def hold():
        with transaction.atomic():
            GiftCard.objects.select_for_update().get(pk=cards[0].pk)
            locked.set()
            released.wait(10)
        connections.close_all()

    holder = threading.Thread(target=hold)
    holder.start()
    assert locked.wait(10)
    try:
        rotate()
    finally:
        released.set()
        holder.join()
    assert under(KEY_A, GiftCard.objects.get(pk=cards[0].pk).code_encrypted)
    assert under(KEY_B, GiftCard.objects.get(pk=cards[1].pk).code_encrypted)
    rotate()  # run again once the row is free
    assert under(KEY_B, GiftCard.objects.get(pk=cards[0].pk).code_encrypted)
    assert crypto.decrypt(GiftCard.objects.get(pk=cards[0].pk).code_encrypted) == cards[0].code
