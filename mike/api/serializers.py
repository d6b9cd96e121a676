"""What the API shows of each object, and what it accepts. Output serializers are read-only views
of the models; input serializers only validate and hand plain values to the services."""

from rest_framework import serializers

from campaigns.models import Campaign, CampaignCondition
from giftcards.models import GiftCardDelivery, RecipientGiftCard
from mike.webhooks.catalogue import WebhookEventType
from mike.webhooks.models import WebhookSubscription
from recipients.models import Audience, Recipient

MAX_PUSH = 1000


class ConditionSerializer(serializers.ModelSerializer):
    number = serializers.IntegerField(source="condition_number")
    name = serializers.CharField(source="condition_name")
    brand = serializers.CharField(source="brand.brand_name")

    class Meta:
        model = CampaignCondition
        fields = (
            "number",
            "name",
            "trigger_type",
            "crm_event_name",
            "is_active",
            "brand",
            "card_value",
        )


class FunnelSerializer(serializers.Serializer):
    recipients = serializers.IntegerField()
    called = serializers.IntegerField()
    conditions_met = serializers.IntegerField()
    approved = serializers.IntegerField()
    opted_in = serializers.IntegerField()
    rewards_claimed = serializers.IntegerField()
    rewards_delivered = serializers.IntegerField()
    redeemed = serializers.IntegerField()


class CampaignSerializer(serializers.ModelSerializer):
    client = serializers.UUIDField(source="client_id")
    audience = serializers.UUIDField(source="audience_id", allow_null=True)

    class Meta:
        model = Campaign
        fields = (
            "id",
            "client",
            "name",
            "status",
            "audience",
            "mail_date",
            "rewards_enabled",
            "created_at",
            "updated_at",
        )


class CampaignDetailSerializer(CampaignSerializer):
    conditions = serializers.SerializerMethodField()
    funnel = serializers.SerializerMethodField()

    class Meta(CampaignSerializer.Meta):
        fields = (*CampaignSerializer.Meta.fields, "conditions", "funnel")

    def get_conditions(self, campaign) -> list[dict]:
        conditions = campaign.conditions.select_related("brand").order_by("condition_number")
        return ConditionSerializer(conditions, many=True).data

    def get_funnel(self, campaign) -> FunnelSerializer:
        return self.context["funnel"]


class AudienceSerializer(serializers.ModelSerializer):
    client = serializers.UUIDField(source="client_id")
    campaigns = serializers.SerializerMethodField()

    class Meta:
        model = Audience
        fields = (
            "id",
            "client",
            "name",
            "source",
            "status",
            "total_count",
            "is_test",
            "campaigns",
            "created_at",
        )

    def get_campaigns(self, audience) -> list[str]:
        return [str(pk) for pk in audience.campaigns.values_list("pk", flat=True)]


class AudienceCreateSerializer(serializers.Serializer):
    # Length checked on what was sent, then trimmed: trimming first would let a 201-character
    # name with a leading space through a field documented as at most 200.
    name = serializers.CharField(max_length=200, trim_whitespace=False)

    def validate_name(self, name):
        if not name.strip():
            raise serializers.ValidationError("Give the audience a name.")
        return name.strip()

    client = serializers.UUIDField(
        required=False,
        help_text="The client the audience belongs to; needed only with an agency's key.",
    )


class RewardSerializer(serializers.ModelSerializer):
    recipient = serializers.UUIDField(source="recipient_id")
    campaign = serializers.UUIDField(source="campaign_id")
    condition_number = serializers.IntegerField(source="condition.condition_number")
    brand = serializers.CharField(source="brand.brand_name")
    card_code = serializers.SerializerMethodField(
        help_text="The card's code, masked: the full code is the recipient's alone. A sandbox "
        "reward's fake code (TEST-XXXX-XXXX) is shown whole."
    )

    class Meta:
        model = RecipientGiftCard
        fields = (
            "id",
            "recipient",
            "campaign",
            "condition_number",
            "status",
            "brand",
            "card_value",
            "card_code",
            "is_sandbox",
            "delivery_method",
            "delivery_status",
            "assigned_at",
            "delivered_at",
            "created_at",
        )

    def get_card_code(self, reward) -> str | None:
        if reward.is_sandbox:
            return reward.sandbox_code
        card = reward.gift_card
        return card.masked_code if card is not None else None


