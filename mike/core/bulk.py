"""Writing many new rows of one model at once, for the imports.

On PostgreSQL the rows go through `COPY … FROM STDIN` (psycopg 3's `cursor.copy`), one statement
for the whole call: several times faster than `INSERT … VALUES` batches, which spend most of their
time building and parsing SQL text. Every value is what `bulk_create` would send: each field's
`pre_save(obj, add=True)` (auto_now and auto_now_add timestamps, set on the instance too) and then
`get_db_prep_save` (JSON, UUIDs, Decimals, dates and datetimes, IP addresses). Other databases
(SQLite for the demo) use `bulk_create`.
"""

from django.db import connections, models, router, transaction
from django.db.models import CharField, Field, TextField

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
    converters = [_converter(field, connection) for field in fields]
    # savepoint=False as bulk_create: inside the caller's atomic block a failure marks it for
    # rollback; outside one (autocommit) the COPY is its own transaction.
    with (
        transaction.atomic(using=db, savepoint=False),
        connection.cursor() as cursor,
        connection.wrap_database_errors,  # psycopg's UniqueViolation → django IntegrityError
        cursor.cursor.copy(sql) as copy,
    ):
        write_row = copy.write_row
        for obj in objects:
            write_row([convert(obj) for convert in converters])
    for obj in objects:
        obj._state.adding = False
        obj._state.db = db


def _converter(field: Field, connection):
    """A function of an instance giving the field's value as the database takes it. Text fields
    whose conversion leaves a str as it is (CharField, TextField, EmailField … without their own
    preparation) read the attribute straight: the same value, without four calls per cell."""
    attname = field.attname
    cls = type(field)
    plain_text = (
        isinstance(field, (CharField, TextField))
        and cls.pre_save is Field.pre_save
        and cls.get_db_prep_save is Field.get_db_prep_save
        and cls.get_db_prep_value is Field.get_db_prep_value
        and cls.get_prep_value in (CharField.get_prep_value, TextField.get_prep_value)
        and cls.to_python in (CharField.to_python, TextField.to_python)
    )
    pre_save = field.pre_save
    prep = field.get_db_prep_save

    if plain_text:

        def convert(obj):
            value = obj.__dict__[attname]
            if value.__class__ is str or value is None:
                return value
            return prep(pre_save(obj, True), connection)

        return convert

    def convert(obj):
        return prep(pre_save(obj, True), connection)

    return convert
