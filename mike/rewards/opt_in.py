"""The opt-in question: queued after commit, sent by a worker (`tasks.send_opt_in_sms`)."""

from django.db import transaction

from recipients import services as recipient_services
from recipients.models import Recipient


def queue_opt_in(
    *, recipient: Recipient, force: bool = False, reask: bool = False, call_session=None
) -> bool:
    """Queue the opt-in text after commit; False (nothing queued) when the recipient cannot get
    one: not approved, opted in or out already, or no phone (recipients.services.may_text).
    `force` resends an opt-in already sent (the admin's "resend"); `reask` asks again after the
    opt-in expired (see recipients.services.request_opt_in); `call_session`: an agent asks on
    that call, so a recipient awaiting approval may be asked too."""
    from .tasks import send_opt_in_sms

    on_call = call_session is not None
    if not recipient_services.may_text(recipient, force=force, on_call=on_call):
        return False
    recipient_id = recipient.pk
    call_id = str(call_session.pk) if on_call else None
    transaction.on_commit(
        lambda: send_opt_in_sms.delay(
            str(recipient_id), force=force, reask=reask, call_session_id=call_id
        ),
        # A broker outage must not turn a committed approval into an error page: the opt-in
        # stays `not_sent` and the periodic sweep queues it again.
        robust=True,
    )
    return True


def reask_expired_opt_in(*, recipient: Recipient) -> bool:
    """Ask a recipient whose opt-in is stale to opt in again (recipients.services
    .reask_expired_opt_in) and queue the question after commit. True when this call asked."""
    with transaction.atomic():
        asked = recipient_services.reask_expired_opt_in(recipient=recipient)
        if asked:
            queue_opt_in(recipient=Recipient.objects.get(pk=recipient.pk), reask=True)
    return asked
