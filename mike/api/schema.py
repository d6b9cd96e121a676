"""The OpenAPI document's description of the key scheme (drf-spectacular extension)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "mike.api.auth.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key from Settings → API keys: `Authorization: Bearer mk_…`. "
            "Test keys (`mk_test_…`) act on test data only.",
        }


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["type", "message"],
            "properties": {
                "type": {"type": "string", "example": "invalid_request"},
                "message": {"type": "string"},
                "fields": {
                    "type": "object",
                    "description": "For validation errors: the messages of each field.",
                    "additionalProperties": True,
                },
            },
        }
    },
}

ERRORS = {
    "400": "The request is not valid: see `fields`.",
    "401": "No API key, or not a usable one (malformed, unknown, revoked, expired).",
    "403": "The key may not do this (a read-only key writing).",
    "404": "No such object for this key (another client's objects are not found either).",
    "409": "Refused in the object's current state (a condition out of order …).",
    "422": "The Idempotency-Key was used with another request.",
    "429": "Too many requests for this key: wait `Retry-After` seconds.",
}


def add_error_responses(result, generator, request, public):
    """drf-spectacular postprocessing hook: every operation documents the API's JSON errors, so
    the document says what a client can receive (and the schema tests hold it to that)."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    reference = {"$ref": "#/components/schemas/Error"}
    for path in result.get("paths", {}).values():
        for method, operation in path.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for parameter in operation.get("parameters", []):
                # The API refuses an empty query value (KnownQueryParameters); say so.
                schema = parameter.get("schema", {})
                if parameter.get("in") == "query" and schema.get("type") == "string":
                    schema.setdefault("minLength", 1)
            for status, description in ERRORS.items():
                if status == "422" and method != "post":
                    continue
                operation["responses"].setdefault(
                    status,
                    {
                        "description": description,
                        "content": {"application/json": {"schema": reference}},
                    },
                )
    return result
