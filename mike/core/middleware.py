import logging
import time

from django.utils.functional import SimpleLazyObject

from .clientip import client_ip
from .logs import new_request_id, request_id

logger = logging.getLogger("mike.request")

# Load balancers ask these every few seconds: their lines are DEBUG unless the answer is bad.
PROBES = ("/healthz/", "/readyz/")


def _caller(request) -> dict:
    """Who made the request, as far as the view found out: a user's id or an API key's prefix.
    The lazy user of AuthenticationMiddleware is read only if the view read it, so logging never
    costs a session lookup (the health probes touch no database)."""
    user = request.__dict__.get("user")
    if isinstance(user, SimpleLazyObject):
        user = getattr(request, "_cached_user", None)
    api_key = getattr(user, "api_key", None)
    if api_key is not None:
        return {"api_key": api_key.key_prefix}
    if user is not None and getattr(user, "is_authenticated", False):
        return {"user_id": str(user.pk)}
    return {}


def _logged_path(request) -> str:
    """The path, with secrets that travel in it (CRM webhook tokens, reset tokens) masked."""
    path = request.path
    match = getattr(request, "resolver_match", None)
    for name, value in match.kwargs.items() if match else ():
        if ("token" in name or name == "uidb64") and isinstance(value, str) and value:
            path = path.replace(value, "•••")
    return path


class RequestLogMiddleware:
    """First in MIDDLEWARE: sets the request id, answers it in `X-Request-ID`, and writes one line
    per request (method, path, status, duration, caller, client address, request id)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        rid = new_request_id(request.headers.get("X-Request-ID"))
        token = request_id.set(rid)
        request.request_id = rid
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = rid
            status = response.status_code
            if request.path in PROBES and status < 500:
                level = logging.DEBUG
            else:
                level = logging.ERROR if status >= 500 else logging.INFO
            logger.log(
                level,
                "%s %s %s",
                request.method,
                _logged_path(request),
                status,
                extra={
                    "method": request.method,
                    "path": _logged_path(request),
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    "client_ip": client_ip(request),
                    **_caller(request),
                },
            )
            return response
        finally:
            request_id.reset(token)
