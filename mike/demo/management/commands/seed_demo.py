"""Load a small, complete demo: an agency with two clients, a user per role, campaigns with
conditions, audiences of recipients, stocked gift card pools, credit and tracked numbers.

Idempotent: every object is found by a natural key (email, slug, name) before it is created, so
running it again changes nothing. It refuses to run with DEBUG off unless told to, because it
creates users with a known password.
"""

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from calls.models import TrackedNumberStatus, TrackedPhoneNumber
from campaigns.models import Campaign, CampaignCondition, CampaignStatus, MailingMethod, TriggerType
from giftcards.models import CreditTransaction, GiftCardBrand, GiftCardPool, PurchaseMethod
from giftcards.services import add_cards_to_pool, allocate_credit, credit_account_for
from mike.accounts.models import Industry, Organization, OrganizationKind, Role, User
from mike.accounts.services import ensure_role_group, ensure_role_groups, grant_role
from recipients.models import ApprovalStatus, Audience, AudienceSource, AudienceStatus, Recipient

DEMO_PASSWORD = "mike-demo-2026"  # noqa: S105 - printed on purpose: demo data only
RECIPIENTS_PER_AUDIENCE = 25
CARDS_PER_POOL = 20
CREDIT_PER_CLIENT = Decimal("1000.00")

FIRST_NAMES = ["Ava", "Ben", "Cora", "Dev", "Elena", "Farid", "Grace", "Hugo", "Iris", "Jon"]
LAST_NAMES = ["Nguyen", "Patel", "Garcia", "Smith", "Okafor", "Kim", "Rossi", "Cohen", "Silva"]


@dataclass(frozen=True)
class ConditionSpec:
    number: int
    name: str
    trigger: str
    brand_code: str
    value: Decimal
    delay_hours: int | None = None
    min_duration: int | None = None


@dataclass(frozen=True)
class ClientSpec:
    slug: str
    name: str
    industry: str
    campaign: str
    tracked_number: str
    forward_to: str
    phone_prefix: str
    conditions: tuple[ConditionSpec, ...]


CLIENTS = (
    ClientSpec(
        slug="summit-roofing",
        name="Summit Roofing",
        industry=Industry.ROOFING,
        campaign="Spring storm inspection",
        tracked_number="+18005550101",
        forward_to="+18005550199",
        phone_prefix="+1555201",
        conditions=(
            ConditionSpec(
                1, "Booked an inspection", TriggerType.MANUAL_AGENT, "starbucks", Decimal("10")
            ),
            ConditionSpec(
                2,
                "Still a customer after a day",
                TriggerType.TIME_DELAY,
                "amazon",
                Decimal("25"),
                delay_hours=24,
            ),
        ),
    ),
    ClientSpec(
        slug="bayside-auto",
        name="Bayside Auto Service",
        industry=Industry.AUTO_SERVICE,
        campaign="Oil change reminder",
        tracked_number="+18005550102",
        forward_to="+18005550198",
        phone_prefix="+1555202",
        conditions=(
            ConditionSpec(
                1,
                "Called for a minute or more",
                TriggerType.CALL_COMPLETED,
                "target",
                Decimal("15"),
                min_duration=60,
            ),
        ),
    ),
)


