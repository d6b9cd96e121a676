"""Gift cards: the client's pools and their stock, a pool's cards (masked; a full code only for
those allowed, each reveal and each full-code export audited), buying cards from a master pool against the client's
credit, and the rewards list with revocation."""

import uuid
from contextlib import contextmanager
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import django_filters
import django_tables2 as tables
from django import forms
from django.contrib import messages
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.text import slugify
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from giftcards import selectors
from giftcards.models import (
    GiftCard,
    GiftCardBrand,
    GiftCardPool,
    GiftCardStatus,
    RecipientGiftCard,
    RewardStatus,
)
from giftcards.services import InsufficientCredit, credit_account_for
from giftcards.services.codes import (
    CARD_EXPORT_COLUMNS,
    CodeRevealRefused,
    can_reveal_codes,
    export_card_codes,
    reveal_card_code,
)
from giftcards.services.revocation import MIN_REASON_LENGTH, RevocationRefused, revoke_reward
from giftcards.services.sales import SaleRefused, offers, sale_price, sell_cards
from mike.core.csvsafe import csv_line_writer, csv_safe

from ..access import dashboard_view
from ..tables import DashboardTable, scoped_campaigns, table_page

# --- Shared by the money pages (credit, deliveries) -----------------------------------------------

# The badge colour of each status, across cards, rewards and deliveries.
BADGE = {
    "available": "ok",
    "delivered": "ok",
    "sent": "info",
    "claimed": "info",
    "queued": "info",
    "sending": "info",
    "pending": "",
    "awaiting_stock": "warn",
    "awaiting_credit": "warn",
    "purchase_pending": "warn",
    "failed": "bad",
    "undelivered": "bad",
    "bounced": "bad",
    "revoked": "bad",
    "rejected": "bad",
    "expired": "",
}


def status_badge(value: str, label: str):
    return format_html('<span class="badge {}">{}</span>', BADGE.get(value, ""), label)


def money(value) -> str:
    if value is None:
        return ""
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.2f}"


