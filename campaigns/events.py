"""Writing analytics events: one call beside each state change of the reward funnel."""

from .models import Event, EventSource


def record_event(
    event_type: str,
    *,
    client=None,
    campaign=None,
    recipient=None,
    source: str = EventSource.SYSTEM,
    **data,
) -> Event:
    """Append one `Event`. The client defaults to the campaign's, then the recipient's audience's.
    Extra keyword arguments are stored in `event_data` (keep them JSON-serialisable)."""
    if client is None and campaign is not None:
        client = campaign.client
    if client is None and recipient is not None:
        client = recipient.audience.client
    if campaign is None and recipient is not None:
        campaign = recipient.campaign
    return Event.objects.create(
        client=client,
        campaign=campaign,
        recipient=recipient,
        event_type=event_type,
        source=source,
        event_data=data,
    )
