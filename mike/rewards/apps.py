from django.apps import AppConfig


class RewardsConfig(AppConfig):
    """The reward pipeline: no models, the Celery tasks (found by autodiscovery in `tasks`)."""

    name = "mike.rewards"
    label = "rewards"
    verbose_name = "Reward pipeline"
