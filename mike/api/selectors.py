"""Reads the API needs beyond the models: a campaign's funnel for a key's kind of data (a test
key counts its test recipients, a live key the real ones)."""

from django.db.models import Count, Q

from calls.models import CallConditionMet, CallSession
from giftcards.models import RecipientGiftCard, RewardStatus
from recipients.models import REWARDABLE_APPROVALS, ApprovalStatus, Recipient, SmsOptInStatus


def campaign_funnel(*, campaign, is_test: bool) -> dict:
    recipients = Recipient.objects.filter(campaign=campaign, is_test=is_test).aggregate(
        recipients=Count("pk"),
        approved=Count("pk", filter=Q(approval_status__in=REWARDABLE_APPROVALS)),
        opted_in=Count("pk", filter=Q(sms_opt_in_status=SmsOptInStatus.OPTED_IN)),
        redeemed=Count("pk", filter=Q(approval_status=ApprovalStatus.REDEEMED)),
    )
    rewards = RecipientGiftCard.objects.filter(
        campaign=campaign, recipient__is_test=is_test
    ).aggregate(
        rewards_claimed=Count(
            "pk", filter=Q(status__in=(RewardStatus.CLAIMED, RewardStatus.DELIVERED))
        ),
        rewards_delivered=Count("pk", filter=Q(status=RewardStatus.DELIVERED)),
    )
    called = (
        CallSession.objects.filter(campaign=campaign, recipient__is_test=is_test)
        .values("recipient")
        .distinct()
        .count()
    )
    conditions_met = CallConditionMet.objects.filter(
        campaign=campaign, recipient__is_test=is_test
    ).count()
    return {**recipients, **rewards, "called": called, "conditions_met": conditions_met}
