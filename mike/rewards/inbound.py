"""What comes back from Twilio: texts recipients send, and the status callbacks of the texts
Mike sent (opt-in questions and card deliveries)."""

import logging

from giftcards.models import OWED_A_CARD_STATUSES, RecipientGiftCard, RewardStatus
from recipients import services as recipient_services
from recipients import sms_replies
from recipients.models import ApprovalStatus, Recipient
from recipients.sms_replies import Keyword

from .claims import claim_pending_rewards
from .delivery import resume_opted_out_deliveries, update_delivery_status

logger = logging.getLogger(__name__)


def handle_inbound_sms(
    *,
    from_number: str,
    body: str,
    message_sid: str,
    to_number: str = "",
    client_ids=None,
    recipient_id=None,
) -> str:
    """Act on a text a recipient sent (recipients.services.handle_inbound_sms: YES, STOP, START,
    HELP, idempotent by message SID) and return the reply to send back ("" for none).

    Once the new state is committed, the card texts refused while the number was opted out are
    sent again and the rewards of whoever opted in are claimed, before the reply is written: a YES
    is answered with what its claims did ("your card is on its way" only when a card is). A claim
    that fails here is logged, and the sweep claims it later; the reply then says the card is
    being got ready, which is what is true. `client_ids`: only these clients' recipients (the
    text came through a client's or agency's own Twilio account). `recipient_id`: a reply
    simulated for that test recipient (`simulate_reply`)."""
    # One transaction, the service's own (it locks the number's recipients first).
    inbound = recipient_services.handle_inbound_sms(
        from_number=from_number,
        body=body,
        message_sid=message_sid,
        to_number=to_number,
        client_ids=client_ids,
        recipient_id=recipient_id,
    )
    claimed = []
    if not inbound.duplicate:
        for recipient in inbound.came_back:
            _safely(resume_opted_out_deliveries, recipient=recipient)
        for recipient in inbound.opted_in:
            claimed += _safely(claim_pending_rewards, recipient=recipient) or []
    reply = recipient_services.fixed_reply(inbound.keyword, inbound.primary)
    if reply is None:
        reply = opt_in_reply(
            inbound.keyword,
            Recipient.objects.get(pk=inbound.primary.pk),
            just_claimed={reward.pk for reward in claimed},
        )
    recipient_services.log_reply(inbound=inbound, text=reply)
    return reply


def _safely(step, **kwargs):
    try:
        return step(**kwargs)
    except Exception:  # noqa: BLE001 - the opt-in is committed; the sweep finishes this step
        logger.exception("%s after an inbound text failed", step.__name__)
        return None


def opt_in_reply(keyword: Keyword, recipient: Recipient, *, just_claimed=frozenset()) -> str:
    """The answer to a YES or START, true of the recipient's rewards as they now stand: a card is
    on its way when its reward is claimed (its text queued or being sent) or was claimed by this
    very text (`just_claimed`: with tasks run in-process it may be delivered already)."""
    client = recipient.audience.client.name
    rewards = list(
        RecipientGiftCard.objects.filter(recipient=recipient)
        .exclude(status__in=[RewardStatus.REJECTED, RewardStatus.REVOKED])
        .select_related("brand")
        .order_by("condition__condition_number")
    )
    on_the_way = [
        reward
        for reward in rewards
        if reward.status == RewardStatus.CLAIMED or reward.pk in just_claimed
    ]
    waiting = [reward for reward in rewards if reward.status in OWED_A_CARD_STATUSES]
    if recipient.approval_status == ApprovalStatus.REJECTED:
        template = sms_replies.OPTED_IN_NO_REWARD
    elif not recipient.is_approved:
        if keyword == Keyword.START:
            template = (
                sms_replies.RESTARTED_NOT_APPROVED
                if waiting
                else sms_replies.RESTARTED_NOTHING_EARNED
            )
        else:
            template = (
                sms_replies.OPTED_IN_NOT_APPROVED
                if waiting
                else sms_replies.OPTED_IN_NOTHING_EARNED
            )
    elif on_the_way:
        first = on_the_way[0]
        template = (
            sms_replies.OPTED_IN_ON_ITS_WAY
            if len(on_the_way) == 1
            else sms_replies.OPTED_IN_ON_THEIR_WAY
        )
        for name, value in (
            ("{value}", f"${first.card_value:.2f}"),
            ("{brand}", first.brand.brand_name),
            ("{count}", str(len(on_the_way))),
            ("{method}", "email" if first.delivery_method == "email" else "text"),
        ):
            template = template.replace(name, value)
    elif waiting:
        template = sms_replies.OPTED_IN_GETTING_READY
    else:
        template = sms_replies.OPTED_IN_NOTHING_EARNED
    return sms_replies.render(template, client_name=client)


def apply_sms_status(*, message_sid: str, status: str, error_code: str = "") -> None:
    """Apply Twilio's status callback for an outbound text: an opt-in question's log row
    (recipients.services.apply_opt_in_status), or else a card delivery's
    (`delivery.update_delivery_status`). Harmless when repeated or out of order."""
    if not message_sid:
        return
    if recipient_services.apply_opt_in_status(
        message_sid=message_sid, status=status, error_code=error_code
    ):
        return
    update_delivery_status(message_sid=message_sid, status=status, error_code=error_code)


def simulate_reply(*, recipient: Recipient, body: str) -> str:
    """The sandbox's inbound text: act on `body` as if the test recipient had texted it (YES opts
    in and claims their sandbox rewards, STOP opts out, HELP, …) through the same path as a real
    text, without Twilio and without touching anyone else at the number. Returns the reply Mike
    would have texted back (recorded as a sandbox message). ValueError for a live recipient."""
    from mike.core.sms import sandbox_sms

    if not recipient.is_test:
        raise ValueError("Only a test recipient's reply can be simulated.")
    return handle_inbound_sms(
        from_number=recipient.phone,
        body=body,
        message_sid=sandbox_sms(recipient.phone, body).sid,
        recipient_id=recipient.pk,
    )
