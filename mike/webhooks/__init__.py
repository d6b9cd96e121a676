"""Event webhooks out: clients subscribe URLs to Mike's events and receive them signed.

`emit(event_type, client=, payload=, is_test=)` is the one entry point the services call, inside
the transaction of the change: it writes the outbox row (`WebhookEvent`) and one `WebhookDelivery`
per matching active subscription, and queues the sends after commit (mike.webhooks.outbox).
Sending, retries and the sweep are mike.webhooks.sending; the catalogue of event types is
mike.webhooks.catalogue.

Defined here lazily, so a domain module can `from mike.webhooks import emit` at import time
without loading the models before the app registry is ready.
"""


def emit(event_type: str, *, client, payload, is_test: bool = False):
    from .outbox import emit as _emit

    return _emit(event_type, client=client, payload=payload, is_test=is_test)


def emit_many(event_type: str, *, client, payloads, is_test: bool = False):
    from .outbox import emit_many as _emit_many

    return _emit_many(event_type, client=client, payloads=payloads, is_test=is_test)


def emit_form_submitted(*, submission, client, is_test: bool = False):
    """`form.submitted` for an ACE form submission, in the submission's transaction. Forms'
    public pages arrive in a later change; their service calls this when it stores one."""
    from . import payloads
    from .catalogue import WebhookEventType

    return emit(
        WebhookEventType.FORM_SUBMITTED,
        client=client,
        payload=lambda: payloads.form_submission(submission),
        is_test=is_test,
    )
