"""Admin of the stock: brands, pools (with their counters) and cards (added and removed through
the inventory services, codes masked)."""

from django import forms
from django.contrib import admin, messages
from django.db.models import F, Q

from mike.core.admin import MikeModelAdmin

from .. import crypto
from ..models import (
    CardSource,
    GiftCard,
    GiftCardBrand,
    GiftCardPool,
    GiftCardStatus,
)
from ..services import (
    CardNotRemovable,
    DuplicateCardCode,
    add_card_to_pool,
    remove_card_from_pool,
)
from .common import POOL_COUNTERS, TIMESTAMPS


@admin.register(GiftCardBrand)
class GiftCardBrandAdmin(MikeModelAdmin):
    list_display = (
        "brand_name",
        "brand_code",
        "provider",
        "category",
        "balance_check_enabled",
        "is_active",
        "is_enabled_by_admin",
    )
    list_filter = (
        "provider",
        "is_active",
        "is_enabled_by_admin",
        "balance_check_method",
        "metadata_source",
        "category",
    )
    search_fields = ("brand_name", "brand_code", "tillo_brand_code", "category")
    readonly_fields = TIMESTAMPS
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "id",
                    "brand_name",
                    "brand_code",
                    "provider",
                    "tillo_brand_code",
                    "category",
                    "typical_denominations",
                    "is_active",
                    "is_enabled_by_admin",
                )
            },
        ),
        (
            "Display",
            {
                "fields": (
                    "logo_url",
                    "brand_color",
                    "description",
                    "website_url",
                    "store_url",
                    "terms_url",
                    "redemption_instructions",
                    "usage_restrictions",
                    "metadata_source",
                )
            },
        ),
        (
            "Balance checks",
            {
                "fields": (
                    "balance_check_enabled",
                    "balance_check_method",
                    "balance_check_url",
                    "balance_check_config",
                )
            },
        ),
        ("History", {"fields": ("created_at", "updated_at")}),
    )


class LowStockFilter(admin.SimpleListFilter):
    """Pools at or below their low-stock threshold (what the staff alerts report)."""

    title = "stock"
    parameter_name = "stock"

    def lookups(self, request, model_admin):
        return (("low", "At or below threshold"), ("ok", "Above threshold"))

    def queryset(self, request, queryset):
        low = Q(available_cards__lte=F("low_stock_threshold"))
        if self.value() == "low":
            return queryset.filter(low)
        if self.value() == "ok":
            return queryset.exclude(low)
        return queryset


@admin.register(GiftCardPool)
class GiftCardPoolAdmin(MikeModelAdmin):
    list_display = (
        "pool_name",
        "client",
        "brand",
        "card_value",
        "pool_type",
        "available_cards",
        "total_cards",
        "is_low_stock",
        "is_master_pool",
        "is_active",
    )
    list_filter = (
        LowStockFilter,
        "pool_type",
        "purchase_method",
        "is_master_pool",
        "available_for_purchase",
        "is_active",
    )
    search_fields = ("pool_name", "client__name", "brand__brand_name", "brand__brand_code")
    autocomplete_fields = ("brand", "client")
    list_select_related = ("client", "brand")
    # The counters count the pool's cards; only the import and claim services move them, under a
    # row lock, so an edit here could not be reconciled with the cards.
    readonly_fields = (*TIMESTAMPS, *POOL_COUNTERS, "last_balance_check")
    # What the pool's cards were stocked as: once it holds a card, changing these would relabel
    # the cards in it (a $15 card handed out as a $100 reward, another client's credit debited).
    readonly_fields_once_stocked = ("client", "is_master_pool", "brand", "card_value", "currency")
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "id",
                    "pool_name",
                    "pool_type",
                    "client",
                    "is_master_pool",
                    "brand",
                    "card_value",
                    "currency",
                    "is_active",
                )
            },
        ),
        ("Stock", {"fields": (*POOL_COUNTERS, "low_stock_threshold")}),
        (
            "Provider",
            {
                "fields": (
                    "purchase_method",
                    "provider",
                    "buffer_target_quantity",
                    "buffer_refill_threshold",
                    "api_config",
                )
            },
        ),
        (
            "Sales",
            {
                "fields": (
                    "cost_per_card",
                    "available_for_purchase",
                    "sale_price_per_card",
                    "markup_percentage",
                    "min_purchase_quantity",
                )
            },
        ),
        (
            "Balance checks",
            {
                "fields": (
                    "auto_balance_check",
                    "balance_check_frequency_hours",
                    "last_balance_check",
                )
            },
        ),
        ("History", {"fields": ("created_at", "updated_at")}),
    )

    @staticmethod
    def _is_stocked(pool) -> bool:
        # The counter says so without a query; the cards are asked too, since the counters are
        # only checked against them by a command.
        return pool is not None and (pool.total_cards > 0 or pool.cards.exists())

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        if self._is_stocked(obj):
            return (*readonly, *self.readonly_fields_once_stocked)
        return readonly

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if not self._is_stocked(obj):
            return fieldsets
        (title, options), *rest = fieldsets
        note = "Client, brand, value and currency are fixed: the pool holds cards."
        return [(title, {**options, "description": note}), *rest]

    @admin.display(boolean=True, description="low stock")
    def is_low_stock(self, obj):
        return obj.is_low_stock


