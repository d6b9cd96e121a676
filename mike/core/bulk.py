"""Writing many new rows of one model at once, for the imports.

On PostgreSQL the rows go through `COPY … FROM STDIN` (psycopg 3's `cursor.copy`), one statement
for the whole call: several times faster than `INSERT … VALUES` batches, which spend most of their
time building and parsing SQL text. Every value is what `bulk_create` would send: each field's
`pre_save(obj, add=True)` (auto_now and auto_now_add timestamps, set on the instance too) and then
`get_db_prep_save` (JSON, UUIDs, Decimals, dates and datetimes, IP addresses). Other databases
(SQLite for the demo) use `bulk_create`.

`insert_rows` takes model instances; `insert_values` takes plain tuples of the fields a caller
sets, the others taking their defaults: making a model instance costs more than everything else
done with a row before it is sent. `PreparedRows` is what the imports use: the same rows as
insert_values, each turned into its COPY text where it is made (the imports' reader process), so
the process that writes only adds the values drawn at the insert and sends the text.
"""

import ipaddress
import json
import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from operator import attrgetter
from uuid import UUID

from django.db import connections, models, router, transaction
from django.db.models import (
    CharField,
    DateField,
    DateTimeField,
    DecimalField,
    Field,
    JSONField,
    TextField,
    UUIDField,
)
from django.utils import timezone

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
    fields = _copied_fields(model)
    values = _Values(fields, connection)
    _copy(model, fields, connection, map(values.row, objects))
    for obj in objects:
        obj._state.adding = False
        obj._state.db = db


def insert_values(
    model: type[models.Model],
    names: Sequence[str],
    rows: Iterable[Sequence],
    *,
    constants: dict | None = None,
) -> int:
    """Insert new rows of `model`, each a sequence of values for the fields `names` (attnames:
    `audience_id`, not `audience`) as the model's attributes would hold them (str, int,
    Decimal, date, aware datetime, UUID, dict or list for JSON, None), in the current
    transaction, and return how many. `constants` ({attname: value}) are the same for every
    row (prepared once). Every other field takes its default (a callable default
    is called per row; auto_now and auto_now_add fields take the time of the call), as a new
    instance would. A model whose database makes its keys must be given them (COPY returns
    none). Errors as insert_rows."""
    db = router.db_for_write(model)
    connection = connections[db]
    constants = constants or {}
    if connection.vendor != "postgresql":
        objects = [model(**dict(zip(names, row, strict=True)), **constants) for row in rows]
        model.objects.bulk_create(objects, batch_size=BATCH_SIZE)
        return len(objects)
    fields = _copied_fields(model)
    by_name = {field.attname: index for index, field in enumerate(fields)}
    unknown = [name for name in (*names, *constants) if name not in by_name]
    if unknown:
        raise ValueError(f"{model.__name__} has no concrete field {unknown[0]!r}")
    template: list = [None] * len(fields)
    given, made = [], []
    now = timezone.now()
    for index, field in enumerate(fields):
        cell = _Cell(field, connection)
        if field.attname in constants:
            template[index] = cell(constants[field.attname])
        elif field.attname in names:
            given.append((index, names.index(field.attname), cell.same, cell.none_passes, cell))
        elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            template[index] = cell(now)
        elif field.has_default() and callable(field.default) and field.default not in _PURE:
            made.append((index, field.get_default, cell))
        else:
            template[index] = cell(field.get_default())

    def row_of(values: Sequence) -> list:
        row = template.copy()
        for index, position, same, none_passes, cell in given:
            value = values[position]
            if value.__class__ is same or (value is None and none_passes):
                row[index] = value
            else:
                row[index] = cell.convert(value)
        for index, default, cell in made:
            row[index] = cell(default())
        return row

    count = 0

    def counted(rows):
        nonlocal count
        for values in rows:
            count += 1
            yield row_of(values)

    _copy(model, fields, connection, counted(rows))
    return count


# Callable defaults whose every call gives an equal value: converted once for all rows.
_PURE = (dict, list, str, int, bool, float)


