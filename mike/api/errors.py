"""Every API error is JSON: `{"error": {"type", "message", "fields"?}}`, never an HTML page.

DRF's own handler turns its exceptions into responses; this one gives them one shape, maps the
domain's refusals (Django's ValidationError per field, `DomainError` with its sentence) to 400 and
409, and answers anything unexpected with a JSON 500 after logging it, so a client is never handed
an HTML page."""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from mike.core.errors import DomainError

logger = logging.getLogger(__name__)

TYPES = {
    400: "invalid_request",
    401: "authentication_failed",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "rate_limited",
}


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state."
    default_code = "conflict"


class Unprocessable(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "The request cannot be processed."
    default_code = "unprocessable"


def error_body(status_code: int, message: str, fields: dict | None = None) -> dict:
    error = {"type": TYPES.get(status_code, "error"), "message": message}
    if fields:
        error["fields"] = fields
    return {"error": error}


def _flatten(detail) -> str:
    if isinstance(detail, list | tuple):
        return " ".join(_flatten(item) for item in detail)
    if isinstance(detail, dict):
        return " ".join(f"{key}: {_flatten(value)}" for key, value in detail.items())
    return str(detail)


def _fields(detail) -> dict:
    """DRF's nested error detail as {field: [messages]} (nested lists and dicts kept)."""

    def plain(value):
        if isinstance(value, dict):
            return {str(key): plain(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [plain(item) for item in value]
        return str(value)

    return plain(detail)


def exception_handler(exc, context):
    # A domain refusal first: some (ConditionOrderError) are ValidationErrors too, for forms.
    if isinstance(exc, DomainError):
        exc = Conflict(str(exc))
    elif isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            exc = exceptions.ValidationError(exc.message_dict)
        else:
            exc = exceptions.ValidationError({"non_field_errors": exc.messages})
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound("Not found: no such object for this API key.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        logger.exception("API error", exc_info=exc)
        return Response(
            error_body(500, "Something went wrong on our side; the request did nothing."),
            status=500,
        )
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail
        if isinstance(detail, dict):
            fields = _fields(detail)
            message = "Some fields are not valid: " + ", ".join(fields) + "."
            if list(fields) == ["non_field_errors"]:
                message = _flatten(detail["non_field_errors"])
            response.data = error_body(400, message, fields)
        else:
            response.data = error_body(400, _flatten(detail))
    else:
        response.data = error_body(response.status_code, _flatten(exc.detail))
    return response


@csrf_exempt
def not_found(request, *args, **kwargs):
    """Any /api/ path no route serves: a JSON 404, not the site's HTML one."""
    return JsonResponse(error_body(404, f"No API endpoint at {request.path}."), status=404)
