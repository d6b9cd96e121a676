"""Users, organizations (agencies and their clients), role memberships, API keys, table preferences.

Roles replace the original's `user_roles`/`roles`/`permissions` tables: each role is a Django Group
(what a user may do) and django-guardian object permissions on an Organization (where). The services
in `mike.accounts.services` are the only way to grant or revoke them.
"""

import uuid

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from mike.accounts.querysets import TenantQuerySet
from mike.core import texts
from mike.core.models import BaseModel, choices_constraint
from mike.core.texts import validate_opt_in_template, validate_reward_template


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email, password, **extra_fields):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        if not extra_fields["is_staff"] or not extra_fields["is_superuser"]:
            raise ValueError("A superuser must have is_staff=True and is_superuser=True.")
        return self._create_user(email, password, **extra_fields)

    def get_by_natural_key(self, username):
        return self.get(email__iexact=username)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in with an email address (seed: `users`)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=200, blank=True)
    phone = models.CharField(max_length=32, blank=True)
    is_staff = models.BooleanField(
        default=False, help_text="Platform staff: may sign in to the admin and see every tenant."
    )
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Wrong second-step codes in a row (mike.accounts.two_factor): not reset by a right password,
    # only by a right code or TWO_FACTOR_LOCKOUT_MINUTES after the last wrong one.
    second_factor_failures = models.PositiveSmallIntegerField(
        "wrong two-factor codes in a row", default=0, editable=False
    )
    second_factor_failed_at = models.DateTimeField(
        "last wrong two-factor code at", null=True, blank=True, editable=False
    )

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["email"]
        constraints = [
            models.UniqueConstraint(models.functions.Lower("email"), name="user_email_ci_unique"),
        ]

    def __str__(self):
        return self.email

    def get_full_name(self):
        return self.full_name or self.email

    def get_short_name(self):
        return self.full_name.split(" ")[0] if self.full_name else self.email


def validate_phone_region(value: str) -> None:
    import phonenumbers

    if value not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationError(f"'{value}' is not a country code phone numbers know (as US or CA).")


class OrganizationKind(models.TextChoices):
    AGENCY = "agency", "Agency"
    CLIENT = "client", "Client"


class OrganizationStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"
    INACTIVE = "inactive", "Inactive"


class Industry(models.TextChoices):
    ROOFING = "roofing", "Roofing"
    REI = "rei", "Real estate investing"
    AUTO_SERVICE = "auto_service", "Auto service"
    AUTO_WARRANTY = "auto_warranty", "Auto warranty"
    AUTO_BUYBACK = "auto_buyback", "Auto buyback"
    OTHER = "other", "Other"


class OrganizationQuerySet(TenantQuerySet):
    def agencies(self):
        return self.filter(kind=OrganizationKind.AGENCY)

    def clients(self):
        return self.filter(kind=OrganizationKind.CLIENT)

    def for_user(self, user):
        """The organizations a user may see: their clients, and the agencies they belong to."""
        if user is None or not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_superuser or user.is_staff:
            return self.all()
        from mike.accounts.services import accessible_client_ids

        member_of = Membership.objects.filter(user=user).values("organization_id")
        return self.filter(Q(pk__in=accessible_client_ids(user)) | Q(pk__in=member_of))


