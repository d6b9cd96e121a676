"""A newcomer can walk the whole flow on the demo data with `play_phone`."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from giftcards.models import RewardStatus
from recipients.models import Recipient


@pytest.mark.django_db
def test_the_demo_flow_can_be_walked_from_the_command_line(
    settings, sms_outbox, django_capture_on_commit_callbacks
):
    settings.DEBUG = True
    call_command("seed_demo", stdout=StringIO())
    phone = "+15552020001"  # a Bayside Auto recipient: a 60-second call earns the reward
    out = StringIO()
    for args in (("call", phone, "--duration", "90"), ("approve", phone), ("reply", phone, "yes")):
        # Each command commits in real use; here the test's transaction holds, so run the
        # on-commit work (queued texts, claims) as a commit would.
        with django_capture_on_commit_callbacks(execute=True):
            call_command("play_phone", *args, stdout=out)
    assert "matched" in out.getvalue()
    recipient = Recipient.objects.get(phone=phone)
    reward = recipient.rewards.get()
    assert reward.status == RewardStatus.DELIVERED
    assert reward.gift_card.code in sms_outbox[-1].body


@pytest.mark.django_db
def test_an_unknown_phone_is_a_clear_error():
    with pytest.raises(CommandError, match="No recipient"):
        call_command("play_phone", "call", "+15550009999", stdout=StringIO())