@contextmanager
def client_time(scope):
    """Dates in the selected client's timezone (its office hours are what the reader thinks in);
    for "all clients", the site's."""
    zone = None
    if scope.client is not None:
        try:
            zone = ZoneInfo(scope.client.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            zone = None
    if zone is None:
        yield
        return
    with timezone.override(zone):
        yield


# --- Pools ---------------------------------------------------------------------------------------


class PoolTable(DashboardTable):
    pool_name = tables.Column(
        "Pool", linkify=("dashboard:giftcard_pool", {"pool_id": tables.A("pk")})
    )
    brand = tables.Column("Brand", accessor="brand__brand_name", order_by="brand__brand_name")
    card_value = tables.Column("Value", attrs={"td": {"class": "num"}})
    client = tables.Column("Client", accessor="client__name", order_by="client__name")
    available_cards = tables.Column("Available", attrs={"td": {"class": "num"}})
    claimed_cards = tables.Column("Assigned", attrs={"td": {"class": "num"}})
    delivered_cards = tables.Column("Delivered", attrs={"td": {"class": "num"}})
    total_cards = tables.Column("Total", attrs={"td": {"class": "num"}})
    stock = tables.Column("Stock", accessor="pk", orderable=False)

    class Meta(DashboardTable.Meta):
        empty_text = "No gift card pools yet."
        # What matters most first, so a phone shows it without scrolling sideways.
        sequence = ("pool_name", "available_cards", "stock", "brand", "card_value", "...")

    always_visible = ("pool_name",)

    def render_card_value(self, value):
        return money(value)

    def render_stock(self, record):
        if not record.is_active:
            return mark_safe('<span class="badge">Inactive</span>')
        if record.available_cards == 0:
            return mark_safe('<span class="badge bad">Empty</span>')
        if record.is_low_stock:
            return format_html(
                '<span class="badge warn">Low · alert at {}</span>', record.low_stock_threshold
            )
        return mark_safe('<span class="badge ok">In stock</span>')

    def value_stock(self, record):
        if not record.is_active:
            return "inactive"
        if record.available_cards == 0:
            return "empty"
        return "low" if record.is_low_stock else "ok"

    def value_card_value(self, value):
        return value


class PoolFilter(django_filters.FilterSet):
    brand = django_filters.ModelChoiceFilter(
        queryset=GiftCardBrand.objects.order_by("brand_name"), empty_label="All brands"
    )
    stock = django_filters.ChoiceFilter(
        label="Stock",
        choices=[("low", "Low or empty"), ("ok", "In stock")],
        empty_label="Any stock",
        method="filter_stock",
    )

    class Meta:
        model = GiftCardPool
        fields = ["brand"]

    def filter_stock(self, queryset, name, value):
        if value == "low":
            return queryset.low_stock()
        return queryset.exclude(pk__in=queryset.low_stock().values("pk"))


def _tabs(active: str) -> list[tuple[str, str, bool]]:
    return [
        ("Pools", reverse("dashboard:giftcards"), active == "pools"),
        ("Rewards", reverse("dashboard:giftcard_rewards"), active == "rewards"),
    ]


@require_safe
@dashboard_view(section="giftcards")
def giftcards(request):
    scope = request.scope
    pools = scope.filter(GiftCardPool.objects)
    return table_page(
        request,
        table_class=PoolTable,
        queryset=selectors.client_pools(pools),
        filterset_class=PoolFilter,
        template="app/giftcards/pools.html",
        export_name="giftcard-pools",
        context={
            "summary": selectors.stock_summary(pools),
            "tabs": _tabs("pools"),
            "can_buy": scope.client is not None and scope.can_manage(),
        },
    )


# --- A pool's cards ------------------------------------------------------------------------------


class CardTable(DashboardTable):
    code = tables.Column("Code", accessor="code_last4", order_by="code_last4")
    status = tables.Column("Status")
    holder = tables.Column(
        "Assigned to", accessor="claimed_by_recipient", orderable=False, default=""
    )
    campaign = tables.Column(
        "Campaign", accessor="assignment_campaign__name", orderable=False, default=""
    )
    claimed_at = tables.DateTimeColumn(
        verbose_name="Assigned", format="M j, Y H:i", attrs={"td": {"class": "when"}}, default=""
    )
    delivered_at = tables.DateTimeColumn(
        verbose_name="Delivered", format="M j, Y H:i", attrs={"td": {"class": "when"}}, default=""
    )
    created_at = tables.DateTimeColumn(
        verbose_name="Added", format="M j, Y", attrs={"td": {"class": "when"}}
    )
    actions = tables.TemplateColumn(
        template_name="app/giftcards/_card_actions.html", verbose_name="", orderable=False
    )

    class Meta(DashboardTable.Meta):
        empty_text = "No cards in this pool."

    always_visible = ("code",)

    def render_code(self, record):
        return format_html('<span class="mono">{}</span>', record.masked_code)

    def value_code(self, record):
        # The export is masked for everyone: a reveal is one card, on the record, never a file.
        return record.masked_code

    def render_status(self, record):
        return status_badge(record.status, record.get_status_display())

    def value_status(self, record):
        return record.status

    def render_holder(self, record):
        return record.claimed_by_recipient.full_name or str(record.claimed_by_recipient)

    value_holder = render_holder


class CardFilter(django_filters.FilterSet):
    last4 = django_filters.CharFilter(
        label="Last four",
        field_name="code_last4",
        lookup_expr="iexact",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "e.g. 0042"}),
    )
    status = django_filters.ChoiceFilter(choices=GiftCardStatus.choices, empty_label="Any status")

    class Meta:
        model = GiftCard
        fields = ["status"]


def _pool_or_404(request, pool_id) -> GiftCardPool:
    pools = selectors.client_pools(request.scope.filter(GiftCardPool.objects))
    return get_object_or_404(pools, pk=pool_id)


