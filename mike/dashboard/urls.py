"""The dashboards' URLs, under /app/. Each page family keeps its own `urlpatterns` beside its views."""

from .views import (
    auth,
    calls,
    campaigns,
    core,
    credit,
    deliveries,
    exports,
    giftcards,
    home,
    recipients,
    settings,
    team,
)

app_name = "dashboard"

urlpatterns = [
    *auth.urlpatterns,
    *core.urlpatterns,
    *home.urlpatterns,
    *campaigns.urlpatterns,
    *giftcards.urlpatterns,
    *deliveries.urlpatterns,
    *credit.urlpatterns,
    *recipients.urlpatterns,
    *calls.urlpatterns,
    *exports.urlpatterns,
    *team.urlpatterns,
    *settings.urlpatterns,
]