# Field classes' get_db_prep_value that, on PostgreSQL, give a value of this exact type back as it
# is: a date, or a Decimal (which the column rounds to its places, as Django's to_python would).
_PG_AS_IS = {
    DateField.get_db_prep_value: date,
    DecimalField.get_db_prep_value: Decimal,
}


def _copied_fields(model) -> list[Field]:
    return [field for field in model._meta.concrete_fields if not field.generated]


def _copy(model, fields: list[Field], connection, rows: Iterable[list]) -> None:
    """COPY `rows` (lists of database values, in `fields` order) into the model's table."""
    quote = connection.ops.quote_name
    sql = (
        f"COPY {quote(model._meta.db_table)} "
        f"({', '.join(quote(field.column) for field in fields)}) FROM STDIN"
    )
    # savepoint=False as bulk_create: inside the caller's atomic block a failure marks it for
    # rollback; outside one (autocommit) the COPY is its own transaction. `rows` may be a
    # generator: the rows are made while the database takes the ones sent before.
    with (
        transaction.atomic(using=connection.alias, savepoint=False),
        connection.cursor() as cursor,
        connection.wrap_database_errors,  # psycopg's UniqueViolation → django IntegrityError
        cursor.cursor.copy(sql) as copy,
    ):
        write_row = copy.write_row
        for row in rows:
            write_row(row)


class PreparedRows:
    """New rows of `model`, each made ready for its insert where it is made, for the imports:
    their reader process (mike.imports.engine._Reader) renders every row's COPY text while the
    runner writes the batch before, and the runner adds only the fields drawn at the insert
    (`late`: keys, codes, tokens, drawn anew when a batch is tried again) and sends the text.

    `prepare(values, late)` takes the values of `names` as insert_values does (and, where the
    reader draws them too, those of `late`) and gives what `insert` takes for that row: on
    PostgreSQL the COPY text of its columns but the auto_now timestamps (plain text, cheap to
    send between processes), elsewhere the values as they are. `insert(rows)` takes (late
    values, prepared) pairs, the late values None to keep those given to prepare (a batch tried
    again draws new ones), and writes each row, in the caller's transaction, as
    insert_values(model, (*late, *names), …, constants=constants) would (every value converted
    as there, every other field its default, the timestamps the time of the call), and returns
    how many; errors as insert_rows."""

    def __init__(
        self,
        model: type[models.Model],
        names: Sequence[str],
        *,
        late: Sequence[str] = (),
        constants: dict | None = None,
    ):
        self.model, self.names, self.late = model, tuple(names), tuple(late)
        self.constants = dict(constants or {})
        connection = connections[router.db_for_write(model)]
        self.using = connection.alias
        self.copies = connection.vendor == "postgresql"
        fields = _copied_fields(model)
        by_name = {field.attname: field for field in fields}
        unknown = [n for n in (*self.late, *self.names, *self.constants) if n not in by_name]
        if unknown:
            raise ValueError(f"{model.__name__} has no concrete field {unknown[0]!r}")
        if not self.names:
            raise ValueError("PreparedRows needs the names of the fields each row gives.")
        if not self.copies:
            return

        def spec(field):
            cell = _Cell(field, connection)
            return cell.same, cell.none_passes, cell.convert

        self._late = [spec(by_name[name]) for name in self.late]
        self._given = [spec(by_name[name]) for name in self.names]
        stamps, made, fixed = [], [], []
        for field in fields:
            if field.attname in self.late or field.attname in self.names:
                continue
            cell = _Cell(field, connection)
            if field.attname in self.constants:
                fixed.append((field, _text(cell(self.constants[field.attname]))))
            elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
                stamps.append((field, cell))
            elif field.has_default() and callable(field.default) and field.default not in _PURE:
                made.append((field, cell))
            else:
                fixed.append((field, _text(cell(field.get_default()))))
        # Each line: the late columns (the insert's), the timestamps (the insert's), then what
        # prepare() rendered: the given values, the per-row defaults, the fixed values.
        order = [
            *(by_name[name] for name in self.late),
            *(field for field, _ in stamps),
            *(by_name[name] for name in self.names),
            *(field for field, _ in made),
            *(field for field, _ in fixed),
        ]
        quote = connection.ops.quote_name
        self._sql = (
            f"COPY {quote(model._meta.db_table)} "
            f"({', '.join(quote(field.column) for field in order)}) FROM STDIN"
        )
        self._stamps = [cell for _, cell in stamps]
        self._made = [(field.get_default, cell) for field, cell in made]
        tail = [text for _, text in fixed]
        self._fixed = ("\t" + "\t".join(tail) if tail else "") + "\n"
        self._width = len(self._given)

    def prepare(self, values: Sequence, late: Sequence | None = None) -> tuple:
        """The row of `values` (of `names`) as insert() takes it, with the late fields' `late`
        values too when they are drawn here (insert may still be given others)."""
        if not self.copies:
            return (None if late is None else tuple(late)), tuple(values)
        row = []
        for (same, none_passes, convert), value in zip(self._given, values, strict=True):
            if value.__class__ is same or (value is None and none_passes):
                row.append(value)
            else:
                row.append(convert(value))
        try:
            text = "\t".join(row)
        except TypeError:  # a value that is not text (a date, a number, NULL)
            text = "\t".join(map(_text, row))
        else:
            # Plain text needs escaping only where it holds a backslash, a tab or a line break.
            if text.count("\t") != self._width - 1 or _COPY_SPECIAL.search(text):
                text = "\t".join(map(_text, row))
        for default, cell in self._made:
            text += "\t" + _text(cell(default()))
        return (None if late is None else self._head(late)), text + self._fixed

    def _head(self, late: Sequence) -> str:
        """The late values' text, each followed by a tab."""
        head = ""
        for (same, none_passes, convert), value in zip(self._late, late, strict=True):
            if not (value.__class__ is same or (value is None and none_passes)):
                value = convert(value)
            head += _text(value) + "\t"
        return head

    def insert(self, rows: Iterable[tuple[Sequence | None, tuple]]) -> int:
        """Write (late values, prepared row) pairs, the late values None for those prepare()
        was given; how many rows were written."""
        if not self.copies:
            return insert_values(
                self.model,
                (*self.late, *self.names),
                [(*(drawn if late is None else late), *values) for late, (drawn, values) in rows],
                constants=self.constants,
            )
        now = timezone.now()
        stamps = "".join(_text(cell(now)) + "\t" for cell in self._stamps)
        lines = []
        for late, (head, text) in rows:
            if late is not None:
                head = self._head(late)
            elif head is None:
                raise ValueError("A prepared row without its late values needs them at insert.")
            lines.append(head + stamps + text)
        if not lines:
            return 0
        connection = connections[self.using]
        # As _copy: in the caller's transaction, a failure an IntegrityError keeping nothing.
        with (
            transaction.atomic(using=self.using, savepoint=False),
            connection.cursor() as cursor,
            connection.wrap_database_errors,
            cursor.cursor.copy(self._sql) as copy,
        ):
            copy.write("".join(lines))
        return len(lines)


