"""Re-encrypting Mike's Fernet-encrypted fields under the newest CARD_CODE_KEY.

`rotate_encrypted_fields` walks a model's rows in primary-key order, a batch per transaction. Each
batch's rows are locked with SKIP LOCKED, so the app keeps running: a row another transaction holds
is left for a later pass (counted as `skipped_locked`). A value already under the newest key is
left alone, so a run is idempotent and a stopped run is resumed by running again.
"""

from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.db import transaction

from mike.core import crypto

from ..models import GiftCardAuditAction, GiftCardAuditLog


@dataclass
class RotationCounts:
    scanned: int = 0
    rotated: int = 0
    current: int = 0
    unreadable: int = 0
    skipped_locked: int = 0
    batches: int = 0

    def as_dict(self):
        return {
            "scanned": self.scanned,
            "rotated": self.rotated,
            "current": self.current,
            "unreadable": self.unreadable,
            "skipped_locked": self.skipped_locked,
        }


def _ciphers():
    keys = crypto._keys()
    return Fernet(keys[0]), MultiFernet([Fernet(key) for key in keys])


def rotate_encrypted_fields(
    *, model, fields, batch_size=500, max_batches=None, progress=None
) -> RotationCounts:
    """Re-encrypt `fields` of every row of `model` under the newest key. Stops after
    `max_batches` batches when given. `progress(n)` is called with each batch's row count."""
    newest, every = _ciphers()
    counts = RotationCounts()
    last_pk = None
    while max_batches is None or counts.batches < max_batches:
        candidates = model._base_manager.order_by("pk")
        if last_pk is not None:
            candidates = candidates.filter(pk__gt=last_pk)
        pks = list(candidates.values_list("pk", flat=True)[:batch_size])
        if not pks:
            break
        last_pk = pks[-1]
        with transaction.atomic():
            rows = list(
                model._base_manager.filter(pk__in=pks)
                .select_for_update(skip_locked=True)
                .only("pk", *fields)
            )
            counts.skipped_locked += len(pks) - len(rows)
            changed = []
            for row in rows:
                row_changed = False
                for name in fields:
                    token = getattr(row, name)
                    if not token:
                        continue
                    counts.scanned += 1
                    try:
                        newest.decrypt(token.encode())
                        counts.current += 1
                        continue
                    except InvalidToken:
                        pass
                    try:
                        setattr(row, name, every.rotate(token.encode()).decode())
                    except InvalidToken:
                        counts.unreadable += 1
                        continue
                    counts.rotated += 1
                    row_changed = True
                if row_changed:
                    changed.append(row)
            if changed:
                model._base_manager.bulk_update(changed, fields)
        counts.batches += 1
        if progress:
            progress(len(pks))
    return counts


def record_key_rotation(*, run_id, results: dict, completed: bool) -> GiftCardAuditLog:
    """The run's audit row: counts per model and field, never a key."""
    return GiftCardAuditLog.objects.create(
        action=GiftCardAuditAction.CARD_KEY_ROTATED,
        entity_type="card_code_key",
        entity_id=run_id,
        metadata={"completed": completed, "keys": len(crypto._keys()), "results": results},
    )
