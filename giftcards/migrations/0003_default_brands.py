"""The five gift card brands Mike ships with (seed: `gift_card_brands`).

The list is copied here rather than imported from giftcards.brands, so this migration keeps
loading exactly these rows however that module changes later. Reversing removes only brands no
pool, card or condition uses.
"""

from django.db import migrations

BRANDS = [
    {
        "brand_name": "Starbucks",
        "brand_code": "starbucks",
        "provider": "tillo",
        "tillo_brand_code": "starbucks-us",
        "category": "coffee",
        "typical_denominations": [5, 10, 15, 25, 50],
        "logo_url": "/static/brands/starbucks.svg",
        "brand_color": "#00704A",
        "website_url": "https://www.starbucks.com",
        "redemption_instructions": "Show the code to the barista at any participating Starbucks "
        "store in the US, or add the card to the Starbucks app (Scan > "
        "Manage > Add card) with its number and security code to pay from "
        "your phone.",
    },
    {
        "brand_name": "Amazon",
        "brand_code": "amazon",
        "provider": "tillo",
        "tillo_brand_code": "amazon-us",
        "category": "retail",
        "typical_denominations": [10, 25, 50, 100],
        "logo_url": "/static/brands/amazon.svg",
        "brand_color": "#FF9900",
        "website_url": "https://www.amazon.com",
        "redemption_instructions": "Go to amazon.com/redeem, sign in, enter the claim code and "
        "choose Apply to Your Balance; the balance is used automatically "
        "at checkout on eligible items.",
    },
    {
        "brand_name": "Target",
        "brand_code": "target",
        "provider": "tillo",
        "tillo_brand_code": "target-us",
        "category": "retail",
        "typical_denominations": [10, 15, 25, 50, 100],
        "logo_url": "/static/brands/target.svg",
        "brand_color": "#CC0000",
        "website_url": "https://www.target.com",
        "redemption_instructions": "Show the card's barcode at checkout in any Target store, or "
        "enter the card number and access code in the payment step on "
        "Target.com or in the Target app.",
    },
    {
        "brand_name": "Walmart",
        "brand_code": "walmart",
        "provider": "tillo",
        "tillo_brand_code": "walmart-us",
        "category": "retail",
        "typical_denominations": [10, 25, 50, 100],
        "logo_url": "/static/brands/walmart.svg",
        "brand_color": "#0071CE",
        "website_url": "https://www.walmart.com",
        "redemption_instructions": "Present the card at checkout in any Walmart store, or add it on "
        "Walmart.com under Account > Gift cards with the card number and "
        "PIN before you place your order.",
    },
    {
        "brand_name": "Jimmy John's",
        "brand_code": "jimmy_johns",
        "provider": "tillo",
        "tillo_brand_code": "jimmy-johns-us",
        "category": "restaurant",
        "typical_denominations": [5, 10, 15, 25],
        "logo_url": "/static/brands/jimmy-johns.svg",
        "brand_color": "#E31837",
        "website_url": "https://www.jimmyjohns.com",
        "redemption_instructions": "Show the code at the register of any participating Jimmy John's, "
        "or enter the card number and PIN in the payment step when you "
        "order at jimmyjohns.com or in the app.",
    },
]


def add_brands(apps, schema_editor):
    GiftCardBrand = apps.get_model("giftcards", "GiftCardBrand")
    for brand in BRANDS:
        GiftCardBrand.objects.update_or_create(brand_code=brand["brand_code"], defaults=brand)


def remove_brands(apps, schema_editor):
    GiftCardBrand = apps.get_model("giftcards", "GiftCardBrand")
    GiftCardBrand.objects.filter(
        brand_code__in=[b["brand_code"] for b in BRANDS],
        pools__isnull=True,
        cards__isnull=True,
        campaign_conditions__isnull=True,
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("giftcards", "0002_initial")]

    operations = [migrations.RunPython(add_brands, remove_brands)]