class GiftCardAddForm(forms.ModelForm):
    """Takes the code, PIN and card number in the clear once, and stores them only encrypted (the
    model's fields for them are not editable, so no form can show them back). The card takes its
    pool's brand and value; GiftCardAdmin.save_model adds it through `add_card_to_pool`."""

    code = forms.CharField(
        max_length=255,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        help_text="Stored encrypted; afterwards only its last four characters are shown.",
    )
    pin = forms.CharField(
        label="PIN",
        max_length=255,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    card_number = forms.CharField(
        max_length=255,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )

    class Meta:
        model = GiftCard
        fields = ("pool",)
        help_texts = {"pool": "The card takes the pool's brand and value."}

    def clean_code(self):
        code = self.cleaned_data["code"]
        if not crypto.normalize_code(code):
            raise forms.ValidationError("Enter the card's code.")
        # Codes are unique through their keyed hash, which the form does not validate itself.
        if GiftCard.objects.filter(code_hash=crypto.code_hash(code)).exists():
            raise forms.ValidationError("A card with this code is already stored.")
        return code


@admin.register(GiftCard)
class GiftCardAdmin(MikeModelAdmin):
    # The clear code is never shown here: lists and pages show the masked last four only, and the
    # encrypted fields are not editable (so no form includes them).
    list_display = (
        "display_code",
        "brand",
        "card_value",
        "pool",
        "status",
        "claimed_by_recipient",
        "assignment_campaign",
        "created_at",
    )
    list_filter = ("status", "source", "delivery_method", "assignment_source", "created_at")
    search_fields = (
        "code_last4",
        "provider_order_id",
        "pool__pool_name",
        "brand__brand_name",
        "=claimed_by_recipient__redemption_code",
    )
    autocomplete_fields = ("pool",)
    list_select_related = ("brand", "pool", "claimed_by_recipient", "assignment_campaign")
    # Newest first by key: card keys are UUIDv7, in creation order, and their index serves the
    # sort, where created_at has no index of its own (see GiftCard.created_at).
    ordering = ("-id",)
    readonly_fields = (*TIMESTAMPS, "display_code", "has_pin")
    # Once stored, a card is the services' but for its expiry date: its pool and status are what
    # the pool counters count (only the inventory and claim services move them, with the
    # counters), brand and value are the pool's, the claim and delivery fields say whose it is and
    # where it went, the balance is what the balance checks found, the origin is its import or
    # purchase.
    readonly_fields_when_stored = (
        "pool",
        "brand",
        "card_value",
        "status",
        "claimed_at",
        "claimed_by_recipient",
        "claimed_by_call_session",
        "assignment_source",
        "assignment_campaign",
        "assignment_condition",
        "delivered_at",
        "delivery_method",
        "delivery_address",
        "current_balance",
        "last_balance_check",
        "balance_check_status",
        "source",
        "provider_order_id",
        "uploaded_by",
    )
    date_hierarchy = "created_at"
    add_form = GiftCardAddForm
    add_fieldsets = (
        (None, {"fields": ("pool", "code", "pin", "card_number")}),
        ("Details", {"fields": ("expiration_date", "source", "provider_order_id")}),
    )
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "id",
                    "display_code",
                    "has_pin",
                    "pool",
                    "brand",
                    "card_value",
                    "status",
                    "expiration_date",
                )
            },
        ),
        (
            "Claim and delivery",
            {
                "fields": (
                    "claimed_at",
                    "claimed_by_recipient",
                    "claimed_by_call_session",
                    "assignment_source",
                    "assignment_campaign",
                    "assignment_condition",
                    "delivered_at",
                    "delivery_method",
                    "delivery_address",
                )
            },
        ),
        (
            "Balance",
            {"fields": ("current_balance", "last_balance_check", "balance_check_status")},
        ),
        (
            "Origin",
            {"fields": ("source", "provider_order_id", "uploaded_by", "created_at", "updated_at")},
        ),
    )

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else super().get_fieldsets(request, obj)

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        return readonly if obj is None else (*readonly, *self.readonly_fields_when_stored)

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        # A new card goes through the inventory service, which counts it in its pool and audits
        # it; a plain save would leave the pool counters behind.
        data = form.cleaned_data
        card = add_card_to_pool(
            pool=data["pool"],
            code=data["code"],
            pin=data.get("pin", ""),
            card_number=data.get("card_number", ""),
            expiration_date=data.get("expiration_date"),
            provider_order_id=data.get("provider_order_id", ""),
            source=data.get("source") or CardSource.CSV,
            added_by=request.user,
        )
        # The admin goes on with `obj` (history entry, redirect): make it the stored card.
        obj.pk = card.pk
        obj.refresh_from_db()
        return None

    def has_delete_permission(self, request, obj=None):
        # Only a card never given to anyone may be removed; the others are a reward's history
        # (revoke those instead).
        if obj is not None and obj.status != GiftCardStatus.AVAILABLE:
            return False
        return super().has_delete_permission(request, obj)

    def delete_model(self, request, obj):
        # Through the inventory service, so the pool counters lose the card too.
        remove_card_from_pool(card=obj, removed_by=request.user, reason="deleted in the admin")

    def delete_queryset(self, request, queryset):
        # The bulk action reaches here only when every selected card may be deleted (see
        # has_delete_permission); a card claimed since is refused by the service and kept.
        kept = 0
        for card in queryset:
            try:
                remove_card_from_pool(
                    card=card, removed_by=request.user, reason="deleted in the admin"
                )
            except CardNotRemovable:
                kept += 1
        if kept:
            self.message_user(
                request,
                f"{kept} of the selected cards were given out meanwhile and were kept.",
                messages.WARNING,
            )

    def add_view(self, request, form_url="", extra_context=None):
        try:
            return super().add_view(request, form_url, extra_context)
        except DuplicateCardCode:
            # Another request stored the same code between this form's check and the insert
            # (the add rolled back). Validating again finds that card and shows the field error.
            return super().add_view(request, form_url, extra_context)

    @admin.display(description="code", ordering="code_last4")
    def display_code(self, obj):
        return obj.masked_code

    @admin.display(boolean=True, description="PIN")
    def has_pin(self, obj):
        return obj.has_pin

    def get_search_results(self, request, queryset, search_term):
        # Staff paste a whole code: find it by its keyed hash (the code itself is not searchable).
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if len(crypto.normalize_code(search_term)) > 4:
            results |= queryset.filter(code_hash=crypto.code_hash(search_term))
        return results, may_have_duplicates
