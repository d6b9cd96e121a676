"""The home page: the selected client's (or all clients') numbers at a glance for a date range,
the funnel and the days as charts, what happened last, what needs attention and, while a client
is new, what is left to set up."""

from dataclasses import dataclass
from datetime import date, timedelta

from django import forms
from django.conf import settings
from django.shortcuts import render
from django.urls import path
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_safe

from calls.models import CallSession, TrackedPhoneNumber
from campaigns import selectors
from campaigns.daily_counts import zone
from campaigns.models import Campaign, Event, EventType
from giftcards.models import (
    LOW_BALANCE,
    CreditAccount,
    DeliveryStatus,
    GiftCardDelivery,
    GiftCardPool,
)
from recipients.models import Recipient

from .. import charts
from ..access import dashboard_view

PRESETS = (7, 30, 90)
DEFAULT_DAYS = 30
LONGEST_RANGE = 366
FAILED_DELIVERY_STATUSES = (
    DeliveryStatus.FAILED,
    DeliveryStatus.UNDELIVERED,
    DeliveryStatus.BOUNCED,
)


class DateRangeForm(forms.Form):
    """The custom range: both days, in order, at most a year apart. Presets are links."""

    start = forms.DateField(label="From", widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end:
            if end < start:
                self.add_error("end", "The last day comes before the first.")
            elif (end - start).days + 1 > LONGEST_RANGE:
                self.add_error("end", f"Choose at most {LONGEST_RANGE} days.")
        return data


@dataclass
class Range:
    start: date
    end: date
    preset: int | None  # 7, 30, 90, or None for a custom range

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def _today(scope) -> date:
    tz = zone(scope.client.timezone if scope.client else settings.TIME_ZONE)
    return timezone.now().astimezone(tz).date()


def date_range(request, today: date) -> tuple[Range, DateRangeForm]:
    """The range the request asks for (?days=7|30|90, or ?start=&end=), 30 days otherwise; the
    custom form comes back bound, with its errors, when it was filled in."""
    if "start" in request.GET or "end" in request.GET:
        form = DateRangeForm(request.GET)
        if form.is_valid():
            start, end = form.cleaned_data["start"], form.cleaned_data["end"]
            return Range(start, end, None), form
        days = DEFAULT_DAYS
    else:
        try:
            days = int(request.GET.get("days", DEFAULT_DAYS))
        except ValueError:
            days = DEFAULT_DAYS
        if days not in PRESETS:
            days = DEFAULT_DAYS
        form = None
    chosen = Range(today - timedelta(days=days - 1), today, days)
    if form is None:
        form = DateRangeForm(initial={"start": chosen.start, "end": chosen.end})
    return chosen, form


@require_safe
@dashboard_view(section="home")
def home(request):
    scope = request.scope
    today = _today(scope)
    chosen, form = date_range(request, today)
    clients = [scope.client] if scope.client else scope.client_choices
    numbers = selectors.activity(clients=clients, start=chosen.start, end=chosen.end)
    context = {
        "range": chosen,
        "presets": PRESETS,
        "form": form,
        "numbers": numbers,
        "stats": [(label, count) for _, label, count in numbers.funnel],
        "funnel": charts.funnel_chart(
            [(label, count) for _, label, count in numbers.funnel], title="Funnel"
        ),
        "per_day": per_day_chart(numbers),
        "recent": [
            _sentence(event)
            for event in selectors.recent_events(
                # Test data (made with a test API key) is not the client's activity.
                in_scope(Event.objects, clients).exclude(recipient__is_test=True)
            )
        ],
        "alerts": alerts(clients),
        "onboarding": onboarding(scope.client) if scope.client else None,
    }
    if context["onboarding"]:
        context["onboarding_done"] = sum(1 for step in context["onboarding"] if step["done"])
    template = "app/home.html#body" if request.htmx else "app/home.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


def in_scope(queryset, clients):
    """`queryset` (of a tenant model) cut to `clients`: the scope's own list of the user's
    clients (for_user's reach, archived clients left out) or the selected one. The same rows as
    `scope.filter`, which builds the user's permission subquery anew for each model: a few
    milliseconds of Python each time, four times on this page (four fifths of its time in the
    benchmark before this)."""
    lookup = f"{queryset.model.client_lookup}__in"
    return queryset.filter(**{lookup: [client.pk for client in clients]})


def per_day_chart(numbers: selectors.Activity) -> charts.Chart:
    calls = numbers.series(EventType.CALLED)
    rewards = numbers.series(EventType.CLAIMED)
    return charts.daily_bars(
        [day for day, _ in calls],
        [
            ("Calls", "", [n for _, n in calls]),
            ("Rewards", "alt", [n for _, n in rewards]),
        ],
        title="Calls and rewards per day",
    )


# --- Recent activity -----------------------------------------------------------------------------

_SENTENCES = {
    EventType.CALLED: "{who} called",
    EventType.MATCHED: "{who}'s call was matched to their mailer",
    EventType.CONDITION_MET: "{who} met condition {condition}",
    EventType.APPROVED: "{who} was approved",
    EventType.REJECTED: "{who} was rejected",
    EventType.OPTED_IN: "{who} opted in to texts",
    EventType.OPTED_OUT: "{who} opted out of texts",
    EventType.CLAIMED: "{who} was rewarded a {value} card",
    EventType.DELIVERED: "{who}'s card was delivered",
    EventType.DELIVERY_FAILED: "A card for {who} could not be delivered",
    EventType.REDEEMED: "{who} opened their card",
    EventType.CARD_REVOKED: "{who}'s card was revoked",
}


def _sentence(event: Event) -> dict:
    recipient = event.recipient
    if recipient is not None:
        who = recipient.full_name or f"Recipient {recipient.display_code}"
    else:
        who = "A recipient"
    data = event.event_data or {}
    value = data.get("card_value")
    sentences = _SENTENCES if recipient is not None else {**_SENTENCES, **_NOBODY}
    text = sentences.get(event.event_type, "{who}: " + event.get_event_type_display()).format(
        who=who,
        condition=data.get("condition_number", ""),
        value=f"${value}" if value else "gift",
    )
    return {
        "text": text,
        "when": timezone.localtime(event.occurred_at, zone(event.client.timezone)),
        "campaign": event.campaign,
        "client": event.client,
        "recipient_url": f"/app/recipients/{recipient.pk}/" if recipient is not None else "",
        "kind": _KIND.get(event.event_type, ""),
    }


# A call no recipient was matched to (yet): the caller is not someone to name.
_NOBODY = {EventType.CALLED: "A call came in"}

_KIND = {
    EventType.REJECTED: "bad",
    EventType.DELIVERY_FAILED: "bad",
    EventType.CARD_REVOKED: "bad",
    EventType.OPTED_OUT: "warn",
    EventType.CLAIMED: "ok",
    EventType.DELIVERED: "ok",
    EventType.REDEEMED: "ok",
}


# --- What needs attention ------------------------------------------------------------------------


def alerts(clients) -> list[dict]:
    """Low stock, low credit and failed deliveries of the clients in scope, each with a link to
    where it is dealt with. Three queries, each over the few rows that are in trouble."""
    found = []
    low_pools = list(
        in_scope(GiftCardPool.objects, clients)
        .active()
        .filter(is_master_pool=False)
        .low_stock()
        .select_related("brand", "client")
        .order_by("available_cards", "pool_name")[:6]
    )
    for pool in low_pools:
        found.append(
            {
                "kind": "bad" if pool.available_cards == 0 else "warn",
                "text": (
                    f"{pool.pool_name}: "
                    + (
                        "no cards left"
                        if pool.available_cards == 0
                        else f"{pool.available_cards} cards left"
                    )
                ),
                "client": pool.client,
                "url": "/app/giftcards/",
                "action": "Add cards",
            }
        )
    for account in (
        in_scope(CreditAccount.objects, clients).filter(LOW_BALANCE).select_related("organization")
    ):
        found.append(
            {
                "kind": "bad" if account.balance == 0 else "warn",
                "text": f"Credit is low: ${account.balance:,.2f} left",
                "client": account.organization,
                "url": "/app/credit/",
                "action": "Add credit",
            }
        )
    failed = (
        in_scope(GiftCardDelivery.objects, clients)
        .filter(status__in=FAILED_DELIVERY_STATUSES)
        .count()
    )
    if failed:
        found.append(
            {
                "kind": "bad",
                "text": f"{failed} card {'delivery' if failed == 1 else 'deliveries'} failed",
                "client": None,
                "url": "/app/deliveries/?status=failed",
                "action": "Review and resend",
            }
        )
    return found


def onboarding(client) -> list[dict] | None:
    """The setup steps of a new client and whether each is done; None once every one is."""
    has_stock = GiftCardPool.objects.filter(
        client=client, is_master_pool=False, available_cards__gt=0
    ).exists()
    steps = [
        {
            "done": Campaign.objects.filter(client=client).exists(),
            "text": "Create a campaign",
            "links": [("New campaign", "/app/campaigns/new/")],
        },
        {
            "done": Recipient.objects.filter(audience__client=client).exists(),
            "text": "Add an audience to mail",
            "links": [("Campaigns", "/app/campaigns/")],
        },
        {
            "done": has_stock
            or CreditAccount.objects.filter(organization=client, balance__gt=0).exists(),
            "text": "Stock gift cards or add credit",
            "links": [("Gift cards", "/app/giftcards/"), ("Credit", "/app/credit/")],
        },
        {
            "done": TrackedPhoneNumber.objects.filter(client=client).exists(),
            "text": "Get a tracked phone number for the mailer",
            "links": [("Campaigns", "/app/campaigns/")],
        },
        {
            "done": CallSession.objects.filter(client=client).exists(),
            "text": "Take the first call",
            "links": [("Call log", "/app/calls/log/")],
        },
    ]
    if all(step["done"] for step in steps):
        return None
    return steps


urlpatterns = [path("", home, name="home")]
