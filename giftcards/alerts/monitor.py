"""The monitor run: dedupe against the alert history, record, email."""

import logging
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives
from django.db import connection, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from ..models import GiftCardAuditLog
from .problems import Problem, _plural, absolute_url, current_problems

logger = logging.getLogger(__name__)

ALERT_SENT = "alert_sent"
ALERT_CLEARED = "alert_cleared"
# One fixed key for pg_advisory_xact_lock: every run of the monitor serialises on it.
ALERT_LOCK_KEY = zlib.crc32(b"giftcards.alerts.send_staff_alerts")


@dataclass
class AlertRun:
    """What one run of the monitor did."""

    sent: list[Problem]
    cleared: int
    still_open: int
    recipients: list[str]

    def as_dict(self) -> dict:
        return {
            "alerted": len(self.sent),
            "cleared": self.cleared,
            "still_open": self.still_open,
            "recipients": len(self.recipients),
        }


def alert_recipients() -> list[str]:
    """ALERT_EMAILS when set; otherwise every active staff user with an email address."""
    configured = [address.strip() for address in settings.ALERT_EMAILS if address.strip()]
    if configured:
        return list(dict.fromkeys(configured))
    return list(
        get_user_model()
        .objects.filter(is_active=True, is_staff=True)
        .exclude(email="")
        .order_by("email")
        .values_list("email", flat=True)
    )


def _lock_monitor() -> None:
    """Serialise runs for the rest of the caller's transaction. A second run waits rather than
    skips, so a problem that appeared while the first was running is still seen now."""
    if connection.vendor != "postgresql":
        # SQLite (the single-process demo) allows one writer at a time: an overlapping run fails
        # on its first write, rolls back and sends nothing.
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ALERT_LOCK_KEY])


def _latest_alerts(since: datetime) -> dict[str, GiftCardAuditLog]:
    """The newest `alert_sent` / `alert_cleared` row of each problem key since `since`."""
    latest = {}
    for row in GiftCardAuditLog.objects.filter(
        action__in=[ALERT_SENT, ALERT_CLEARED], created_at__gte=since
    ).order_by("created_at", "pk"):
        latest[row.metadata.get("key", "")] = row
    return latest


def _is_news(problem: Problem, last: GiftCardAuditLog | None) -> bool:
    if last is None or last.action == ALERT_CLEARED:
        return True
    failed_anew = problem.occurrence != last.metadata.get("occurrence", "")
    got_worse = problem.severity > last.metadata.get("severity", 0)
    return failed_anew or got_worse


def _email(problems: list[Problem], *, recipients: list[str], still_open: int, now) -> None:
    by_org = defaultdict(list)
    for problem in problems:
        by_org[problem.organization].append(problem)
    kinds = Counter(problem.label.lower() for problem in problems)
    subject = "Mike alert: " + ", ".join(f"{n} {label}" for label, n in kinds.items())
    context = {
        "groups": list(by_org.items()),
        "count": len(problems),
        "still_open": still_open,
        "repeat_hours": settings.ALERT_REPEAT_HOURS,
        "now": timezone.localtime(now),
        "history_url": absolute_url(
            reverse("admin:giftcards_giftcardauditlog_changelist")
            + "?"
            + urlencode({"action": ALERT_SENT})
        ),
    }
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("email/staff_alerts.txt", context),
        to=recipients,
    )
    message.attach_alternative(render_to_string("email/staff_alerts.html", context), "text/html")
    message.send()


def send_staff_alerts(*, now: datetime | None = None) -> AlertRun:
    """Email staff the problems they have not heard about, and record every alert.

    Guarantees:
    - one email per run at most, listing each new problem with its organization and admin link;
      nothing is sent when nothing new is wrong;
    - a problem is alerted once, then again only after ALERT_REPEAT_HOURS while it lasts, unless it
      cleared in between (an `alert_cleared` row), got worse, or failed anew;
    - every alert is an `alert_sent` GiftCardAuditLog row, written even when there is nobody to
      email (a warning is logged);
    - idempotent and safe to overlap: runs serialise on a PostgreSQL advisory lock, so concurrent
      runs send one email between them.

    Raises whatever the email backend raises (e.g. SMTP down); the rows then roll back, so the
    next run alerts the same problems.
    """
    now = now or timezone.now()
    since = now - timedelta(hours=settings.ALERT_REPEAT_HOURS)
    with transaction.atomic():
        _lock_monitor()
        problems = current_problems()
        latest = _latest_alerts(since)
        news = [problem for problem in problems if _is_news(problem, latest.get(problem.key))]
        current = {problem.key for problem in problems}
        gone = [
            row for key, row in latest.items() if row.action == ALERT_SENT and key not in current
        ]
        recipients = alert_recipients() if news else []

        GiftCardAuditLog.objects.bulk_create(
            [
                GiftCardAuditLog(
                    client_id=problem.client_id,
                    action=ALERT_SENT,
                    entity_type=problem.entity_type,
                    entity_id=problem.entity_id,
                    metadata={
                        "kind": problem.kind,
                        "key": problem.key,
                        "severity": problem.severity,
                        "occurrence": problem.occurrence,
                        "summary": problem.summary,
                        "recipients": recipients,
                        **problem.facts,
                    },
                )
                for problem in news
            ]
            + [
                GiftCardAuditLog(
                    client_id=row.client_id,
                    action=ALERT_CLEARED,
                    entity_type=row.entity_type,
                    entity_id=row.entity_id,
                    metadata={"kind": row.metadata.get("kind"), "key": row.metadata.get("key")},
                )
                for row in gone
            ]
        )
        run = AlertRun(
            sent=news,
            cleared=len(gone),
            still_open=len(problems) - len(news),
            recipients=recipients,
        )
        if not news:
            return run
        if not recipients:
            logger.warning(
                "%s recorded but not emailed: set ALERT_EMAILS or give a staff user an email "
                "address.",
                _plural(len(news), "alert"),
            )
            return run
        # Sent inside the transaction on purpose: a failed send rolls the rows back, so the alert
        # is tried again rather than recorded as sent and lost.
        _email(news, recipients=recipients, still_open=run.still_open, now=now)
    logger.info("Alerted %s to %s", _plural(len(news), "problem"), ", ".join(recipients))
    return run