class Organization(BaseModel):
    """An agency or a client (seed: `organizations`, `agencies`, `clients`). A client may belong to
    an agency; the agency's roles then reach it."""

    kind = models.CharField(max_length=10, choices=OrganizationKind.choices)
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="clients",
        limit_choices_to={"kind": OrganizationKind.AGENCY},
        help_text="The agency a client belongs to.",
    )
    status = models.CharField(
        max_length=10, choices=OrganizationStatus.choices, default=OrganizationStatus.ACTIVE
    )
    industry = models.CharField(max_length=20, choices=Industry.choices, blank=True)
    timezone = models.CharField(max_length=64, default="America/New_York")
    phone_region = models.CharField(
        "Phone numbers' country",
        max_length=2,
        default="US",
        validators=[validate_phone_region],
        help_text="Where numbers written without a country code are from, in imported files "
        "(two letters, as US or CA).",
    )
    contact_email = models.EmailField(blank=True)
    contact_phone = models.CharField(max_length=32, blank=True)
    address = models.TextField(blank=True)
    website_url = models.URLField(blank=True)
    logo_url = models.URLField(blank=True)
    tagline = models.CharField(max_length=200, blank=True)
    brand_colors = models.JSONField(default=dict, blank=True)
    settings = models.JSONField(default=dict, blank=True)
    auto_approve_recipients = models.BooleanField(
        default=False,
        help_text="Approve recipients as soon as a condition is met, without staff review.",
    )
    client_approvals = models.BooleanField(
        "client admins approve",
        default=False,
        help_text="Let the client's admins approve and reject their own recipients in the "
        "dashboard; otherwise staff review them.",
    )
    agents_see_card_codes = models.BooleanField(
        "agents may reveal card codes",
        default=False,
        help_text="Let call-centre agents reveal a claimed card's full code in the call console, "
        "to read it to the caller. Each reveal is recorded.",
    )
    redemption_fee_percentage = models.DecimalField(
        max_digits=5, decimal_places=2, null=True, blank=True
    )
    default_markup_percentage = models.DecimalField(
        max_digits=5, decimal_places=2, null=True, blank=True
    )
    sms_reward_template = models.TextField(
        "SMS reward text",
        blank=True,
        validators=[validate_reward_template],
        help_text="The client's text that delivers a card, for conditions without their own; "
        "blank uses Mike's. " + texts.help_text(texts.REWARD_VARIABLES),
    )
    sms_opt_in_template = models.TextField(
        "SMS opt-in text",
        blank=True,
        validators=[validate_opt_in_template],
        help_text="The client's text asking recipients to opt in, for campaigns without their "
        "own; blank uses Mike's. It must name the company ({client_name}) and say how to opt out "
        "(STOP). " + texts.help_text(texts.OPT_IN_VARIABLES),
    )
    archived_at = models.DateTimeField(null=True, blank=True)
    # The organization's own Twilio account (a subaccount), used for its numbers instead of the
    # agency's or the platform's (mike.accounts.twilio_accounts). Written only by
    # `set_twilio_credentials`; the token is kept encrypted and never shown back in full.
    twilio_account_sid = models.CharField(
        "Twilio account SID",
        max_length=34,
        blank=True,
        editable=False,
        help_text="The organization's own Twilio (sub)account, AC followed by 32 characters.",
    )
    twilio_auth_token_encrypted = models.TextField(blank=True, editable=False)
    twilio_auth_token_last4 = models.CharField(max_length=4, blank=True, editable=False)
    twilio_credentials_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    twilio_credentials_changed_by = models.ForeignKey(
        "accounts.User",  # not settings.AUTH_USER_MODEL: the `settings` field above shadows it
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        editable=False,
        related_name="+",
    )

    objects = OrganizationQuerySet.as_manager()
    client_lookup = "pk"

    class Meta:
        ordering = ["name"]
        permissions = [
            ("access_organization", "Can see the organization's data"),
            ("manage_organization", "Can change the organization's campaigns, pools and users"),
            ("approve_recipients", "Can approve and reject the organization's recipients"),
            ("handle_calls", "Can work the organization's calls in the call console"),
        ]
        constraints = [
            choices_constraint("kind", OrganizationKind, name="organization_kind_valid"),
            choices_constraint("status", OrganizationStatus, name="organization_status_valid"),
            choices_constraint(
                "industry", Industry, name="organization_industry_valid", allow_blank=True
            ),
            models.CheckConstraint(
                condition=Q(kind=OrganizationKind.CLIENT) | Q(parent__isnull=True),
                name="organization_only_clients_have_parent",
            ),
            # A webhook names its account by SID: one organization per account, so the token
            # that checks its signature is never ambiguous.
            models.UniqueConstraint(
                fields=["twilio_account_sid"],
                condition=~Q(twilio_account_sid=""),
                name="organization_twilio_account_unique",
            ),
            models.CheckConstraint(
                condition=(Q(twilio_account_sid="") & Q(twilio_auth_token_encrypted=""))
                | (~Q(twilio_account_sid="") & ~Q(twilio_auth_token_encrypted="")),
                name="organization_twilio_sid_has_token",
            ),
        ]
        indexes = [models.Index(fields=["kind", "name"])]

    def __str__(self):
        return self.name

    @property
    def is_agency(self) -> bool:
        return self.kind == OrganizationKind.AGENCY

    @property
    def is_client(self) -> bool:
        return self.kind == OrganizationKind.CLIENT

    @property
    def has_twilio_account(self) -> bool:
        return bool(self.twilio_account_sid)

    def clean(self):
        from django.core.exceptions import ValidationError

        if self.parent_id:
            if self.kind != OrganizationKind.CLIENT:
                raise ValidationError({"parent": "Only a client can belong to an agency."})
            if self.parent.kind != OrganizationKind.AGENCY:
                raise ValidationError({"parent": "A client's parent must be an agency."})