@require_safe
@dashboard_view(section="giftcards")
def pool_detail(request, pool_id):
    scope = request.scope
    pool = _pool_or_404(request, pool_id)
    can_reveal = can_reveal_codes(request.user)
    with client_time(scope):
        response = table_page(
            request,
            table_class=CardTable,
            queryset=selectors.pool_cards(pool),
            filterset_class=CardFilter,
            template="app/giftcards/pool.html",
            export_name="giftcard-cards",
            context={
                "pool": pool,
                "can_reveal": can_reveal,
                "can_manage": scope.can_manage(pool.client),
                "revocable": REVOCABLE,
            },
        )
    if can_reveal and request.htmx and request.htmx.target == "table" and not response.streaming:
        # The full-code export carries the table's filters: a table swapped by htmx swaps the
        # form too (out of band), as it does the export link.
        response.content += render_to_string(
            "app/giftcards/_full_export.html", {"pool": pool, "oob": True}, request=request
        ).encode()
    return response


@require_POST
@dashboard_view(section="giftcards")
def export_codes(request, pool_id):
    """The pool's cards, as the page's filters (status, last four) choose them, with their full
    code, card number and PIN: for those who may see codes, each export audited (one row naming
    who, the pool, the filters and the count). A POST, so no page elsewhere can start it."""
    pool = _pool_or_404(request, pool_id)
    if not can_reveal_codes(request.user):
        raise PermissionDenied("Only staff allowed to see gift card codes may export them.")
    filters = {name: request.POST.get(name, "") for name in CardFilter.base_filters}
    filterset = CardFilter(filters, queryset=selectors.pool_cards(pool), request=request)
    if not filterset.is_valid():
        messages.error(request, "Those filters are not valid; nothing was exported.")
        return redirect("dashboard:giftcard_pool", pool_id=pool.pk)
    try:
        export = export_card_codes(
            pool=pool,
            by=request.user,
            cards=filterset.qs.order_by("-created_at", "-pk"),
            filters=filters,
        )
    except CodeRevealRefused as exc:
        raise PermissionDenied(str(exc)) from exc
    writer = csv_line_writer()

    def lines():
        yield "\ufeff"  # a BOM, so spreadsheet programs read the file as UTF-8
        yield writer.writerow(CARD_EXPORT_COLUMNS)
        for row in export.rows:
            yield writer.writerow([csv_safe(value) for value in row])

    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    name = slugify(pool.pool_name) or "pool"
    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="giftcard-codes-{name}-{stamp}.csv"'
    # Bearer money: neither the browser nor a proxy may keep a copy.
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@dashboard_view(section="giftcards")
def reveal_code(request, card_id):
    cards = request.scope.filter(GiftCard.objects).filter(pool__is_master_pool=False)
    card = get_object_or_404(cards.select_related("pool", "brand"), pk=card_id)
    try:
        code = reveal_card_code(card=card, by=request.user)
    except CodeRevealRefused as exc:
        raise PermissionDenied(str(exc)) from exc
    template = "app/giftcards/_code.html" if request.htmx else "app/giftcards/reveal.html"
    response = render(request, template, {"card": card, "code": code})
    # Shown once: neither the browser nor a proxy may keep it.
    response["Cache-Control"] = "no-store"
    return response


# --- Buying from a master pool -------------------------------------------------------------------

SALE_TOKEN_SECONDS = 24 * 3600


class OfferChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, pool):
        return (
            f"{pool.brand.brand_name} {money(pool.card_value)} · {money(sale_price(pool))} each · "
            f"{pool.available_cards:,} in stock"
        )


