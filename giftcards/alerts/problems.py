"""What counts as a problem staff must hear about, and finding every current one."""

import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Count, F, Q, Sum
from django.urls import reverse

from mike.accounts.models import Organization, OrganizationStatus

from ..models import (
    LOW_BALANCE,
    OWED_A_CARD_STATUSES,
    AlertKind,
    CreditAccount,
    CreditEntityType,
    DeliveryStatus,
    GiftCardAuditAction,
    GiftCardAuditLog,
    GiftCardBrand,
    GiftCardDelivery,
    GiftCardPool,
    PurchaseMethod,
    PurchaseStatus,
    RecipientGiftCard,
    RewardStatus,
)

# A purchase whose answer was lost is asked about again by every sweep (every 5 minutes); after
# this many attempts, about half an hour, staff should look at the provider's side.
UNSETTLED_PURCHASE_ATTEMPTS = 6


@dataclass(frozen=True)
class Problem:
    """One thing staff should act on. `key` says what "the same problem" is for the dedupe."""

    kind: str
    key: str
    entity_type: str
    entity_id: uuid.UUID
    client_id: uuid.UUID | None
    organization: str
    summary: str
    admin_path: str
    # A rise re-alerts within the cooldown: a low pool with rewards now waiting (0 → 1).
    severity: int = 0
    # A change re-alerts within the cooldown: the same delivery failing again after a retry.
    occurrence: str = ""
    facts: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        return AlertKind(self.kind).label

    @property
    def admin_url(self) -> str:
        return absolute_url(self.admin_path)


def absolute_url(path: str) -> str:
    return f"{settings.SITE_URL.rstrip('/')}{path}"


def _admin_change(model, pk) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[pk])


def _money(value: Decimal) -> str:
    return f"${value:,.2f}"


def _plural(n: int, word: str, words: str | None = None) -> str:
    return f"{n} {word if n == 1 else (words or word + 's')}"


# --- What is wrong now (reads) -----------------------------------------------------------------


def _waiting_for_stock() -> Counter:
    """Rewards waiting in `awaiting_stock`, counted by (client, brand, value)."""
    rows = (
        RecipientGiftCard.objects.filter(status=RewardStatus.AWAITING_STOCK, gift_card__isnull=True)
        .values("recipient__audience__client_id", "brand_id", "card_value")
        .annotate(n=Count("pk"))
    )
    return Counter(
        {
            (row["recipient__audience__client_id"], row["brand_id"], row["card_value"]): row["n"]
            for row in rows
        }
    )


def low_stock_problems() -> list[Problem]:
    """Active client pools at or below their low-stock threshold, with the rewards waiting for
    their brand and value; and rewards waiting for a brand and value the client has no active pool
    of. An `api_only` pool holds no stock by design (the provider sells each card), so it counts
    only when rewards wait on it."""
    waiting = _waiting_for_stock()
    problems = []
    pooled = set()
    pools = (
        GiftCardPool.objects.active()
        .filter(is_master_pool=False, client__isnull=False)
        .select_related("client", "brand")
        .order_by("client__name", "pool_name")
    )
    for pool in pools:
        group = (pool.client_id, pool.brand_id, pool.card_value)
        pooled.add(group)
        if not pool.is_low_stock:
            continue
        rewards = waiting.get(group, 0)
        if pool.purchase_method == PurchaseMethod.API_ONLY and not rewards:
            continue
        summary = (
            f'{pool.brand.brand_name} {_money(pool.card_value)} pool "{pool.pool_name}": '
            f"{_plural(pool.available_cards, 'card')} left "
            f"(alert at {pool.low_stock_threshold} or fewer)"
        )
        if rewards:
            summary += f"; {_plural(rewards, 'reward is', 'rewards are')} waiting for stock"
        problems.append(
            Problem(
                kind=AlertKind.LOW_STOCK,
                key=f"low_stock:pool:{pool.pk}",
                entity_type="gift_card_pool",
                entity_id=pool.pk,
                client_id=pool.client_id,
                organization=pool.client.name,
                summary=summary,
                admin_path=_admin_change(GiftCardPool, pool.pk),
                severity=1 if rewards else 0,
                facts={
                    "brand": pool.brand.brand_name,
                    "card_value": str(pool.card_value),
                    "available_cards": pool.available_cards,
                    "low_stock_threshold": pool.low_stock_threshold,
                    "rewards_waiting": rewards,
                },
            )
        )

    orphaned = {group: n for group, n in waiting.items() if group not in pooled}
    if orphaned:
        clients = Organization.objects.in_bulk({client for client, _, _ in orphaned})
        brands = GiftCardBrand.objects.in_bulk({brand for _, brand, _ in orphaned})
        for (client_id, brand_id, value), rewards in sorted(
            orphaned.items(), key=lambda item: (clients[item[0][0]].name, str(item[0][1:]))
        ):
            client, brand = clients[client_id], brands[brand_id]
            problems.append(
                Problem(
                    kind=AlertKind.LOW_STOCK,
                    key=f"low_stock:no_pool:{client_id}:{brand_id}:{value}",
                    entity_type="organization",
                    entity_id=client_id,
                    client_id=client_id,
                    organization=client.name,
                    summary=(
                        f"{brand.brand_name} {_money(value)}: no active pool; "
                        f"{_plural(rewards, 'reward is', 'rewards are')} waiting for stock"
                    ),
                    admin_path=reverse("admin:giftcards_giftcardpool_changelist")
                    + "?"
                    + urlencode({"q": client.name}),
                    severity=1,
                    facts={
                        "brand": brand.brand_name,
                        "card_value": str(value),
                        "rewards_waiting": rewards,
                    },
                )
            )
    return problems