class OrganizationUserObjectPermission(UserObjectPermissionBase):
    """Guardian's direct foreign-key table for user permissions on organizations: joins by key
    instead of by a text object id, so scoping queries stay indexed."""

    content_object = models.ForeignKey(Organization, on_delete=models.CASCADE)


class OrganizationGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Organization, on_delete=models.CASCADE)


class Role(models.TextChoices):
    PLATFORM_ADMIN = "platform_admin", "Platform admin"
    AGENCY_ADMIN = "agency_admin", "Agency admin"
    AGENCY_USER = "agency_user", "Agency user"
    CLIENT_ADMIN = "client_admin", "Client admin"
    CLIENT_USER = "client_user", "Client user"
    CALL_CENTER_AGENT = "call_center_agent", "Call-center agent"


AGENCY_ROLES = frozenset({Role.AGENCY_ADMIN, Role.AGENCY_USER})
CLIENT_ROLES = frozenset({Role.CLIENT_ADMIN, Role.CLIENT_USER, Role.CALL_CENTER_AGENT})


class Membership(BaseModel):
    """A role a user holds at an organization (seed: `user_roles`). Platform admins hold theirs with
    no organization. Written only by `grant_role` / `revoke_role`, which keep the Group and the
    guardian object permissions in step with these rows."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=20, choices=Role.choices)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = TenantQuerySet.as_manager()
    client_lookup = "organization"

    class Meta:
        ordering = ["user", "role"]
        constraints = [
            choices_constraint("role", Role, name="membership_role_valid"),
            models.UniqueConstraint(
                fields=["user", "organization", "role"], name="membership_unique_role_per_org"
            ),
            models.UniqueConstraint(
                fields=["user", "role"],
                condition=Q(organization__isnull=True),
                name="membership_unique_platform_role",
            ),
            models.CheckConstraint(
                condition=Q(role=Role.PLATFORM_ADMIN, organization__isnull=True)
                | (~Q(role=Role.PLATFORM_ADMIN) & Q(organization__isnull=False)),
                name="membership_org_matches_role",
            ),
        ]

    def __str__(self):
        where = self.organization or "platform"
        return f"{self.user} — {self.get_role_display()} @ {where}"


class ApiKeyQuerySet(TenantQuerySet):
    def manageable_by(self, user):
        """The keys `user` may see, create and revoke in the dashboard. A key is a credential, so
        this is narrower than `for_user` (which, as for every tenant model, is what the user's
        clients' people may read): only those who may change its organization see it (staff; a
        client's admins and its agency's admins; an agency's admins for the agency's own keys,
        which `for_user` leaves out since they belong to no one client)."""
        if user is None or not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_superuser or user.is_staff:
            return self.all()
        from mike.accounts.services import api_key_organization_ids

        return self.filter(organization__in=api_key_organization_ids(user))

    def active(self):
        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        )


class ApiKey(BaseModel):
    """An API key of a client (seed: `api_keys`). Only a SHA-256 hash of the key is stored: keys are
    192 random bits, so a fast hash is as safe as a slow one and keeps each request cheap."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100)
    key_prefix = models.CharField(
        max_length=16, unique=True, help_text="Shown to identify the key."
    )
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.JSONField(default=list, blank=True)
    is_test = models.BooleanField(
        "test key",
        default=False,
        help_text="A test key works against the same API, but what it creates is test data: its "
        "rewards are never claimed from real stock nor texted.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = ApiKeyQuerySet.as_manager()
    client_lookup = "organization"

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self):
        return f"{self.name} ({self.key_prefix}…)"

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def is_usable(self) -> bool:
        return not self.revoked and (self.expires_at is None or self.expires_at > timezone.now())

    @property
    def status(self) -> str:
        """ "revoked", "expired" or "active" (a revoked key stays revoked once it expires too)."""
        if self.revoked:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= timezone.now():
            return "expired"
        return "active"

    @property
    def display_prefix(self) -> str:
        """How the key begins (`mk_live_1a2b3c4d…`), enough to recognise it, never to use it."""
        return f"mk_{'test' if self.is_test else 'live'}_{self.key_prefix}…"


