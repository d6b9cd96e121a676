from django.conf import settings
from django.http import HttpResponse
from django.template.loader import render_to_string


def ratelimited(request, exception=None):
    """django-ratelimit's view for a refused request: HTTP 429 with a readable page."""
    body = render_to_string("public/ratelimited.html", request=request)
    response = HttpResponse(body, status=429)
    response["Retry-After"] = "60"
    return response


def locked_out(request, credentials=None, *args, **kwargs):
    """django-axes' answer to a sign-in refused for too many failures: HTTP 429 with a page that
    says when to try again (the same for a real account and a made-up one)."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    body = render_to_string("public/locked_out.html", {"minutes": minutes}, request=request)
    response = HttpResponse(body, status=429)
    response["Retry-After"] = str(minutes * 60)
    return response
