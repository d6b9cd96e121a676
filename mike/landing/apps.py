from django.apps import AppConfig


class LandingConfig(AppConfig):
    """Landing pages and personal URLs: the public /p/ pages, their generators and QR codes.
    The models are the campaigns app's (LandingPage, Event); this package holds what spans
    campaigns, recipients and calls to show them."""

    name = "mike.landing"
    label = "landing"
    verbose_name = "Landing pages"
