from datetime import UTC

import django_filters
from rest_framework.exceptions import ValidationError

from campaigns.models import Campaign, CampaignStatus
from giftcards.models import GiftCardDelivery, RecipientGiftCard
from giftcards.models.choices import DeliveryStatus, RewardStatus
from recipients.codes import normalize_code
from recipients.models import ApprovalStatus, Recipient, SmsOptInStatus


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 time, in UTC before it reaches the database: PostgreSQL refuses offsets past
    ±15:59 (which ISO and Python allow), and a time that cannot be expressed in UTC is a 400."""

    def filter(self, qs, value):
        if value is not None:
            try:
                value = value.astimezone(UTC)
            except OverflowError:
                raise ValidationError({self.field_name: ["Out of range."]}) from None
        return super().filter(qs, value)


class CampaignFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=CampaignStatus.choices)

    class Meta:
        model = Campaign
        fields = ["status"]


class RecipientFilter(django_filters.FilterSet):
    campaign = django_filters.UUIDFilter(field_name="campaign_id")
    audience = django_filters.UUIDFilter(field_name="audience_id")
    approval_status = django_filters.ChoiceFilter(choices=ApprovalStatus.choices)
    sms_opt_in_status = django_filters.ChoiceFilter(choices=SmsOptInStatus.choices)
    external_id = django_filters.CharFilter(field_name="custom_fields__external_id", max_length=100)
    redemption_code = django_filters.CharFilter(method="by_code", max_length=60)
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")

    class Meta:
        model = Recipient
        fields = [
            "campaign",
            "audience",
            "approval_status",
            "sms_opt_in_status",
            "external_id",
            "redemption_code",
            "created_after",
        ]

    def by_code(self, queryset, name, value):
        return queryset.filter(redemption_code=normalize_code(value))


class RewardFilter(django_filters.FilterSet):
    campaign = django_filters.UUIDFilter(field_name="campaign_id")
    recipient = django_filters.UUIDFilter(field_name="recipient_id")
    status = django_filters.ChoiceFilter(choices=RewardStatus.choices)

    class Meta:
        model = RecipientGiftCard
        fields = ["campaign", "recipient", "status"]


class DeliveryFilter(django_filters.FilterSet):
    campaign = django_filters.UUIDFilter(field_name="campaign_id")
    recipient = django_filters.UUIDFilter(field_name="recipient_id")
    reward = django_filters.UUIDFilter(field_name="reward_id")
    status = django_filters.ChoiceFilter(choices=DeliveryStatus.choices)

    class Meta:
        model = GiftCardDelivery
        fields = ["campaign", "recipient", "reward", "status"]