class DeliverySerializer(serializers.ModelSerializer):
    reward = serializers.UUIDField(source="reward_id")
    recipient = serializers.UUIDField(source="recipient_id")
    campaign = serializers.UUIDField(source="campaign_id", allow_null=True)
    message = serializers.CharField(
        source="sms_message", help_text="The text sent, with the card's code masked."
    )

    class Meta:
        model = GiftCardDelivery
        fields = (
            "id",
            "reward",
            "recipient",
            "campaign",
            "condition_number",
            "delivery_method",
            "status",
            "is_sandbox",
            "message",
            "sms_status",
            "failure_reason",
            "retry_count",
            "sms_sent_at",
            "delivered_at",
            "created_at",
        )


class RecipientSerializer(serializers.ModelSerializer):
    audience = serializers.UUIDField(source="audience_id")
    campaign = serializers.UUIDField(source="campaign_id", allow_null=True)
    external_id = serializers.SerializerMethodField()
    redemption_code = serializers.CharField(source="display_code")
    readiness = serializers.SerializerMethodField()

    class Meta:
        model = Recipient
        fields = (
            "id",
            "audience",
            "campaign",
            "external_id",
            "redemption_code",
            "first_name",
            "last_name",
            "company",
            "email",
            "phone",
            "address1",
            "address2",
            "city",
            "state",
            "zip",
            "custom_fields",
            "approval_status",
            "sms_opt_in_status",
            "readiness",
            "reward_by_email",
            "is_test",
            "created_at",
        )

    def get_external_id(self, recipient) -> str:
        return str((recipient.custom_fields or {}).get("external_id", ""))

    def get_readiness(self, recipient) -> str:
        return recipient.readiness()


class RecipientDetailSerializer(RecipientSerializer):
    conditions_met = serializers.SerializerMethodField()
    rewards = serializers.SerializerMethodField()

    class Meta(RecipientSerializer.Meta):
        fields = (*RecipientSerializer.Meta.fields, "conditions_met", "rewards")

    def get_conditions_met(self, recipient) -> list[dict]:
        return [
            {
                "number": met.condition.condition_number,
                "name": met.condition.condition_name,
                "source": met.source,
                "met_at": met.created_at,
            }
            for met in recipient.conditions_met.select_related("condition").order_by(
                "condition__condition_number"
            )
        ]

    def get_rewards(self, recipient) -> list[dict]:
        rewards = (
            RecipientGiftCard.objects.filter(recipient=recipient)
            .select_related("condition", "brand", "gift_card")
            .order_by("created_at")
        )
        return RewardSerializer(rewards, many=True).data


class RecipientRowSerializer(serializers.Serializer):
    """One recipient pushed: the CSV import's columns, checked by the same rules."""

    external_id = serializers.CharField(max_length=100, required=False, allow_blank=True)
    first_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    full_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True)
    email = serializers.CharField(max_length=254, required=False, allow_blank=True)
    company = serializers.CharField(max_length=200, required=False, allow_blank=True)
    address1 = serializers.CharField(max_length=200, required=False, allow_blank=True)
    address2 = serializers.CharField(max_length=200, required=False, allow_blank=True)
    city = serializers.CharField(max_length=100, required=False, allow_blank=True)
    state = serializers.CharField(max_length=50, required=False, allow_blank=True)
    zip = serializers.CharField(max_length=20, required=False, allow_blank=True)
    redemption_code = serializers.CharField(max_length=50, required=False, allow_blank=True)
    custom_fields = serializers.DictField(
        child=serializers.CharField(max_length=500, allow_blank=True),
        required=False,
        help_text="Other values kept with the recipient (strings).",
    )


