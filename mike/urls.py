from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from giftcards.views import short_link
from mike.core.admin import AutocompleteJsonView
from mike.core.admin_login import StaffAuthenticationForm
from mike.core.health import healthz, readyz
from mike.demo.views import phone_simulator_page
from recipients.redemption import redeem

admin.site.site_header = "Mike administration"
admin.site.login_form = StaffAuthenticationForm
admin.site.site_title = "Mike"
admin.site.index_title = "Campaigns, rewards and recipients"

urlpatterns = [
    # Health and observability: liveness and readiness for a load balancer (mike.core.health).
    path("healthz/", healthz, name="healthz"),
    path("readyz/", readyz, name="readyz"),
    # Before the admin's own URLs, whose catch-all would answer this path first.
    path("admin/phone/", admin.site.admin_view(phone_simulator_page), name="phone-simulator"),
    # The admin's own autocomplete answers with str(), which for a recipient is the full code.
    path(
        "admin/autocomplete/",
        admin.site.admin_view(AutocompleteJsonView.as_view(admin_site=admin.site)),
    ),
    path("admin/", admin.site.urls),
    path("app/", include("mike.dashboard.urls")),
    path("api/v1/", include("mike.api.urls")),
    path("redeem/", redeem, name="redeem"),
    path("p/", include("mike.landing.urls")),
    path("redeem/wallet/", include("giftcards.urls")),
    # The short link of a card's text: the card's wallet page.
    path("w/<str:token>/", short_link, name="wallet-short"),
    path("f/", include("mike.aceforms.urls")),
    path("hooks/twilio/voice/", include("calls.urls")),
    path("hooks/twilio/sms/", include("recipients.urls")),
    path("hooks/crm/", include("crm.urls")),
    path("", RedirectView.as_view(url="/app/", permanent=False)),
]
