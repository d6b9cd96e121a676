"""Writing many new rows of one model at once, for the imports.

On PostgreSQL the rows go through `COPY … FROM STDIN` (psycopg 3's `cursor.copy`), one statement
for the whole call: several times faster than `INSERT … VALUES` batches, which spend most of their
time building and parsing SQL text. Every value is what `bulk_create` would send: each field's
`pre_save(obj, add=True)` (auto_now and auto_now_add timestamps, set on the instance too) and then
`get_db_prep_save` (JSON, UUIDs, Decimals, dates and datetimes, IP addresses). Other databases
(SQLite for the demo) use `bulk_create`.
"""

from operator import attrgetter
from uuid import UUID

from django.db import connections, models, router, transaction
from django.db.models import (
    CharField,
    DateField,
    DateTimeField,
    Field,
    TextField,
    UUIDField,
)

BATCH_SIZE = 2000


def insert_rows(model: type[models.Model], objects: list[models.Model]) -> None:
    """Insert `objects` (new, unsaved instances of `model`, every field set) in the current
    transaction. The caller holds the transaction; a unique conflict raises IntegrityError and
    inserts nothing of this call."""
    objects = list(objects)
    if not objects:
        return
    db = router.db_for_write(model)
    connection = connections[db]
    if connection.vendor != "postgresql" or any(obj.pk is None for obj in objects):
        # COPY returns no keys: a model whose database makes them goes through bulk_create.
        model.objects.bulk_create(objects, batch_size=BATCH_SIZE)
        return
    meta = model._meta
    fields = [field for field in meta.concrete_fields if not field.generated]
    quote = connection.ops.quote_name
    sql = (
        f"COPY {quote(meta.db_table)} ({', '.join(quote(field.column) for field in fields)}) "
        "FROM STDIN"
    )
    values = _Values(fields, connection)
    # savepoint=False as bulk_create: inside the caller's atomic block a failure marks it for
    # rollback; outside one (autocommit) the COPY is its own transaction.
    with (
        transaction.atomic(using=db, savepoint=False),
        connection.cursor() as cursor,
        connection.wrap_database_errors,  # psycopg's UniqueViolation → django IntegrityError
        cursor.cursor.copy(sql) as copy,
    ):
        write_row, row_of = copy.write_row, values.row
        for obj in objects:
            write_row(row_of(obj))
    for obj in objects:
        obj._state.adding = False
        obj._state.db = db


class _Values:
    """An instance's row as the database takes it: for each field
    `field.get_db_prep_save(field.pre_save(obj, add=True), connection)`.

    Where that is known to give the value back unchanged the calls are skipped (the same value,
    without four calls per cell): a str in a text field without its own preparation, None in a
    field which prepares None as NULL, a UUID in a UUID field (or a foreign key to one) on a
    database with a native uuid type. Fields whose pre_save does more than read the attribute
    (auto_now, auto_now_add) always go through it."""

    def __init__(self, fields: list[Field], connection):
        self.connection = connection
        self.read = attrgetter(*(field.attname for field in fields))
        self.single = len(fields) == 1
        self.dynamic, self.static = [], []
        for index, field in enumerate(fields):
            prep = field.get_db_prep_save
            if _dynamic_pre_save(field):
                self.dynamic.append((index, field.pre_save, prep))
                continue
            same = set()
            if _plain_text(field):
                same.add(str)
            target = getattr(field, "target_field", field)
            if connection.features.has_native_uuid_field and _plain_uuid(target):
                same.add(UUID)
            self.static.append((index, frozenset(same), prep(None, connection) is None, prep))

    def row(self, obj) -> list:
        connection = self.connection
        row = [self.read(obj)] if self.single else list(self.read(obj))
        for index, same, none_is_null, prep in self.static:
            value = row[index]
            if value is None:
                if not none_is_null:
                    row[index] = prep(value, connection)
            elif value.__class__ not in same:
                row[index] = prep(value, connection)
        for index, pre_save, prep in self.dynamic:
            row[index] = prep(pre_save(obj, True), connection)
        return row


def _dynamic_pre_save(field: Field) -> bool:
    """Whether pre_save does more than read the attribute (auto_now, auto_now_add, custom)."""
    pre_save = type(field).pre_save
    if pre_save is Field.pre_save:
        return False
    if pre_save in (DateField.pre_save, DateTimeField.pre_save):
        return field.auto_now or field.auto_now_add
    return True


def _plain_text(field: Field) -> bool:
    cls = type(field)
    return (
        isinstance(field, (CharField, TextField))
        and cls.get_db_prep_save is Field.get_db_prep_save
        and cls.get_db_prep_value is Field.get_db_prep_value
        and cls.get_prep_value in (CharField.get_prep_value, TextField.get_prep_value)
        and cls.to_python in (CharField.to_python, TextField.to_python)
    )


def _plain_uuid(field: Field) -> bool:
    cls = type(field)
    return (
        isinstance(field, UUIDField)
        and cls.get_db_prep_save is Field.get_db_prep_save
        and cls.get_db_prep_value is UUIDField.get_db_prep_value
        and cls.get_prep_value is UUIDField.get_prep_value
        and cls.to_python is UUIDField.to_python
    )
