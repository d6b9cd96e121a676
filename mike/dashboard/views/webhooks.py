"""Settings → Webhooks: a client's subscriptions to Mike's events, their secrets, and each one's
recent deliveries with their attempts (resend one, send a test event).

For the people who may change the client (its admins, its agency's admins, staff); everything is
read through the scope, so another tenant's subscription is a 404. Writes go through
mike.webhooks.services."""

import uuid

import django_tables2 as tables
from django import forms
from django.conf import settings
from django.contrib import messages
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_http_methods, require_POST

from mike.webhooks.catalogue import WebhookEventType
from mike.webhooks.models import WebhookDelivery, WebhookDeliveryStatus, WebhookSubscription
from mike.webhooks.services import (
    ResendRefused,
    SubscriptionInvalid,
    create_subscription,
    delete_subscription,
    enable_subscription,
    resend_delivery,
    rotate_secret,
    send_test_event,
    update_subscription,
)

from ..access import dashboard_view
from ..tables import DashboardTable, table_page
from .giftcards import client_time

STATUS_BADGE = {
    WebhookDeliveryStatus.SUCCEEDED: "ok",
    WebhookDeliveryStatus.FAILED: "warn",
    WebhookDeliveryStatus.GIVEN_UP: "bad",
    WebhookDeliveryStatus.PENDING: "info",
    WebhookDeliveryStatus.SENDING: "info",
}


class SubscriptionForm(forms.Form):
    url = forms.CharField(
        label="URL",
        max_length=2000,
        help_text="Mike posts each event here as JSON, signed with the webhook's secret.",
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/hooks/mike"}),
    )
    description = forms.CharField(
        max_length=200, required=False, help_text="What receives it (for you, not sent)."
    )
    events = forms.MultipleChoiceField(
        choices=WebhookEventType.choices,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one event."},
    )

    def apply_errors(self, refusal: SubscriptionInvalid) -> None:
        for name, problems in refusal.errors.items():
            self.add_error(None if name not in self.fields else name, problems)


def _scoped(request):
    return request.scope.filter(WebhookSubscription.objects).select_related("client")


def _subscription(request, webhook_id) -> WebhookSubscription:
    subscription = get_object_or_404(_scoped(request), pk=webhook_id)
    request.scope.require_manage(subscription.client)
    return subscription


class SubscriptionTable(DashboardTable):
    url = tables.Column("URL", attrs={"td": {"class": "webhook-url"}})
    state = tables.Column("Status", accessor="is_active", orderable=False)
    events = tables.Column("Events", orderable=False)
    last_success_at = tables.DateTimeColumn(
        verbose_name="Last success", format="M j, Y H:i", default="Never"
    )
    created_at = tables.DateTimeColumn(verbose_name="Created", format="M j, Y")

    class Meta(DashboardTable.Meta):
        empty_text = "No webhooks yet: add one to receive Mike's events in your systems."

    always_visible = ("url", "state")

    def render_url(self, record):
        return format_html(
            '<a href="{}">{}</a>{}',
            reverse("dashboard:webhook", args=[record.pk]),
            record.url,
            format_html('<br><span class="small muted">{}</span>', record.description)
            if record.description
            else "",
        )

    def value_url(self, record):
        return record.url

    def render_state(self, record):
        return subscription_badges(record)

    def value_state(self, record):
        return "active" if record.is_active else "disabled"

    def render_events(self, record):
        count = len(record.events or [])
        return f"{count} of {len(WebhookEventType.values)}"


def subscription_badges(subscription):
    if not subscription.is_active:
        badge = mark_safe('<span class="badge bad">Disabled</span>')
    elif subscription.failing_since:
        badge = mark_safe('<span class="badge warn">Failing</span>')
    else:
        badge = mark_safe('<span class="badge ok">Active</span>')
    if subscription.is_test:
        badge = format_html('{} <span class="badge info">Test</span>', badge)
    return badge


def when(moment) -> str:
    """A time to the second in the client's time zone (the page's: client_time)."""
    return date_format(timezone.localtime(moment), "M j, H:i:s")


