"""The wallet pass pages, mounted under /redeem/wallet/ by mike/urls.py."""

from django.urls import path

from . import views

urlpatterns = [
    path("<str:token>/", views.wallet_page, name="wallet-page"),
    path("<str:token>/apple.pkpass", views.apple_pass, name="wallet-apple"),
    path("<str:token>/google/", views.google_save, name="wallet-google"),
]
