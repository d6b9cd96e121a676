"""`Idempotency-Key` on POST: the work is done once per key, and a repeat is answered with the
first answer (as Stripe's and Tremendous's APIs do).

The record is written in the same transaction as the work. A second request with the same key
arriving while the first is still running waits on the unique index until the first commits,
then finds its answer and replays it; if the first failed (rolled back), the second does the
work itself. So two retries racing never do the work twice, and a failure never leaves a key
that refuses its retry. Only answers below 500 are kept: a refusal (400, 409) is replayed too,
as the same request would be refused again."""

import hashlib
import re
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework.response import Response

from mike.core import redaction

from .errors import Unprocessable, error_body
from .models import IdempotencyRecord

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
# Printable ASCII: what survives an HTTP header unchanged (a proxy may re-encode anything else).
KEY_PATTERN = rf"^[\x20-\x7e]{{1,{MAX_KEY_LENGTH}}}$"


def _request_hash(request) -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode())
    digest.update(b"\0")
    digest.update(request.get_full_path().encode())
    digest.update(b"\0")
    digest.update(request.body)
    return digest.hexdigest()


def idempotent(work):
    """Decorate an APIView's `post`: runs it in a transaction, once per idempotency key."""

    def post(view, request, *args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            with transaction.atomic():
                return work(view, request, *args, **kwargs)
        if not re.fullmatch(KEY_PATTERN, key):
            return Response(
                error_body(
                    400,
                    f"The {HEADER} header must be 1 to {MAX_KEY_LENGTH} printable ASCII "
                    "characters.",
                ),
                status=400,
            )
        body_hash = _request_hash(request._request)
        api_key = request.auth
        with transaction.atomic():
            # ON CONFLICT DO NOTHING waits for a concurrent holder of the key to commit or roll
            # back; afterwards the row read below is that holder's answer, or ours to write.
            IdempotencyRecord.objects.bulk_create(
                [
                    IdempotencyRecord(
                        api_key=api_key, key=key, request_hash=body_hash, status_code=0
                    )
                ],
                ignore_conflicts=True,
            )
            record = IdempotencyRecord.objects.select_for_update().get(api_key=api_key, key=key)
            if record.request_hash != body_hash:
                raise Unprocessable(
                    f"This {HEADER} was used with another request; use a new key for a new request."
                )
            if record.status_code:
                replay = Response(record.response_body, status=record.status_code)
                replay["Idempotent-Replayed"] = "true"
                return replay
            response = _run(work, view, request, *args, **kwargs)
            if response.status_code < 500:
                record.status_code = response.status_code
                record.response_body = response.data
                record.save(update_fields=["status_code", "response_encrypted", "updated_at"])
            else:
                transaction.set_rollback(True)
            return response

    post.__doc__ = work.__doc__
    post.__name__ = work.__name__
    post.__wrapped__ = work
    return post


def _run(work, view, request, *args, **kwargs):
    """The work's answer, a refusal included (rendered by the API's handler), in a savepoint so
    a refusal leaves nothing behind but the record of it."""
    try:
        with transaction.atomic():
            return work(view, request, *args, **kwargs)
    except Exception as exc:
        return view.handle_exception(exc)


def purge_expired() -> int:
    cutoff = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def erase_person(*, client, recipient_id) -> int:
    """The API's part of a recipient's erasure: the stored answers (encrypted, kept a day) of
    the keys of their client and of its agency that show them (a push's answer, a lookup) are
    re-encrypted without their personal fields (mike.core.redaction.about_person), so a repeat
    of the request is answered as before, minus the person. How many were changed."""
    owners = [pk for pk in (client.pk, client.parent_id) if pk is not None]
    changed = 0
    records = IdempotencyRecord.objects.filter(api_key__organization_id__in=owners).exclude(
        response_encrypted=""
    )
    for record in records.only("pk", "response_encrypted"):
        body = record.response_body
        redacted = redaction.about_person(body, person_id=recipient_id)
        if redacted != body:
            record.response_body = redacted
            IdempotencyRecord.objects.filter(pk=record.pk).update(
                response_encrypted=record.response_encrypted
            )
            changed += 1
    return changed
