"""Load a small, complete demo: an agency with two clients, a user per role, campaigns with
conditions, audiences of recipients, stocked gift card pools, credit and tracked numbers.

Idempotent: every object is found by a natural key (email, slug, name) before it is created, so
running it again changes nothing. It refuses to run with DEBUG off unless told to, because it
creates users with a known password.
"""

import io
import random
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from calls import services as call_services
from calls.models import (
    CallConditionMet,
    CallDisposition,
    CallScript,
    CallSession,
    CallStatus,
    ConditionMetSource,
    DispositionType,
    MatchStatus,
    TrackedNumberStatus,
    TrackedPhoneNumber,
)
from calls.scripts import save_script
from campaigns import ace_forms
from campaigns.daily_counts import rebuild_daily_counts, zone
from campaigns.models import (
    AceFieldType,
    AceForm,
    Campaign,
    CampaignCondition,
    CampaignStatus,
    Event,
    EventSource,
    EventType,
    LandingPage,
    MailingMethod,
    TriggerType,
)
from giftcards.models import (
    AssignmentSource,
    CreditTransaction,
    GiftCardBrand,
    GiftCardPool,
    PurchaseMethod,
    RecipientGiftCard,
)
from giftcards.services import (
    add_cards_to_pool,
    allocate_credit,
    claim_reward_card,
    credit_account_for,
)
from giftcards.services import delivery as deliveries
from mike.accounts.invitations import invite
from mike.accounts.models import Industry, Invitation, Organization, OrganizationKind, Role, User
from mike.accounts.services import ensure_role_group, ensure_role_groups, grant_role
from mike.core import sms
from mike.landing.services import create_landing_page, set_published
from mike.rewards import approval, conditions
from recipients.models import (
    ApprovalStatus,
    Audience,
    AudienceSource,
    AudienceStatus,
    Recipient,
    RecipientAuditLog,
)

DEMO_PASSWORD = "mike-demo-2026"  # noqa: S105 - printed on purpose: demo data only
RECIPIENTS_PER_AUDIENCE = 400
# The demo's campaigns were mailed this many days ago, and their past month of calls, rewards
# and deliveries is in the event stream (the dashboards' charts): HISTORY_CALLS calls each.
MAILED_DAYS_AGO = 28
HISTORY_CALLS = 90
CARDS_PER_POOL = 20
CREDIT_PER_CLIENT = Decimal("1000.00")
AGENCY_CREDIT = Decimal("5000.00")
# Cards the platform sells to clients: (brand code, value, cards in stock).
MASTER_POOLS = (("starbucks", Decimal("10"), 40), ("amazon", Decimal("25"), 30))
# The first client's rewards: how many of its first recipients got a card, and how many of
# those were delivered, failed for good, or are still queued.
DEMO_DELIVERED, DEMO_FAILED, DEMO_QUEUED = 4, 2, 1
# The calls log and the approval queue: calls from the last recipients of each list (their first
# condition met by most of them, two approved) and from numbers nobody mailed.
MATCHED_CALLS = 8
UNMATCHED_CALLS = 2
CONDITIONS_MET = 6
APPROVED = 2

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
    # The platform lets the client's admins approve their own recipients in the dashboard.
    client_approvals: bool = False
    # A further condition met by sending the client's demo form: (name, brand code, value).
    form_condition: tuple[str, str, Decimal] | None = None


