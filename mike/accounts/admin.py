from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import UserChangeForm as DjangoUserChangeForm
from django.contrib.auth.forms import UserCreationForm as DjangoUserCreationForm
from django.core.exceptions import ValidationError
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from mike.core.admin import (
    MikeModelAdmin,
    MikeTabularInline,
    ReadOnlyAdminMixin,
    action_form_page,
)

from . import invitations, services, twilio_accounts, two_factor
from .models import ApiKey, Invitation, Membership, Organization, User, UserTablePreference


class UserCreationForm(DjangoUserCreationForm):
    class Meta:
        model = User
        fields = ("email", "full_name")


class UserChangeForm(DjangoUserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


class MembershipInline(MikeTabularInline):
    model = Membership
    fk_name = "user"
    extra = 0
    fields = ("role", "organization", "granted_by", "created_at")
    readonly_fields = ("role", "organization", "granted_by", "created_at")
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        # Roles are granted on the Membership page, which goes through grant_role.
        return False


@admin.register(User)
class UserAdmin(MikeModelAdmin, DjangoUserAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    ordering = ("email",)
    list_display = ("email", "full_name", "is_staff", "is_superuser", "is_active", "last_login")
    list_filter = ("is_staff", "is_superuser", "is_active", "groups")
    search_fields = ("email", "full_name")
    readonly_fields = (
        "id",
        "last_login",
        "date_joined",
        "created_at",
        "updated_at",
        "second_factor_failures",
        "second_factor_failed_at",
    )
    inlines = [MembershipInline]
    actions = ["unlock_second_factor"]
    fieldsets = (
        (None, {"fields": ("id", "email", "password")}),
        ("Personal info", {"fields": ("full_name", "phone")}),
        (
            "Permissions",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        (
            "Two-factor sign-in",
            {"fields": ("second_factor_failures", "second_factor_failed_at")},
        ),
        ("Dates", {"fields": ("last_login", "date_joined", "created_at", "updated_at")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("email", "full_name", "password1", "password2"),
            },
        ),
    )

    @admin.action(
        description="Unlock the selected users' two-factor sign-in (forget their wrong codes)",
        permissions=["change"],
    )
    def unlock_second_factor(self, request, queryset):
        unlocked = sum(two_factor.clear_wrong_codes(user) for user in queryset)
        messages.success(request, f"Forgot the wrong codes of {unlocked} user(s).")


@admin.register(Organization)
class OrganizationAdmin(MikeModelAdmin):
    list_display = (
        "name",
        "kind",
        "parent",
        "status",
        "industry",
        "auto_approve_recipients",
        "client_approvals",
    )
    list_filter = ("kind", "status", "industry", "auto_approve_recipients", "client_approvals")
    search_fields = ("name", "slug", "contact_email")
    autocomplete_fields = ("parent",)
    list_select_related = ("parent",)
    prepopulated_fields = {"slug": ("name",)}
    # The Twilio account is shown, never edited here: the actions below go through the service,
    # which checks the SID, encrypts the token and records who changed it.
    readonly_fields = (
        "id",
        "created_at",
        "updated_at",
        "twilio_account_sid",
        "twilio_auth_token",
        "twilio_credentials_changed_at",
        "twilio_credentials_changed_by",
    )
    actions = ["set_twilio_account", "remove_twilio_account"]

    @admin.display(description="Twilio auth token")
    def twilio_auth_token(self, obj):
        return twilio_accounts.masked_token(obj) or "—"

    @admin.action(description="Set the Twilio account of the selected organization")
    def set_twilio_account(self, request, queryset):
        if queryset.count() != 1:
            messages.error(request, "Choose exactly one organization: an account is one's own.")
            return None
        organization = queryset.get()
        form = TwilioAccountForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            try:
                twilio_accounts.set_twilio_credentials(
                    organization=organization,
                    account_sid=form.cleaned_data["account_sid"],
                    auth_token=form.cleaned_data["auth_token"],
                    by=request.user,
                )
            except twilio_accounts.TwilioCredentialsRefused as refusal:
                messages.error(request, str(refusal))
            else:
                self.log_change(request, organization, "Set its own Twilio account.")
                messages.success(request, f"{organization.name}'s Twilio account is saved.")
            return None
        return action_form_page(
            self,
            request,
            queryset,
            form=form,
            title="Set the Twilio account",
            intro="Its numbers are then bought on this account (a subaccount), and Twilio's "
            "webhooks from it are checked with its token. The token is stored encrypted.",
            submit="Save the account",
        )

    @admin.action(description="Remove the own Twilio account of the selected organizations")
    def remove_twilio_account(self, request, queryset):
        removed = 0
        for organization in queryset.exclude(twilio_account_sid=""):
            twilio_accounts.clear_twilio_credentials(organization=organization, by=request.user)
            self.log_change(request, organization, "Removed its own Twilio account.")
            removed += 1
        messages.success(request, f"Removed the Twilio account of {removed} organization(s).")


class TwilioAccountForm(forms.Form):
    account_sid = forms.CharField(label="Account SID", max_length=34)
    auth_token = forms.CharField(
        label="Auth token",
        max_length=64,
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Empty keeps the stored token (for the same account SID).",
    )


class MembershipForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ("user", "organization", "role")

    def clean(self):
        cleaned = super().clean()
        try:
            services._check_role_fits(cleaned.get("role"), cleaned.get("organization"))
        except ValidationError as error:
            raise ValidationError(error.messages) from error
        return cleaned


@admin.register(Membership)
class MembershipAdmin(MikeModelAdmin):
    """Memberships are granted and revoked through the role services, which keep the Group and
    the guardian object permissions in step; the form never writes the row by itself."""

    form = MembershipForm
    list_display = ("user", "role", "organization", "granted_by", "created_at")
    list_filter = ("role", "organization__kind")
    search_fields = ("user__email", "organization__name")
    autocomplete_fields = ("user", "organization")
    list_select_related = ("user", "organization", "granted_by")
    readonly_fields = ("granted_by", "created_at")

    def has_change_permission(self, request, obj=None):
        # A role is revoked and granted anew rather than edited in place.
        return obj is None and super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        membership = services.grant_role(
            user=obj.user, role=obj.role, organization=obj.organization, by=request.user
        )
        obj.pk = membership.pk

    def delete_model(self, request, obj):
        services.revoke_role(
            user=obj.user, role=obj.role, organization=obj.organization, by=request.user
        )

    def delete_queryset(self, request, queryset):
        for membership in queryset.select_related("user", "organization"):
            self.delete_model(request, membership)


class ApiKeyForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ("organization", "name", "scopes", "is_test", "expires_at")


@admin.register(ApiKey)
class ApiKeyAdmin(MikeModelAdmin):
    form = ApiKeyForm
    list_display = (
        "name",
        "organization",
        "key_prefix",
        "last_used_at",
        "expires_at",
        "revoked_at",
    )
    list_filter = ("revoked_at", "expires_at")
    search_fields = ("name", "key_prefix", "organization__name")
    autocomplete_fields = ("organization",)
    list_select_related = ("organization",)
    readonly_fields = (
        "key_prefix",
        "last_used_at",
        "revoked_at",
        "revoked_by",
        "created_by",
        "created_at",
    )
    actions = ["revoke_keys"]

    def get_readonly_fields(self, request, obj=None):
        # A key is what it was made for: a live key does not become a test key, move to another
        # client, gain write access or outlive its expiry by an edit. A key that should differ is
        # revoked and replaced, which leaves who did what on the record.
        fields = super().get_readonly_fields(request, obj)
        if obj is None:
            return fields
        return (*fields, "organization", "is_test", "scopes", "expires_at")

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        api_key, raw_key = services.create_api_key(
            organization=obj.organization,
            name=obj.name,
            scopes=obj.scopes,
            created_by=request.user,
            expires_at=obj.expires_at,
            is_test=obj.is_test,
        )
        obj.pk = api_key.pk
        messages.warning(request, f"Copy this key now; it is not shown again: {raw_key}")

    @admin.action(description="Revoke selected keys")
    def revoke_keys(self, request, queryset):
        for api_key in queryset:
            services.revoke_api_key(api_key=api_key, by=request.user)
        messages.success(request, f"Revoked {queryset.count()} key(s).")


@admin.register(UserTablePreference)
class UserTablePreferenceAdmin(MikeModelAdmin):
    list_display = ("user", "table_name", "updated_at")
    search_fields = ("user__email", "table_name")
    autocomplete_fields = ("user",)
    list_select_related = ("user",)
    readonly_fields = ("created_at", "updated_at")


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAdminMixin, MikeModelAdmin):
    """Invitations are sent from the dashboard's team page (which applies the role order); here
    staff see them and may withdraw pending ones."""

    list_display = (
        "email",
        "role",
        "organization",
        "status",
        "invited_by",
        "sent_at",
        "expires_at",
    )
    list_filter = ("status", "role")
    search_fields = ("email", "organization__name")
    list_select_related = ("organization", "invited_by")
    exclude = ("token_hash",)
    actions = ["revoke_invitations"]

    @admin.action(description="Revoke selected invitations")
    def revoke_invitations(self, request, queryset):
        revoked = 0
        for invitation in queryset.select_related("organization"):
            try:
                invitations.revoke_invitation(invitation=invitation, by=request.user)
            except invitations.InvitationError as refusal:
                messages.warning(request, str(refusal))
            else:
                revoked += 1
        messages.success(request, f"Revoked {revoked} invitation(s).")


# --- Second factors (mike.accounts.two_factor) -------------------------------------------------
# django-otp's own admins show and edit a device's secret key and draw its QR code: anyone with
# admin access could copy another person's authenticator. Here a device can be seen and deleted
# (a lost phone: the user sets up a new one at their next sign-in), never read or changed.
for _model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)


class SecondFactorAdmin(admin.ModelAdmin):
    list_display = ("user", "name", "confirmed", "last_used_at")
    list_filter = ("confirmed",)
    search_fields = ("user__email",)
    fields = ("user", "name", "confirmed", "created_at", "last_used_at")
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(TOTPDevice)
class TOTPDeviceAdmin(SecondFactorAdmin):
    pass


@admin.register(StaticDevice)
class StaticDeviceAdmin(SecondFactorAdmin):
    pass
