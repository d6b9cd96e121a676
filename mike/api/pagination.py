"""Cursor pagination: stable under inserts (a new row never shifts the next page), and the cursor
is opaque, so a client cannot ask for page 10,000 and make the database count its way there."""

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination


class ApiCursorPagination(CursorPagination):
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200
    ordering = "-created_at"
    cursor_query_description = "The cursor of the page: the `next` or `previous` link's value."
    page_size_query_description = f"Results per page, 1 to {max_page_size} (default {page_size})."

    def get_page_size(self, request):
        # DRF falls back to the default on a bad `limit`; a client sending `limit=abc` or
        # `limit=0` has a bug it should hear about, so it is a 400 naming the parameter.
        values = request.query_params.getlist(self.page_size_query_param)
        if not values:
            return self.page_size
        message = f"Must be a whole number from 1 to {self.max_page_size}."
        if len(values) > 1:
            raise ValidationError({self.page_size_query_param: ["Give it once."]})
        try:
            size = int(values[0])
        except ValueError:
            raise ValidationError({self.page_size_query_param: [message]}) from None
        if not 1 <= size <= self.max_page_size:
            raise ValidationError({self.page_size_query_param: [message]})
        return size

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
        return parameters


class TimeOrderedPagination(ApiCursorPagination):
    # UUIDv7 keys are unique and time-ordered, so the key alone is a stable cursor.
    ordering = "-id"
