from django.apps import AppConfig


class ImportsConfig(AppConfig):
    name = "mike.imports"
    label = "imports"
    verbose_name = "Imports"
