"""Mike's admin site: Django's, with a second factor required of staff.

`admin.site` is this class (MikeAdminConfig in INSTALLED_APPS), so every app's registrations and
the extra views wrapped in `admin.site.admin_view` (the phone simulator, autocomplete) are guarded
the same way. A staff member who signed in with their password but has not answered the second
step in this session is sent to it from every admin page: to enter a code when they have an
authenticator app, or to set one up first (scan the QR code, confirm a code, keep the recovery
codes). The sign-in form itself is unchanged (StaffAuthenticationForm, django-axes' lockout).
"""

from functools import update_wrapper

from django.contrib import messages
from django.contrib.admin import AdminSite
from django.contrib.admin.apps import AdminConfig
from django.http import HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect


class MikeAdminConfig(AdminConfig):
    default_site = "mike.accounts.admin_site.MikeAdminSite"


def _is_staff(user) -> bool:
    return user.is_active and user.is_staff


class MikeAdminSite(AdminSite):
    def has_permission(self, request):
        return super().has_permission(request) and request.user.is_verified()

    # --- guarding every admin page -----------------------------------------------------------
    def _two_factor_redirect(self, request):
        target = reverse("admin:two_factor", current_app=self.name)
        return HttpResponseRedirect(f"{target}?{urlencode({'next': request.get_full_path()})}")

    def admin_view(self, view, cacheable=False):
        inner = super().admin_view(view, cacheable)

        def guarded(request, *args, **kwargs):
            user = request.user
            if user.is_authenticated and _is_staff(user) and not user.is_verified():
                if request.path == reverse("admin:logout", current_app=self.name):
                    # Signing out needs no second factor.
                    return view(request, *args, **kwargs)
                return self._two_factor_redirect(request)
            return inner(request, *args, **kwargs)

        return update_wrapper(guarded, inner)

    @method_decorator(never_cache)
    def login(self, request, extra_context=None):
        user = request.user
        if (
            request.method == "GET"
            and user.is_authenticated
            and _is_staff(user)
            and not user.is_verified()
        ):
            target = reverse("admin:two_factor", current_app=self.name)
            next_url = request.GET.get("next") or reverse("admin:index", current_app=self.name)
            return HttpResponseRedirect(f"{target}?{urlencode({'next': next_url})}")
        return super().login(request, extra_context)

    def get_urls(self):
        urls = [
            path("two-factor/", self._pending(self.two_factor_verify), name="two_factor"),
            path(
                "two-factor/setup/", self._pending(self.two_factor_setup), name="two_factor_setup"
            ),
            path(
                "two-factor/recovery-codes/",
                self.admin_view(self.two_factor_recovery_codes),
                name="two_factor_recovery_codes",
            ),
        ]
        return urls + super().get_urls()

    # --- the second step ---------------------------------------------------------------------
    def _pending(self, view):
        """For the second-step pages: a signed-in staff member, verified or not."""

        def wrapper(request, *args, **kwargs):
            if not (request.user.is_authenticated and _is_staff(request.user)):
                login_url = reverse("admin:login", current_app=self.name)
                return HttpResponseRedirect(f"{login_url}?{urlencode({'next': request.path})}")
            return view(request, *args, **kwargs)

        return update_wrapper(csrf_protect(never_cache(wrapper)), view)

    def _next_url(self, request) -> str:
        candidate = request.POST.get("next") or request.GET.get("next") or ""
        if url_has_allowed_host_and_scheme(
            candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            return candidate
        return reverse("admin:index", current_app=self.name)

    def _render(self, request, template, context):
        return TemplateResponse(
            request,
            template,
            {**self.each_context(request), "next": self._next_url(request), **context},
        )

    def two_factor_verify(self, request):
        from mike.accounts import two_factor
        from mike.core.views import locked_out, ratelimited

        user = request.user
        if user.is_verified():
            return redirect(self._next_url(request))
        if not two_factor.has_two_factor(user):
            target = reverse("admin:two_factor_setup", current_app=self.name)
            return HttpResponseRedirect(f"{target}?{urlencode({'next': self._next_url(request)})}")
        outcome, form = two_factor.answer_sign_in_step(request)
        if outcome == "ok":
            return redirect(self._next_url(request))
        if outcome == "rate_limited":
            return ratelimited(request)
        if outcome == "locked":
            return locked_out(request)
        return self._render(
            request, "admin/two_factor/verify.html", {"form": form, "title": "Two-factor sign-in"}
        )

    def two_factor_setup(self, request):
        from mike.accounts import two_factor

        user = request.user
        if two_factor.has_two_factor(user):
            return redirect(
                f"{reverse('admin:two_factor')}?{urlencode({'next': self._next_url(request)})}"
            )
        step = two_factor.setup_step(request)
        if step.codes is not None:
            return self._render(
                request,
                "admin/two_factor/recovery_codes.html",
                {"codes": step.codes, "title": "Your recovery codes", "just_set_up": True},
            )
        return self._render(
            request,
            "admin/two_factor/setup.html",
            {
                "form": step.form,
                "title": "Set up two-factor authentication",
                "qr_svg": step.qr_svg,
                "setup_key": step.setup_key,
            },
        )

    def two_factor_recovery_codes(self, request):
        from mike.accounts import two_factor

        if request.method == "POST":
            codes = two_factor.regenerate_recovery_codes(user=request.user)
            messages.success(request, "New recovery codes made: the old ones no longer work.")
            return self._render(
                request,
                "admin/two_factor/recovery_codes.html",
                {"codes": codes, "title": "Your recovery codes"},
            )
        return self._render(
            request,
            "admin/two_factor/recovery_codes.html",
            {
                "codes": None,
                "left": two_factor.recovery_codes_left(request.user),
                "title": "Your recovery codes",
            },
        )
