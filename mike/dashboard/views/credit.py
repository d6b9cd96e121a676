"""Credit: the balance, its ledger with the balance after each row, an agency admin moving credit
from the agency to one of its clients, and the low-balance threshold."""

from decimal import Decimal

import django_filters
import django_tables2 as tables
from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import path
from django.utils.html import format_html
from django.views.decorators.http import require_POST, require_safe

from giftcards import selectors
from giftcards.models import CreditTransaction, TransactionType
from giftcards.services import InsufficientCredit, credit_account_for
from giftcards.services.credit import (
    CreditTransferRefused,
    LowBalanceThresholdRefused,
    set_low_balance_threshold,
)
from mike.rewards.claims import transfer_credit

from ..access import dashboard_view
from ..tables import DashboardTable, DateInput, table_page
from .giftcards import client_time, money

ZERO = Decimal("0.00")


class LedgerTable(DashboardTable):
    created_at = tables.DateTimeColumn(
        verbose_name="Date", format="M j, Y H:i", attrs={"td": {"class": "when"}}
    )
    account = tables.Column(
        "Account", accessor="account__organization__name", order_by="account__organization__name"
    )
    transaction_type = tables.Column("Type")
    description = tables.Column("Description", default="")
    amount = tables.Column("Amount", attrs={"td": {"class": "num"}})
    balance_after = tables.Column("Balance", attrs={"td": {"class": "num"}})
    created_by = tables.Column("By", accessor="created_by__email", orderable=False, default="")

    class Meta(DashboardTable.Meta):
        empty_text = "No credit has moved yet."
        sequence = ("created_at", "amount", "balance_after", "transaction_type", "...")
        order_by = "-created_at"

    always_visible = ("created_at", "amount")

    def render_transaction_type(self, record):
        return record.get_transaction_type_display()

    def render_amount(self, value):
        css = "bad" if value < 0 else "ok"
        return format_html('<span class="amount {}">{}</span>', css, money(value))

    def value_amount(self, value):
        return value

    def render_balance_after(self, value):
        return money(value)

    def value_balance_after(self, value):
        return value


class LedgerFilter(django_filters.FilterSet):
    transaction_type = django_filters.ChoiceFilter(
        label="Type", choices=TransactionType.choices, empty_label="Any type"
    )
    since = django_filters.DateFilter(
        label="From", field_name="created_at", lookup_expr="date__gte", widget=DateInput
    )
    until = django_filters.DateFilter(
        label="To", field_name="created_at", lookup_expr="date__lte", widget=DateInput
    )

    class Meta:
        model = CreditTransaction
        fields = ["transaction_type"]


class MoveCreditForm(forms.Form):
    """Credit from an agency to one of its clients. The choices are what the user may fund."""

    client = forms.ChoiceField(label="To client")
    amount = forms.DecimalField(
        label="Amount ($)",
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("0.01"),
        widget=forms.NumberInput(attrs={"step": "0.01", "min": "0.01", "inputmode": "decimal"}),
    )
    description = forms.CharField(label="Note", max_length=200, required=False)

    def __init__(self, *args, clients, balances, **kwargs):
        super().__init__(*args, **kwargs)
        self.clients = {str(c.pk): c for c in clients}
        self.balances = balances
        self.fields["client"].choices = [(str(c.pk), c.name) for c in clients]
        agencies = {c.parent_id: c.parent for c in clients}
        self.fields["amount"].help_text = "; ".join(
            f"{agency.name} holds {money(balances.get(pk, ZERO))}"
            for pk, agency in agencies.items()
        )

    def clean(self):
        data = super().clean()
        client = self.clients.get(data.get("client", ""))
        amount = data.get("amount")
        if client is None or amount is None:
            return data
        data["client"] = client
        held = self.balances.get(client.parent_id, ZERO)
        if amount > held:
            self.add_error(
                "amount",
                f"{client.parent.name} holds {money(held)}; move at most that.",
            )
        return data


