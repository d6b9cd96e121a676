"""Cursor pagination: stable under inserts (a new row never shifts the next page), and the cursor
is opaque, so a client cannot ask for page 10,000 and make the database count its way there."""

from rest_framework.pagination import CursorPagination


class ApiCursorPagination(CursorPagination):
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200
    ordering = "-created_at"
    cursor_query_description = "The cursor of the page: the `next` or `previous` link's value."


class TimeOrderedPagination(ApiCursorPagination):
    # UUIDv7 keys are unique and time-ordered, so the key alone is a stable cursor.
    ordering = "-id"