class UserTablePreference(BaseModel):
    """Per-user column choices for a dashboard table (seed: `user_table_preferences`)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="table_preferences"
    )
    table_name = models.CharField(max_length=100)
    visible_columns = models.JSONField(default=list, blank=True)
    column_order = models.JSONField(default=list, blank=True)
    column_widths = models.JSONField(default=dict, blank=True)
    page_size = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["user", "table_name"]
        constraints = [
            models.UniqueConstraint(fields=["user", "table_name"], name="table_preference_unique"),
        ]

    def __str__(self):
        return f"{self.user} — {self.table_name}"


class InvitationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    EXPIRED = "expired", "Expired"
    REVOKED = "revoked", "Revoked"


class InvitationQuerySet(TenantQuerySet):
    def for_user(self, user):
        """Invitations to the clients a user reaches, and to the agencies they belong to (an
        agency's own invitations have no client, so the tenant lookup alone would hide them)."""
        if user is None or not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_superuser or user.is_staff:
            return self.all()
        from mike.accounts.services import accessible_client_ids

        agencies = Membership.objects.filter(user=user, role__in=AGENCY_ROLES).values(
            "organization_id"
        )
        return self.filter(
            Q(organization__in=accessible_client_ids(user)) | Q(organization__in=agencies)
        )

    def usable(self):
        """Pending and not yet past their time: the only invitations a link may accept."""
        return self.filter(status=InvitationStatus.PENDING, expires_at__gt=timezone.now())


class Invitation(BaseModel):
    """An invitation by email to take a role at an agency or a client. Only a SHA-256 hash of the
    link's token is stored: the token is 256 random bits, so a fast hash is as safe as a slow one,
    and a leaked table gives no working link. Written only by `mike.accounts.invitations`."""

    email = models.EmailField()
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="invitations"
    )
    role = models.CharField(max_length=20, choices=Role.choices)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    status = models.CharField(
        max_length=10, choices=InvitationStatus.choices, default=InvitationStatus.PENDING
    )
    sent_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = InvitationQuerySet.as_manager()
    client_lookup = "organization"

    class Meta:
        ordering = ["-sent_at"]
        constraints = [
            choices_constraint("status", InvitationStatus, name="invitation_status_valid"),
            models.CheckConstraint(
                condition=Q(role__in=sorted(AGENCY_ROLES | CLIENT_ROLES)),
                name="invitation_role_valid",
            ),
            # A resend refreshes the pending row; two pending rows for one person and role would
            # leave an old link alive.
            models.UniqueConstraint(
                models.functions.Lower("email"),
                "organization",
                "role",
                condition=Q(status=InvitationStatus.PENDING),
                name="invitation_one_pending_per_role",
            ),
            models.CheckConstraint(
                condition=~Q(status=InvitationStatus.ACCEPTED) | Q(accepted_at__isnull=False),
                name="invitation_accepted_has_time",
            ),
        ]
        indexes = [models.Index(fields=["organization", "status"])]

    def __str__(self):
        return f"{self.email} — {self.get_role_display()} @ {self.organization}"

    @property
    def is_past_expiry(self) -> bool:
        return self.expires_at <= timezone.now()

    @property
    def current_status(self) -> str:
        """The status as of now: a pending invitation past its time is expired, whether or not
        a write has marked it yet."""
        if self.status == InvitationStatus.PENDING and self.is_past_expiry:
            return InvitationStatus.EXPIRED
        return self.status

    def get_current_status_display(self) -> str:
        return InvitationStatus(self.current_status).label
