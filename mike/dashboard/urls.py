"""The dashboards' URLs, under /app/. Each page family keeps its own `urlpatterns` beside its views."""

from .views import auth, campaigns, core, home

app_name = "dashboard"

urlpatterns = [
    *auth.urlpatterns,
    *core.urlpatterns,
    *home.urlpatterns,
    *campaigns.urlpatterns,
]
