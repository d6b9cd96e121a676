"""Twilio voice webhooks, mounted at /hooks/twilio/voice/ by mike/urls.py."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.voice, name="twilio-voice"),
    path("status/", views.voice_status, name="twilio-voice-status"),
]
