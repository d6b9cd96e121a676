"""Webhooks in the admin: read-only state; enabling, resending and sending a test go through the
services. Subscriptions are created by their owners (dashboard or API), not here."""

from django.contrib import admin, messages

from mike.core.admin import MikeModelAdmin

from .models import WebhookAttempt, WebhookDelivery, WebhookEvent, WebhookSubscription
from .services import ResendRefused, enable_subscription, resend_delivery, send_test_event


class ReadOnlyAdmin(MikeModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(ReadOnlyAdmin):
    list_display = ("url", "client", "is_active", "is_test", "failing_since", "disabled_at")
    list_filter = ("is_active", "is_test")
    search_fields = ("url", "client__name")
    readonly_fields = [
        field.name for field in WebhookSubscription._meta.fields if field.name != "secret_encrypted"
    ]
    exclude = ("secret_encrypted",)
    actions = ["enable", "send_test"]

    def has_delete_permission(self, request, obj=None):
        return True

    @admin.action(description="Enable the selected webhooks again")
    def enable(self, request, queryset):
        for subscription in queryset:
            enable_subscription(subscription=subscription)
        self.message_user(request, f"{queryset.count()} webhook(s) enabled.", messages.SUCCESS)

    @admin.action(description="Send a test event")
    def send_test(self, request, queryset):
        sent = 0
        for subscription in queryset:
            try:
                send_test_event(subscription=subscription, by=request.user)
                sent += 1
            except ResendRefused as error:
                self.message_user(request, f"{subscription}: {error}", messages.WARNING)
        self.message_user(request, f"{sent} test event(s) queued.", messages.SUCCESS)


class AttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = ("number", "attempted_at", "status_code", "error", "duration_ms", "response_excerpt")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("id", "subscription", "status", "attempts", "next_attempt_at", "created_at")
    list_filter = ("status",)
    search_fields = ("id", "subscription__url")
    readonly_fields = [field.name for field in WebhookDelivery._meta.fields]
    inlines = [AttemptInline]
    actions = ["resend"]

    @admin.action(description="Resend (a new delivery of the same event)")
    def resend(self, request, queryset):
        for delivery in queryset.select_related("subscription"):
            try:
                resend_delivery(delivery=delivery, by=request.user)
            except ResendRefused as error:
                self.message_user(request, f"{delivery.pk}: {error}", messages.WARNING)


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ("id", "event_type", "client", "is_test", "created_at")
    list_filter = ("event_type", "is_test")
    readonly_fields = [field.name for field in WebhookEvent._meta.fields]
