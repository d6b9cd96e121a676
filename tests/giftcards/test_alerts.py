"""Staff alerts (giftcards.alerts): low stock, low credit, refused provider purchases and failed
deliveries are emailed to staff once, again after the cooldown or when they come back, recorded as
audit rows, and never sent twice by overlapping runs."""

import logging
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from giftcards.alerts import (
    UNSETTLED_PURCHASE_ATTEMPTS,
    send_staff_alerts,
)
from giftcards.models import (
    AlertKind,
    CreditAccount,
    GiftCardAuditLog,
    GiftCardPool,
    PurchaseMethod,
    RewardStatus,
    StaffAlert,
)
from giftcards.services import (
    add_cards_to_pool,
    allocate_credit,
    credit_account_for,
    ensure_reward,
    mark_awaiting_stock,
)
from giftcards.services.delivery import DeliveryOutcome
from giftcards.services.purchase import settle_pending_purchases
from mike.accounts.models import OrganizationStatus
from mike.rewards.claims import claim_pending_rewards
from mike.rewards.delivery import retry_delivery, send_delivery
from mike.rewards.tasks import send_stock_alerts
from recipients.models import ApprovalStatus, SmsOptInStatus
from tests import factories

VALUE = Decimal("15.00")


@pytest.fixture(autouse=True)
def _alert_settings(settings):
    settings.ALERT_EMAILS = []
    settings.ALERT_REPEAT_HOURS = 24
    settings.SITE_URL = "https://mike.example.com"


@pytest.fixture
def staff(db):
    return factories.UserFactory(email="ops@example.com", is_staff=True)


def alerts(kind=None):
    rows = StaffAlert.objects.all()
    return rows.filter(kind=kind) if kind else rows


def stocked_pool(*, cards: int, threshold: int = 5, **kwargs) -> GiftCardPool:
    pool = factories.GiftCardPoolFactory(card_value=VALUE, low_stock_threshold=threshold, **kwargs)
    if cards:
        add_cards_to_pool(pool, [f"{pool.pk}-{n}" for n in range(cards)])
    return pool


def waiting_rewards(pool: GiftCardPool, count: int):
    condition = factories.CampaignConditionFactory(
        campaign__client=pool.client, brand=pool.brand, card_value=pool.card_value
    )
    return [
        factories.RecipientGiftCardFactory(condition=condition, status=RewardStatus.AWAITING_STOCK)
        for _ in range(count)
    ]


def opted_in_reward(*, client, pool):
    condition = factories.CampaignConditionFactory(
        campaign__client=client, brand=pool.brand, card_value=pool.card_value
    )
    recipient = factories.RecipientFactory(
        campaign=condition.campaign,
        approval_status=ApprovalStatus.APPROVED,
        sms_opt_in_status=SmsOptInStatus.OPTED_IN,
    )
    ensure_reward(recipient=recipient, condition=condition)
    return recipient


# --- Each kind of problem ----------------------------------------------------------------------


@pytest.mark.django_db
def test_a_pool_below_its_threshold_alerts_staff_once(staff, mailoutbox):
    pool = stocked_pool(
        cards=2, client__name="Bayside Auto", pool_name="Tools 15", brand__brand_name="Tool Barn"
    )

    run = send_staff_alerts()

    assert [problem.kind for problem in run.sent] == [AlertKind.LOW_STOCK]
    [email] = mailoutbox
    assert email.to == ["ops@example.com"]
    assert email.subject == "Mike alert: 1 low stock"
    assert "Bayside Auto" in email.body
    assert 'Tool Barn $15.00 pool "Tools 15": 2 cards left (alert at 5 or fewer)' in email.body
    link = f"https://mike.example.com/admin/giftcards/giftcardpool/{pool.pk}/change/"
    assert link in email.body
    [(html, mimetype)] = email.alternatives
    assert mimetype == "text/html" and f'href="{link}"' in html
    [row] = alerts()
    assert (row.entity_type, row.entity_id, row.client_id) == (
        "gift_card_pool",
        pool.pk,
        pool.client_id,
    )
    assert row.kind == AlertKind.LOW_STOCK and row.times_alerted == 1 and row.is_open
    assert row.facts["available_cards"] == 2 and row.emailed_to == [staff.email]
    assert not GiftCardAuditLog.objects.filter(
        entity_id=pool.pk, action__startswith="alert"
    ).exists()

    again = send_staff_alerts()

    assert again.sent == [] and again.still_open == 1
    assert len(mailoutbox) == 1 and alerts().get().times_alerted == 1