def low_credit_problems() -> list[Problem]:
    """Credit accounts of active agencies and clients at or below their low-balance threshold, and
    clients with rewards waiting because their credit did not cover the claim (`awaiting_credit`;
    the threshold may be lower than a card)."""
    refused = {
        row["recipient__audience__client_id"]: row
        for row in RecipientGiftCard.objects.filter(
            status=RewardStatus.AWAITING_CREDIT, gift_card__isnull=True
        )
        .values("recipient__audience__client_id")
        .annotate(n=Count("pk"), total=Sum("card_value"))
    }
    accounts = {
        account.organization_id: account
        for account in CreditAccount.objects.exclude(entity_type=CreditEntityType.PLATFORM)
        .filter(
            LOW_BALANCE | Q(organization_id__in=list(refused)),
            organization__status=OrganizationStatus.ACTIVE,
        )
        .select_related("organization")
    }
    # A refused claim can leave no account behind (the claim that would have opened it rolled
    # back), so the client itself stands in for it.
    orgs = {pk: account.organization for pk, account in accounts.items()}
    missing = set(refused) - set(orgs)
    orgs.update(
        Organization.objects.filter(pk__in=missing, status=OrganizationStatus.ACTIVE).in_bulk()
    )

    problems = []
    for org_id, org in sorted(orgs.items(), key=lambda item: item[1].name):
        account = accounts.get(org_id)
        waiting = refused.get(org_id)
        parts = []
        facts = {}
        if account is not None:
            threshold = account.low_balance_threshold
            alert_at = f"alert at {_money(threshold)} or less" if threshold > 0 else "no alert set"
            parts.append(f"credit balance {_money(account.balance)} ({alert_at})")
            facts.update(
                balance=str(account.balance),
                low_balance_threshold=str(threshold),
            )
        else:
            parts.append("no credit account yet")
        if waiting:
            parts.append(
                f"{_plural(waiting['n'], 'claim')} refused for insufficient credit "
                f"{'is' if waiting['n'] == 1 else 'are'} waiting ({_money(waiting['total'])} "
                "of cards)"
            )
            facts.update(claims_refused=waiting["n"], refused_value=str(waiting["total"]))
        problems.append(
            Problem(
                kind=AlertKind.LOW_CREDIT,
                key=f"low_credit:{org_id}",
                entity_type="credit_account" if account is not None else "organization",
                entity_id=account.pk if account is not None else org_id,
                client_id=org_id if org.is_client else None,
                organization=org.name,
                summary="; ".join(parts),
                admin_path=_admin_change(CreditAccount, account.pk)
                if account is not None
                else _admin_change(Organization, org_id),
                severity=1 if waiting else 0,
                facts=facts,
            )
        )
    return problems


def failed_purchase_problems() -> list[Problem]:
    """Rewards still owed a card after the provider refused to sell it (purchase `refused`, with
    the `purchase_refused` audit rows services.purchase writes), one per reward."""
    rewards = list(
        RecipientGiftCard.objects.filter(
            purchase_status=PurchaseStatus.REFUSED,
            status__in=OWED_A_CARD_STATUSES,
            gift_card__isnull=True,
        ).select_related("recipient__audience__client", "brand")
    )
    history = defaultdict(list)
    for row in (
        GiftCardAuditLog.objects.filter(
            action=GiftCardAuditAction.PURCHASE_REFUSED,
            entity_type="recipient_gift_card",
            entity_id__in=[reward.pk for reward in rewards],
        )
        .order_by("created_at")
        .only("entity_id", "metadata", "created_at")
    ):
        history[row.entity_id].append(row)

    problems = []
    for reward in _by_client(rewards):
        rows = history[reward.pk]
        message = rows[-1].metadata.get("message", "") if rows else ""
        problems.append(
            _reward_problem(
                reward,
                kind=AlertKind.PURCHASE_FAILED,
                what=f"the provider refused the purchase {_plural(len(rows), 'time')}"
                + (f" (last: {message})" if message else ""),
                facts={"refusals": len(rows), "message": message[:500]},
            )
        )
    return problems


