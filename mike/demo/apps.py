from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo tooling: `seed_demo`, `play_phone` and the admin's phone simulator. No models."""

    name = "mike.demo"
    label = "demo"
    verbose_name = "Demo"
