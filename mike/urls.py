from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

admin.site.site_header = "Mike administration"
admin.site.site_title = "Mike"
admin.site.index_title = "Campaigns, rewards and recipients"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
]
