"""The home page: the selected client's (or all clients') numbers at a glance."""

from django.shortcuts import render
from django.urls import path
from django.views.decorators.http import require_safe

from ..access import dashboard_view


@require_safe
@dashboard_view(section="home")
def home(request):
    return render(request, "app/home.html", {})


urlpatterns = [path("", home, name="home")]