@pytest.mark.django_db
def test_rewards_waiting_for_a_low_pool_are_counted_in_its_alert(staff, mailoutbox):
    pool = stocked_pool(cards=0)
    waiting_rewards(pool, 3)

    send_staff_alerts()

    [email] = mailoutbox
    assert "0 cards left (alert at 5 or fewer); 3 rewards are waiting for stock" in email.body
    assert alerts(AlertKind.LOW_STOCK).get().facts["rewards_waiting"] == 3


@pytest.mark.django_db
def test_a_low_pool_alerts_again_when_rewards_start_waiting_for_it(staff, mailoutbox):
    pool = stocked_pool(cards=2)
    send_staff_alerts()
    assert len(mailoutbox) == 1

    waiting_rewards(pool, 1)
    send_staff_alerts()

    assert len(mailoutbox) == 2
    assert "1 reward is waiting for stock" in mailoutbox[1].body
    assert send_staff_alerts().sent == []


@pytest.mark.django_db
def test_rewards_waiting_for_a_brand_the_client_has_no_pool_of_alert_staff(staff, mailoutbox):
    reward = factories.RecipientGiftCardFactory(
        status=RewardStatus.AWAITING_STOCK,
        condition__brand__brand_name="Book Nook",
        condition__card_value=Decimal("50.00"),
        condition__campaign__client__name="Summit Roofing",
    )

    send_staff_alerts()

    [email] = mailoutbox
    assert "Summit Roofing" in email.body
    assert "Book Nook $50.00: no active pool; 1 reward is waiting for stock" in email.body
    [row] = alerts(AlertKind.LOW_STOCK)
    assert (row.entity_type, row.entity_id) == ("organization", reward.campaign.client_id)


@pytest.mark.django_db
def test_master_inactive_and_provider_only_pools_do_not_alert_for_stock(staff, mailoutbox):
    factories.GiftCardPoolFactory(master=True)
    factories.GiftCardPoolFactory(is_active=False)
    factories.GiftCardPoolFactory(purchase_method=PurchaseMethod.API_ONLY, provider="tillo")

    assert send_staff_alerts().sent == []
    assert mailoutbox == []


@pytest.mark.django_db
def test_a_credit_account_at_its_threshold_alerts_staff(staff, mailoutbox):
    client = factories.ClientFactory(name="Bayside Auto")
    allocate_credit(client, Decimal("50.00"))
    account = CreditAccount.objects.get(organization=client)
    CreditAccount.objects.filter(pk=account.pk).update(low_balance_threshold=Decimal("50.00"))

    send_staff_alerts()

    [email] = mailoutbox
    assert email.subject == "Mike alert: 1 low credit"
    assert "Bayside Auto" in email.body
    assert "credit balance $50.00 (alert at $50.00 or less)" in email.body
    link = f"https://mike.example.com/admin/giftcards/creditaccount/{account.pk}/change/"
    assert link in email.body
    [row] = alerts(AlertKind.LOW_CREDIT)
    assert (row.entity_type, row.entity_id) == ("credit_account", account.pk)


@pytest.mark.django_db
def test_a_funded_account_above_its_threshold_or_of_a_suspended_client_does_not_alert(
    staff, mailoutbox
):
    funded = factories.ClientFactory()
    allocate_credit(funded, Decimal("100.00"))
    suspended = factories.ClientFactory(status=OrganizationStatus.SUSPENDED)
    account = factories.CreditAccountFactory(organization=suspended)
    CreditAccount.objects.filter(pk=account.pk).update(low_balance_threshold=Decimal("50.00"))
    # A new client at $0.00 with the default threshold ($0.00: no alert) is not "low" either.
    unfunded = factories.ClientFactory()
    credit_account_for(unfunded)

    assert send_staff_alerts().sent == []
    assert mailoutbox == []


@pytest.mark.django_db
def test_claims_refused_for_insufficient_credit_alert_even_above_the_threshold(staff, mailoutbox):
    client = factories.ClientFactory(name="Bayside Auto")
    allocate_credit(client, Decimal("5.00"))
    pool = stocked_pool(cards=10, client=client)
    recipient = opted_in_reward(client=client, pool=pool)
    assert claim_pending_rewards(recipient=recipient) == []
    assert GiftCardAuditLog.objects.filter(action="claim_refused_insufficient_credit").exists()
    assert recipient.rewards.get().status == RewardStatus.AWAITING_CREDIT

    send_staff_alerts()

    [email] = mailoutbox
    assert (
        "credit balance $5.00 (no alert set); 1 claim refused for insufficient credit "
        "is waiting ($15.00 of cards)"
    ) in email.body
    assert alerts(AlertKind.LOW_CREDIT).get().facts["claims_refused"] == 1


