"""Admin of the money: credit accounts, the read-only ledger and sales."""

from decimal import Decimal

from django import forms
from django.contrib import admin, messages

from mike.core.admin import MikeModelAdmin, ReadOnlyAdminMixin, action_form_page
from mike.rewards.claims import allocate_credit

from ..models import (
    LOW_BALANCE,
    CreditAccount,
    CreditTransaction,
    GiftCardSale,
)
from .common import TIMESTAMPS


class AddCreditForm(forms.Form):
    amount = forms.DecimalField(
        min_value=Decimal("0.01"), max_digits=12, decimal_places=2, help_text="In dollars."
    )
    description = forms.CharField(
        max_length=255, required=False, help_text="Kept on the ledger row, e.g. an invoice."
    )


class LowBalanceFilter(admin.SimpleListFilter):
    """Credit accounts at or below their low-balance threshold (what the staff alerts report)."""

    title = "balance"
    parameter_name = "balance"

    def lookups(self, request, model_admin):
        return (("low", "At or below threshold"), ("ok", "Above threshold"))

    def queryset(self, request, queryset):
        if self.value() == "low":
            return queryset.filter(LOW_BALANCE)
        if self.value() == "ok":
            return queryset.exclude(LOW_BALANCE)
        return queryset


@admin.register(CreditAccount)
class CreditAccountAdmin(MikeModelAdmin):
    list_display = (
        "__str__",
        "entity_type",
        "balance",
        "reserved_balance",
        "currency",
        "low_balance_threshold",
        "auto_reload_enabled",
        "updated_at",
    )
    list_filter = (LowBalanceFilter, "entity_type", "auto_reload_enabled", "currency")
    # entity_type: the platform account has no organization to search by ("platform" finds it).
    search_fields = ("organization__name", "organization__slug", "entity_type")
    autocomplete_fields = ("organization",)
    # str() names the organization.
    list_select_related = ("organization",)
    # Balances move only through the ledger services, each move with its CreditTransaction row;
    # the reload history is what those services recorded.
    readonly_fields = (
        *TIMESTAMPS,
        "balance",
        "reserved_balance",
        "last_auto_reload_at",
        "auto_reload_failure_count",
    )
    # Whose money it is and in what: fixed once the account exists (moving an account would move
    # its balance and its ledger to another organization).
    readonly_fields_when_stored = ("organization", "entity_type", "currency")

    actions = ["add_credit"]

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        return readonly if obj is None else (*readonly, *self.readonly_fields_when_stored)

    @admin.action(description="Add credit (asks for the amount)", permissions=["change"])
    def add_credit(self, request, queryset):
        """A top-up through the ledger service (one allocation row each); a client's rewards that
        waited for credit are claimed after it commits."""
        accounts = queryset.exclude(organization__isnull=True).select_related("organization")
        form = AddCreditForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            return action_form_page(
                self,
                request,
                accounts,
                form=form,
                title="Add credit",
                intro="Add this amount to each of these accounts:",
                submit="Add credit",
            )
        for account in accounts:
            allocate_credit(
                account.organization,
                form.cleaned_data["amount"],
                created_by=request.user,
                description=form.cleaned_data["description"],
            )
        self.message_user(
            request,
            f"Added ${form.cleaned_data['amount']:,.2f} to {len(accounts)} account(s); rewards "
            "waiting for it are being claimed.",
            messages.SUCCESS,
        )
        return None


@admin.register(CreditTransaction)
class CreditTransactionAdmin(ReadOnlyAdminMixin, MikeModelAdmin):
    list_display = (
        "created_at",
        "account",
        "transaction_type",
        "amount",
        "balance_before",
        "balance_after",
        "reference_type",
        "created_by",
    )
    list_filter = ("transaction_type", "created_at")
    search_fields = (
        "account__organization__name",
        "reference_type",
        "reference_id",
        "description",
        "created_by__email",
    )
    autocomplete_fields = ("account", "from_account", "to_account", "created_by")
    # account__organization: an account's str() names its organization.
    list_select_related = ("account", "account__organization", "created_by")
    readonly_fields = TIMESTAMPS
    date_hierarchy = "created_at"


@admin.register(GiftCardSale)
class GiftCardSaleAdmin(ReadOnlyAdminMixin, MikeModelAdmin):
    list_display = (
        "created_at",
        "client",
        "pool",
        "source_pool",
        "quantity",
        "price_per_card",
        "total_amount",
        "margin",
        "sold_by",
    )
    list_filter = ("currency", "created_at")
    search_fields = (
        "client__name",
        "pool__pool_name",
        "source_pool__pool_name",
        "notes",
        "sold_by__email",
    )
    autocomplete_fields = (
        "client",
        "pool",
        "source_pool",
        "reward",
        "sold_by",
        "credit_transaction",
    )
    list_select_related = ("client", "pool", "source_pool", "sold_by")
    readonly_fields = TIMESTAMPS
    date_hierarchy = "created_at"
