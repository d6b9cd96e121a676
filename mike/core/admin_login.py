"""The admin's sign-in form: staff only, and a non-staff account is told so in plain words."""

from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError


class StaffAuthenticationForm(AdminAuthenticationForm):
    """Django's admin form answers a right password of a non-staff account with "enter the
    correct email and password for a staff account", which tells an agency or client user their
    password is wrong. Say what is true instead: the admin is for platform staff."""

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "not_staff": "This sign-in is for Mike's platform staff. Your account is not a staff "
        "account: sign in to your dashboard at /app/ instead.",
    }

    def confirm_login_allowed(self, user):
        if user.is_active and not user.is_staff:
            raise ValidationError(self.error_messages["not_staff"], code="not_staff")
        super().confirm_login_allowed(user)
