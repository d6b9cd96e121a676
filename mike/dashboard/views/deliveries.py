"""Deliveries: every attempt to send a reward's card, why one failed, and resending it."""

import django_filters
import django_tables2 as tables
from django.contrib import messages
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST, require_safe

from giftcards import selectors
from giftcards.models import (
    CardDeliveryMethod,
    DeliveryFailureReason,
    DeliveryStatus,
    GiftCardDelivery,
)
from giftcards.services.retries import RETRYABLE_STATUSES, retry_refusal
from mike.rewards.delivery import retry_delivery

from ..access import dashboard_view
from ..tables import DashboardTable, DateInput, scoped_campaigns, table_page
from .giftcards import client_time, money, status_badge
from .recipients import test_badge, test_suffix


class DeliveryTable(DashboardTable):
    recipient = tables.Column("Recipient", orderable=False)
    card = tables.Column("Card", accessor="reward", orderable=False)
    delivery_method = tables.Column("Channel")
    status = tables.Column("Status")
    failure_reason = tables.Column("Failure", default="", attrs={"td": {"class": "failure"}})
    retry_count = tables.Column("Attempts", attrs={"td": {"class": "num"}})
    last_attempt_at = tables.DateTimeColumn(
        verbose_name="Last attempt",
        format="M j, Y H:i",
        attrs={"td": {"class": "when"}},
        default="",
    )
    campaign = tables.Column(
        "Campaign", accessor="campaign__name", order_by="campaign__name", default=""
    )
    created_at = tables.DateTimeColumn(
        verbose_name="Created", format="M j, Y H:i", attrs={"td": {"class": "when"}}
    )
    actions = tables.Column("", accessor="pk", orderable=False, attrs={"td": {"class": "nowrap"}})

    class Meta(DashboardTable.Meta):
        empty_text = "No deliveries yet."
        sequence = ("recipient", "status", "actions", "failure_reason", "...")

    always_visible = ("recipient", "status")

    def render_recipient(self, record):
        return format_html(
            '{}{}<br><span class="small muted">{}</span>',
            record.recipient.full_name or str(record.recipient),
            test_badge(record.recipient),
            record.delivery_address,
        )

    def value_recipient(self, record):
        name = record.recipient.full_name or str(record.recipient)
        return name + test_suffix(record.recipient)

    def value_card(self, record):
        # The reward's brand and value are its card's (copied from the condition); a sandbox
        # delivery has no card.
        reward = record.reward
        return f"{reward.brand.brand_name} {money(reward.card_value)}"

    def render_card(self, record):
        if record.is_sandbox:
            return format_html("{} (test)", self.value_card(record))
        return self.value_card(record)

    def render_status(self, record):
        return status_badge(record.status, record.get_status_display())

    def value_status(self, record):
        return record.status

    def render_failure_reason(self, record):
        return format_html(
            '{}<br><span class="small muted">{}</span>',
            record.get_failure_reason_display(),
            record.error_message[:140],
        )

    def value_failure_reason(self, record):
        return record.failure_reason

    def render_actions(self, record):
        scope = self.request.scope
        if record.status not in RETRYABLE_STATUSES or not scope.can_manage(
            record.recipient.audience.client
        ):
            return ""
        url = reverse("dashboard:delivery_resend", kwargs={"delivery_id": record.pk})
        return format_html(
            '<form class="row-actions" method="post" action="{url}"><input type="hidden" name="csrfmiddlewaretoken" '
            'value="{token}"><input type="hidden" name="next" value="{next}">'
            '<button type="submit" class="small">Resend</button></form>',
            url=url,
            token=get_token(self.request),
            next=self.request.get_full_path(),
        )


class DeliveryFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=DeliveryStatus.choices, empty_label="Any status")
    failure_reason = django_filters.ChoiceFilter(
        label="Failure", choices=DeliveryFailureReason.choices, empty_label="Any failure"
    )
    delivery_method = django_filters.ChoiceFilter(
        label="Channel", choices=CardDeliveryMethod.choices, empty_label="Any channel"
    )
    campaign = django_filters.ModelChoiceFilter(
        queryset=scoped_campaigns, empty_label="All campaigns"
    )
    since = django_filters.DateFilter(
        label="From", field_name="created_at", lookup_expr="date__gte", widget=DateInput
    )
    until = django_filters.DateFilter(
        label="To", field_name="created_at", lookup_expr="date__lte", widget=DateInput
    )

    class Meta:
        model = GiftCardDelivery
        fields = ["status", "failure_reason", "delivery_method", "campaign"]


@require_safe
@dashboard_view(section="deliveries")
def deliveries(request):
    scope = request.scope
    rows = scope.filter(GiftCardDelivery.objects)
    with client_time(scope):
        return table_page(
            request,
            table_class=DeliveryTable,
            queryset=selectors.delivery_rows(rows).select_related("recipient__audience__client"),
            filterset_class=DeliveryFilter,
            template="app/deliveries/list.html",
            export_name="deliveries",
            context={"failed": selectors.failed_delivery_count(rows)},
        )


@require_POST
@dashboard_view(section="deliveries")
def resend(request, delivery_id):
    """Resend a failed delivery: a fresh set of attempts, queued once (the service takes the row
    under a lock, so a second click finds it queued and sends nothing more)."""
    scope = request.scope
    rows = scope.filter(GiftCardDelivery.objects).select_related("recipient__audience__client")
    delivery = get_object_or_404(rows, pk=delivery_id)
    scope.require_manage(delivery.recipient.audience.client)
    if retry_delivery(delivery, by=request.user):
        messages.success(request, f"Resending to {delivery.delivery_address}.")
    else:
        delivery.refresh_from_db()
        messages.warning(request, retry_refusal(delivery) or "Nothing was resent.")
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = reverse("dashboard:deliveries")
    return redirect(target)


urlpatterns = [
    path("deliveries/", deliveries, name="deliveries"),
    path("deliveries/<uuid:delivery_id>/resend/", resend, name="delivery_resend"),
]
