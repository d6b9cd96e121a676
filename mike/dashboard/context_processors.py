from .nav import navigation


def dashboard(request):
    """The header and navigation of a dashboard page (nothing on pages outside the dashboards)."""
    scope = getattr(request, "scope", None)
    if scope is None:
        return {}
    return {
        "scope": scope,
        "nav": navigation(scope, getattr(request, "nav_section", None)),
    }
