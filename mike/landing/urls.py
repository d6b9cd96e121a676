"""The public landing pages, mounted under /p/ by mike/urls.py."""

from django.urls import path

from . import views

urlpatterns = [
    path("<slug:slug>/", views.landing_page, name="landing-page"),
    path("<slug:slug>/<str:token>/", views.personal_page, name="landing-personal"),
    path("<slug:slug>/<str:token>/qr.svg", views.personal_qr, name="landing-qr"),
]
