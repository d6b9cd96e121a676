"""The dashboard's navigation, by role. Each page's view sets `request.nav_section` through
`dashboard_view`'s caller (the `section` its URL sits under); the entry whose section matches is
marked as the current page."""

from collections.abc import Callable
from dataclasses import dataclass

from django.urls import reverse


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    section: str
    group: str = ""
    shown: Callable = lambda scope: not scope.is_agent_only


def _agents_too(scope) -> bool:
    return True


def _managers(scope) -> bool:
    return not scope.is_agent_only and scope.can_manage_any


ITEMS = (
    NavItem("Home", "dashboard:home", "home"),
    NavItem("Campaigns", "dashboard:campaigns", "campaigns", "Campaigns"),
    NavItem("Recipients", "dashboard:recipients", "recipients", "Campaigns"),
    NavItem("Audiences", "dashboard:audiences", "audiences", "Campaigns"),
    NavItem("Landing pages", "dashboard:pages", "pages", "Campaigns", shown=_managers),
    NavItem("Approvals", "dashboard:approvals", "approvals", "Campaigns"),
    NavItem("Calls", "dashboard:calls", "calls", "Campaigns", shown=_agents_too),
    NavItem("Forms", "dashboard:ace_forms", "forms", "Campaigns"),
    NavItem("Gift cards", "dashboard:giftcards", "giftcards", "Rewards"),
    NavItem("Deliveries", "dashboard:deliveries", "deliveries", "Rewards"),
    NavItem("Credit", "dashboard:credit", "credit", "Rewards"),
    NavItem("Team", "dashboard:team", "team", "Account"),
    NavItem("Call scripts", "dashboard:scripts", "scripts", "Account", shown=_managers),
    NavItem("Phone numbers", "dashboard:numbers", "numbers", "Account", shown=_managers),
    NavItem(
        "CRM integrations", "dashboard:integrations", "integrations", "Account", shown=_managers
    ),
    NavItem("Settings", "dashboard:settings", "settings", "Account", shown=_managers),
)


def navigation(scope, current_section: str | None):
    """[(group, [(label, url, is_current)])] for the user's role."""
    groups: list[tuple[str, list]] = []
    for item in ITEMS:
        if not item.shown(scope):
            continue
        entry = (item.label, reverse(item.url_name), item.section == current_section)
        if groups and groups[-1][0] == item.group:
            groups[-1][1].append(entry)
        else:
            groups.append((item.group, [entry]))
    return groups