_COPY_SPECIAL = re.compile(r"[\\\n\r]")
_COPY_SPECIAL_OR_TAB = re.compile(r"[\\\t\n\r]")
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})
_AS_STR = (int, Decimal, UUID, date, ipaddress.IPv4Address, ipaddress.IPv6Address)


def _text(value) -> str:
    """A database value (what _Cell gives: what psycopg would be handed) in COPY's text
    format, as psycopg's text dumpers write it."""
    if value is None:
        return "\\N"
    if isinstance(value, str):  # TextChoices members too: their text, as psycopg dumps them
        # translate() looks up every character; most values have none to escape.
        if _COPY_SPECIAL_OR_TAB.search(value):
            return value.translate(_COPY_ESCAPES)
        return str(value)
    if value.__class__ is bool:
        return "t" if value else "f"
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise TypeError("a naive datetime has no COPY text here")
        return str(value)
    if isinstance(value, _AS_STR) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"no COPY text for {type(value).__name__}")


class _Cell:
    """How one field's value becomes what the database takes: `get_db_prep_save`, skipped where
    it would give the value back unchanged (a str in a plain text field, a UUID in a UUID field
    or a key to one on a database with a native uuid type, None in a field that prepares None as
    NULL); JSON is dumped to text here, as psycopg's Jsonb would dump it."""

    __slots__ = ("same", "none_passes", "convert")

    def __init__(self, field: Field, connection):
        prep = field.get_db_prep_save
        target = getattr(field, "target_field", field)
        self.same = None
        if _plain_text(field):
            self.same = str
        elif connection.features.has_native_uuid_field and _plain_uuid(target):
            self.same = UUID
        elif connection.vendor == "postgresql":
            # Where the PostgreSQL backend sends these as they are (psycopg adapts them).
            self.same = _PG_AS_IS.get(type(field).get_db_prep_value)
        if (
            isinstance(field, JSONField)
            and type(field).get_db_prep_save is JSONField.get_db_prep_save
            and type(field).get_db_prep_value is JSONField.get_db_prep_value
        ):
            encoder = field.encoder

            def convert(value):
                if value.__class__ is dict and not value:
                    return "{}"
                return json.dumps(value, cls=encoder)

            self.none_passes = False
        else:

            def convert(value):
                return prep(value, connection)

            self.none_passes = prep(None, connection) is None
        self.convert = convert

    def __call__(self, value):
        if value is None:
            return None if self.none_passes else self.convert(value)
        if value.__class__ is self.same:
            return value
        return self.convert(value)