CLIENTS = (
    ClientSpec(
        slug="summit-roofing",
        name="Summit Roofing",
        industry=Industry.ROOFING,
        campaign="Spring storm inspection",
        tracked_number="+18005550101",
        forward_to="+18005550199",
        phone_prefix="+1555201",
        client_approvals=True,
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
        form_condition=("Sent the service form", "target", Decimal("5")),
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


# The demo's imported audience: good rows, a bad phone, a duplicate, a row with no way to reach
# the person and a bad ZIP, so its job page and report have something to show.
DEMO_IMPORT_AUDIENCE = "Service reminder list"
DEMO_IMPORT_FILE = """first_name,last_name,phone,email,address1,city,state,zip,vehicle
Avery,Brooks,(555) 209-0001,avery.brooks@example.com,12 Lake St,Springfield,IL,62704,2019 Civic
Jordan,Diaz,555.209.0002,jordan.diaz@example.com,48 Hill Rd,Springfield,IL,62704,2021 F-150
Casey,O'Neil,12345,casey.oneil@example.com,9 Ridge Ave,Springfield,IL,62704,2016 Camry
Riley,Chen,+1 555 209 0004,riley.chen@example.com,301 Oak St,Springfield,IL,62704,2022 RAV4
Jordan,Diaz,555.209.0002,jordan.diaz@example.com,48 Hill Rd,Springfield,IL,62704,2021 F-150
Morgan,Lee,,,77 Elm St,Springfield,IL,62704,2012 Accord
Taylor,Nguyen,5552090007,taylor.nguyen@example.com,5 Birch Ln,Springfield,IL,627,2018 Outback
Jamie,Rossi,555-209-0008,jamie.rossi@example.com,160 Maple Dr,Springfield,IL,62704-1180,2020 Tacoma
"""


# The demo clients' page colours (Organization.brand_colors["primary"]).
DEMO_BRAND_COLOURS = {"summit-roofing": "#0f5c8c", "bayside-auto": "#0f766e"}


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
        self.stdout.write(
            "Only the platform admin (staff) signs in to /admin/; its second step takes the code "
            f"`manage.py demo_code` prints (or add the key {demo_key_base32()} to an authenticator app)."
        )

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
        demo_authenticator(admin)
        logins.append(
            (admin.email, "platform admin (superuser, phone simulator; admin code: demo_code)")
        )

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
            self.ace_form(spec, client, campaign, admin)
            agent = User.objects.filter(email=f"call.center.agent@{spec.slug}.test").first()
            self.calls(spec, client, campaign, agent, admin)
            if index == 0:
                self.live_calls(spec, campaign)
                self.call_script(client, admin)
                self.crm_integration(spec, client, campaign)
            self.history(spec, client, campaign)
            self.landing_page(spec, client, campaign, admin)
            if index == 0:
                self.invitation(client, admin, f"new.hire@{spec.slug}.test")
        self.giftcard_activity(agency, admin)
        self.audience_import(admin)
        return logins

    def landing_page(self, spec: ClientSpec, client: Organization, campaign, admin) -> None:
        """A published landing page for the demo campaign (the built-in generator's), so each
        recipient's personal URL and QR code open their page."""
        if not client.brand_colors:
            client.brand_colors = {"primary": DEMO_BRAND_COLOURS.get(spec.slug, "#2457d6")}
            client.save(update_fields=["brand_colors"])
        slug = f"{spec.slug}-offer"
        page = LandingPage.objects.filter(slug=slug).first()
        if page is None:
            page = create_landing_page(
                client=client, campaign=campaign, name=f"{campaign.name} offer", slug=slug, by=admin
            )
        set_published(page=page, published=True)

    def invitation(self, client: Organization, by: User, email: str) -> None:
        """A pending invitation, so the team page shows one (its link is in the printed email)."""
        if not Invitation.objects.filter(email=email, organization=client).exists():
            invite(email=email, organization=client, role=Role.CLIENT_USER, by=by)

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
                "client_approvals": spec.client_approvals,
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
                "mail_date": timezone.localdate() - timedelta(days=MAILED_DAYS_AGO),
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

    def ace_form(self, spec: ClientSpec, client, campaign: Campaign, admin: User) -> None:
        """A published form on the mailed campaign that reveals the reward; with the spec's
        form condition, sending it (after the earlier conditions) earns one more reward."""
        slug = f"{spec.slug}-sign-up"
        if AceForm.objects.filter(slug=slug).exists():
            return
        form = ace_forms.create_form(
            client=client,
            by=admin,
            name=f"{spec.campaign}: tell us more",
            slug=slug,
            description="A few details so we can get your reward to you and book your visit.",
            campaign=campaign,
            success_message="Thank you! We'll be in touch shortly.",
            reveal_reward=True,
        )
        for name, label, kind, required, extra in (
            ("first_name", "First name", AceFieldType.TEXT, True, {}),
            ("email", "Email", AceFieldType.EMAIL, True, {"placeholder": "name@example.com"}),
            ("phone", "Mobile phone", AceFieldType.PHONE, False, {"help_text": "For your reward."}),
            (
                "best_time",
                "Best time to call",
                AceFieldType.SELECT,
                False,
                {"options": ["Morning", "Afternoon", "Evening"]},
            ),
            ("code", "Code from your mailer", AceFieldType.REDEMPTION_CODE, True, {}),
            ("agree", "I agree to be contacted", AceFieldType.CHECKBOX, True, {}),
        ):
            ace_forms.save_field(
                form=form, name=name, label=label, field_type=kind, required=required, **extra
            )
        ace_forms.set_published(form=form, published=True)
        if spec.form_condition:
            name, brand_code, value = spec.form_condition
            brand = GiftCardBrand.objects.get(brand_code=brand_code)
            number = (campaign.conditions.order_by("-condition_number").first()).condition_number
            CampaignCondition.objects.get_or_create(
                campaign=campaign,
                trigger_type=TriggerType.FORM_SUBMITTED,
                defaults={
                    "condition_number": number + 1,
                    "condition_name": name,
                    "form": form,
                    "brand": brand,
                    "card_value": value,
                },
            )
            self.pool(client, brand, value, admin)

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

    def audience_import(self, admin: User) -> None:
        """A second audience of the second client, filled by a finished import whose report shows
        a few rows not imported (through the import services, as an upload from the dashboard).
        The first client keeps its one audience, which the phone walk-through names."""
        from mike.imports import services as imports
        from recipients.services.audiences import create_audience

        client = Organization.objects.get(slug=CLIENTS[1].slug)
        if Audience.objects.filter(client=client, name=DEMO_IMPORT_AUDIENCE).exists():
            return
        audience = create_audience(client=client, name=DEMO_IMPORT_AUDIENCE, by=admin)
        uploader = User.objects.filter(email=f"client.admin@{CLIENTS[1].slug}.test").first()
        job = imports.create_job(
            "recipients",
            target=audience,
            file=io.BytesIO(DEMO_IMPORT_FILE.encode()),
            file_name="service-reminders.csv",
            via="dashboard",
            user=uploader,
        )
        imports.run_in_foreground(imports.start_job(job, queue=False))

    def giftcard_activity(self, agency: Organization, admin: User) -> None:
        """What the gift card, delivery and credit pages show: credit the agency can hand its
        clients, master pools for sale, a pool running low, and the first client's rewards,
        delivered, failed and queued (through the claim and delivery services)."""
        ensure_role_group(Role.PLATFORM_ADMIN).permissions.add(
            Permission.objects.get(content_type__app_label="giftcards", codename="view_card_code")
        )
        if not CreditTransaction.objects.filter(account=credit_account_for(agency)).exists():
            allocate_credit(agency, AGENCY_CREDIT, description="Demo agency credit")
        for brand_code, value, count in MASTER_POOLS:
            brand = GiftCardBrand.objects.get(brand_code=brand_code)
            pool, created = GiftCardPool.objects.get_or_create(
                is_master_pool=True,
                brand=brand,
                card_value=value,
                defaults={
                    "pool_name": f"Mike stock {brand.brand_name} ${value:.0f}",
                    "client": None,
                    "available_for_purchase": True,
                    "sale_price_per_card": value,
                    "cost_per_card": (value * Decimal("0.95")).quantize(Decimal("0.01")),
                },
            )
            if created:
                codes = [
                    f"DEMO-MSTR-{brand_code[:3].upper()}{value:.0f}-{n:04d}" for n in range(count)
                ]
                add_cards_to_pool(pool, codes, uploaded_by=admin)
        first = Organization.objects.get(slug=CLIENTS[0].slug)
        low, created = GiftCardPool.objects.get_or_create(
            client=first,
            brand=GiftCardBrand.objects.get(brand_code="walmart"),
            card_value=Decimal("50"),
            defaults={"pool_name": f"{first.name} Walmart $50", "low_stock_threshold": 5},
        )
        if created:
            add_cards_to_pool(
                low, [f"DEMO-SUMM-WAL50-{n:04d}" for n in range(3)], uploaded_by=admin
            )
        campaign = Campaign.objects.get(client=first, name=CLIENTS[0].campaign)
        condition = campaign.conditions.get(condition_number=1)
        # The first recipients of the list (the calls and approvals are the last ones').
        recipients = list(
            campaign.audience.recipients.order_by("phone")[
                : DEMO_DELIVERED + DEMO_FAILED + DEMO_QUEUED
            ]
        )
        if RecipientGiftCard.objects.filter(recipient__in=recipients).exists():
            return
        provider = sms.SmsProvider.of(sms.backend_name())
        for n, recipient in enumerate(recipients):
            card, delivery = claim_reward_card(
                recipient=recipient,
                condition=condition,
                assignment_source=AssignmentSource.CALL_CENTER,
                call_session=None,
            )
            if n >= DEMO_DELIVERED + DEMO_FAILED:
                continue  # left queued, as a claim leaves it
            taken = deliveries.begin_delivery(delivery.pk)
            if n < DEMO_DELIVERED:
                sent = sms.SentSms(
                    to=delivery.delivery_address,
                    body="",
                    sid=f"SMDEMO{n:026d}",
                    status="sent",
                    provider=provider,
                )
                deliveries.record_sent(taken, card, sent)
            else:
                deliveries.record_failure(
                    taken,
                    card,
                    "The carrier filtered the message (30007); check the number and resend.",
                    retryable=False,
                )

    def calls(self, spec: ClientSpec, client, campaign: Campaign, agent, admin) -> None:
        """Calls of the last days to the campaign's number: most from recipients, who met the
        first condition through the reward pipeline (as an agent marking it would), two approved
        (their opt-in text follows), the rest waiting in the approval queue."""
        if CallSession.objects.filter(client=client).exists():
            return
        tracked = TrackedPhoneNumber.objects.get(phone_number=spec.tracked_number)
        condition = campaign.conditions.get(condition_number=1)
        source = (
            ConditionMetSource.CALL_COMPLETED
            if condition.trigger_type == TriggerType.CALL_COMPLETED
            else ConditionMetSource.AGENT
        )
        # The last recipients of the list: the first ones stay untouched for play_phone and the
        # phone simulator (their docs call +15552010001).
        callers = list(campaign.recipients.order_by("-phone")[:MATCHED_CALLS])
        now = timezone.now()
        for n, recipient in enumerate([*callers, *[None] * UNMATCHED_CALLS]):
            started = now - timedelta(hours=3 + n * 9, minutes=n * 7)
            # Over a minute: long enough for a "called for a minute or more" condition.
            seconds = 65 + (n * 53) % 240
            answered = n % 5 != 4
            call = CallSession.objects.create(
                client=client,
                campaign=campaign,
                recipient=recipient,
                tracked_number=tracked,
                agent=agent if recipient and answered else None,
                caller_phone=recipient.phone if recipient else f"+1555900{n:04d}",
                twilio_call_sid=f"CAdemo{spec.slug.replace('-', '')[:10]}{n:04d}",
                call_status=CallStatus.COMPLETED if answered else CallStatus.NO_ANSWER,
                match_status=MatchStatus.MATCHED if recipient else MatchStatus.UNMATCHED,
                forward_to_number=tracked.forward_to_number,
                call_started_at=started,
                call_answered_at=started + timedelta(seconds=6) if answered else None,
                call_ended_at=started + timedelta(seconds=seconds),
                call_duration_seconds=seconds if answered else 0,
                recording_url=(
                    f"https://api.twilio.com/2010-04-01/Accounts/ACdemo/Recordings/REdemo{n:04d}.mp3"
                    if answered
                    else ""
                ),
                recording_duration=seconds - 6 if answered else None,
            )
            CallSession.objects.filter(pk=call.pk).update(created_at=started)
            if recipient is None or not answered:
                continue
            ended = started + timedelta(seconds=seconds)
            if n < CONDITIONS_MET:
                disposition = CallDisposition.objects.create(
                    call_session=call,
                    recipient=recipient,
                    agent=agent,
                    disposition_type=DispositionType.INTERESTED,
                    notes="Booked a visit; asked for a morning slot.",
                )
                # Closed as the call ended, as the agent would.
                CallDisposition.objects.filter(pk=disposition.pk).update(created_at=ended)
                conditions.mark_condition_met(
                    recipient=recipient,
                    condition=condition,
                    source=source,
                    call_session=call,
                    agent=agent,
                )
                # As if met when the call ended, not when the demo was loaded.
                CallConditionMet.objects.filter(recipient=recipient).update(met_at=ended)
                RecipientAuditLog.objects.filter(recipient=recipient).update(created_at=ended)
                recipient.rewards.update(created_at=ended)
                if n < APPROVED:
                    approval.approve_recipient(recipient=recipient, by=admin)
            else:
                disposition = CallDisposition.objects.create(
                    call_session=call,
                    recipient=recipient,
                    agent=agent,
                    disposition_type=DispositionType.CALLBACK_REQUESTED,
                    follow_up_date=timezone.localdate() + timedelta(days=2),
                    notes="Wants a call back after speaking to their partner.",
                )
                CallDisposition.objects.filter(pk=disposition.pk).update(created_at=ended)

    def call_script(self, client: Organization, admin) -> None:
        """The words the demo agent sees beside each step of the console."""
        if CallScript.objects.filter(client=client).exists():
            return
        save_script(
            client=client,
            campaign=None,
            by=admin,
            sections={
                "greeting": f"Thanks for calling {client.name}! Who do I have the pleasure of "
                "speaking with?",
                "verification": "Could you read me the code printed on your postcard? "
                "It starts with four letters or digits.",
                "explanation": "When you book your free inspection today, we send you a gift "
                "card by text. First I'll text you to ask for your OK: just reply YES.",
                "objection_handling": "No obligation: the inspection is free and the card is "
                "yours once it is booked. We only text you about this reward.",
                "closing": "You're all set. Your card arrives by text in a few minutes; keep "
                "the message, the code is in it.",
                "escalation": "If the caller is upset or asks for a manager, offer a call back "
                "from the office manager and choose “Call back later”.",
            },
        )

    def crm_integration(self, spec: ClientSpec, client: Organization, campaign: Campaign) -> None:
        """A Zapier integration with a few events, as if its Zap had posted them: one about a
        recipient of the campaign, one about nobody Mike knows (unmatched, to fix)."""
        from crm.models import CrmIntegration, CrmProvider
        from crm.services import create_integration, record_event
        from mike.rewards.crm_events import process_crm_event

        if CrmIntegration.objects.filter(client=client).exists():
            return
        integration = create_integration(
            client=client, crm_provider=CrmProvider.ZAPIER, name="Zapier: bookings"
        )
        recipient = campaign.recipients.order_by("created_at").first()
        payloads = [
            {"id": "zap-1001", "event": "inspection_booked", "phone": recipient.phone},
            {"id": "zap-1002", "event": "inspection_booked", "email": "someone.new@example.com"},
            {"id": "zap-1003", "event": "quote_sent", "email": recipient.email.upper()},
        ]
        for n, payload in enumerate(payloads):
            event, created = record_event(
                integration=integration, payload=payload, signed_at=1_780_000_000 + n
            )
            if created:
                process_crm_event(event.pk)

    def live_calls(self, spec: ClientSpec, campaign: Campaign) -> None:
        """Two calls on the line now, for the demo agent to take in the call console: one from
        a recipient who has met nothing yet, one from a number no recipient has. Made as the voice
        webhooks make them (the incoming call, then answered). `play_phone call <phone> --live`
        rings another."""
        if CallSession.objects.filter(
            campaign=campaign, call_status__in=[CallStatus.RINGING, CallStatus.IN_PROGRESS]
        ).exists():
            return
        caller = (
            campaign.recipients.filter(conditions_met__isnull=True, rewards__isnull=True)
            .exclude(phone="")
            .order_by("phone")[2:3]
            .first()
        )
        for n, phone in enumerate([caller.phone if caller else "", "+15559870001"]):
            if not phone:
                continue
            sid = f"CAdemolive{spec.slug.replace('-', '')[:10]}{n:02d}"
            call_services.handle_incoming_call(
                call_sid=sid, from_number=phone, to_number=spec.tracked_number
            )
            if n == 0:
                conditions.apply_call_status(call_sid=sid, status=CallStatus.IN_PROGRESS)

    def history(self, spec: ClientSpec, client: Organization, campaign: Campaign) -> None:
        """The campaign's past month as funnel events (calls, matches, conditions met,
        approvals, opt-ins, rewards, deliveries, redemptions), so the dashboards open on a
        month of activity. Events only, with no recipient: the demo's recipients stay pending
        for the walk through the flow, and cards stay in stock. Written once (a marker in the
        events' data), then the client's daily rollup is rebuilt for those past days."""
        if Event.objects.filter(campaign=campaign, event_data__demo_history=True).exists():
            return
        rng = random.Random(spec.slug)  # the same month on every machine
        tz = zone(client.timezone)
        now = timezone.now()
        today = now.astimezone(tz).date()
        mailed = today - timedelta(days=MAILED_DAYS_AGO)
        value = str(campaign.conditions.order_by("condition_number").first().card_value)
        events = []

        def add(event_type, at, source=EventSource.CALL, **data):
            if at <= now:
                events.append(
                    Event(
                        client=client,
                        campaign=campaign,
                        event_type=event_type,
                        occurred_at=at,
                        source=source,
                        event_data={"demo_history": True, **data},
                    )
                )
            return at

        for _ in range(HISTORY_CALLS):
            # Calls come in a few days after the mail lands, most in the second week.
            days_after = min(int(rng.gammavariate(2.2, 4.5)) + 2, MAILED_DAYS_AGO)
            called = datetime.combine(
                mailed + timedelta(days=days_after),
                time(rng.randint(8, 18), rng.randint(0, 59)),
                tzinfo=tz,
            )
            at = add(EventType.CALLED, called)
            steps = (
                (0.86, EventType.MATCHED, 0, EventSource.CALL, {}),
                (0.8, EventType.CONDITION_MET, 4, EventSource.CALL, {"condition_number": 1}),
                (0.9, EventType.APPROVED, 90, EventSource.ADMIN, {}),
                (0.85, EventType.OPTED_IN, 30, EventSource.SMS, {}),
                (0.97, EventType.CLAIMED, 0, EventSource.SMS, {"card_value": value}),
                (0.96, EventType.DELIVERED, 1, EventSource.SMS, {}),
                (0.6, EventType.REDEEMED, 600, EventSource.PURL, {}),
            )
            for chance, event_type, minutes, source, data in steps:
                if rng.random() > chance:
                    break
                at = add(
                    event_type,
                    at + timedelta(minutes=rng.randint(minutes, minutes * 3 + 1)),
                    source,
                    **data,
                )
        Event.objects.bulk_create(events, batch_size=500)
        rebuild_daily_counts(client_ids=[client.pk])


# The demo platform admin's authenticator: a known key, as its password is known. The admin asks
# staff for a second factor; `manage.py demo_code` prints the code this key shows now.
DEMO_TOTP_KEY = "6d696b652d64656d6f2d61757468656e74696361"


def demo_authenticator(user):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device, _ = TOTPDevice.objects.get_or_create(
        user=user,
        name="Demo authenticator",
        defaults={"key": DEMO_TOTP_KEY, "confirmed": True},
    )
    return device


def demo_key_base32() -> str:
    import base64

    return base64.b32encode(bytes.fromhex(DEMO_TOTP_KEY)).decode()
