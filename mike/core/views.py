from django.http import HttpResponse
from django.template.loader import render_to_string


def ratelimited(request, exception=None):
    """django-ratelimit's view for a refused request: HTTP 429 with a readable page."""
    body = render_to_string("public/ratelimited.html", request=request)
    response = HttpResponse(body, status=429)
    response["Retry-After"] = "60"
    return response
