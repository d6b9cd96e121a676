"""The monitor run: dedupe against what staff were told (StaffAlert), record, email."""

import logging
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives
from django.db import connection, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from ..models import StaffAlert
from .problems import Problem, _plural, absolute_url, current_problems

logger = logging.getLogger(__name__)

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
        "history_url": absolute_url(reverse("admin:giftcards_staffalert_changelist")),
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
    - a problem is alerted once, then again only after ALERT_REPEAT_HOURS while it lasts (not at
      all once staff dismissed it), unless it cleared in between, got worse, or failed anew
      (StaffAlert.is_news);
    - every problem alerted is a StaffAlert row (one per problem, updated each time it is alerted
      or clears), written even when there is nobody to email (a warning is logged);
    - idempotent and safe to overlap: runs serialise on a PostgreSQL advisory lock, so concurrent
      runs send one email between them.

    Raises whatever the email backend raises (e.g. SMTP down); the rows then roll back, so the
    next run alerts the same problems.
    """
    now = now or timezone.now()
    with transaction.atomic():
        _lock_monitor()
        problems = current_problems()
        known = StaffAlert.objects.in_bulk([problem.key for problem in problems], field_name="key")
        news = [
            problem
            for problem in problems
            if problem.key not in known
            or known[problem.key].is_news(
                severity=problem.severity, occurrence=problem.occurrence, now=now
            )
        ]
        current = {problem.key for problem in problems}
        gone = StaffAlert.objects.open().exclude(key__in=current)
        cleared = gone.update(cleared_at=now, updated_at=now)
        recipients = alert_recipients() if news else []
        for problem in news:
            _record(problem, known.get(problem.key), recipients=recipients, now=now)
        run = AlertRun(
            sent=news,
            cleared=cleared,
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


def _record(problem: Problem, alert: StaffAlert | None, *, recipients: list[str], now) -> None:
    """Write that staff were alerted about `problem` now: a new row, or its row brought up to
    date (reopened if it had cleared; a dismissal lasts only until the problem changes)."""
    fields = {
        "kind": problem.kind,
        "client_id": problem.client_id,
        "organization": problem.organization[:200],
        "entity_type": problem.entity_type,
        "entity_id": problem.entity_id,
        "summary": problem.summary,
        "admin_path": problem.admin_path[:500],
        "severity": problem.severity,
        "occurrence": problem.occurrence,
        "facts": problem.facts,
        "last_alerted_at": now,
        "emailed_to": recipients,
        "cleared_at": None,
        "dismissed_at": None,
        "dismissed_by": None,
    }
    if alert is None:
        StaffAlert.objects.create(key=problem.key, first_alerted_at=now, **fields)
        return
    for name, value in fields.items():
        setattr(alert, name, value)
    alert.times_alerted += 1
    alert.save()


def dismiss_alert(*, alert: StaffAlert, by) -> bool:
    """Staff dismiss an open alert: it is not repeated while it lasts as it is (it still alerts
    again if it clears and comes back, gets worse or fails anew). False when already cleared or
    dismissed."""
    return bool(
        StaffAlert.objects.filter(
            pk=alert.pk, cleared_at__isnull=True, dismissed_at__isnull=True
        ).update(dismissed_at=timezone.now(), dismissed_by=by, updated_at=timezone.now())
    )
