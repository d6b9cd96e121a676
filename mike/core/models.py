"""Base models and helpers every domain app builds on."""

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
