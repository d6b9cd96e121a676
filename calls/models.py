"""Tracked phone numbers, the calls they receive, what agents record on them, and met conditions.

Invariants the database holds:
- a Twilio call is one `CallSession` (`twilio_call_sid` unique), so a re-delivered webhook finds the
  session it already made;
- a recipient meets each campaign condition at most once (`CallConditionMet` unique on recipient +
  condition), which, with the one-reward-per-condition rule in giftcards, makes double rewards
  impossible;
- a tracked number is live on at most one campaign, and an E.164 number is tracked once.
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from mike.accounts.querysets import TenantQuerySet
from mike.core.models import (
    CLIENT_ONLY,
    BaseModel,
    TimeOrderedModel,
    choices_constraint,
)


class TrackedNumberStatus(models.TextChoices):
    AVAILABLE = "available", "Available"
    ASSIGNED = "assigned", "Assigned"
    DECOMMISSIONED = "decommissioned", "Decommissioned"


class TrackedPhoneNumber(BaseModel):
    """A client's Twilio number printed on a campaign's mail, and where its calls are forwarded
    (seed: `tracked_phone_numbers`)."""

    client = models.ForeignKey(
        "accounts.Organization",
        on_delete=models.PROTECT,
        related_name="tracked_numbers",
        limit_choices_to=CLIENT_ONLY,
    )
    campaign = models.ForeignKey(
        "campaigns.Campaign",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tracked_numbers",
    )
    phone_number = models.CharField(
        max_length=20, unique=True, help_text="E.164, e.g. +15551234567."
    )
    friendly_name = models.CharField(max_length=100, blank=True)
    twilio_sid = models.CharField("Twilio SID", max_length=64, blank=True)
    twilio_account_sid = models.CharField(
        "Twilio account SID",
        max_length=64,
        blank=True,
        help_text="The account the number was bought on: re-pointed and released there.",
    )
    forward_to_number = models.CharField(
        max_length=20,
        blank=True,
        help_text="The call centre's number calls are forwarded to (E.164).",
    )
    recording_enabled = models.BooleanField(default=True)
    status = models.CharField(
        max_length=20, choices=TrackedNumberStatus.choices, default=TrackedNumberStatus.AVAILABLE
    )
    assigned_at = models.DateTimeField(null=True, blank=True)
    purchased_at = models.DateTimeField(null=True, blank=True)
    monthly_cost = models.DecimalField(
        max_digits=10, decimal_places=2, default=Decimal("0.00"), help_text="USD per month."
    )

    objects = TenantQuerySet.as_manager()
    client_lookup = "client"

    class Meta:
        ordering = ["phone_number"]
        constraints = [
            choices_constraint("status", TrackedNumberStatus, name="trackednumber_status_valid"),
            models.CheckConstraint(
                condition=Q(monthly_cost__gte=0), name="trackednumber_cost_not_negative"
            ),
            models.CheckConstraint(
                condition=~Q(status=TrackedNumberStatus.ASSIGNED) | Q(campaign__isnull=False),
                name="trackednumber_assigned_has_campaign",
            ),
        ]
        indexes = [models.Index(fields=["client", "status"], name="trackednumber_client_status")]

    def __str__(self):
        return (
            f"{self.phone_number} ({self.friendly_name})"
            if self.friendly_name
            else self.phone_number
        )


class CallStatus(models.TextChoices):
    # Twilio's CallStatus values; the order is the order a call moves through them.
    QUEUED = "queued", "Queued"
    RINGING = "ringing", "Ringing"
    IN_PROGRESS = "in-progress", "In progress"
    COMPLETED = "completed", "Completed"
    NO_ANSWER = "no-answer", "No answer"
    BUSY = "busy", "Busy"
    FAILED = "failed", "Failed"
    CANCELED = "canceled", "Canceled"


FINAL_CALL_STATUSES = frozenset(
    {
        CallStatus.COMPLETED,
        CallStatus.NO_ANSWER,
        CallStatus.BUSY,
        CallStatus.FAILED,
        CallStatus.CANCELED,
    }
)


class ConsoleStep(models.TextChoices):
    """Where the call console's redemption flow stands on a call, kept on the call so a reload or
    a second tab resumes it (calls.console)."""

    RECIPIENT = "recipient", "Recipient"
    CONSENT = "consent", "Consent"
    CONDITION = "condition", "Condition"
    REWARD = "reward", "Reward"
    CLOSE = "close", "Close the call"
    CLOSED = "closed", "Closed"


class MatchStatus(models.TextChoices):
    MATCHED = "matched", "Matched"
    UNMATCHED = "unmatched", "Unmatched"
    MANUAL_OVERRIDE = "manual_override", "Matched by an agent"


class CallSession(TimeOrderedModel):
    """One inbound call to a tracked number (seed: `call_sessions`).

    `client` is stored (not only reached through the campaign) so an unmatched call to a number
    whose campaign ended is still scoped to its tenant.
    """

    client = models.ForeignKey(
        "accounts.Organization",
        on_delete=models.PROTECT,
        related_name="call_sessions",
        limit_choices_to=CLIENT_ONLY,
    )
    campaign = models.ForeignKey(
        "campaigns.Campaign",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="call_sessions",
    )
    recipient = models.ForeignKey(
        "recipients.Recipient",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="call_sessions",
    )
    tracked_number = models.ForeignKey(
        TrackedPhoneNumber,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="call_sessions",
    )
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="handled_calls",
    )
    caller_phone = models.CharField(max_length=20, blank=True, help_text="E.164 when parseable.")
    twilio_call_sid = models.CharField("Twilio call SID", max_length=64, unique=True)
    call_status = models.CharField(
        max_length=20, choices=CallStatus.choices, default=CallStatus.RINGING
    )
    match_status = models.CharField(
        max_length=20, choices=MatchStatus.choices, default=MatchStatus.UNMATCHED
    )
    forward_to_number = models.CharField(max_length=20, blank=True)
    call_started_at = models.DateTimeField(null=True, blank=True)
    call_answered_at = models.DateTimeField(null=True, blank=True)
    call_ended_at = models.DateTimeField(null=True, blank=True)
    call_duration_seconds = models.PositiveIntegerField(null=True, blank=True)
    recording_url = models.URLField(max_length=500, blank=True)
    recording_sid = models.CharField(max_length=64, blank=True)
    recording_duration = models.PositiveIntegerField(null=True, blank=True)
    notes = models.TextField(blank=True)
    console_step = models.CharField(
        max_length=10, choices=ConsoleStep.choices, default=ConsoleStep.RECIPIENT
    )

    objects = TenantQuerySet.as_manager()
    client_lookup = "client"

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            choices_constraint("call_status", CallStatus, name="callsession_status_valid"),
            choices_constraint("console_step", ConsoleStep, name="callsession_console_step_valid"),
            choices_constraint("match_status", MatchStatus, name="callsession_match_valid"),
            models.CheckConstraint(
                condition=~Q(match_status=MatchStatus.MATCHED) | Q(recipient__isnull=False),
                name="callsession_matched_has_recipient",
            ),
        ]
        indexes = [
            # The audit's idx_call_sessions_campaign_id, led by campaign, newest first.
            models.Index(fields=["campaign", "-created_at"], name="callsession_campaign"),
            models.Index(fields=["client", "-created_at"], name="callsession_client"),
            models.Index(fields=["caller_phone"], name="callsession_caller_phone"),
            # The call console's live list: calls not yet finished.
            models.Index(
                fields=["client", "call_status"],
                name="callsession_live",
                condition=Q(call_status__in=["queued", "ringing", "in-progress"]),
            ),
        ]

    def __str__(self):
        return f"Call {self.twilio_call_sid} from {self.caller_phone or 'unknown'}"

    @property
    def is_final(self) -> bool:
        return self.call_status in FINAL_CALL_STATUSES


class ConditionMetSource(models.TextChoices):
    AGENT = "agent", "Call-centre agent"
    DISPOSITION = "disposition", "Call disposition"
    CALL_COMPLETED = "call_completed", "Call completed"
    CRM_WEBHOOK = "crm_webhook", "CRM event"
    TIME_DELAY = "time_delay", "Time delay"
    FORM_SUBMITTED = "form_submitted", "Form submitted"
    ADMIN = "admin", "Administrator"
    API = "api", "API"


class CallConditionMet(TimeOrderedModel):
    """A recipient met one condition of a campaign (seed: `call_conditions_met`).

    Unique per recipient + condition: the service that records it is safe to call twice. The
    reward it earns is the `RecipientGiftCard` for the same recipient + condition (the seed's
    `gift_card_id`/`delivery_status` copies live there, not here).
    """

    recipient = models.ForeignKey(
        "recipients.Recipient", on_delete=models.CASCADE, related_name="conditions_met"
    )
    campaign = models.ForeignKey(
        "campaigns.Campaign", on_delete=models.PROTECT, related_name="conditions_met"
    )
    condition = models.ForeignKey(
        "campaigns.CampaignCondition", on_delete=models.PROTECT, related_name="met_by"
    )
    condition_number = models.PositiveSmallIntegerField()
    call_session = models.ForeignKey(
        CallSession,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="conditions_met",
    )
    met_by_agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="conditions_marked",
    )
    source = models.CharField(
        max_length=20, choices=ConditionMetSource.choices, default=ConditionMetSource.AGENT
    )
    met_at = models.DateTimeField()
    notes = models.TextField(blank=True)

    objects = TenantQuerySet.as_manager()
    client_lookup = "campaign__client"

    class Meta:
        ordering = ["-met_at"]
        verbose_name = "condition met"
        verbose_name_plural = "conditions met"
        constraints = [
            models.UniqueConstraint(
                fields=["recipient", "condition"], name="callconditionmet_one_per_condition"
            ),
            choices_constraint("source", ConditionMetSource, name="callconditionmet_source_valid"),
            models.CheckConstraint(
                condition=Q(condition_number__gte=1), name="callconditionmet_number_positive"
            ),
        ]
        indexes = [
            models.Index(fields=["campaign", "-met_at"], name="callconditionmet_campaign"),
            # The time-delay sweep looks for the latest condition each recipient met.
            models.Index(fields=["condition", "met_at"], name="callconditionmet_condition"),
        ]

    def __str__(self):
        return f"Condition {self.condition_number} met"


class DispositionType(models.TextChoices):
    INTERESTED = "interested", "Interested"
    NOT_INTERESTED = "not_interested", "Not interested"
    COMPLETED = "completed", "Completed"
    CALLBACK_REQUESTED = "callback_requested", "Call back later"
    WRONG_NUMBER = "wrong_number", "Wrong number"
    DO_NOT_CALL = "do_not_call", "Do not call"
    INVALID_CONTACT = "invalid_contact", "Invalid contact"
    NO_ANSWER = "no_answer", "No answer"
    VOICEMAIL = "voicemail", "Voicemail"
    ESCALATED = "escalated", "Escalated"
    CUSTOMER_DECLINED = "customer_declined", "Customer declined"


class CallDisposition(TimeOrderedModel):
    """How an agent closed a call, with notes (seed: `call_dispositions`). "interested" evaluates
    the campaign's manual conditions for the caller."""

    call_session = models.ForeignKey(
        CallSession, on_delete=models.CASCADE, related_name="dispositions"
    )
    recipient = models.ForeignKey(
        "recipients.Recipient",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="call_dispositions",
    )
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="call_dispositions",
    )
    disposition_type = models.CharField(max_length=20, choices=DispositionType.choices)
    notes = models.TextField(blank=True)
    follow_up_date = models.DateField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()
    client_lookup = "call_session__client"

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            choices_constraint(
                "disposition_type", DispositionType, name="calldisposition_type_valid"
            ),
            models.CheckConstraint(
                condition=~Q(disposition_type=DispositionType.CALLBACK_REQUESTED)
                | Q(follow_up_date__isnull=False),
                name="calldisposition_callback_has_date",
            ),
        ]
        indexes = [
            models.Index(fields=["disposition_type", "follow_up_date"], name="calldisposition_type")
        ]

    def __str__(self):
        return self.get_disposition_type_display()


