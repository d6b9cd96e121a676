"""Requests per key, counted in the shared cache (Redis) with the project's fixed-window limiter
(mike.core.ratelimit), so every web process counts against the same window. DRF's own
SimpleRateThrottle keeps a list of timestamps per key and rewrites it on each request without a
lock, which lets concurrent requests through past the limit."""

from django.conf import settings
from rest_framework.throttling import BaseThrottle

from mike.core.ratelimit import reserve

from .auth import ApiPrincipal


class ApiKeyThrottle(BaseThrottle):
    def allow_request(self, request, view):
        principal = request.user
        if not isinstance(principal, ApiPrincipal):
            return True
        writing = request.method not in ("GET", "HEAD", "OPTIONS")
        rate = settings.API_WRITE_RATE if writing else settings.API_READ_RATE
        reservation = reserve(
            group="api-write" if writing else "api-read", key=str(principal.pk), rate=rate
        )
        self.seconds = reservation.rate.seconds
        return not reservation.exceeded

    def wait(self):
        # The window is fixed, so it ends within its length: an honest upper bound.
        return getattr(self, "seconds", 60)
