"""Twilio's SMS webhooks, mounted under /hooks/twilio/sms/ by mike/urls.py."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.sms_inbound, name="twilio-sms"),
    path("status/", views.sms_status, name="twilio-sms-status"),
]
