from django.apps import AppConfig


class RewardsConfig(AppConfig):
    """The reward pipeline: no models, the Celery tasks (found by autodiscovery in `tasks`)."""

    name = "mike.rewards"
    label = "rewards"
    verbose_name = "Reward pipeline"

    def ready(self):
        from . import checks  # noqa: F401  (registers the system checks)
