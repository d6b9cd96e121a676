"""How long a signed-in session lasts.

Staff reach every client's data, so their sessions are short and end when the browser closes:
the cookie is a browser-session cookie and the session itself ends STAFF_SESSION_MINUTES after
signing in, however busy it is (`StaffSessionMiddleware`). Dashboard users keep theirs for
DASHBOARD_SESSION_DAYS, counted from the last time the session changed.

Applied when anyone signs in (Django's `user_logged_in` signal), so the admin's sign-in, the
dashboards' and an invitation's all get the same rules.
"""

import time

from django.conf import settings
from django.contrib.auth import logout

# Seconds since the epoch at which a staff session ends, whatever its cookie says.
ENDS_AT_KEY = "mike_session_ends_at"


def is_staff_user(user) -> bool:
    return bool(user.is_staff or user.is_superuser)


def apply_session_age(sender, request, user, **kwargs):
    """`user_logged_in` receiver: the session's age for who signed in."""
    if request is None or not hasattr(request, "session"):
        return
    if is_staff_user(user):
        request.session.set_expiry(0)
        request.session[ENDS_AT_KEY] = int(time.time()) + settings.STAFF_SESSION_MINUTES * 60
    else:
        request.session.set_expiry(settings.DASHBOARD_SESSION_DAYS * 24 * 3600)
        request.session.pop(ENDS_AT_KEY, None)


class StaffSessionMiddleware:
    """Signs out a session whose fixed end (a staff session's) has passed. After Django's
    AuthenticationMiddleware and django-otp's OTPMiddleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        ends_at = request.session.get(ENDS_AT_KEY)
        if ends_at is not None and time.time() >= ends_at and request.user.is_authenticated:
            logout(request)
        return self.get_response(request)
