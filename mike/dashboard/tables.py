"""Dashboard tables: django-tables2 tables over django-filter filter sets, swapped by htmx, with the
user's column choice and page size, and a streamed CSV export of the filtered rows.

A list view is one call:

    return table_page(request, table_class=RecipientTable, queryset=qs,
                      filterset_class=RecipientFilter, template="app/recipients/list.html",
                      export_name="recipients")

The page template includes "app/_table.html" inside an element with id="table"; a filter, sort or
page change swaps just that element (`hx-target="#table"`, `hx-push-url`), and without JavaScript
the same links and form reload the page.
"""

from __future__ import annotations

import django_tables2 as tables
from django import forms
from django.core.exceptions import FieldDoesNotExist
from django.core.paginator import EmptyPage, PageNotAnInteger
from django.db import models, transaction
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.encoding import force_str
from django_tables2.columns import ManyToManyColumn
from django_tables2.columns.linkcolumn import BaseLinkColumn
from django_tables2.paginators import LazyPaginator
from django_tables2.rows import BoundRow
from django_tables2.utils import A, signature

from mike.accounts.models import UserTablePreference
from mike.core.csvsafe import csv_line_writer, csv_safe

PAGE_SIZES = (25, 50, 100, 200)


class DateInput(forms.DateInput):
    """The browser's date picker in filter forms."""

    input_type = "date"


def scoped_campaigns(request):
    """The campaigns a filter may pick from: the user's, of the selected client (none outside a
    dashboard request, e.g. when a filter set is built without one)."""
    from campaigns.models import Campaign

    if request is None or not hasattr(request, "scope"):
        return Campaign.objects.none()
    return request.scope.filter(Campaign.objects).order_by("name")


DEFAULT_PAGE_SIZE = 25
EXPORT_CHUNK = 2000


class DashboardTable(tables.Table):
    """The base of every dashboard table: the dashboard's markup, and the columns a user may not
    hide (`Meta.always_visible`) or that never go into an export (`Meta.not_exported`)."""

    class Meta:
        template_name = "app/_table_body.html"
        attrs = {"class": "data-table"}
        # Pages counted lazily: "next" is known from one extra row, never from COUNT(*) over a
        # large client's rows (the cost of a page must not grow with the table).
        paginator_class = LazyPaginator
        empty_text = "Nothing here yet."

    always_visible: tuple[str, ...] = ()
    not_exported: tuple[str, ...] = ("actions", "select")

    @classmethod
    def preference_name(cls) -> str:
        return cls.__name__

    @classmethod
    def optional_columns(cls) -> list[tuple[str, str]]:
        """(name, header) of the columns a user may switch off."""
        found = []
        for name, column in cls.base_columns.items():
            if name in cls.always_visible or name in cls.not_exported:
                continue
            header = column.verbose_name or name.replace("_", " ").capitalize()
            found.append((name, force_str(header)))
        return found


def preference_for(user, table_class) -> UserTablePreference | None:
    return UserTablePreference.objects.filter(
        user=user, table_name=table_class.preference_name()
    ).first()


def save_preference(*, user, table_class, visible_columns: list[str], page_size: int):
    """Store a user's columns and page size for a table; unknown columns are dropped."""
    known = {name for name, _ in table_class.optional_columns()}
    if page_size not in PAGE_SIZES:
        page_size = DEFAULT_PAGE_SIZE
    with transaction.atomic():
        UserTablePreference.objects.update_or_create(
            user=user,
            table_name=table_class.preference_name(),
            defaults={
                "visible_columns": [name for name in visible_columns if name in known],
                "page_size": page_size,
            },
        )


def hidden_columns(preference, table_class) -> list[str]:
    if preference is None or not preference.visible_columns:
        return []
    shown = set(preference.visible_columns)
    return [name for name, _ in table_class.optional_columns() if name not in shown]


# --- CSV export -----------------------------------------------------------------------------------


_CELL_ARGUMENTS = ("value", "record", "column", "bound_column", "bound_row", "table")


