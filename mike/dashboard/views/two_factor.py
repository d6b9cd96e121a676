"""Two-factor authentication in the dashboards: the sign-in's second step, and the account's
security page (turn it on with an authenticator app, see its state, make new recovery codes,
turn it off with a current code). The rules and the devices live in mike.accounts.two_factor.
"""

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from mike.accounts import two_factor
from mike.core.views import locked_out, ratelimited

from ..access import dashboard_view


def _disable_form(data=None):
    form = two_factor.CodeForm(data)
    # Below the page's other actions: the cursor should not jump to it.
    form.fields["code"].widget.attrs.pop("autofocus", None)
    return form


def _next_url(request) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse("dashboard:home")


@never_cache
@require_http_methods(["GET", "POST"])
def two_factor_verify(request):
    """The second step of signing in, for a signed-in user with an authenticator app whose
    session has not answered it yet (mike.accounts.two_factor.answer_sign_in_step: wrong codes
    are counted on the account and lock its second step, count as failed sign-ins for
    django-axes, and are rate limited per account)."""
    user = request.user
    if not user.is_authenticated or not user.is_active:
        return redirect_to_login(request.get_full_path(), reverse("dashboard:login"))
    if user.is_verified() or not two_factor.has_two_factor(user):
        return redirect(_next_url(request))
    outcome, form = two_factor.answer_sign_in_step(request)
    if outcome == "ok":
        return redirect(_next_url(request))
    if outcome == "rate_limited":
        return ratelimited(request)
    if outcome == "locked":
        return locked_out(request)
    return render(request, "app/auth/two_factor.html", {"form": form, "next": _next_url(request)})


@dashboard_view(section="account", agents=True)
@require_http_methods(["GET"])
def security(request):
    user = request.user
    context = {
        "enabled": two_factor.has_two_factor(user),
        "required": two_factor.must_have_two_factor(user),
        "codes_left": two_factor.recovery_codes_left(user),
        "disable_form": _disable_form(),
    }
    return render(request, "app/account/security.html", context)


@dashboard_view(section="account", agents=True, two_factor_setup=True)
@never_cache
@require_http_methods(["GET", "POST"])
def two_factor_setup(request):
    user = request.user
    if two_factor.has_two_factor(user):
        return redirect("dashboard:security")
    step = two_factor.setup_step(request)
    if step.codes is not None:
        return render(
            request,
            "app/account/recovery_codes.html",
            {"codes": step.codes, "just_set_up": True, "next": _next_url(request)},
        )
    context = {
        "form": step.form,
        "qr_svg": step.qr_svg,
        "setup_key": step.setup_key,
        "required": two_factor.must_have_two_factor(user),
        "next": _next_url(request),
    }
    return render(request, "app/account/two_factor_setup.html", context)


@dashboard_view(section="account", agents=True)
@never_cache
@require_POST
def recovery_codes_regenerate(request):
    if not two_factor.has_two_factor(request.user):
        return redirect("dashboard:security")
    codes = two_factor.regenerate_recovery_codes(user=request.user)
    return render(
        request,
        "app/account/recovery_codes.html",
        {"codes": codes, "next": reverse("dashboard:security")},
    )


@dashboard_view(section="account", agents=True)
@require_POST
def two_factor_disable(request):
    user = request.user
    if two_factor.must_have_two_factor(user):
        raise PermissionDenied(
            "Your role needs two-factor authentication: it cannot be turned off."
        )
    form = _disable_form(request.POST)
    if form.is_valid():
        if two_factor.code_rate_limited(request):
            return ratelimited(request)
        try:
            two_factor.disable_two_factor(user=user, code=form.cleaned_data["code"])
        except two_factor.TwoFactorError as error:
            form.add_error("code", str(error))
        else:
            messages.success(request, "Two-factor authentication is off for your account.")
            return redirect("dashboard:security")
    context = {
        "enabled": True,
        "required": False,
        "codes_left": two_factor.recovery_codes_left(user),
        "disable_form": form,
    }
    return render(request, "app/account/security.html", context, status=400)


urlpatterns = [
    path("login/verify/", two_factor_verify, name="two_factor_verify"),
    path("account/security/", security, name="security"),
    path("account/security/setup/", two_factor_setup, name="two_factor_setup"),
    path(
        "account/security/recovery-codes/",
        recovery_codes_regenerate,
        name="two_factor_recovery_codes",
    ),
    path("account/security/disable/", two_factor_disable, name="two_factor_disable"),
]