class DeliveryTable(DashboardTable):
    event = tables.Column("Event", accessor="event__event_type", orderable=False)
    status = tables.Column("Status", orderable=False)
    attempts = tables.Column("Attempts", orderable=False)
    created_at = tables.DateTimeColumn(verbose_name="Created", format="M j, Y H:i:s")
    actions = tables.Column("", accessor="pk", orderable=False, attrs={"td": {"class": "nowrap"}})

    class Meta(DashboardTable.Meta):
        empty_text = "Nothing sent yet. Send a test event to try the endpoint."

    always_visible = ("event", "status")

    def render_event(self, record):
        resent = (
            format_html(
                '<br><span class="small muted">resend of {}</span>', str(record.resent_from_id)[:8]
            )
            if record.resent_from_id
            else ""
        )
        return format_html(
            '<span class="mono">{}</span><br><span class="small muted mono">{}</span>{}',
            record.event.event_type,
            record.pk,
            resent,
        )

    def render_status(self, record):
        due = ""
        if record.status == WebhookDeliveryStatus.FAILED and record.next_attempt_at:
            due = format_html(
                '<br><span class="small muted">next try {}</span>',
                when(record.next_attempt_at),
            )
        return format_html(
            '<span class="badge {}">{}</span>{}',
            STATUS_BADGE.get(record.status, ""),
            record.get_status_display(),
            due,
        )

    def value_status(self, record):
        return record.status

    def render_attempts(self, record):
        attempts = list(record.attempts_made.all())
        if not attempts:
            return mark_safe('<span class="muted">None yet</span>')
        rows = format_html_join(
            "",
            '<li><span class="badge {}">{}</span> {} · {} ms{}</li>',
            (
                (
                    "ok" if attempt.succeeded else "bad",
                    attempt.status_code or "no answer",
                    when(attempt.attempted_at),
                    attempt.duration_ms,
                    format_html('<br><span class="small muted">{}</span>', attempt.error)
                    if attempt.error
                    else "",
                )
                for attempt in attempts[-5:]
            ),
        )
        more = len(attempts) - 5
        extra = format_html('<li class="muted small">and {} earlier</li>', more) if more > 0 else ""
        return format_html('<ol class="attempts">{}{}</ol>', extra, rows)

    def render_actions(self, record):
        if record.status in (WebhookDeliveryStatus.PENDING, WebhookDeliveryStatus.SENDING):
            return ""
        if not record.subscription.is_active:
            return ""
        url = reverse(
            "dashboard:webhook_resend",
            kwargs={"webhook_id": record.subscription_id, "webhook_delivery_id": record.pk},
        )
        # A one-time key per rendered button: a double submit resends once.
        return format_html(
            '<form class="row-actions" method="post" action="{}">'
            '<input type="hidden" name="csrfmiddlewaretoken" value="{}">'
            '<input type="hidden" name="key" value="{}">'
            '<button type="submit" class="small">Resend</button></form>',
            url,
            get_token(self.request),
            uuid.uuid4().hex,
        )


@require_http_methods(["GET", "HEAD"])
@dashboard_view(section="settings")
def webhooks(request):
    client = request.scope.managed_client("Your role may not manage any client's webhooks.")
    rows = _scoped(request)
    with client_time(request.scope):
        return table_page(
            request,
            table_class=SubscriptionTable,
            queryset=rows.order_by("-created_at"),
            template="app/webhooks/list.html",
            context={
                "client": client,
                "catalogue": WebhookEventType.choices,
                "failing": rows.filter(is_active=True, failing_since__isnull=False).count(),
                "disabled": rows.filter(is_active=False).count(),
            },
        )


@require_http_methods(["GET", "HEAD", "POST"])
@dashboard_view(section="settings")
def webhook_new(request):
    client = request.scope.managed_client("Your role may not manage any client's webhooks.")
    if client is None:
        return render(request, "app/team/pick_client.html", {"what": "add a webhook"})
    form = SubscriptionForm(request.POST or None, initial={"events": WebhookEventType.values})
    if request.method == "POST" and form.is_valid():
        try:
            subscription, secret = create_subscription(
                client=client,
                url=form.cleaned_data["url"],
                events=form.cleaned_data["events"],
                description=form.cleaned_data["description"],
                by=request.user,
            )
        except SubscriptionInvalid as refusal:
            form.apply_errors(refusal)
        else:
            messages.success(
                request,
                "Webhook added. Its signing secret is below: keep it in the receiving system.",
            )
            return _detail(request, subscription, secret=secret)
    return render(request, "app/webhooks/form.html", {"form": form, "client": client})


def _detail(request, subscription, *, form=None, secret=None, status=200):
    form = form or SubscriptionForm(
        initial={
            "url": subscription.url,
            "description": subscription.description,
            "events": subscription.events,
        }
    )
    deliveries = (
        WebhookDelivery.objects.filter(subscription=subscription)
        .select_related("event", "subscription")
        .prefetch_related("attempts_made")
        .order_by("-created_at")
    )
    with client_time(request.scope):
        response = table_page(
            request,
            table_class=DeliveryTable,
            queryset=deliveries,
            template="app/webhooks/detail.html",
            context={
                "subscription": subscription,
                "client": subscription.client,
                "form": form,
                "secret": secret,
                "badges": subscription_badges(subscription),
                "retry_hours": settings.WEBHOOK_RETRY_HOURS,
            },
        )
    response.status_code = status
    return response