def _export_cell(table, bound_column):
    """A function of a record giving its cell of `bound_column` in an export, resolved once per
    column: exactly what django-tables2's `BoundRow.get_cell_value` gives (the choice's label for a
    field with choices, then the table's `value_<name>`, else its `render_<name>`, else the
    column's `value()`, called with the arguments it accepts), without inspecting the callable's
    signature and rebuilding the accessor for every cell."""
    column = bound_column.column
    accessor = A(bound_column.accessor)
    path, _, remainder = accessor.rpartition(accessor.SEPARATOR)
    path_accessor = A(path)
    empty_values = column.empty_values
    many_to_many = isinstance(column, ManyToManyColumn)
    link_with_text = isinstance(column, BaseLinkColumn) and column.text is not None

    fn = bound_column.value
    accepted, catch_all = signature(fn)
    if catch_all:
        wanted = _CELL_ARGUMENTS
    elif any(name not in _CELL_ARGUMENTS for name in accepted):
        wanted = None  # call_with_appropriate would not call it: the cell is None
    else:
        wanted = tuple(name for name in _CELL_ARGUMENTS if name in accepted)
    fixed = {"column": column, "bound_column": bound_column, "table": table}

    def call(record, value):
        if wanted is None:
            return None
        if not wanted:
            return fn()
        kwargs = {}
        for name in wanted:
            if name == "value":
                kwargs[name] = value
            elif name == "record":
                kwargs[name] = record
            elif name == "bound_row":
                kwargs[name] = BoundRow(record, table=table)
            else:
                kwargs[name] = fixed[name]
        return fn(**kwargs)

    # Whether the accessor ends on a field with choices, per model (one model per export).
    choice_fields: dict[type, bool] = {}

    def has_choices(record, penultimate) -> bool:
        key = type(record)
        if key not in choice_fields:
            try:
                field = accessor.get_field(record)
            except FieldDoesNotExist:
                field = None
            choice_fields[key] = bool(getattr(field, "choices", ()))
        return choice_fields[key] and getattr(penultimate, f"get_{remainder}_display", None)

    def cell(record):
        value = None
        penultimate = path_accessor.resolve(record, quiet=True)
        resolve = bool(remainder)
        if isinstance(penultimate, models.Model):
            display = has_choices(record, penultimate)
            if display:
                value = display()
                resolve = False
        if resolve:
            try:
                value = accessor.resolve(record)
            except Exception:
                if link_with_text:
                    return call(record, None)
        if value in empty_values or (many_to_many and not value.exists()):
            return None
        return call(record, value)

    return cell


def export_cells(table, columns):
    """The per-column cell functions of an export, built once for the whole file."""
    return [_export_cell(table, column) for column in columns]


def stream_csv(table, queryset, *, filename: str) -> StreamingHttpResponse:
    """The rows of `queryset` as CSV, with the table's visible columns (as it renders their values,
    `value_FOO` where defined), streamed in chunks so memory stays flat at any row count."""
    columns = [
        column
        for column in table.columns
        if column.name not in table.not_exported and column.visible
    ]
    cells = export_cells(table, columns)
    writer = csv_line_writer()

    def rows():
        yield "\ufeff"  # a BOM, so spreadsheet programs read the file as UTF-8
        yield writer.writerow([csv_safe(column.header) for column in columns])
        # iterator() with a chunk size keeps prefetch_related working without caching the rows.
        for record in queryset.iterator(chunk_size=EXPORT_CHUNK):
            yield writer.writerow([csv_safe(cell(record)) for cell in cells])

    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}-{stamp}.csv"'
    return response


# --- The list page --------------------------------------------------------------------------------


def table_page(
    request,
    *,
    table_class: type[DashboardTable],
    queryset,
    template: str,
    filterset_class=None,
    context: dict | None = None,
    export_name: str | None = None,
    table_kwargs: dict | None = None,
):
    """Render a list page: filter, sort, page and (with ?export=csv) export `queryset`.

    An htmx request aimed at the table gets only "app/_table.html"; every answer varies on
    HX-Request so a cached fragment is never shown as the page.
    """
    filterset = None
    if filterset_class is not None:
        filterset = filterset_class(request.GET or None, queryset=queryset, request=request)
        queryset = filterset.qs if filterset.is_bound and filterset.is_valid() else queryset
    preference = preference_for(request.user, table_class)
    table = table_class(
        queryset,
        request=request,
        exclude=hidden_columns(preference, table_class),
        **(table_kwargs or {}),
    )
    if export_name and request.GET.get("export") == "csv":
        # Sorting as the page shows it; no pagination.
        tables.RequestConfig(request, paginate=False).configure(table)
        response = stream_csv(table, table.data.data, filename=export_name)
        # The table and rows the file was made from, for checking a file against the table.
        response.export_table, response.export_queryset = table, table.data.data
        return response
    page_size = preference.page_size if preference and preference.page_size else DEFAULT_PAGE_SIZE
    # Sorting from the request; the page size only from the user's settings (a ?per_page= in the
    # address would let anyone ask for every row at once).
    tables.RequestConfig(request, paginate=False).configure(table)
    try:
        page = max(1, int(request.GET.get(table.prefixed_page_field, 1)))
    except ValueError:
        page = 1
    try:
        table.paginate(page=page, per_page=page_size)
    except (EmptyPage, PageNotAnInteger):
        table.paginate(page=1, per_page=page_size)
    ctx = {
        "table": table,
        "filter": filterset,
        "export_name": export_name,
        "table_prefs": {
            "name": table_class.preference_name(),
            "columns": table_class.optional_columns(),
            "hidden": set(hidden_columns(preference, table_class)),
            "page_size": page_size,
            "page_sizes": PAGE_SIZES,
        },
        **(context or {}),
    }
    htmx = getattr(request, "htmx", None)
    if htmx and htmx.target == "table":
        response = render(request, "app/_table.html", {**ctx, "table_fragment": True})
    else:
        response = render(request, template, ctx)
    patch_vary_headers(response, ["HX-Request"])
    return response
