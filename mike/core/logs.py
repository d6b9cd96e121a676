"""Structured logs: a request id on every line, one line per request and per Celery task, and
phone numbers and card codes masked (mike.core.masking) before anything is written.

The request id comes from a valid `X-Request-ID` header (a proxy's) or is made here; it is sent
back in the response and kept in a context variable, so every line logged while the request runs
carries it. Tasks the request queues carry it in their message headers (`before_task_publish`),
and the worker puts it back in the context variable for the task's run (`task_prerun`), so a
task's lines name the request that caused them. Eager tasks run inside the request's context.
"""

import logging
import re
import time
import traceback
import uuid
from contextvars import ContextVar

from celery import signals
from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

from .masking import mask, mask_data

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

# What a proxy's or a client's request id may look like (nginx's $request_id is 32 hex digits).
VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
HEADER = "request_id"

task_logger = logging.getLogger("mike.task")
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def new_request_id(incoming: str | None = None) -> str:
    """`incoming` when it is a usable request id, else a new one."""
    if incoming and VALID_REQUEST_ID.match(incoming):
        return incoming
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Adds `request_id` (the context's, or None) to every record."""

    def filter(self, record):
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get()
        return True


class MaskingFilter(logging.Filter):
    """Masks phones, emails and card codes in the message, the extra fields and the traceback.
    Put on the handlers, so it sees records of every logger."""

    def filter(self, record):
        record.msg = mask(record.getMessage())
        record.args = ()
        if record.exc_info:
            record.exc_text = mask("".join(traceback.format_exception(*record.exc_info)).rstrip())
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = mask(record.exc_text)
        if record.stack_info:
            record.stack_info = mask(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and isinstance(value, str | dict | list | tuple):
                setattr(record, key, mask_data(value))
        return True


class JsonFormatter(_JsonFormatter):
    """One JSON object per line: time, level, logger, message, request_id and the extra fields."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("timestamp", "time")
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        super().__init__("{levelname}{name}{message}", *args, style="{", **kwargs)


# --- Celery ---------------------------------------------------------------------------------------
_started: dict[str, tuple[float, object]] = {}


@signals.before_task_publish.connect
def _carry_request_id(headers=None, **kwargs):
    current = request_id.get()
    if current and headers is not None:
        headers.setdefault(HEADER, current)


@signals.task_prerun.connect
def _task_started(task_id=None, task=None, **kwargs):
    carried = getattr(task.request, HEADER, None) or (task.request.headers or {}).get(HEADER)
    token = request_id.set(carried or request_id.get())
    _started[task_id] = (time.perf_counter(), token)


@signals.task_postrun.connect
def _task_finished(task_id=None, task=None, state=None, **kwargs):
    started, token = _started.pop(task_id, (None, None))
    task_logger.info(
        "task %s %s",
        task.name,
        state,
        extra={
            "task": task.name,
            "task_id": task_id,
            "state": state,
            "runtime_ms": round((time.perf_counter() - started) * 1000, 1) if started else None,
        },
    )
    if token is not None:
        request_id.reset(token)


@signals.setup_logging.connect
def _use_django_logging(**kwargs):
    """The worker keeps Django's LOGGING (JSON, masked) instead of installing its own format."""
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
