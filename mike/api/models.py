import json

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from mike.core import crypto
from mike.core.models import TimeOrderedModel


class IdempotencyRecord(TimeOrderedModel):
    """The first answer to a POST sent with an `Idempotency-Key`: a repeat with the same key and
    body is answered from here without doing the work again. Kept a day
    (`IDEMPOTENCY_KEY_TTL_HOURS`), then purged by a beat task."""

    api_key = models.ForeignKey(
        "accounts.ApiKey", on_delete=models.CASCADE, related_name="idempotency_records"
    )
    key = models.CharField(max_length=255)
    request_hash = models.CharField(
        max_length=64, help_text="SHA-256 of the method, path and body."
    )
    status_code = models.PositiveSmallIntegerField()
    # The answer's JSON, encrypted with the card-code keys (mike.core.crypto): it can hold what is
    # shown once (a webhook's signing secret) and recipients' codes, so it is not kept readable.
    response_encrypted = models.TextField(blank=True, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["api_key", "key"], name="idempotency_key_unique")
        ]

    def __str__(self):
        return f"{self.key} → {self.status_code}"

    @property
    def response_body(self):
        if not self.response_encrypted:
            return None
        return json.loads(crypto.decrypt(self.response_encrypted))

    @response_body.setter
    def response_body(self, data):
        self.response_encrypted = crypto.encrypt(json.dumps(data, cls=DjangoJSONEncoder))
