import zoneinfo

from django.utils import timezone

UTC = zoneinfo.ZoneInfo("UTC")


class ApiUtcMiddleware:
    """The API speaks UTC (`…Z`) whatever the site's display time zone: a machine reading
    timestamps should not have to know where the dashboards are."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/api/"):
            with timezone.override(UTC):
                return self.get_response(request)
        return self.get_response(request)
