from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "mike.accounts"
    label = "accounts"
    verbose_name = "Accounts and organizations"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        from .sessions import apply_session_age

        user_logged_in.connect(apply_session_age, dispatch_uid="mike.accounts.session_age")