# The dispositions an agent closes a call with in the console (the rest come from the original's
# data and stay readable).
CONSOLE_DISPOSITIONS = (
    DispositionType.INTERESTED,
    DispositionType.NOT_INTERESTED,
    DispositionType.CALLBACK_REQUESTED,
    DispositionType.WRONG_NUMBER,
    DispositionType.DO_NOT_CALL,
    DispositionType.INVALID_CONTACT,
)


class StepName(models.TextChoices):
    """What an agent did on a call, as the step log records it."""

    OPENED = "opened", "Opened the call"
    LOOKUP = "lookup", "Looked up a recipient"
    ATTACH = "attach", "Attached the caller"
    RECIPIENT = "recipient", "Checked the recipient"
    CONSENT = "consent", "Asked for consent"
    OPT_IN_SENT = "opt_in_sent", "Sent the opt-in text"
    EMAIL_CHOSEN = "email_chosen", "Chose delivery by email"
    CONDITION = "condition", "Met a condition"
    REWARD = "reward", "Checked the reward"
    CODE_REVEALED = "code_revealed", "Revealed a card code"
    DISPOSITION = "disposition", "Closed the call"


class StepOutcome(models.TextChoices):
    STARTED = "started", "Started"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


class CallStep(TimeOrderedModel):
    """One line of a call's step log: what the agent did in the console, how it went, who and
    when, so a client can see how a call went (the call's page lists them)."""

    call_session = models.ForeignKey(CallSession, on_delete=models.CASCADE, related_name="steps")
    step = models.CharField(max_length=20, choices=StepName.choices)
    outcome = models.CharField(max_length=10, choices=StepOutcome.choices)
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="call_steps",
    )
    detail = models.CharField(max_length=500, blank=True)

    objects = TenantQuerySet.as_manager()
    client_lookup = "call_session__client"

    class Meta:
        ordering = ["created_at"]
        constraints = [
            choices_constraint("step", StepName, name="callstep_step_valid"),
            choices_constraint("outcome", StepOutcome, name="callstep_outcome_valid"),
        ]
        indexes = [models.Index(fields=["call_session", "created_at"], name="callstep_call")]

    def __str__(self):
        return f"{self.get_step_display()}: {self.get_outcome_display()}"


