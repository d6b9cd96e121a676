"""Error reports through sentry-sdk, on only when SENTRY_DSN is set.

Personal data stays out: `send_default_pii=False` (no user, cookies or client address), no
request bodies and no local variables (they hold recipients' names and phones), and every string
left in an event or a breadcrumb goes through the log masking (phones, emails, card codes).
"""

from .masking import mask_data


def scrub(event, hint=None):
    """sentry-sdk's before_send and before_breadcrumb: the event with its strings masked."""
    return mask_data(event)


def init_sentry(*, dsn: str, environment: str, release: str, traces_sample_rate: float = 0.0):
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment or None,
        release=release or None,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        send_default_pii=False,
        max_request_body_size="never",
        include_local_variables=False,
        traces_sample_rate=traces_sample_rate,
        before_send=scrub,
        before_breadcrumb=scrub,
    )
