from django.urls import path

from .views import crm_webhook

urlpatterns = [
    path("<str:webhook_token>/", crm_webhook, name="crm-webhook"),
]
