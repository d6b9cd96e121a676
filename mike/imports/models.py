"""Import jobs: one row per file imported, whoever started it (dashboard, admin or command).

A job is the import's progress and its checkpoint. Its rows are written in batches, each in one
transaction together with the job's counters, its `resume_line` and the problems found so far,
so after a crash a restarted job (mike.imports.engine.run_job) continues after the last committed
batch and ends as one uninterrupted run would. `ImportProblem` holds the report: every row not
imported, by line, streamed back as CSV.
"""

from django.conf import settings
from django.db import models

from mike.accounts.querysets import TenantQuerySet
from mike.core.models import CLIENT_ONLY, TimeOrderedModel, choices_constraint


class ImportKind(models.TextChoices):
    RECIPIENTS = "recipients", "Recipients into an audience"
    CONTACTS = "contacts", "Contacts into the CRM"
    CARDS = "cards", "Gift cards into a pool"


class ImportStatus(models.TextChoices):
    PENDING = "pending", "Waiting for its columns"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINISHED = (ImportStatus.DONE, ImportStatus.FAILED, ImportStatus.CANCELLED)


class ImportVia(models.TextChoices):
    DASHBOARD = "dashboard", "Dashboard"
    ADMIN = "admin", "Admin"
    COMMAND = "command", "Command"


class ImportJob(TimeOrderedModel):
    kind = models.CharField(max_length=20, choices=ImportKind.choices)
    status = models.CharField(
        max_length=20, choices=ImportStatus.choices, default=ImportStatus.PENDING, db_index=True
    )
    via = models.CharField(max_length=20, choices=ImportVia.choices)
    client = models.ForeignKey(
        "accounts.Organization",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="import_jobs",
        limit_choices_to=CLIENT_ONLY,
        help_text="The client whose data the file fills; none for a master pool.",
    )
    # The target: exactly one, by kind (a CHECK below).
    audience = models.ForeignKey(
        "recipients.Audience",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="import_jobs",
    )
    pool = models.ForeignKey(
        "giftcards.GiftCardPool",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="import_jobs",
    )
    contact_list = models.ForeignKey(
        "crm.ContactList",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="import_jobs",
        help_text="For contacts: the list the imported contacts are added to, if any.",
    )
    file = models.FileField(upload_to="imports/%Y/%m/", max_length=300)
    file_name = models.CharField(max_length=255, help_text="The file's name as uploaded.")
    file_size = models.PositiveBigIntegerField(default=0)
    header = models.JSONField(default=list, blank=True, help_text="The file's columns, normalised.")
    mapping = models.JSONField(
        default=dict, blank=True, help_text="{field: column} the rows are read with."
    )
    rows_total = models.PositiveIntegerField(null=True, blank=True)
    rows_done = models.PositiveIntegerField(default=0)
    imported = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    resume_line = models.PositiveIntegerField(
        default=0, help_text="The last file line settled by a committed batch."
    )
    message = models.TextField(blank=True, help_text="Why the file was refused or the job failed.")
    cancel_requested = models.BooleanField(default=False)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="import_jobs",
    )
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()
    client_lookup = "client"

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            choices_constraint("kind", ImportKind, name="import_job_kind_valid"),
            choices_constraint("status", ImportStatus, name="import_job_status_valid"),
            choices_constraint("via", ImportVia, name="import_job_via_valid"),
            models.CheckConstraint(
                condition=(
                    models.Q(kind=ImportKind.RECIPIENTS, audience__isnull=False, pool__isnull=True)
                    | models.Q(kind=ImportKind.CARDS, pool__isnull=False, audience__isnull=True)
                    | models.Q(
                        kind=ImportKind.CONTACTS,
                        client__isnull=False,
                        audience__isnull=True,
                        pool__isnull=True,
                    )
                ),
                name="import_job_target_matches_kind",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.file_name}"

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def percent(self) -> int:
        if self.status == ImportStatus.DONE:
            return 100
        if not self.rows_total:
            return 0
        return min(99, int(self.rows_done * 100 / self.rows_total))

    @property
    def target(self):
        return self.audience or self.pool or self.client


class ProblemKind(models.TextChoices):
    ERROR = "error", "Error"
    DUPLICATE = "duplicate", "Duplicate"


class ImportProblem(models.Model):
    """A row of the file that was not imported, and why."""

    id = models.BigAutoField(primary_key=True)
    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="problems")
    line = models.PositiveIntegerField()
    kind = models.CharField(max_length=10, choices=ProblemKind.choices)
    message = models.TextField()

    class Meta:
        ordering = ["job", "line", "id"]
        indexes = [models.Index(fields=["job", "line"], name="import_problem_job_line")]
        constraints = [choices_constraint("kind", ProblemKind, name="import_problem_kind_valid")]

    def __str__(self):
        return f"line {self.line}: {self.message}"


class ImportMapping(models.Model):
    """The column mapping a client last confirmed for files of one shape (kind and header), so
    the next file with the same columns is offered it."""

    id = models.BigAutoField(primary_key=True)
    client = models.ForeignKey(
        "accounts.Organization",
        on_delete=models.CASCADE,
        related_name="import_mappings",
        limit_choices_to=CLIENT_ONLY,
    )
    kind = models.CharField(max_length=20, choices=ImportKind.choices)
    header_key = models.CharField(max_length=64, help_text="A hash of the normalised header.")
    mapping = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["client", "kind", "header_key"], name="import_mapping_one_per_shape"
            )
        ]

    def __str__(self):
        return f"{self.get_kind_display()} columns of {self.client}"
