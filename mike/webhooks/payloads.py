"""The `data` of each event, built from the objects the services already hold (attributes only:
this module imports no domain app and adds no query where the caller loaded what it reads).

Card codes and PINs are never in a payload: they are bearer money."""

from datetime import datetime


def _id(value):
    return str(value) if value is not None else None


def _time(value: datetime | None):
    return value.isoformat() if value is not None else None


def campaign(campaign) -> dict:
    return {
        "id": _id(campaign.pk),
        "client": _id(campaign.client_id),
        "name": campaign.name,
        "status": campaign.status,
        "audience": _id(campaign.audience_id),
        "mail_date": campaign.mail_date.isoformat() if campaign.mail_date else None,
        "created_at": _time(campaign.created_at),
    }


def recipient(recipient) -> dict:
    custom = recipient.custom_fields or {}
    return {
        "id": _id(recipient.pk),
        "audience": _id(recipient.audience_id),
        "campaign": _id(recipient.campaign_id),
        "external_id": str(custom.get("external_id", "")),
        "redemption_code": recipient.display_code,
        "first_name": recipient.first_name,
        "last_name": recipient.last_name,
        "email": recipient.email,
        "phone": recipient.phone,
        "approval_status": recipient.approval_status,
        "sms_opt_in_status": recipient.sms_opt_in_status,
        "is_test": recipient.is_test,
    }


def call(session) -> dict:
    return {
        "id": _id(session.pk),
        "call_sid": session.twilio_call_sid,
        "campaign": _id(session.campaign_id),
        "recipient": _id(session.recipient_id),
        "caller_phone": session.caller_phone,
        "status": session.call_status,
        "duration_seconds": session.call_duration_seconds,
        "started_at": _time(session.call_started_at),
        "ended_at": _time(session.call_ended_at),
        "recording_url": session.recording_url,
    }


def condition_met(met, *, condition, recipient_obj) -> dict:
    return {
        "recipient": recipient(recipient_obj),
        "campaign": _id(condition.campaign_id),
        "condition": {
            "id": _id(condition.pk),
            "number": condition.condition_number,
            "name": condition.condition_name,
        },
        "source": met.source,
        "call": _id(met.call_session_id),
        "met_at": _time(met.met_at),
    }


def reward(reward_obj, *, brand_name: str, delivery=None) -> dict:
    data = {
        "id": _id(reward_obj.pk),
        "recipient": _id(reward_obj.recipient_id),
        "campaign": _id(reward_obj.campaign_id),
        "condition": _id(reward_obj.condition_id),
        "brand": brand_name,
        "value": str(reward_obj.card_value),
    }
    if delivery is not None:
        data["delivery"] = {
            "id": _id(delivery.pk),
            "method": delivery.delivery_method,
        }
    return data


def provisioned(reward_obj, *, delivery, source: str, sandbox: bool = False) -> dict:
    """`gift_card.provisioned`: a card was assigned to the reward, from the client's stock
    (giftcards.services.claim) or, for test data, a sandbox card (giftcards.services.sandbox):
    the same fields, the sandbox one marked."""
    data = {
        **reward(reward_obj, brand_name=reward_obj.brand.brand_name, delivery=delivery),
        "status": "claimed",
        "source": source,
    }
    if sandbox:
        data["sandbox"] = True
    return data


def delivered(delivery, *, brand_name: str, value, delivered_at, sandbox: bool = False) -> dict:
    """`gift_card.delivered`: the same fields for a live card and a sandbox one (marked)."""
    data = {
        "reward": _id(delivery.reward_id),
        "recipient": _id(delivery.recipient_id),
        "campaign": _id(delivery.campaign_id),
        "delivery": {"id": _id(delivery.pk), "method": delivery.delivery_method},
        "brand": brand_name,
        "value": str(value),
        "delivered_at": _time(delivered_at),
    }
    if sandbox:
        data["sandbox"] = True
    return data


def form_submission(submission) -> dict:
    return {
        "id": _id(submission.pk),
        "form": _id(submission.form_id),
        "recipient": _id(submission.recipient_id),
        "data": submission.submission_data or {},
        "submitted_at": _time(submission.submitted_at),
    }
