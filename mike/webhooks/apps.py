from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "mike.webhooks"
    label = "webhooks"
    verbose_name = "Event webhooks"
