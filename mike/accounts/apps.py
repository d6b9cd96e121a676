from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "mike.accounts"
    label = "accounts"
    verbose_name = "Accounts and organizations"
