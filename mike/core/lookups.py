"""`field__any=[...]`: membership in a list sent as ONE array parameter on PostgreSQL.

Django's `__in` writes one placeholder per value; for the imports' checks of a batch (thousands of
phones, emails, codes or hashes against what is stored) psycopg then spends longer splitting the
query text than the database spends answering it. `= ANY(%s)` is one placeholder whatever the
list's length, and the planner uses the same indexes. Other databases (SQLite for the demo) get
`IN (...)`.
"""

import json
from collections.abc import Iterable

from django.db import connections, router
from django.db.models import Field, QuerySet, TextField
from django.db.models.functions import Cast
from django.db.models.lookups import In, Lookup


def json_array(values: list, db_type: str) -> tuple[str, str]:
    """(SQL, parameter) of an array of `db_type` holding `values` (str, int or UUID), sent as
    one JSON text: psycopg dumps a Python list element by element in Python (about 20 µs a
    value), json.dumps the whole list in C."""
    sql = f"ARRAY(SELECT jsonb_array_elements_text(%s::jsonb))::{db_type}[]"
    return sql, json.dumps(
        [value if isinstance(value, (str, int)) else str(value) for value in values]
    )


@Field.register_lookup
class AnyOf(Lookup):
    lookup_name = "any"
    prepare_rhs = False

    def get_prep_lookup(self):
        field = self.lhs.output_field
        return [field.get_prep_value(value) for value in self.rhs]

    def as_sql(self, compiler, connection):
        if connection.vendor != "postgresql" or not self.rhs:
            return compiler.compile(In(self.lhs, list(self.rhs)))
        lhs_sql, lhs_params = self.process_lhs(compiler, connection)
        field = self.lhs.output_field
        values = [field.get_db_prep_value(value, connection, prepared=True) for value in self.rhs]
        array, param = json_array(values, field.cast_db_type(connection))
        return f"{lhs_sql} = ANY({array})", (*lhs_params, param)


def stored_values(
    queryset: QuerySet,
    field: str,
    values: Iterable,
    *,
    where: dict,
    expression: str = "",
    where_indexed: bool = False,
) -> set:
    """Those of `values` that a row of `queryset`'s model matching `where` ({field: value},
    equalities) holds in `field`, for the imports' duplicate checks.

    On PostgreSQL each value is looked up on its own, `unnest(values) JOIN LATERAL (… LIMIT 1)`,
    through an index that starts with `field` (the caller's to have), and `where` is compared
    on the rows found with IS NOT DISTINCT FROM, which no index answers. That is on purpose:
    while an import fills a new audience the statistics say the audience is empty, and a
    planner allowed to use an index on the audience reads every row of it for each value,
    slower with every batch; a value's own index finds its few rows whatever the statistics
    say. `expression` is the SQL of a computed column instead of `field` (what an expression
    index holds, as `custom_fields ->> 'external_id'`); `field` then names the annotation the
    other databases filter `queryset` on.

    `where_indexed` says an index holds the `where` fields and then `field` (the audience and
    the phone: recipient_audience_phone_idx): they are then compared with `=` (a NULL in `where`
    matches nothing), so each value is one probe of that index, found or not without reading
    the table, whereas the value's own index reads every row of other audiences that holds it
    (the same people imported into each campaign's audience) to compare their audience."""
    model = queryset.model
    values = list(dict.fromkeys(value for value in values if value))
    if not values:
        return set()
    connection = connections[router.db_for_read(model)]
    meta = model._meta
    if connection.vendor != "postgresql":
        if expression:
            # A JSON key's text (KT) compared with `__in` takes each value for JSON on SQLite
            # ("malformed JSON" for plain text): compare the key's text as text.
            queryset = queryset.annotate(_stored=Cast(field, TextField()))
            field = "_stored"
        return set(
            queryset.filter(**where, **{f"{field}__in": values})
            .order_by()
            .values_list(field, flat=True)
        )
    quote = connection.ops.quote_name
    if expression:
        column, kind = expression, "text"
    else:
        target = meta.get_field(field)
        column, kind = quote(target.column), target.cast_db_type(connection)
    array, param = json_array(values, kind)
    conditions, params = [f"{column} = v.value"], [param]
    compare = "=" if where_indexed else "IS NOT DISTINCT FROM"
    for name, value in where.items():
        target = meta.get_field(name)
        conditions.append(f"{quote(target.column)} {compare} %s")
        params.append(target.get_db_prep_value(value, connection))
    # Only quoted names and placeholders go into the text; the values are parameters.
    sql = (
        f"SELECT v.value FROM unnest({array}) AS v(value) JOIN LATERAL "  # noqa: S608
        f"(SELECT 1 FROM {quote(meta.db_table)} WHERE {' AND '.join(conditions)} LIMIT 1) AS hit "
        "ON true"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0] for row in cursor.fetchall()}
