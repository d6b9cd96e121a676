"""The demo seed is complete and idempotent; migrations match the models and ship the brands."""

import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse

from calls.models import TrackedPhoneNumber
from campaigns.models import Campaign, CampaignCondition, CampaignStatus
from giftcards.models import CreditAccount, GiftCard, GiftCardBrand, GiftCardPool
from mike.accounts.models import Membership, Organization, Role, User
from mike.accounts.services import ensure_role_group, grant_role, has_role
from recipients.models import Recipient

ROOT = Path(__file__).resolve().parents[2]


def counts():
    models = (
        User,
        Organization,
        Membership,
        Campaign,
        CampaignCondition,
        Recipient,
        GiftCardPool,
        GiftCard,
        CreditAccount,
        TrackedPhoneNumber,
    )
    return {m.__name__: m.objects.count() for m in models}


@pytest.mark.django_db
def test_the_five_brands_come_from_the_migration():
    brands = {b.brand_code: b for b in GiftCardBrand.objects.all()}
    assert {"starbucks", "amazon", "target", "walmart", "jimmy_johns"} <= set(brands)
    jj = brands["jimmy_johns"]
    assert jj.brand_name == "Jimmy John's" and jj.provider == "tillo"
    assert jj.category and jj.typical_denominations and jj.logo_url
    assert (ROOT / jj.logo_url.removeprefix("/")).exists()


@pytest.mark.django_db
def test_seed_demo_builds_the_demo_and_is_idempotent(settings):
    settings.DEBUG = True
    out = StringIO()
    call_command("seed_demo", stdout=out)
    first = counts()
    call_command("seed_demo", stdout=StringIO())
    assert counts() == first

    agency = Organization.objects.get(kind="agency")
    clients = list(Organization.objects.filter(kind="client", parent=agency))
    assert len(clients) == 2
    for client in clients:
        # The mailed campaign runs the reward flow; the others show the campaign pages' stages.
        campaign = Campaign.objects.get(client=client, status=CampaignStatus.MAILED)
        assert Campaign.objects.filter(client=client, status=CampaignStatus.DRAFT).exists()
        assert campaign.conditions.exists()
        assert campaign.recipients.count() >= 10
        assert campaign.tracked_numbers.get().forward_to_number
        assert CreditAccount.objects.get(organization=client).balance > 0
        for condition in campaign.conditions.all():
            pool = GiftCardPool.objects.get(
                client=client, brand=condition.brand, card_value=condition.card_value
            )
            # The demo's rewards claimed some cards: the counter still counts what is left.
            assert pool.available_cards == pool.cards.filter(status="available").count() > 0
            assert pool.total_cards == pool.cards.count()

    text = out.getvalue()
    for role in Role:
        holder = Membership.objects.filter(role=role).first()
        assert holder is not None, role
        assert holder.user.email in text
        assert has_role(holder.user, role, holder.organization)
        assert holder.user.check_password(text.split("password: ")[1].split()[0])


@pytest.mark.django_db
def test_the_demo_staff_login_may_use_the_phone_simulator(settings, client):
    settings.DEBUG = True
    # A group made by an earlier seed, before the simulator had its own permission, lacks it.
    group = ensure_role_group(Role.PLATFORM_ADMIN)
    group.permissions.remove(*group.permissions.filter(codename="use_phone_simulator"))

    call_command("seed_demo", stdout=StringIO())

    assert group.permissions.filter(codename="use_phone_simulator").exists()
    client.force_login(User.objects.get(email="admin@mike.test"))
    assert client.get(reverse("phone-simulator")).status_code == 200
    # So does a platform admin who is not a superuser.
    other = User.objects.create_user(email="ops@mike.test", password="x" * 20)  # noqa: S106
    grant_role(user=other, role=Role.PLATFORM_ADMIN)
    client.force_login(other)
    assert client.get(reverse("phone-simulator")).status_code == 200


@pytest.mark.django_db
def test_seed_demo_refuses_to_run_in_production(settings):
    from django.core.management.base import CommandError

    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG is off"):
        call_command("seed_demo", stdout=StringIO())
    assert not User.objects.exists()


def test_models_and_migrations_agree():
    result = subprocess.run(
        [sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.django_db
def test_the_demo_shows_the_money_pages_something(settings):
    """Stock to buy, agency credit to move, a pool running low, and deliveries that were
    delivered, failed (to resend) and queued."""
    from giftcards.models import DeliveryStatus, GiftCardDelivery

    settings.DEBUG = True
    call_command("seed_demo", stdout=StringIO())
    agency = Organization.objects.get(kind="agency")
    assert CreditAccount.objects.get(organization=agency).balance > 0
    assert GiftCardPool.objects.filter(is_master_pool=True, available_cards__gt=0).exists()
    assert GiftCardPool.objects.filter(is_master_pool=False).low_stock().exists()
    statuses = set(GiftCardDelivery.objects.values_list("status", flat=True))
    assert {DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.QUEUED} <= statuses