@require_http_methods(["GET", "HEAD", "POST"])
@dashboard_view(section="settings")
def webhook(request, webhook_id):
    subscription = _subscription(request, webhook_id)
    if request.method != "POST":
        return _detail(request, subscription)
    form = SubscriptionForm(request.POST)
    if form.is_valid():
        try:
            update_subscription(
                subscription=subscription,
                url=form.cleaned_data["url"],
                events=form.cleaned_data["events"],
                description=form.cleaned_data["description"],
            )
        except SubscriptionInvalid as refusal:
            form.apply_errors(refusal)
        else:
            messages.success(request, "Webhook saved.")
            return redirect("dashboard:webhook", webhook_id=subscription.pk)
    return _detail(request, subscription, form=form, status=400)


@require_http_methods(["GET", "HEAD", "POST"])
@dashboard_view(section="settings")
def webhook_secret(request, webhook_id):
    """Show the secret (a POST, so it is never in a link, a history or a cache), or with
    `rotate` replace it. A GET (the deliveries' page links on the page that showed it) goes
    back to the webhook's page."""
    subscription = _subscription(request, webhook_id)
    if request.method != "POST":
        target = reverse("dashboard:webhook", args=[subscription.pk])
        query = request.GET.urlencode()
        return redirect(f"{target}?{query}" if query else target)
    if request.POST.get("rotate"):
        secret = rotate_secret(subscription=subscription)
        messages.success(
            request, "New secret in force for every delivery from now on: update the receiver."
        )
        subscription.refresh_from_db()
    else:
        secret = subscription.secret
    response = _detail(request, subscription, secret=secret)
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@dashboard_view(section="settings")
def webhook_enable(request, webhook_id):
    subscription = _subscription(request, webhook_id)
    enable_subscription(subscription=subscription)
    messages.success(request, "Webhook enabled: new events are sent again.")
    return redirect("dashboard:webhook", webhook_id=subscription.pk)


@require_POST
@dashboard_view(section="settings")
def webhook_disable(request, webhook_id):
    subscription = _subscription(request, webhook_id)
    update_subscription(subscription=subscription, is_active=False)
    messages.success(request, "Webhook switched off: no events are sent to it.")
    return redirect("dashboard:webhook", webhook_id=subscription.pk)


@require_POST
@dashboard_view(section="settings")
def webhook_test(request, webhook_id):
    subscription = _subscription(request, webhook_id)
    try:
        send_test_event(subscription=subscription, by=request.user)
    except ResendRefused as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, "Test event sent: its delivery is at the top of the list.")
    return redirect("dashboard:webhook", webhook_id=subscription.pk)


@require_POST
@dashboard_view(section="settings")
def webhook_resend(request, webhook_id, webhook_delivery_id):
    subscription = _subscription(request, webhook_id)
    delivery = get_object_or_404(
        WebhookDelivery.objects.filter(subscription=subscription).select_related("subscription"),
        pk=webhook_delivery_id,
    )
    try:
        resend_delivery(delivery=delivery, by=request.user, key=request.POST.get("key"))
    except ResendRefused as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, f"{delivery.event.event_type} sent again as a new delivery.")
    return redirect("dashboard:webhook", webhook_id=subscription.pk)


@require_http_methods(["GET", "HEAD", "POST"])
@dashboard_view(section="settings")
def webhook_delete(request, webhook_id):
    subscription = _subscription(request, webhook_id)
    if request.method == "POST":
        delete_subscription(subscription=subscription)
        messages.success(request, f"Webhook to {subscription.url} deleted.")
        return redirect("dashboard:webhooks")
    return render(
        request,
        "app/webhooks/delete.html",
        {"subscription": subscription, "client": subscription.client},
    )


urlpatterns = [
    path("settings/webhooks/", webhooks, name="webhooks"),
    path("settings/webhooks/new/", webhook_new, name="webhook_new"),
    path("settings/webhooks/<uuid:webhook_id>/", webhook, name="webhook"),
    path("settings/webhooks/<uuid:webhook_id>/secret/", webhook_secret, name="webhook_secret"),
    path("settings/webhooks/<uuid:webhook_id>/enable/", webhook_enable, name="webhook_enable"),
    path("settings/webhooks/<uuid:webhook_id>/disable/", webhook_disable, name="webhook_disable"),
    path("settings/webhooks/<uuid:webhook_id>/test/", webhook_test, name="webhook_test"),
    path("settings/webhooks/<uuid:webhook_id>/delete/", webhook_delete, name="webhook_delete"),
    path(
        "settings/webhooks/<uuid:webhook_id>/deliveries/<uuid:webhook_delivery_id>/resend/",
        webhook_resend,
        name="webhook_resend",
    ),
]
