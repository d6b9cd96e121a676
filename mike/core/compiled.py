"""Querysets compiled once per process and run many times with new values.

Django compiles a queryset's SQL on every evaluation: for a `select_related` over wide models
that is most of the time a simple lookup takes (joins set up, every selected column named and
quoted, the ORDER BY resolved), paid again for the same SQL with one value changed. Django offers
no way to keep a compiled query and no well-kept library does it (result caches such as
django-cachalot keep rows, not SQL), so this keeps, per database connection, the SQL and the
compiler's description of its columns, and builds the model instances the way Django's own
`ModelIterable` does (the row's converters, `Model.from_db`, the related objects' populators and
the annotations), so the objects are those the queryset itself would give. On PostgreSQL the
SQL is sent apart from its values and prepared after a few runs on a connection
(mike.core.prepared), so it is not planned again either.

    recipient_by_code = CompiledQuery(
        lambda code: Recipient.objects.select_related("audience").filter(redemption_code=code)[:1]
    )
    recipient_by_code.first(code)  # the same as the queryset's .first()

The queryset is built once with a marker for each argument; each marker must reach the SQL's
parameters exactly once and unchanged (a string for a text column, a UUID for a UUID column),
which is checked when it is compiled. Only plain model querysets (no `values()`, no
`prefetch_related`) are accepted.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connections
from django.db.models import QuerySet
from django.db.models.query import ModelIterable, get_related_populators
from django.db.transaction import TransactionManagementError

from .prepared import is_native_safe, native, prepared_cursor


@dataclass(frozen=True)
class _Compiled:
    sql: str
    locks: bool  # SELECT … FOR UPDATE: only inside a transaction, as Django checks
    prepared: bool  # run through mike.core.prepared (PostgreSQL), `sql` in its `$n` form
    params: tuple
    positions: tuple[int, ...]  # where each argument goes in params
    compiler: Any
    model: type
    init_list: list[str]
    fields_start: int
    fields_end: int
    populators: list
    annotations: dict[str, int]
    converters: dict


class CompiledQuery:
    def __init__(self, build: Callable[..., QuerySet], *, markers: tuple = ("",)):
        """`build(*arguments)` gives the queryset; `markers` says each argument's kind by an
        example value: a str (the default, one argument) or a UUID."""
        self._build = build
        self._kinds = tuple(type(marker) for marker in markers)
        self._compiled: dict[tuple[str, int], _Compiled] = {}

    def _markers(self) -> tuple:
        made = []
        for kind in self._kinds:
            if issubclass(kind, uuid.UUID):
                made.append(uuid.uuid4())
            else:
                made.append(f"\x1fcompiled-query-marker-{uuid.uuid4().hex}")
        return tuple(made)

    def _compile(self, alias: str) -> _Compiled:
        markers = self._markers()
        queryset = self._build(*markers).using(alias)
        if queryset._iterable_class is not ModelIterable or queryset._prefetch_related_lookups:
            raise TypeError("CompiledQuery takes a plain model queryset")
        compiler = queryset.query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        params = tuple(params)
        positions = []
        for marker in markers:
            found = [n for n, value in enumerate(params) if value == marker]
            if len(found) != 1:
                raise ValueError(f"a marker reached the SQL's parameters {len(found)} times")
            positions.append(found[0])
        klass_info, select = compiler.klass_info, compiler.select
        start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
        fields = [column[0] for column in select[0 : compiler.col_count]]
        prepared = connections[alias].vendor == "postgresql" and is_native_safe(sql)
        return _Compiled(
            sql=native(sql) if prepared else sql,
            locks=bool(queryset.query.select_for_update),
            prepared=prepared,
            params=params,
            positions=tuple(positions),
            compiler=compiler,
            model=klass_info["model"],
            init_list=[column[0].target.attname for column in select[start:end]],
            fields_start=start,
            fields_end=end,
            populators=get_related_populators(klass_info, select, alias),
            annotations=dict(compiler.annotation_col_map or {}),
            converters=compiler.get_converters(fields),
        )

    def _compiled_for(self, alias: str) -> _Compiled:
        # Keyed by the connection object too (each thread has its own): a test that swaps a
        # database's settings gets a new connection, and so a new compilation. The compiler kept
        # holds its connection, so an id here is never reused by another connection.
        key = (alias, id(connections[alias]))
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = self._compile(alias)
        return compiled

    def all(self, *arguments, using: str = "default") -> list:
        if len(arguments) != len(self._kinds):
            raise TypeError(f"expected {len(self._kinds)} arguments, got {len(arguments)}")
        compiled = self._compiled_for(using)
        if compiled.locks and connections[using].get_autocommit():
            raise TransactionManagementError(
                "select_for_update cannot be used outside of a transaction."
            )
        params = list(compiled.params)
        for position, argument in zip(compiled.positions, arguments, strict=True):
            params[position] = argument
        cursor = prepared_cursor(using) if compiled.prepared else connections[using].cursor()
        with cursor as cursor:
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchall()
        if compiled.converters:
            rows = compiled.compiler.apply_converters(rows, compiled.converters)
        objects = []
        for row in rows:
            obj = compiled.model.from_db(
                using, compiled.init_list, row[compiled.fields_start : compiled.fields_end]
            )
            for populator in compiled.populators:
                populator.populate(row, obj)
            for name, position in compiled.annotations.items():
                setattr(obj, name, row[position])
            objects.append(obj)
        return objects

    def first(self, *arguments, using: str = "default"):
        found = self.all(*arguments, using=using)
        return found[0] if found else None
