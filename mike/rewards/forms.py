"""An ACE form submitted: the submission stored and counted, its event and webhook written, and,
for a matched recipient of the form's campaign, each active `form_submitted` condition tied to
the form met through the same service every other trigger uses (`conditions.mark_condition_met`,
idempotent under the recipient's lock, so it is met once however many submissions race)."""

import logging

from django.db import transaction

from calls.models import ConditionMetSource
from calls.services import ConditionOrderError
from campaigns import ace_forms
from campaigns.models import (
    AceForm,
    AceFormSubmission,
    CampaignCondition,
    Event,
    EventSource,
    EventType,
    TriggerType,
)
from mike import webhooks
from recipients.models import Recipient

from .conditions import MEETABLE_CAMPAIGN_STATUSES, mark_condition_met

logger = logging.getLogger(__name__)


def form_conditions(*, form: AceForm, recipient: Recipient) -> list[CampaignCondition]:
    """The active `form_submitted` conditions of the recipient's campaign that this form meets,
    in order; none outside the form's campaign or while the campaign's mail is not out."""
    if recipient is None or recipient.campaign_id is None:
        return []
    if form.campaign_id is not None and form.campaign_id != recipient.campaign_id:
        return []
    if recipient.campaign.status not in MEETABLE_CAMPAIGN_STATUSES:
        return []
    return list(
        CampaignCondition.objects.filter(
            campaign_id=recipient.campaign_id,
            is_active=True,
            trigger_type=TriggerType.FORM_SUBMITTED,
            form=form,
        ).order_by("condition_number")
    )


def submit_form(
    *,
    form: AceForm,
    values: dict,
    recipient: Recipient | None = None,
    ip: str = "",
    user_agent: str = "",
) -> AceFormSubmission:
    """Store a submission of `form` (counted with F()), its `form_submitted` event and the
    `form.submitted` webhook, and meet the form's conditions for `recipient`, all in one
    transaction. `recipient` must already be matched to the form's client (the caller's lookup).
    A condition whose predecessor is not met yet is skipped and logged: the submission is kept."""
    if recipient is not None and recipient.audience.client_id != form.client_id:
        raise ValueError("The recipient belongs to another client than the form.")
    with transaction.atomic():
        submission = ace_forms.record_submission(
            form=form, values=values, recipient=recipient, ip=ip, user_agent=user_agent
        )
        Event.objects.record(
            EventType.FORM_SUBMITTED,
            client=form.client_id,
            campaign=recipient.campaign_id if recipient else form.campaign_id,
            recipient=recipient,
            source=EventSource.FORM,
            form=str(form.pk),
            submission=str(submission.pk),
        )
        webhooks.emit_form_submitted(
            submission=submission,
            client=form.client_id,
            is_test=bool(recipient and recipient.is_test),
        )
        for condition in form_conditions(form=form, recipient=recipient):
            try:
                mark_condition_met(
                    recipient=recipient,
                    condition=condition,
                    source=ConditionMetSource.FORM_SUBMITTED,
                    notes=f"Form {form.name}",
                )
            except ConditionOrderError as exc:
                logger.info("Form %s met no condition for %s: %s", form.slug, recipient.pk, exc)
    return submission