class BuyForm(forms.Form):
    offer = OfferChoiceField(
        label="Cards", queryset=GiftCardPool.objects.none(), empty_label="Choose brand and value"
    )
    quantity = forms.IntegerField(label="How many", min_value=1, max_value=1000, initial=10)

    def __init__(self, *args, balance, **kwargs):
        super().__init__(*args, **kwargs)
        self.balance = balance
        self.fields["offer"].queryset = offers()

    def clean(self):
        data = super().clean()
        offer, quantity = data.get("offer"), data.get("quantity")
        if offer is not None and quantity:
            if quantity < offer.min_purchase_quantity:
                self.add_error("quantity", f"Buy at least {offer.min_purchase_quantity} cards.")
            elif quantity > offer.available_cards:
                self.add_error(
                    "quantity", f"Only {offer.available_cards:,} of these cards are in stock."
                )
        return data

    @property
    def cost(self):
        """(price each, total, balance after) once offer and quantity are valid."""
        if not self.is_bound or not self.is_valid():
            return None
        price = sale_price(self.cleaned_data["offer"])
        total = price * self.cleaned_data["quantity"]
        after = self.balance - total
        return {"price": price, "total": total, "after": after, "short": -after if after < 0 else 0}


@require_http_methods(["GET", "HEAD", "POST"])
@dashboard_view(section="giftcards")
def buy_cards(request):
    """Buy cards for the selected client. Each form shown carries a one-time token: a second
    submit of the same form (a double click, a resent POST) finds it spent and buys nothing."""
    client = request.scope.client
    if client is None and request.method != "POST":
        # Cards are bought for one client: pick it first, then come back here.
        return redirect(f"{reverse('dashboard:choose_client')}?next={request.path}")
    request.scope.require_manage(client)
    account = credit_account_for(client)
    data = request.POST if request.method == "POST" else request.GET
    token = data.get("token", "")[:64]
    if request.method == "POST":
        form = BuyForm(request.POST, balance=account.balance)
        if form.is_valid() and not token:
            form.add_error(None, "This form was out of date: check the cost and buy again.")
        elif form.is_valid():
            spent = f"giftcard-sale:{request.user.pk}:{token}"
            if not cache.add(spent, True, timeout=SALE_TOKEN_SECONDS):
                messages.info(request, "That purchase was already made; nothing more was bought.")
                return redirect("dashboard:giftcards")
            try:
                sale = sell_cards(
                    source_pool=form.cleaned_data["offer"],
                    client=client,
                    quantity=form.cleaned_data["quantity"],
                    by=request.user,
                )
            except (SaleRefused, InsufficientCredit) as exc:
                cache.delete(spent)  # nothing was bought: the same form may be sent again
                form.add_error(None, str(exc))
            else:
                messages.success(
                    request,
                    f"Bought {sale.quantity} cards for {money(sale.total_amount)}; they are in "
                    "stock now.",
                )
                return redirect("dashboard:giftcard_pool", pool_id=sale.pool_id)
    else:
        form = BuyForm(request.GET if "offer" in request.GET else None, balance=account.balance)
    return render(
        request,
        "app/giftcards/buy.html",
        {
            "form": form,
            "account": account,
            "offers": list(form.fields["offer"].queryset),
            "token": token or uuid.uuid4().hex,
        },
    )


# --- Rewards and revoking them -------------------------------------------------------------------

# A reward with a card in the recipient's hands, or on its way to them.
REVOCABLE = (RewardStatus.CLAIMED, RewardStatus.DELIVERED, RewardStatus.FAILED)