@pytest.mark.django_db
def test_a_refused_provider_purchase_alerts_staff(staff, mailoutbox, tillo):
    client = factories.ClientFactory(name="Bayside Auto")
    allocate_credit(client, Decimal("100.00"))
    pool = stocked_pool(
        cards=0,
        client=client,
        purchase_method=PurchaseMethod.API_ONLY,
        provider="tillo",
        brand__tillo_brand_code="unknown-brand",  # the fake answers 422 "Brand not found"
    )
    recipient = opted_in_reward(client=client, pool=pool)
    claim_pending_rewards(recipient=recipient)
    reward = recipient.rewards.get()
    assert reward.status == RewardStatus.AWAITING_STOCK

    send_staff_alerts()

    [email] = mailoutbox
    assert f"Provider purchase refused: {pool.brand.brand_name} $15.00 reward of" in email.body
    assert "the provider refused the purchase 1 time" in email.body
    assert (
        f"https://mike.example.com/admin/giftcards/recipientgiftcard/{reward.pk}/change/"
        in email.body
    )
    [row] = alerts(AlertKind.PURCHASE_FAILED)
    assert (row.entity_type, row.entity_id) == ("recipient_gift_card", reward.pk)
    # The empty provider-only pool now has a reward waiting on it, which staff hear about too.
    assert alerts(AlertKind.LOW_STOCK).count() == 1
    assert reward.purchase_status == "refused"


@pytest.mark.django_db
def test_a_purchase_the_provider_never_settles_alerts_staff_until_it_does(staff, mailoutbox, tillo):
    client = factories.ClientFactory(name="Bayside Auto")
    allocate_credit(client, Decimal("100.00"))
    pool = stocked_pool(
        cards=0, client=client, purchase_method=PurchaseMethod.API_ONLY, provider="tillo"
    )
    recipient = opted_in_reward(client=client, pool=pool)
    tillo.fail_next = [500] * 100  # every answer lost: the purchase stays uncertain
    claim_pending_rewards(recipient=recipient)
    reward = recipient.rewards.get()
    assert reward.status == RewardStatus.PURCHASE_PENDING
    send_staff_alerts()
    assert not alerts(AlertKind.PURCHASE_UNSETTLED).exists()  # one lost answer is normal

    for _ in range(UNSETTLED_PURCHASE_ATTEMPTS - 1):
        settle_pending_purchases()
    send_staff_alerts()

    email = mailoutbox[-1]
    assert f"Provider purchase unsettled: {pool.brand.brand_name} $15.00 reward of" in email.body
    assert f"has not settled purchase mike-reward-{reward.pk} after 6 attempts" in email.body
    [row] = alerts(AlertKind.PURCHASE_UNSETTLED)
    assert (row.entity_type, row.entity_id) == ("recipient_gift_card", reward.pk)

    tillo.fail_next = []
    settle_pending_purchases()
    reward.refresh_from_db()
    assert reward.gift_card_id is not None
    send_staff_alerts()
    [row] = alerts(AlertKind.PURCHASE_UNSETTLED)  # not alerted again: settled, so cleared
    assert row.times_alerted == 1 and row.cleared_at is not None


@pytest.fixture
def delivery(db):
    delivery = factories.GiftCardDeliveryFactory()
    # The card's one-card pool is empty now; retire it so the delivery is the only problem.
    GiftCardPool.objects.filter(pk=delivery.gift_card.pool_id).update(is_active=False)
    return delivery


@pytest.mark.django_db
def test_a_delivery_that_failed_after_its_retries_alerts_staff(
    staff, mailoutbox, delivery, twilio_server
):
    twilio_server.fail(400)  # a rejected number: no retry left
    assert send_delivery(delivery.pk) == DeliveryOutcome.GAVE_UP

    send_staff_alerts()

    [email] = mailoutbox
    assert email.subject == "Mike alert: 1 delivery failed"
    assert "Delivery failed: SMS of a " in email.body and "failed after 5 attempts" in email.body
    link = f"https://mike.example.com/admin/giftcards/giftcarddelivery/{delivery.pk}/change/"
    assert link in email.body
    [row] = alerts(AlertKind.DELIVERY_FAILED)
    assert (row.entity_type, row.entity_id) == ("gift_card_delivery", delivery.pk)


@pytest.mark.django_db
def test_a_delivery_still_retrying_does_not_alert(staff, mailoutbox, delivery, twilio_server):
    twilio_server.fail(500)
    assert send_delivery(delivery.pk) == DeliveryOutcome.RETRY

    assert send_staff_alerts().sent == []