class Command(BaseCommand):
    help = "Create demo organizations, users, campaigns, recipients and gift cards (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="Run even with DEBUG off (the demo users have a known password).",
        )

    def handle(self, *args, allow_production=False, **options):
        if not settings.DEBUG and not allow_production:
            raise CommandError(
                "DEBUG is off: seed_demo creates users with a known password. "
                "Pass --allow-production if you really want demo data here."
            )
        if not GiftCardBrand.objects.filter(brand_code="starbucks").exists():
            raise CommandError("The gift card brands are missing: run `manage.py migrate` first.")
        with transaction.atomic():
            logins = self.seed()
        self.stdout.write(self.style.SUCCESS("Demo data ready. Logins (password for all):"))
        self.stdout.write(f"  password: {DEMO_PASSWORD}")
        for email, what in logins:
            self.stdout.write(f"  {email:<32} {what}")
        self.stdout.write("Only the platform admin (staff) signs in to /admin/.")

    def seed(self) -> list[tuple[str, str]]:
        ensure_role_groups()
        # The platform admins' group holds every permission from its creation; one made by an
        # earlier seed predates the simulator's own permission, which the demo needs.
        ensure_role_group(Role.PLATFORM_ADMIN).permissions.add(
            Permission.objects.get(
                content_type__app_label="recipients", codename="use_phone_simulator"
            )
        )
        logins = []
        admin = self.user("admin@mike.test", "Platform Admin", superuser=True)
        grant_role(user=admin, role=Role.PLATFORM_ADMIN)
        logins.append((admin.email, "platform admin (superuser, phone simulator)"))

        agency, _ = Organization.objects.get_or_create(
            slug="northwind-direct",
            defaults={
                "kind": OrganizationKind.AGENCY,
                "name": "Northwind Direct",
                "contact_email": "hello@northwind.test",
            },
        )
        for role, email in (
            (Role.AGENCY_ADMIN, "agency.admin@mike.test"),
            (Role.AGENCY_USER, "agency.user@mike.test"),
        ):
            user = self.user(email, Role(role).label)
            grant_role(user=user, role=role, organization=agency, by=admin)
            logins.append((email, f"{Role(role).label}, {agency.name}"))

        for index, spec in enumerate(CLIENTS):
            client = self.client(spec, agency)
            roles = [Role.CLIENT_ADMIN]
            if index == 0:
                roles += [Role.CLIENT_USER, Role.CALL_CENTER_AGENT]
            for role in roles:
                email = f"{role.replace('_', '.')}@{spec.slug}.test"
                user = self.user(email, f"{spec.name} {Role(role).label}")
                grant_role(user=user, role=role, organization=client, by=admin)
                logins.append((email, f"{Role(role).label}, {client.name}"))
            campaign = self.campaign(spec, client, admin)
            self.more_campaigns(spec, campaign, admin)
        return logins

    def user(self, email, full_name, *, superuser=False) -> User:
        user = User.objects.filter(email=email).first()
        if user is None:
            create = User.objects.create_superuser if superuser else User.objects.create_user
            user = create(email=email, password=DEMO_PASSWORD, full_name=full_name)
        return user

    def client(self, spec: ClientSpec, agency: Organization) -> Organization:
        client, _ = Organization.objects.get_or_create(
            slug=spec.slug,
            defaults={
                "kind": OrganizationKind.CLIENT,
                "name": spec.name,
                "parent": agency,
                "industry": spec.industry,
                "contact_email": f"office@{spec.slug}.test",
            },
        )
        account = credit_account_for(client)
        if not CreditTransaction.objects.filter(account=account).exists():
            allocate_credit(client, CREDIT_PER_CLIENT, description="Demo credit")
        return client

    def campaign(self, spec: ClientSpec, client: Organization, admin: User) -> Campaign:
        audience, _ = Audience.objects.get_or_create(
            client=client,
            name=f"{spec.campaign} mailing list",
            defaults={"source": AudienceSource.IMPORT, "status": AudienceStatus.READY},
        )
        campaign, _ = Campaign.objects.get_or_create(
            client=client,
            name=spec.campaign,
            defaults={
                "audience": audience,
                "status": CampaignStatus.MAILED,
                "mail_date": timezone.localdate(),
                "mailing_method": MailingMethod.PLATFORM_HANDLED,
                "created_by": admin,
            },
        )
        for cond in spec.conditions:
            brand = GiftCardBrand.objects.get(brand_code=cond.brand_code)
            CampaignCondition.objects.get_or_create(
                campaign=campaign,
                condition_number=cond.number,
                defaults={
                    "condition_name": cond.name,
                    "trigger_type": cond.trigger,
                    "time_delay_hours": cond.delay_hours,
                    "min_call_duration_seconds": cond.min_duration,
                    "brand": brand,
                    "card_value": cond.value,
                },
            )
            self.pool(client, brand, cond.value, admin)
        self.recipients(spec, audience, campaign)
        TrackedPhoneNumber.objects.get_or_create(
            phone_number=spec.tracked_number,
            defaults={
                "client": client,
                "campaign": campaign,
                "friendly_name": f"{spec.name} mail line",
                "forward_to_number": spec.forward_to,
                "status": TrackedNumberStatus.ASSIGNED,
                "assigned_at": timezone.now(),
            },
        )
        return campaign

    def more_campaigns(self, spec: ClientSpec, mailed: Campaign, admin: User) -> None:
        """Campaigns at other stages beside the mailed one (a finished run, a draft being set
        up) and a free tracked number the draft can take, so the campaign pages show each."""
        today = timezone.localdate()
        for name, status, mail_date in (
            (
                f"{spec.campaign} (last season)",
                CampaignStatus.COMPLETED,
                today - timedelta(days=120),
            ),
            (f"{spec.campaign} follow-up", CampaignStatus.DRAFT, today + timedelta(days=30)),
        ):
            campaign, created = Campaign.objects.get_or_create(
                client=mailed.client,
                name=name,
                defaults={
                    "audience": mailed.audience,
                    "status": status,
                    "mail_date": mail_date,
                    "mailing_method": mailed.mailing_method,
                    "created_by": admin,
                },
            )
            if created:
                first = mailed.conditions.order_by("condition_number").first()
                CampaignCondition.objects.create(
                    campaign=campaign,
                    condition_number=1,
                    condition_name=first.condition_name,
                    trigger_type=first.trigger_type,
                    time_delay_hours=first.time_delay_hours,
                    min_call_duration_seconds=first.min_call_duration_seconds,
                    brand=first.brand,
                    card_value=first.card_value,
                )
        TrackedPhoneNumber.objects.get_or_create(
            phone_number=spec.tracked_number[:-2] + "1" + spec.tracked_number[-1],
            defaults={
                "client": mailed.client,
                "friendly_name": f"{spec.name} spare line",
                "forward_to_number": spec.forward_to,
                "status": TrackedNumberStatus.AVAILABLE,
            },
        )

    def pool(self, client, brand, value, admin) -> GiftCardPool:
        pool, created = GiftCardPool.objects.get_or_create(
            client=client,
            brand=brand,
            card_value=value,
            defaults={
                "pool_name": f"{client.name} {brand.brand_name} ${value:.0f}",
                "purchase_method": PurchaseMethod.CSV_ONLY,
                "low_stock_threshold": 5,
            },
        )
        if created:
            prefix = f"DEMO-{client.slug[:4].upper()}-{brand.brand_code[:3].upper()}{value:.0f}"
            codes = [f"{prefix}-{n:04d}" for n in range(1, CARDS_PER_POOL + 1)]
            add_cards_to_pool(pool, codes, uploaded_by=admin)
        return pool

    def recipients(self, spec: ClientSpec, audience: Audience, campaign: Campaign) -> None:
        if audience.recipients.exists():
            return
        rows = []
        for n in range(RECIPIENTS_PER_AUDIENCE):
            first = FIRST_NAMES[n % len(FIRST_NAMES)]
            last = LAST_NAMES[n % len(LAST_NAMES)]
            rows.append(
                Recipient(
                    audience=audience,
                    campaign=campaign,
                    first_name=first,
                    last_name=last,
                    email=f"{first}.{last}.{n}@example.com".lower(),
                    phone=f"{spec.phone_prefix}{n:04d}",
                    address1=f"{100 + n} Main St",
                    city="Springfield",
                    state="IL",
                    zip="62701",
                    approval_status=ApprovalStatus.PENDING,
                )
            )
        Recipient.objects.bulk_create(rows)
        Audience.objects.filter(pk=audience.pk).update(total_count=len(rows), valid_count=len(rows))