class RewardTable(DashboardTable):
    recipient = tables.Column("Recipient", orderable=False)
    campaign = tables.Column("Campaign", accessor="campaign__name", order_by="campaign__name")
    brand = tables.Column("Brand", accessor="brand__brand_name", order_by="brand__brand_name")
    card_value = tables.Column("Value", attrs={"td": {"class": "num"}})
    status = tables.Column("Status")
    card = tables.Column("Card", accessor="pk", orderable=False, default="")
    assigned_at = tables.DateTimeColumn(
        verbose_name="Assigned", format="M j, Y H:i", attrs={"td": {"class": "when"}}, default=""
    )
    delivered_at = tables.DateTimeColumn(
        verbose_name="Delivered", format="M j, Y H:i", attrs={"td": {"class": "when"}}, default=""
    )
    actions = tables.Column("", accessor="pk", orderable=False)

    class Meta(DashboardTable.Meta):
        empty_text = "No rewards yet."
        sequence = ("recipient", "status", "card_value", "brand", "...")

    always_visible = ("recipient",)

    def render_recipient(self, record):
        from .recipients import test_badge

        return format_html(
            "{}{}",
            record.recipient.full_name or str(record.recipient),
            test_badge(record.recipient),
        )

    def value_recipient(self, record):
        from .recipients import test_suffix

        name = record.recipient.full_name or str(record.recipient)
        return name + test_suffix(record.recipient)

    def render_card_value(self, value):
        return money(value)

    def value_card_value(self, value):
        return value

    def render_status(self, record):
        return status_badge(record.status, record.get_status_display())

    def value_status(self, record):
        return record.status

    def render_card(self, record):
        return format_html('<span class="mono">{}</span>', self.value_card(record))

    def value_card(self, record):
        # A sandbox reward's fake code is no secret; a real card's is masked.
        if record.is_sandbox:
            return record.sandbox_code
        return record.gift_card.masked_code if record.gift_card_id else ""

    def render_actions(self, record):
        scope = self.request.scope
        if record.status not in REVOCABLE or not scope.can_manage(record.campaign.client):
            return ""
        return format_html(
            '<a class="button small danger" href="{}">Revoke</a>',
            reverse("dashboard:giftcard_revoke", kwargs={"reward_id": record.pk}),
        )


class RewardFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=RewardStatus.choices, empty_label="Any status")
    campaign = django_filters.ModelChoiceFilter(
        queryset=scoped_campaigns, empty_label="All campaigns"
    )
    brand = django_filters.ModelChoiceFilter(
        queryset=GiftCardBrand.objects.order_by("brand_name"), empty_label="All brands"
    )

    class Meta:
        model = RecipientGiftCard
        fields = ["status", "campaign", "brand"]


@require_safe
@dashboard_view(section="giftcards")
def rewards(request):
    scope = request.scope
    queryset = selectors.reward_rows(scope.filter(RecipientGiftCard.objects)).select_related(
        "campaign__client"
    )
    with client_time(scope):
        return table_page(
            request,
            table_class=RewardTable,
            queryset=queryset,
            filterset_class=RewardFilter,
            template="app/giftcards/rewards.html",
            export_name="rewards",
            context={"tabs": _tabs("rewards")},
        )


class RevokeForm(forms.Form):
    reason = forms.CharField(
        label="Reason",
        min_length=MIN_REASON_LENGTH,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=f"At least {MIN_REASON_LENGTH} characters; kept in the audit log.",
        error_messages={
            "min_length": f"Give a reason of at least {MIN_REASON_LENGTH} characters.",
        },
    )


@require_http_methods(["GET", "HEAD", "POST"])
@dashboard_view(section="giftcards")
def revoke(request, reward_id):
    scope = request.scope
    queryset = scope.filter(RecipientGiftCard.objects).select_related(
        "campaign__client", "recipient", "brand", "gift_card"
    )
    reward = get_object_or_404(queryset, pk=reward_id)
    scope.require_manage(reward.campaign.client)
    form = RevokeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            revoke_reward(reward=reward, by=request.user, reason=form.cleaned_data["reason"])
        except RevocationRefused as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "The reward is revoked.")
            return redirect("dashboard:giftcard_rewards")
    return render(request, "app/giftcards/revoke.html", {"form": form, "reward": reward})


urlpatterns = [
    path("giftcards/", giftcards, name="giftcards"),
    path("giftcards/buy/", buy_cards, name="giftcard_buy"),
    path("giftcards/rewards/", rewards, name="giftcard_rewards"),
    path("giftcards/rewards/<uuid:reward_id>/revoke/", revoke, name="giftcard_revoke"),
    path("giftcards/pools/<uuid:pool_id>/", pool_detail, name="giftcard_pool"),
    path(
        "giftcards/pools/<uuid:pool_id>/codes.csv", export_codes, name="giftcard_pool_export_codes"
    ),
    path("giftcards/cards/<uuid:card_id>/reveal/", reveal_code, name="giftcard_reveal"),
]
