"""The dashboards' URLs, under /app/. Each page family keeps its own `urlpatterns` beside its views."""

from .views import (
    api_keys,
    audiences,
    auth,
    calls,
    campaigns,
    console,
    core,
    credit,
    deliveries,
    exports,
    giftcards,
    home,
    imports,
    integrations,
    numbers,
    recipients,
    scripts,
    settings,
    team,
    webhooks,
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
    *audiences.urlpatterns,
    *imports.urlpatterns,
    *console.urlpatterns,
    *calls.urlpatterns,
    *exports.urlpatterns,
    *team.urlpatterns,
    *scripts.urlpatterns,
    *numbers.urlpatterns,
    *settings.urlpatterns,
    *webhooks.urlpatterns,
    *integrations.urlpatterns,
    *api_keys.urlpatterns,
]