class RecipientPushSerializer(serializers.Serializer):
    campaign = serializers.UUIDField(
        required=False,
        help_text="The campaign whose mailing carries these recipients' codes; defaults to the "
        "audience's campaign when it has exactly one.",
    )
    recipients = serializers.ListField(
        child=serializers.DictField(), min_length=1, max_length=MAX_PUSH
    )


class PushRowResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["created", "existing", "error"])
    id = serializers.UUIDField(required=False)
    external_id = serializers.CharField(required=False)
    redemption_code = serializers.CharField(required=False)
    errors = serializers.DictField(required=False)


class PushResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    existing = serializers.IntegerField()
    errors = serializers.IntegerField()
    results = PushRowResultSerializer(many=True)


class RecipientLookupQuerySerializer(serializers.Serializer):
    external_id = serializers.CharField(
        required=False, max_length=100, help_text="Your system's id of the recipient."
    )
    audience = serializers.UUIDField(
        required=False, help_text="The audience, when an external id is in several."
    )
    redemption_code = serializers.CharField(
        required=False, min_length=3, max_length=60, help_text="The code printed on the mail."
    )

    def validate(self, data):
        if not data.get("external_id") and not data.get("redemption_code"):
            raise serializers.ValidationError("Give external_id or redemption_code.")
        return data


class ConditionMetInputSerializer(serializers.Serializer):
    condition_number = serializers.IntegerField(min_value=1, max_value=32767)
    notes = serializers.CharField(max_length=500, required=False, allow_blank=True)


class ConditionMetSerializer(serializers.Serializer):
    recipient = serializers.UUIDField()
    condition_number = serializers.IntegerField()
    created = serializers.BooleanField(help_text="False when the condition was already met.")
    met_at = serializers.DateTimeField()
    reward = serializers.UUIDField(allow_null=True)


class SimulateReplySerializer(serializers.Serializer):
    body = serializers.CharField(
        max_length=160, help_text="What the recipient texts back: YES, STOP …"
    )


# --- Webhook subscriptions --------------------------------------------------------------------


class WebhookSubscriptionSerializer(serializers.ModelSerializer):
    client = serializers.UUIDField(source="client_id")
    events = serializers.ListField(child=serializers.ChoiceField(choices=WebhookEventType.choices))

    class Meta:
        model = WebhookSubscription
        fields = (
            "id",
            "client",
            "url",
            "description",
            "events",
            "is_active",
            "is_test",
            "disabled_at",
            "disabled_reason",
            "failing_since",
            "last_success_at",
            "created_at",
            "updated_at",
        )


class WebhookSubscriptionCreatedSerializer(WebhookSubscriptionSerializer):
    secret = serializers.CharField(
        help_text="The signing secret: returned here only, keep it. Each delivery's "
        '`X-Mike-Signature` is `t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.'
    )

    class Meta(WebhookSubscriptionSerializer.Meta):
        fields = (*WebhookSubscriptionSerializer.Meta.fields, "secret")


class WebhookSubscriptionCreateSerializer(serializers.Serializer):
    client = serializers.UUIDField(
        required=False, help_text="The client (with an agency's key); a client's key needs none."
    )
    url = serializers.CharField(max_length=2000)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEventType.choices),
        min_length=1,
        max_length=len(WebhookEventType.values),
    )


class WebhookSubscriptionUpdateSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=2000, required=False)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEventType.choices),
        min_length=1,
        max_length=len(WebhookEventType.values),
        required=False,
    )
    is_active = serializers.BooleanField(required=False)


class SimulateReplyResultSerializer(serializers.Serializer):
    reply = serializers.CharField(
        allow_blank=True,
        help_text="What Mike would have texted back (recorded as a sandbox message; blank after "
        "a STOP, which the carrier answers).",
    )
    recipient = RecipientDetailSerializer(
        help_text="The recipient as the reply left them. Sandbox deliveries run after the "
        "request commits: read the recipient again to see them delivered (test)."
    )
