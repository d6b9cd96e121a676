"""Signing in and out of the dashboards, and resetting a forgotten password.

Django's own auth views, with Mike's templates. The sign-in form authenticates with the request, so
django-axes counts its failures per account and address as it does the admin's.
"""

from django import forms
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.shortcuts import redirect
from django.urls import path, reverse, reverse_lazy
from django.utils.decorators import method_decorator
from django.utils.http import urlencode
from django_ratelimit.decorators import ratelimit

from mike.accounts.two_factor import has_two_factor
from mike.core.clientip import client_ip

from ..access import ALL_CLIENTS, SESSION_KEY, scope_for, select_client


class LoginForm(AuthenticationForm):
    username = forms.EmailField(
        label="Email", widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"})
    )


class LoginView(auth_views.LoginView):
    template_name = "app/auth/login.html"
    form_class = LoginForm
    redirect_authenticated_user = True

    def form_valid(self, form):
        response = super().form_valid(form)
        # A fresh session: the client selection starts from the user's own reach.
        scope = scope_for(self.request)
        if scope.has_one_client or (not scope.is_agency_user and scope.client_choices):
            select_client(self.request, scope.client_choices[0].pk)
        if has_two_factor(self.request.user):
            # The second step: the code page, which then goes where this sign-in was going.
            verify = reverse("dashboard:two_factor_verify")
            return redirect(f"{verify}?{urlencode({'next': self.get_success_url()})}")
        return response

    def get_default_redirect_url(self):
        scope = scope_for(self.request)
        if scope.is_agent_only:
            return reverse("dashboard:calls")
        if scope.can_switch and self.request.session.get(SESSION_KEY) in (None, ALL_CLIENTS):
            return reverse("dashboard:choose_client")
        return reverse("dashboard:home")


def _reset_key(group, request):
    return client_ip(request)


@method_decorator(ratelimit(key=_reset_key, rate="5/h", method="POST", block=True), name="dispatch")
class PasswordResetView(auth_views.PasswordResetView):
    """Asks for an email address and mails a one-time link; says the same whether or not an
    account has that address, and is limited to a few requests an hour per address."""

    template_name = "app/auth/password_reset.html"
    email_template_name = "app/auth/password_reset_email.txt"
    subject_template_name = "app/auth/password_reset_subject.txt"
    form_class = PasswordResetForm
    success_url = reverse_lazy("dashboard:password_reset_done")


urlpatterns = [
    path("login/", LoginView.as_view(), name="login"),
    path(
        "logout/",
        auth_views.LogoutView.as_view(next_page=reverse_lazy("dashboard:login")),
        name="logout",
    ),
    path("password-reset/", PasswordResetView.as_view(), name="password_reset"),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name="app/auth/password_reset_done.html"),
        name="password_reset_done",
    ),
    path(
        "reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            template_name="app/auth/password_reset_confirm.html",
            success_url=reverse_lazy("dashboard:password_reset_complete"),
        ),
        name="password_reset_confirm",
    ),
    path(
        "reset/done/",
        auth_views.PasswordResetCompleteView.as_view(
            template_name="app/auth/password_reset_complete.html"
        ),
        name="password_reset_complete",
    ),
]
