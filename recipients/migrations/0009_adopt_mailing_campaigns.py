"""Recipients imported into an audience before its campaign went out have no campaign, so they
could never meet its conditions: give each the campaign in production or mailed that mails its
audience, where exactly one does (as recipients.services.adopt_mailing_campaign does from now on)."""

from django.db import migrations
from django.db.models import Count, Q

MAILING = ("in_production", "mailed")


def adopt(apps, schema_editor):
    Campaign = apps.get_model("campaigns", "Campaign")
    Recipient = apps.get_model("recipients", "Recipient")
    single = (
        Campaign.objects.filter(status__in=MAILING, audience__isnull=False)
        .values("audience_id")
        .annotate(n=Count("pk"))
        .filter(n=1)
        .values_list("audience_id", flat=True)
    )
    for campaign in Campaign.objects.filter(
        Q(status__in=MAILING) & Q(audience_id__in=list(single))
    ).only("pk", "audience_id"):
        Recipient.objects.filter(audience_id=campaign.audience_id, campaign__isnull=True).update(
            campaign_id=campaign.pk
        )


class Migration(migrations.Migration):
    dependencies = [
        ("recipients", "0008_audience_source_api"),
        ("campaigns", "0001_initial"),
    ]

    operations = [migrations.RunPython(adopt, migrations.RunPython.noop)]