class ThresholdForm(forms.Form):
    threshold = forms.DecimalField(
        label="Alert when the balance is at or below ($)",
        max_digits=12,
        decimal_places=2,
        min_value=ZERO,
        help_text="$0.00 turns the alert off.",
        widget=forms.NumberInput(attrs={"step": "0.01", "min": "0", "inputmode": "decimal"}),
    )


def _credit_page(request, *, move_form=None, threshold_form=None, status=200):
    """The credit page, with the forms as given (bound, with their errors) or fresh."""
    scope = request.scope
    clients = [scope.client] if scope.client is not None else scope.client_choices
    agencies = selectors.agencies_for(request.user, clients)
    accounts = selectors.accounts_by_organization([*clients, *agencies])
    balances = {org_id: account.balance for org_id, account in accounts.items()}
    funders = {a.pk for a in selectors.agencies_user_funds_from(request.user, clients)}
    fundable = [c for c in clients if c.parent_id in funders]
    if fundable and move_form is None:
        move_form = MoveCreditForm(
            clients=fundable,
            balances=balances,
            initial={"client": str(scope.client.pk) if scope.client else ""},
        )
    account = accounts.get(scope.client.pk) if scope.client is not None else None
    can_manage = scope.client is not None and scope.can_manage()
    if can_manage and threshold_form is None:
        threshold_form = ThresholdForm(
            initial={"threshold": account.low_balance_threshold if account else ZERO}
        )
    rows = selectors.ledger_rows(
        user=request.user, clients=clients, agencies=agencies if scope.client is None else []
    )
    context = {
        "account": account,
        "balance": account.balance if account else ZERO,
        "clients": [(c, accounts.get(c.pk)) for c in clients],
        "agencies": [(a, accounts.get(a.pk)) for a in agencies],
        "move_form": move_form if fundable else None,
        "threshold_form": threshold_form if can_manage else None,
    }
    with client_time(scope):
        response = table_page(
            request,
            table_class=LedgerTable,
            queryset=rows,
            filterset_class=LedgerFilter,
            template="app/credit/page.html",
            export_name="credit-ledger",
            context=context,
        )
    response.status_code = status
    return response


@require_safe
@dashboard_view(section="credit")
def credit(request):
    return _credit_page(request)


@require_POST
@dashboard_view(section="credit")
def move_credit(request):
    scope = request.scope
    clients = scope.client_choices
    funders = {a.pk: a for a in selectors.agencies_user_funds_from(request.user, clients)}
    fundable = [c for c in clients if c.parent_id in funders]
    if not fundable:
        raise PermissionDenied("Only an agency admin moves the agency's credit to its clients.")
    accounts = selectors.accounts_by_organization(list(funders.values()))
    balances = {org_id: account.balance for org_id, account in accounts.items()}
    form = MoveCreditForm(request.POST, clients=fundable, balances=balances)
    if form.is_valid():
        client = form.cleaned_data["client"]
        try:
            transfer_credit(
                agency=funders[client.parent_id],
                client=client,
                amount=form.cleaned_data["amount"],
                by=request.user,
                description=form.cleaned_data["description"],
            )
        except (CreditTransferRefused, InsufficientCredit) as exc:
            form.add_error("amount", str(exc))
        else:
            messages.success(
                request,
                f"Moved {money(form.cleaned_data['amount'])} to {client.name}; rewards waiting "
                "for credit are being claimed.",
            )
            return redirect("dashboard:credit")
    return _credit_page(request, move_form=form, status=400)


@require_POST
@dashboard_view(section="credit", manage=True)
def set_threshold(request):
    form = ThresholdForm(request.POST)
    if form.is_valid():
        try:
            set_low_balance_threshold(
                account=credit_account_for(request.scope.client),
                threshold=form.cleaned_data["threshold"],
                by=request.user,
            )
        except LowBalanceThresholdRefused as exc:
            form.add_error("threshold", str(exc))
        else:
            messages.success(request, "Low-balance threshold saved.")
            return redirect("dashboard:credit")
    return _credit_page(request, threshold_form=form, status=400)


urlpatterns = [
    path("credit/", credit, name="credit"),
    path("credit/move/", move_credit, name="credit_move"),
    path("credit/threshold/", set_threshold, name="credit_threshold"),
]
