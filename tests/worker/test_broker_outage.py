"""Redis down while staff approve: the approval commits, the page answers, and once the broker is
back the periodic sweep sends the opt-in text that could not be queued. Nothing is lost."""

from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from mike.celery import app
from mike.rewards.tasks import sweep_stuck_work
from recipients.models import ApprovalStatus, Recipient, SmsOptInStatus
from tests import factories
from tests.worker.test_real_worker import _reset_connections

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@contextmanager
def broker_down():
    saved = (
        app.conf.task_always_eager,
        app.conf.broker_url,
        app.conf.broker_connection_timeout,
        app.conf.task_publish_retry_policy,
    )
    app.conf.task_always_eager = False
    app.conf.broker_url = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    app.conf.broker_connection_timeout = 1
    app.conf.task_publish_retry_policy = {
        "max_retries": 1,
        "interval_start": 0,
        "interval_step": 0.1,
    }
    _reset_connections()
    try:
        yield
    finally:
        (
            app.conf.task_always_eager,
            app.conf.broker_url,
            app.conf.broker_connection_timeout,
            app.conf.task_publish_retry_policy,
        ) = saved
        _reset_connections()


def test_an_approval_during_a_broker_outage_is_texted_by_the_sweep(admin_client, sms_outbox):
    recipient = factories.RecipientFactory(phone="+15553334444", with_reward=True)

    with broker_down():
        response = admin_client.post(
            reverse("admin:recipients_recipient_changelist"),
            {"action": "approve_selected", "_selected_action": [str(recipient.pk)]},
        )
    assert response.status_code in (200, 302)
    recipient.refresh_from_db()
    assert recipient.approval_status == ApprovalStatus.APPROVED  # the approval was kept
    assert recipient.sms_opt_in_status == SmsOptInStatus.NOT_SENT
    assert sms_outbox == []

    # The broker is back; a few minutes later beat runs the sweep.
    Recipient.objects.filter(pk=recipient.pk).update(
        approved_at=timezone.now() - timedelta(hours=1)
    )
    summary = sweep_stuck_work()
    assert summary["opt_ins"] == 1
    assert [m.to for m in sms_outbox] == ["+15553334444"]
    recipient.refresh_from_db()
    assert recipient.sms_opt_in_status == SmsOptInStatus.PENDING
    assert sweep_stuck_work()["opt_ins"] == 0  # and it is not texted twice
