"""The dashboards' URLs, under /app/. Each page family keeps its own `urlpatterns` beside its views."""

from .views import auth, calls, core, home, recipients

app_name = "dashboard"

urlpatterns = [
    *auth.urlpatterns,
    *core.urlpatterns,
    *home.urlpatterns,
    *recipients.urlpatterns,
    *calls.urlpatterns,
]
