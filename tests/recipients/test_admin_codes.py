"""Redemption codes unlock cards at /redeem/, so the admin masks them as it masks card codes: every
list (and every page of another model) shows the last two characters only, and the recipient's
own page shows the whole code to users with `recipients.view_redemption_code` alone."""

from pathlib import Path

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.urls import reverse

from tests import factories
from tests.admin_forms import form_data

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def full_forms(recipient) -> tuple[str, str]:
    """The code as stored and as printed: neither may show where it is masked."""
    return recipient.redemption_code, recipient.display_code


def masked(recipient) -> str:
    return f"••••\N{NO-BREAK SPACE}{recipient.redemption_code[-2:]}"


def assert_masked(page: str, recipient):
    for form in full_forms(recipient):
        assert form not in page
    assert masked(recipient) in page


def staff_with(client, *codenames):
    user = factories.UserFactory(is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client.force_login(user)
    return client


@pytest.fixture
def superuser_client(client):
    client.force_login(factories.UserFactory(is_staff=True, is_superuser=True))
    return client


def test_the_permission_exists_and_has_its_migration():
    permission = Permission.objects.get(codename="view_redemption_code")
    assert permission.content_type.app_label == "recipients"
    assert permission.name == "Can see full redemption codes"
    assert (ROOT / "recipients/migrations/0002_recipient_permissions.py").exists()


# --- The recipient list and page ------------------------------------------------------------------


def test_a_view_only_user_sees_masked_codes_in_the_recipient_list(client):
    recipients = factories.RecipientFactory.create_batch(3)
    page = staff_with(client, "view_recipient").get(
        reverse("admin:recipients_recipient_changelist")
    )
    assert page.status_code == 200
    for recipient in recipients:
        assert_masked(page.content.decode(), recipient)


def test_the_list_is_masked_even_for_users_who_may_see_codes(superuser_client):
    recipient = factories.RecipientFactory()
    page = superuser_client.get(reverse("admin:recipients_recipient_changelist"))
    assert_masked(page.content.decode(), recipient)


def test_the_change_page_masks_the_code_without_the_permission(client):
    recipient = factories.RecipientFactory(first_name="Ava", last_name="Nguyen")
    page = staff_with(client, "view_recipient").get(
        reverse("admin:recipients_recipient_change", args=[recipient.pk])
    )
    assert page.status_code == 200
    html = page.content.decode()
    assert_masked(html, recipient)
    assert "Ava Nguyen" in html


def test_the_change_page_shows_the_code_with_the_permission(client):
    recipient = factories.RecipientFactory()
    page = staff_with(client, "view_recipient", "view_redemption_code").get(
        reverse("admin:recipients_recipient_change", args=[recipient.pk])
    )
    assert recipient.display_code in page.content.decode()


def test_the_history_page_masks_the_code(client):
    recipient = factories.RecipientFactory()
    page = staff_with(client, "view_recipient").get(
        reverse("admin:recipients_recipient_history", args=[recipient.pk])
    )
    assert page.status_code == 200
    assert_masked(page.content.decode(), recipient)


def test_the_admin_log_of_an_edit_keeps_the_code_masked(client):
    recipient = factories.RecipientFactory()
    staff = staff_with(client, "view_recipient", "change_recipient")
    url = reverse("admin:recipients_recipient_change", args=[recipient.pk])

    response = staff.post(url, form_data(staff.get(url), first_name="Renamed"))

    assert response.status_code == 302
    recipient.refresh_from_db()
    entry = LogEntry.objects.get(object_id=str(recipient.pk))
    assert entry.object_repr == f"Renamed {recipient.last_name} ({masked(recipient)})"
    index = staff.get(reverse("admin:index")).content.decode()  # "My actions" lists it
    assert_masked(index, recipient)


# --- Search ---------------------------------------------------------------------------------------


def test_pasting_a_code_finds_its_recipient_without_the_permission(client):
    recipient, _other = factories.RecipientFactory.create_batch(2)
    staff = staff_with(client, "view_recipient")
    changelist = reverse("admin:recipients_recipient_changelist")

    for pasted in (recipient.display_code.lower(), recipient.redemption_code):
        found = staff.get(changelist, {"q": pasted}).context["cl"].result_list
        assert list(found) == [recipient]


def test_part_of_a_code_finds_nothing(client):
    """Otherwise the search box would spell out a masked code one character at a time."""
    recipient = factories.RecipientFactory()
    staff = staff_with(client, "view_recipient")
    changelist = reverse("admin:recipients_recipient_changelist")

    for part in (recipient.redemption_code[:4], recipient.redemption_code[2:9]):
        assert list(staff.get(changelist, {"q": part}).context["cl"].result_list) == []


# --- Other models' lists and pages -----------------------------------------------------------------


def _claimed_card():
    card = factories.GiftCardFactory(claimed=True)
    card.claimed_by_recipient = factories.RecipientFactory()
    card.save()
    return card, card.claimed_by_recipient


def _with_recipient(factory, **extra):
    def make():
        recipient = factories.RecipientFactory()
        return factory(recipient=recipient, **extra), recipient

    return make


def _own_recipient(factory):
    def make():
        obj = factory()
        return obj, obj.recipient

    return make


ROWS_OF_A_RECIPIENT = {
    "reward": _own_recipient(factories.RecipientGiftCardFactory),
    "delivery": _own_recipient(factories.GiftCardDeliveryFactory),
    "sms-delivery-log": _own_recipient(factories.SmsDeliveryLogFactory),
    "card": _claimed_card,
    "recipient-audit-log": _own_recipient(factories.RecipientAuditLogFactory),
    "sms-opt-in-log": _own_recipient(factories.SmsOptInLogFactory),
    "call": _own_recipient(factories.CallSessionFactory),
    "condition-met": _own_recipient(factories.CallConditionMetFactory),
    "disposition": _own_recipient(factories.CallDispositionFactory),
    "crm-event": _with_recipient(factories.CrmEventFactory),
    "event": _with_recipient(factories.EventFactory),
    "form-submission": _with_recipient(factories.AceFormSubmissionFactory),
    "participation": _with_recipient(factories.ContactCampaignParticipationFactory),
}


def _url(obj, view, *args):
    opts = obj._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


@pytest.mark.parametrize("make", ROWS_OF_A_RECIPIENT.values(), ids=ROWS_OF_A_RECIPIENT.keys())
def test_other_lists_show_the_recipient_masked(superuser_client, make):
    obj, recipient = make()
    page = superuser_client.get(_url(obj, "changelist"))
    assert page.status_code == 200
    html = page.content.decode()
    for form in full_forms(recipient):
        assert form not in html
    if obj._meta.model_name != "contactcampaignparticipation":  # lists no recipient
        assert masked(recipient) in html


@pytest.mark.parametrize("make", ROWS_OF_A_RECIPIENT.values(), ids=ROWS_OF_A_RECIPIENT.keys())
def test_other_change_pages_show_the_recipient_masked(superuser_client, make):
    obj, recipient = make()
    if obj._meta.model_name == "contactcampaignparticipation":
        obj.redemption_code = recipient.redemption_code
        obj.save()
    page = superuser_client.get(_url(obj, "change", obj.pk))
    assert page.status_code == 200
    assert_masked(page.content.decode(), recipient)


@pytest.mark.parametrize("make", ROWS_OF_A_RECIPIENT.values(), ids=ROWS_OF_A_RECIPIENT.keys())
def test_a_view_only_user_sees_other_pages_masked(client, make):
    obj, recipient = make()
    staff = staff_with(client, f"view_{obj._meta.model_name}")
    for url in (_url(obj, "changelist"), _url(obj, "change", obj.pk)):
        page = staff.get(url)
        assert page.status_code == 200
        for form in full_forms(recipient):
            assert form not in page.content.decode()


def test_the_recipient_autocomplete_answers_with_masked_codes(client):
    recipients = factories.RecipientFactory.create_batch(2)
    staff = staff_with(client, "view_recipient", "view_giftcarddelivery")

    response = staff.get(
        reverse("admin:autocomplete"),
        {"app_label": "giftcards", "model_name": "giftcarddelivery", "field_name": "recipient"},
    )

    assert response.status_code == 200
    texts = {row["text"] for row in response.json()["results"]}
    assert texts == {f"{r.full_name} ({masked(r)})" for r in recipients}


def test_searching_another_list_by_a_whole_code_still_works(superuser_client):
    delivery = factories.GiftCardDeliveryFactory()
    factories.GiftCardDeliveryFactory()
    code = delivery.recipient.redemption_code
    changelist = reverse("admin:giftcards_giftcarddelivery_changelist")

    assert list(superuser_client.get(changelist, {"q": code}).context["cl"].result_list) == [
        delivery
    ]
    assert list(superuser_client.get(changelist, {"q": code[:5]}).context["cl"].result_list) == []
