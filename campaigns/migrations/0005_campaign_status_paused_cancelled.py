# Paused and cancelled campaigns, and the events of a campaign's creation and status changes.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0004_sms_template_validators"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="campaign",
            name="campaign_status_valid",
        ),
        migrations.RemoveConstraint(
            model_name="event",
            name="event_type_valid",
        ),
        migrations.AlterField(
            model_name="campaign",
            name="status",
            field=models.CharField(
                choices=[
                    ("draft", "Draft"),
                    ("proofed", "Proofed"),
                    ("in_production", "In production"),
                    ("mailed", "Mailed"),
                    ("completed", "Completed"),
                    ("paused", "Paused"),
                    ("cancelled", "Cancelled"),
                ],
                default="draft",
                max_length=20,
            ),
        ),
        migrations.AlterField(
            model_name="event",
            name="event_type",
            field=models.CharField(
                choices=[
                    ("mailed", "Mailed"),
                    ("called", "Called"),
                    ("matched", "Matched"),
                    ("condition_met", "Condition met"),
                    ("approved", "Approved"),
                    ("rejected", "Rejected"),
                    ("opted_in", "Opted in"),
                    ("opted_out", "Opted out"),
                    ("claimed", "Card claimed"),
                    ("delivered", "Card delivered"),
                    ("redeemed", "Redeemed"),
                    ("call_completed", "Call completed"),
                    ("form_submitted", "Form submitted"),
                    ("page_viewed", "Page viewed"),
                    ("code_viewed", "Code viewed"),
                    ("sms_sent", "SMS sent"),
                    ("delivery_failed", "Delivery failed"),
                    ("purchase_pending", "Card purchase pending"),
                    ("card_revoked", "Card revoked"),
                    ("campaign_created", "Campaign created"),
                    ("campaign_status_changed", "Campaign status changed"),
                ],
                max_length=30,
            ),
        ),
        migrations.AddConstraint(
            model_name="campaign",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    (
                        "status__in",
                        [
                            "draft",
                            "proofed",
                            "in_production",
                            "mailed",
                            "completed",
                            "paused",
                            "cancelled",
                        ],
                    )
                ),
                name="campaign_status_valid",
            ),
        ),
        migrations.AddConstraint(
            model_name="event",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    (
                        "event_type__in",
                        [
                            "mailed",
                            "called",
                            "matched",
                            "condition_met",
                            "approved",
                            "rejected",
                            "opted_in",
                            "opted_out",
                            "claimed",
                            "delivered",
                            "redeemed",
                            "call_completed",
                            "form_submitted",
                            "page_viewed",
                            "code_viewed",
                            "sms_sent",
                            "delivery_failed",
                            "purchase_pending",
                            "card_revoked",
                            "campaign_created",
                            "campaign_status_changed",
                        ],
                    )
                ),
                name="event_type_valid",
            ),
        ),
    ]
