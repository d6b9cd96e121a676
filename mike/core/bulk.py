"""Writing many new rows of one model at once, for the imports."""

from django.db import models


def insert_rows(model: type[models.Model], objects: list[models.Model]) -> None:
    """Insert `objects` (new, unsaved instances of `model`, every field set) in the current
    transaction. The caller holds the transaction; a unique conflict raises IntegrityError and
    inserts nothing of this call."""
    model.objects.bulk_create(objects, batch_size=2000)