class _Values:
    """An instance's row as the database takes it: for each field
    `field.get_db_prep_save(field.pre_save(obj, add=True), connection)` (_Cell). Fields whose
    pre_save does more than read the attribute (auto_now, auto_now_add) always go through it."""

    def __init__(self, fields: list[Field], connection):
        self.read = attrgetter(*(field.attname for field in fields))
        self.single = len(fields) == 1
        self.dynamic, self.static = [], []
        for index, field in enumerate(fields):
            cell = _Cell(field, connection)
            if _dynamic_pre_save(field):
                self.dynamic.append((index, field.pre_save, cell))
            else:
                self.static.append((index, cell.same, cell.none_passes, cell.convert))

    def row(self, obj) -> list:
        row = [self.read(obj)] if self.single else list(self.read(obj))
        for index, same, none_passes, convert in self.static:
            value = row[index]
            if value is None:
                if not none_passes:
                    row[index] = convert(value)
            elif value.__class__ is not same:
                row[index] = convert(value)
        for index, pre_save, cell in self.dynamic:
            row[index] = cell(pre_save(obj, True))
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


def insert_or_skip(obj: models.Model, *, using: str | None = None) -> bool:
    """Insert one new instance unless a unique constraint already holds a row with its values:
    one `INSERT … ON CONFLICT DO NOTHING` (PostgreSQL and SQLite alike) in the caller's
    transaction, instead of a look-up, a savepoint and an insert that may fail. True if it wrote
    the row (the instance is then saved, as `save()` leaves it); False, writing nothing, if the
    row was there, or was being written by a concurrent transaction, which this one waited for.
    Values are what `save()` sends: each field's `pre_save(obj, add=True)`, then
    `get_db_prep_save`."""
    model = type(obj)
    alias = using or router.db_for_write(model, instance=obj)
    connection = connections[alias]
    fields = model._meta.concrete_fields
    values = [f.get_db_prep_save(f.pre_save(obj, add=True), connection) for f in fields]
    names = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    table = connection.ops.quote_name(model._meta.db_table)
    sql = f"INSERT INTO {table} ({names}) VALUES ({marks}) ON CONFLICT DO NOTHING"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        wrote = cursor.rowcount == 1
    if wrote:
        obj._state.adding, obj._state.db = False, alias
    return wrote


def update_in_batches(queryset: models.QuerySet, *, batch_size: int, **values) -> int:
    """Set `values` on every row of `queryset`, `batch_size` rows per transaction, so a purge of
    millions of rows never holds their locks all at once; the number of rows changed.

    The queryset must stop matching a row once it is updated (filter on the old values), or
    this never ends: each batch is the next `batch_size` rows it still matches."""
    model = queryset.model
    total = 0
    while True:
        with transaction.atomic():
            batch = list(queryset.values_list("pk", flat=True)[:batch_size])
            if not batch:
                return total
            total += model.objects.filter(pk__in=batch).update(**values)
