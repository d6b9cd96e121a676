"""Contacts typed in before Contact.clean() normalised them: phones into E.164 (the client's
region), emails into lower case, as the contacts import stores and compares them. A phone that
is no number is left as it was."""

from django.db import migrations
from django.db.models import F, Q
from django.db.models.functions import Lower

from mike.core.phones import DEFAULT_REGION, normalize_phone


def normalize(apps, schema_editor):
    Contact = apps.get_model("crm", "Contact")
    stale = Contact.objects.annotate(email_lower=Lower("email")).filter(
        (~Q(phone="") & ~Q(phone__startswith="+"))
        | (~Q(mobile_phone="") & ~Q(mobile_phone__startswith="+"))
        | ~Q(email=F("email_lower"))
    )
    for contact in stale.select_related("client").iterator(chunk_size=1000):
        region = contact.client.phone_region or DEFAULT_REGION
        for name in ("phone", "mobile_phone"):
            raw = getattr(contact, name)
            if raw and not raw.startswith("+"):
                setattr(contact, name, normalize_phone(raw, region) or raw)
        contact.email = contact.email.strip().lower()
        contact.save(update_fields=["phone", "mobile_phone", "email"])


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0004_integration_secret_rotation_and_zapier"),
        ("accounts", "0005_organization_phone_region"),
    ]

    operations = [migrations.RunPython(normalize, migrations.RunPython.noop, elidable=True)]