@pytest.mark.django_db
def test_a_delivery_retried_by_staff_that_fails_again_alerts_again(
    staff, mailoutbox, delivery, twilio_server, django_capture_on_commit_callbacks
):
    twilio_server.fail(400)
    send_delivery(delivery.pk)
    send_staff_alerts()

    twilio_server.fail(400)
    with django_capture_on_commit_callbacks(execute=True):
        retry_delivery(delivery, by=staff)  # the retry's task fails at once, before any run

    send_staff_alerts()

    assert len(mailoutbox) == 2
    assert alerts(AlertKind.DELIVERY_FAILED).get().times_alerted == 2


# --- Who gets it -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_alert_emails_setting_chooses_the_recipients(staff, mailoutbox, settings):
    settings.ALERT_EMAILS = ["stock@example.com", "oncall@example.com"]
    stocked_pool(cards=1)

    send_staff_alerts()

    [email] = mailoutbox
    assert email.to == ["stock@example.com", "oncall@example.com"]


@pytest.mark.django_db
def test_without_alert_emails_every_active_staff_user_gets_it(mailoutbox):
    factories.UserFactory(email="b-ops@example.com", is_staff=True)
    factories.UserFactory(email="a-ops@example.com", is_staff=True, is_superuser=True)
    factories.UserFactory(email="gone@example.com", is_staff=True, is_active=False)
    factories.UserFactory(email="client@example.com", is_staff=False)
    stocked_pool(cards=1)

    send_staff_alerts()

    [email] = mailoutbox
    assert email.to == ["a-ops@example.com", "b-ops@example.com"]


@pytest.mark.django_db
def test_with_nobody_to_email_the_alert_is_recorded_and_a_warning_logged(mailoutbox, caplog):
    stocked_pool(cards=1)

    with caplog.at_level(logging.WARNING, logger="giftcards.alerts"):
        run = send_staff_alerts()

    assert len(run.sent) == 1 and run.recipients == []
    assert mailoutbox == []
    assert alerts(AlertKind.LOW_STOCK).get().emailed_to == []
    assert "1 alert recorded but not emailed" in caplog.text
    assert send_staff_alerts().sent == []  # recorded, so not repeated before the cooldown


# --- When it repeats ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_nothing_wrong_sends_no_email(staff, mailoutbox):
    client = factories.ClientFactory()
    allocate_credit(client, Decimal("100.00"))
    stocked_pool(cards=10, client=client)

    run = send_staff_alerts()

    assert run.sent == [] and run.cleared == 0
    assert mailoutbox == []
    assert not alerts().exists()


@pytest.mark.django_db
def test_a_problem_still_there_after_the_cooldown_alerts_again(staff, mailoutbox, settings):
    settings.ALERT_REPEAT_HOURS = 6
    stocked_pool(cards=1)
    send_staff_alerts()

    assert send_staff_alerts(now=timezone.now() + timedelta(hours=5)).sent == []
    assert len(send_staff_alerts(now=timezone.now() + timedelta(hours=7)).sent) == 1

    assert len(mailoutbox) == 2
    assert alerts(AlertKind.LOW_STOCK).get().times_alerted == 2


@pytest.mark.django_db
def test_a_problem_that_cleared_and_came_back_alerts_again(staff, mailoutbox):
    pool = stocked_pool(cards=2)
    send_staff_alerts()

    add_cards_to_pool(pool, [f"RESTOCK-{n}" for n in range(10)])
    cleared = send_staff_alerts()
    assert cleared.sent == [] and cleared.cleared == 1
    [row] = alerts()
    assert row.entity_id == pool.pk and row.kind == AlertKind.LOW_STOCK and not row.is_open

    # Staff raise the threshold: the pool is low again, well inside the cooldown.
    GiftCardPool.objects.filter(pk=pool.pk).update(low_stock_threshold=20)
    send_staff_alerts()

    assert len(mailoutbox) == 2
    assert "12 cards left (alert at 20 or fewer)" in mailoutbox[1].body
    row.refresh_from_db()
    assert row.is_open and row.times_alerted == 2
    assert send_staff_alerts().cleared == 0  # still low: nothing cleared, nothing sent


@pytest.mark.django_db
def test_a_failed_send_records_nothing_so_the_next_run_alerts(staff, mailoutbox, settings):
    stocked_pool(cards=1)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 2

    with pytest.raises(OSError):
        send_staff_alerts()
    assert not alerts().exists()

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert len(send_staff_alerts().sent) == 1
    assert len(mailoutbox) == 1


