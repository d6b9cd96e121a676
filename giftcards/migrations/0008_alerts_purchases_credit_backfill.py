"""Rows written before 0007, brought to its states:

- staff alert history leaves the audit log for StaffAlert: one row per problem key, from its
  latest `alert_sent` / `alert_cleared` row (and the first, for when it was first alerted);
- a reward with a provider purchase gets its purchase_status (pending while the reward is
  purchase_pending, issued once a card backs it, refused otherwise) and the pool it buys into;
- a pending reward whose claim was refused for credit waits as `awaiting_credit`.
"""

from django.db import migrations
from django.db.models import Exists, OuterRef

ALERT_ACTIONS = ("alert_sent", "alert_cleared")


def forwards(apps, schema_editor):
    Audit = apps.get_model("giftcards", "GiftCardAuditLog")
    StaffAlert = apps.get_model("giftcards", "StaffAlert")
    Reward = apps.get_model("giftcards", "RecipientGiftCard")
    Pool = apps.get_model("giftcards", "GiftCardPool")

    history = {}
    for row in Audit.objects.filter(action__in=ALERT_ACTIONS).order_by("created_at", "pk"):
        key = (row.metadata or {}).get("key", "")
        if not key:
            continue
        entry = history.setdefault(key, {"first": None, "last": None, "sent": 0})
        if row.action == "alert_sent":
            entry["first"] = entry["first"] or row
            entry["sent"] += 1
        entry["last"] = row
    for key, entry in history.items():
        first, last = entry["first"], entry["last"]
        if first is None:
            continue  # cleared without ever having been sent
        sent = last if last.action == "alert_sent" else first
        facts = {
            name: value
            for name, value in (sent.metadata or {}).items()
            if name not in ("kind", "key", "severity", "occurrence", "summary", "recipients")
        }
        StaffAlert.objects.create(
            key=key[:200],
            kind=sent.metadata.get("kind") or key.split(":")[0],
            client_id=sent.client_id,
            organization="",
            entity_type=sent.entity_type,
            entity_id=sent.entity_id,
            summary=sent.metadata.get("summary", ""),
            severity=sent.metadata.get("severity", 0) or 0,
            occurrence=sent.metadata.get("occurrence", "") or "",
            facts=facts,
            first_alerted_at=first.created_at,
            last_alerted_at=sent.created_at,
            times_alerted=entry["sent"],
            emailed_to=sent.metadata.get("recipients", []) or [],
            cleared_at=last.created_at if last.action == "alert_cleared" else None,
        )
    Audit.objects.filter(action__in=ALERT_ACTIONS).delete()

    with_key = Reward.objects.exclude(provider_request_id__isnull=True)
    with_key.filter(status="purchase_pending", gift_card__isnull=True).update(
        purchase_status="pending"
    )
    with_key.filter(gift_card__isnull=False).update(purchase_status="issued")
    with_key.filter(purchase_status="").update(purchase_status="refused")
    for reward in Reward.objects.filter(purchase_status="pending").select_related(
        "recipient__audience"
    ):
        pool = (
            Pool.objects.filter(
                client_id=reward.recipient.audience.client_id,
                brand_id=reward.brand_id,
                card_value=reward.card_value,
                is_master_pool=False,
            )
            .order_by("-is_active", "created_at")
            .first()
        )
        if pool is not None:
            Reward.objects.filter(pk=reward.pk).update(purchase_pool=pool)

    refused_for_credit = Audit.objects.filter(
        action="claim_refused_insufficient_credit",
        entity_type="recipient_gift_card",
        entity_id=OuterRef("pk"),
    )
    Reward.objects.filter(
        Exists(refused_for_credit), status="pending", gift_card__isnull=True
    ).update(status="awaiting_credit")


class Migration(migrations.Migration):
    dependencies = [("giftcards", "0007_reward_states_purchases_delivery_leases_alerts")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
