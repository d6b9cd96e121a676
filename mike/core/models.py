"""Base models and helpers every domain app builds on."""

import os
import time
import uuid

import uuid6
from django.db import models
from django.db.models import Q

# `limit_choices_to` of every foreign key to a client Organization (tenant data belongs to clients).
CLIENT_ONLY = {"kind": "client"}


class BaseModel(models.Model):
    """UUID primary key (random) and timezone-aware created/updated timestamps."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


def uuid7() -> uuid.UUID:
    # uuid6.uuid7 returns its own subclass; hand Django a plain UUID so equality and hashing are plain.
    return uuid.UUID(int=uuid6.uuid7().int)


_UUID7_BITS = (7 << 76) | (0b10 << 62)  # version 7, RFC 4122 variant
_RANDOM_76 = (1 << 76) - 1
_RANDOM_B = (1 << 62) - 1
_RANDOM_A = (1 << 12) - 1


def uuid7_many(count: int) -> list[uuid.UUID]:
    """The keys `count` calls of uuid7 in a row would give, for the imports, which key a whole
    batch at once: increasing, each one millisecond after the one before when they come faster
    than one a millisecond (as uuid6 moves them on), and the next uuid7 call after them. The 76
    random bits of all come from one os.urandom call instead of one each."""
    if count <= 0:
        return []
    now = time.time_ns() // 10**6
    last = uuid6._last_v7_timestamp
    start = last + 1 if last is not None and now <= last else now
    uuid6._last_v7_timestamp = start + count - 1
    random = os.urandom(10 * count)
    keys = []
    for index in range(count):
        bits = int.from_bytes(random[10 * index : 10 * index + 10]) & _RANDOM_76
        # uuid6's layout: 48 bits of milliseconds, version, 12 random bits, variant, 62 random.
        value = (
            (((start + index) & 0xFFFFFFFFFFFF) << 80)
            | ((bits >> 62 & _RANDOM_A) << 64)
            | (bits & _RANDOM_B)
            | _UUID7_BITS
        )
        keys.append(uuid.UUID(int=value))
    return keys


class TimeOrderedModel(BaseModel):
    """For the large tables (recipients, cards, events, logs): UUIDv7 keys are time-ordered, so
    inserts land at the right edge of the primary-key index instead of scattering across it."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)

    class Meta:
        abstract = True


def choices_constraint(field: str, choices, *, name: str, allow_blank: bool = False):
    """A database CHECK that `field` holds one of the TextChoices values (the seed's CHECK lists)."""
    values = [value for value, _ in choices.choices]
    if allow_blank:
        values.append("")
    return models.CheckConstraint(condition=Q(**{f"{field}__in": values}), name=name)