@pytest.mark.django_db(transaction=True)
def test_overlapping_runs_send_one_email(mailoutbox):
    factories.UserFactory(email="ops@example.com", is_staff=True)
    stocked_pool(cards=1)
    runs, errors = [], []
    barrier = threading.Barrier(4)

    def run():
        try:
            barrier.wait()
            runs.append(send_staff_alerts())
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == [] and len(runs) == 4
    assert sorted(len(r.sent) for r in runs) == [0, 0, 0, 1]
    assert len(mailoutbox) == 1
    assert alerts().get().times_alerted == 1


# --- How it is triggered -----------------------------------------------------------------------


@pytest.mark.django_db
def test_a_reward_moved_to_awaiting_stock_alerts_staff_after_commit(
    staff, mailoutbox, django_capture_on_commit_callbacks
):
    client = factories.ClientFactory(name="Bayside Auto")
    allocate_credit(client, Decimal("100.00"))
    pool = stocked_pool(cards=0, client=client)
    recipient = opted_in_reward(client=client, pool=pool)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        claim_pending_rewards(recipient=recipient)
    assert recipient.rewards.get().status == RewardStatus.AWAITING_STOCK
    assert mailoutbox == []  # nothing before commit

    for callback in callbacks:
        callback()

    [email] = mailoutbox
    assert "0 cards left (alert at 5 or fewer); 1 reward is waiting for stock" in email.body


@pytest.mark.django_db
def test_marking_a_reward_already_waiting_queues_no_alert(
    staff, mailoutbox, django_capture_on_commit_callbacks
):
    pool = stocked_pool(cards=0)
    [reward] = waiting_rewards(pool, 1)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        mark_awaiting_stock(reward)

    assert callbacks == [] and mailoutbox == []


@pytest.mark.django_db
def test_the_task_runs_the_monitor_and_reports_what_it_did(staff, mailoutbox):
    stocked_pool(cards=1)

    summary = send_stock_alerts.delay().get()

    assert summary == {"alerted": 1, "cleared": 0, "still_open": 0, "recipients": 1}
    assert send_stock_alerts.delay().get()["alerted"] == 0
    assert len(mailoutbox) == 1


def test_beat_runs_the_alerts_every_15_minutes():
    entries = [
        entry
        for entry in django_settings.CELERY_BEAT_SCHEDULE.values()
        if entry["task"] == "giftcards.tasks.send_stock_alerts"
    ]
    assert [entry["schedule"] for entry in entries] == [15 * 60]
    assert send_stock_alerts.name == "giftcards.tasks.send_stock_alerts"
    assert send_stock_alerts.acks_late


# --- The admin shows it ------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_admin_filters_low_pools_credit_accounts_and_alert_history(admin_client):
    low = stocked_pool(cards=1, pool_name="Nearly empty")
    stocked_pool(cards=10, pool_name="Well stocked")
    poor = factories.ClientFactory(name="Poor Client")
    factories.CreditAccountFactory(organization=poor, low_balance_threshold=Decimal("20.00"))
    rich = factories.ClientFactory(name="Rich Client")
    allocate_credit(rich, Decimal("100.00"))
    CreditAccount.objects.filter(organization=rich).update(low_balance_threshold=Decimal("20.00"))
    send_staff_alerts()

    pools = admin_client.get(reverse("admin:giftcards_giftcardpool_changelist"), {"stock": "low"})
    assert pools.status_code == 200
    assert "Nearly empty" in pools.content.decode() and "Well stocked" not in pools.content.decode()
    accounts = admin_client.get(
        reverse("admin:giftcards_creditaccount_changelist"), {"balance": "low"}
    )
    assert (
        "Poor Client" in accounts.content.decode()
        and "Rich Client" not in accounts.content.decode()
    )
    history = admin_client.get(reverse("admin:giftcards_staffalert_changelist"), {"state": "open"})
    assert history.status_code == 200 and low.pool_name in history.content.decode()


@pytest.mark.django_db
def test_a_dismissed_alert_is_not_repeated_until_it_changes(staff, mailoutbox, admin_client):
    pool = stocked_pool(cards=2)
    send_staff_alerts()
    row = alerts().get()

    response = admin_client.post(
        reverse("admin:giftcards_staffalert_changelist"),
        {"action": "dismiss", "_selected_action": [row.pk]},
    )
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.dismissed_at is not None

    assert send_staff_alerts(now=timezone.now() + timedelta(hours=48)).sent == []
    waiting_rewards(pool, 1)  # worse: rewards now wait for it
    assert len(send_staff_alerts().sent) == 1
    row.refresh_from_db()
    assert row.dismissed_at is None and row.times_alerted == 2
