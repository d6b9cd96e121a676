"""The imports' Celery tasks: run a job, and resume the jobs nobody is moving on."""

import logging

from celery import shared_task

from .engine import resumable, run_job
from .models import ImportJob
from .services import delete_abandoned

logger = logging.getLogger(__name__)


@shared_task(name="mike.imports.tasks.run_import_job", acks_late=True)
def run_import_job(job_id: str) -> str:
    """Run or resume the job (mike.imports.engine.run_job). Idempotent: a job that is finished or
    held by another runner is left alone."""
    job = run_job(job_id)
    return job.status if job else "not taken"


@shared_task(name="mike.imports.tasks.resume_stale_imports")
def resume_stale_imports() -> int:
    """Queue every job that is queued or running with no heartbeat for IMPORT_STALE_SECONDS (its
    task was lost, its worker died). run_job takes each atomically, so a job queued twice runs
    once."""
    delete_abandoned()
    ids = list(ImportJob.objects.filter(resumable()).values_list("pk", flat=True)[:100])
    for job_id in ids:
        logger.info("resuming import job %s", job_id)
        run_import_job.delay(str(job_id))
    return len(ids)