def unsettled_purchase_problems() -> list[Problem]:
    """Purchases still pending after UNSETTLED_PURCHASE_ATTEMPTS asks to the provider, whatever
    their reward's status now: the answer was lost and the provider still does not say whether
    it went through (a card paid for may be waiting to be stored)."""
    rewards = RecipientGiftCard.objects.filter(
        purchase_status=PurchaseStatus.PENDING,
        purchase_attempts__gte=UNSETTLED_PURCHASE_ATTEMPTS,
    ).select_related("recipient__audience__client", "brand")
    return [
        _reward_problem(
            reward,
            kind=AlertKind.PURCHASE_UNSETTLED,
            what=f"the provider has not settled purchase {reward.provider_request_id} after "
            f"{_plural(reward.purchase_attempts, 'attempt')}",
            facts={"attempts": reward.purchase_attempts, "key": reward.provider_request_id},
        )
        for reward in _by_client(rewards)
    ]


def _by_client(rewards) -> list[RecipientGiftCard]:
    return sorted(rewards, key=lambda r: (r.recipient.audience.client.name, r.created_at))


def _reward_problem(reward: RecipientGiftCard, *, kind: str, what: str, facts: dict) -> Problem:
    """A problem about one reward still owed a card (recipient, audience and brand loaded)."""
    client = reward.recipient.audience.client
    return Problem(
        kind=kind,
        key=f"{kind}:{reward.pk}",
        entity_type="recipient_gift_card",
        entity_id=reward.pk,
        client_id=client.pk,
        organization=client.name,
        summary=(
            f"{reward.brand.brand_name} {_money(reward.card_value)} reward of "
            f"{reward.recipient}: {what}"
        ),
        admin_path=_admin_change(RecipientGiftCard, reward.pk),
        facts={"brand": reward.brand.brand_name, "card_value": str(reward.card_value), **facts},
    )


def failed_delivery_problems() -> list[Problem]:
    """Deliveries that failed for good: `failed` with no retries left, or reported undelivered or
    bounced by the provider, for a reward that was not revoked. A staff retry gives the delivery
    new attempts (a higher max_retries), so failing again is a new occurrence."""
    deliveries = (
        GiftCardDelivery.objects.filter(
            Q(status=DeliveryStatus.FAILED, retry_count__gte=F("max_retries"))
            | Q(status__in=[DeliveryStatus.UNDELIVERED, DeliveryStatus.BOUNCED])
        )
        .exclude(reward__status__in=[RewardStatus.REVOKED, RewardStatus.REJECTED])
        # Test data's deliveries are never sent, so never staff's problem.
        .exclude(is_sandbox=True)
        .select_related("recipient__audience__client", "gift_card__brand")
        .order_by("created_at")
    )
    problems = []
    for delivery in sorted(deliveries, key=lambda d: d.recipient.audience.client.name):
        client = delivery.recipient.audience.client
        card = delivery.gift_card
        error = delivery.error_message.strip().splitlines()[0] if delivery.error_message else ""
        problems.append(
            Problem(
                kind=AlertKind.DELIVERY_FAILED,
                key=f"delivery_failed:{delivery.pk}",
                entity_type="gift_card_delivery",
                entity_id=delivery.pk,
                client_id=client.pk,
                organization=client.name,
                summary=(
                    f"{delivery.get_delivery_method_display()} of a {card.brand.brand_name} "
                    f"{_money(card.card_value)} card to {delivery.recipient} "
                    f"({delivery.delivery_address}): {delivery.get_status_display().lower()} "
                    f"after {_plural(delivery.retry_count, 'attempt')}"
                    + (f" (last error: {error[:200]})" if error else "")
                ),
                admin_path=_admin_change(GiftCardDelivery, delivery.pk),
                occurrence=str(delivery.max_retries),
                facts={
                    "status": delivery.status,
                    "attempts": delivery.retry_count,
                    "error": error[:500],
                },
            )
        )
    return problems


def current_problems() -> list[Problem]:
    """Everything staff should act on right now, in email order."""
    return [
        *low_stock_problems(),
        *low_credit_problems(),
        *failed_purchase_problems(),
        *unsettled_purchase_problems(),
        *failed_delivery_problems(),
    ]
