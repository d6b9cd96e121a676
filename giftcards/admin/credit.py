"""Admin of the money: credit accounts, the read-only ledger and sales."""

from django.contrib import admin

from mike.core.admin import MikeModelAdmin, ReadOnlyAdminMixin

from ..models import (
    LOW_BALANCE,
    CreditAccount,
    CreditTransaction,
    GiftCardSale,
)
from .common import TIMESTAMPS


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

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        return readonly if obj is None else (*readonly, *self.readonly_fields_when_stored)


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
