from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from mike.demo.views import phone_simulator_page
from recipients.redemption import redeem

admin.site.site_header = "Mike administration"
admin.site.site_title = "Mike"
admin.site.index_title = "Campaigns, rewards and recipients"

urlpatterns = [
    # Before the admin's own URLs, whose catch-all would answer this path first.
    path("admin/phone/", admin.site.admin_view(phone_simulator_page), name="phone-simulator"),
    path("admin/", admin.site.urls),
    path("redeem/", redeem, name="redeem"),
    path("hooks/twilio/voice/", include("calls.urls")),
    path("hooks/twilio/sms/", include("recipients.urls")),
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
]
