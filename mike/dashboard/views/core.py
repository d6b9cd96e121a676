"""The dashboard's own pages: choosing a client, switching it from the header, table settings."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST, require_safe
from django_htmx.http import HttpResponseClientRedirect

from ..access import dashboard_view, home_url_for, select_client
from ..tables import DashboardTable, save_preference


def _safe_next(request, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


@require_safe
@dashboard_view(agents=True)
def choose_client(request):
    """The client picker agency users see after signing in (and any time from the header)."""
    return render(request, "app/choose_client.html", {"next": request.GET.get("next", "")})


@require_POST
@dashboard_view(agents=True)
def switch_client(request):
    scope = request.scope
    wanted = request.POST.get("client", "")
    if wanted == "all" and scope.is_agency_user:
        select_client(request, None)
    else:
        client = next((c for c in scope.client_choices if str(c.pk) == wanted), None)
        if client is None:
            raise Http404("No such client.")
        select_client(request, client.pk)
    # A page of one object (a campaign of the old client) would now be out of scope: go to the
    # section's list, which shows the new client's rows.
    target = _safe_next(request, home_url_for(scope))
    if request.POST.get("from_picker"):
        target = home_url_for(scope)
    if getattr(request, "htmx", False):
        return HttpResponseClientRedirect(_section_of(target))
    return redirect(_section_of(target))


def _section_of(url: str) -> str:
    """/app/campaigns/<id>/… → /app/campaigns/ (a list page stays as it is)."""
    parts = [p for p in url.split("?", 1)[0].split("/") if p]
    if len(parts) <= 2:
        return url
    return "/" + "/".join(parts[:2]) + "/"


def _table_classes():
    found = {}
    stack = list(DashboardTable.__subclasses__())
    while stack:
        cls = stack.pop()
        found[cls.preference_name()] = cls
        stack.extend(cls.__subclasses__())
    return found


@require_POST
@dashboard_view(agents=True)
def table_preferences(request, name):
    table_class = _table_classes().get(name)
    if table_class is None:
        raise Http404("No such table.")
    try:
        page_size = int(request.POST.get("page_size", ""))
    except ValueError:
        page_size = 0
    save_preference(
        user=request.user,
        table_class=table_class,
        visible_columns=request.POST.getlist("columns"),
        page_size=page_size,
    )
    messages.success(request, "Table settings saved.")
    return redirect(_safe_next(request, home_url_for(request.scope)))


urlpatterns = [
    path("clients/", choose_client, name="choose_client"),
    path("switch/", switch_client, name="switch_client"),
    path("tables/<str:name>/", table_preferences, name="table_prefs"),
]
