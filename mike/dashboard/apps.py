from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "mike.dashboard"
    label = "dashboard"
    verbose_name = "Dashboards"
