"""The time-ordered keys of the large tables: one at a time (uuid7) and a batch at once."""

import uuid

from mike.core.models import uuid7, uuid7_many


def test_keys_drawn_for_a_batch_are_version_7_distinct_and_in_order_with_single_keys():
    before = uuid7()
    batch = uuid7_many(3000)
    after = uuid7()
    keys = [before, *batch, after]
    assert len(set(keys)) == len(keys)
    assert keys == sorted(keys)
    assert all(type(key) is uuid.UUID for key in batch)
    assert all(key.version == 7 and key.variant == uuid.RFC_4122 for key in batch)
    assert uuid7_many(0) == []


def test_a_batch_moves_the_clock_on_as_that_many_single_keys_would():
    # uuid6 gives each key of a fast run its own millisecond: the batch's keys are one
    # millisecond apart, and the next single key comes after the last of them.
    batch = uuid7_many(500)
    millis = [key.int >> 80 for key in batch]
    assert millis == list(range(millis[0], millis[0] + 500))
    assert uuid7().int >> 80 > millis[-1]


def test_the_random_part_of_a_batch_uses_every_bit():
    batch = uuid7_many(2000)
    # The 74 random bits: 12 after the version, 62 after the variant.
    random_mask = ((1 << 12) - 1) << 64 | ((1 << 62) - 1)
    seen_set = seen_clear = 0
    for key in batch:
        seen_set |= key.int & random_mask
        seen_clear |= ~key.int & random_mask
    assert seen_set == seen_clear == random_mask
