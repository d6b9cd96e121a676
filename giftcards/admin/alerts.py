"""Admin of the staff alerts: read-only, with a "dismiss" action for a problem staff know about."""

from django.contrib import admin, messages

from mike.core.admin import MikeModelAdmin, ReadOnlyAdminMixin

from ..alerts import dismiss_alert
from ..models import StaffAlert
from .common import TIMESTAMPS


class OpenFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return (("open", "Open"), ("dismissed", "Dismissed"), ("cleared", "Cleared"))

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(cleared_at__isnull=True, dismissed_at__isnull=True)
        if self.value() == "dismissed":
            return queryset.filter(cleared_at__isnull=True, dismissed_at__isnull=False)
        if self.value() == "cleared":
            return queryset.filter(cleared_at__isnull=False)
        return queryset


@admin.register(StaffAlert)
class StaffAlertAdmin(ReadOnlyAdminMixin, MikeModelAdmin):
    list_display = (
        "last_alerted_at",
        "kind",
        "organization",
        "summary",
        "times_alerted",
        "cleared_at",
        "dismissed_at",
    )
    list_filter = (OpenFilter, "kind", "last_alerted_at")
    search_fields = ("key", "organization", "summary", "client__name")
    list_select_related = ("client", "dismissed_by")
    readonly_fields = TIMESTAMPS
    date_hierarchy = "last_alerted_at"
    actions = ["dismiss"]

    @admin.action(description="Dismiss: stop repeating these while they last")
    def dismiss(self, request, queryset):
        dismissed = sum(dismiss_alert(alert=alert, by=request.user) for alert in queryset)
        self.message_user(
            request,
            f"Dismissed {dismissed} alert(s); a problem that clears and comes back, gets worse or "
            "fails anew is alerted again.",
            messages.SUCCESS,
        )

    def get_actions(self, request):
        # ReadOnlyAdminMixin refuses change permission, which actions need by default; dismissing
        # is the one thing staff who may see alerts may do.
        actions = super().get_actions(request)
        if not request.user.has_perm("giftcards.view_staffalert"):
            actions.pop("dismiss", None)
        return actions
