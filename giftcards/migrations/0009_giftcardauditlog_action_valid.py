from django.db import migrations, models


class Migration(migrations.Migration):
    # Apart from 0008 (which deletes the alert rows this constraint refuses): PostgreSQL will not
    # alter a table in the transaction that has just changed its rows under deferred triggers.
    dependencies = [("giftcards", "0008_alerts_purchases_credit_backfill")]

    operations = [
        migrations.AddConstraint(
            model_name="giftcardauditlog",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    (
                        "action__in",
                        [
                            "cards_added",
                            "card_removed",
                            "card_claimed",
                            "card_purchased",
                            "purchased_card_stocked",
                            "purchase_refused",
                            "low_stock",
                            "claim_refused_insufficient_credit",
                            "reward_rejected",
                            "reward_revoked",
                        ],
                    )
                ),
                name="giftcardauditlog_action_valid",
            ),
        ),
    ]