class ScriptSection(models.TextChoices):
    """The parts of a call script, in the order a call goes through them."""

    GREETING = "greeting", "Greeting"
    VERIFICATION = "verification", "Verification"
    EXPLANATION = "explanation", "Explanation"
    OBJECTION_HANDLING = "objection_handling", "Objection handling"
    CLOSING = "closing", "Closing"
    ESCALATION = "escalation", "Escalation"


class CallScript(BaseModel):
    """What agents say on a client's calls: one script per client (campaign empty) and,
    optionally, one per campaign, which wins over the client's for that campaign's calls. Each
    section is HTML already cleaned by nh3 (calls.scripts.clean), shown beside the console's
    step."""

    client = models.ForeignKey(
        "accounts.Organization",
        on_delete=models.CASCADE,
        related_name="call_scripts",
        limit_choices_to=CLIENT_ONLY,
    )
    campaign = models.ForeignKey(
        "campaigns.Campaign",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="call_scripts",
    )
    sections = models.JSONField(
        default=dict, blank=True, help_text="{section: cleaned HTML}, for ScriptSection's keys."
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    client_lookup = "client"
    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["client"], condition=Q(campaign__isnull=True), name="callscript_one_default"
            ),
            models.UniqueConstraint(fields=["campaign"], name="callscript_one_per_campaign"),
        ]

    def __str__(self):
        return f"Call script of {self.campaign or self.client}"
