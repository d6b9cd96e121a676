"""Building an audience from a contact list: who comes in, who is left out, codes, counters, the
command and the admin action."""

from io import StringIO

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.urls import reverse

from recipients.codes import CODE_LENGTH, is_well_formed
from recipients.models import (
    Audience,
    AudienceSource,
    AudienceStatus,
    Recipient,
    SmsOptInStatus,
    ValidationStatus,
)
from recipients.services.audiences_from_lists import (
    AudienceBuildError,
    build_audience_from_list,
    built_summary,
)
from tests.factories import (
    ContactFactory,
    ContactListFactory,
    ContactListMemberFactory,
    RecipientFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def _member(contact_list, **fields):
    contact = ContactFactory(client=contact_list.client, **fields)
    ContactListMemberFactory(contact_list=contact_list, contact=contact)
    return contact


@pytest.fixture
def contact_list(db):
    """A list of 9 contacts: 4 become recipients (Zoë, Ann, Bob, Cy); Dee is do-not-contact, Eve
    has neither phone nor email, Fay a phone that is no number and no email; Gus has Ann's
    phone and Hal Bob's email (in other capitals)."""
    contact_list = ContactListFactory(name="Spring leads")
    _member(
        contact_list,
        first_name="Zoë",
        last_name="O'Neil",
        phone="+15552010001",
        mobile_phone="+15553010001",
        email="Zoe@Example.com",
        company="Acme",
        address="1 Elm St",
        address2="Apt 2",
        city="Austin",
        state="TX",
        zip="78701-1234",
        customer_code="C-1",
        custom_fields={"shirt_size": "M"},
    )
    _member(contact_list, first_name="Ann", phone="+15552010002", email="", sms_opt_out=True)
    _member(contact_list, first_name="Bob", phone="", email="bob@example.com", customer_code="")
    _member(contact_list, first_name="Cy", phone="(555) 201-0004", email="")
    _member(contact_list, first_name="Dee", phone="+15552010005", do_not_contact=True)
    _member(contact_list, first_name="Eve", phone="", email="")
    _member(contact_list, first_name="Fay", phone="not a phone", email="")
    _member(contact_list, first_name="Gus", phone="+15552010002", email="gus@example.com")
    _member(contact_list, first_name="Hal", phone="+15552010008", email="BOB@example.com")
    # Not on the list, and a contact of another list of the client: neither comes in.
    ContactFactory(client=contact_list.client, phone="+15552010009")
    _member(ContactListFactory(client=contact_list.client), phone="+15552010010")
    return contact_list


def test_members_become_recipients_and_the_rest_is_left_out(contact_list):
    audience = build_audience_from_list(contact_list, name="Spring mailing")

    assert (audience.name, audience.client, audience.contact_list) == (
        "Spring mailing",
        contact_list.client,
        contact_list,
    )
    assert (audience.source, audience.status) == (AudienceSource.CONTACT_LIST, AudienceStatus.READY)
    recipients = {r.first_name: r for r in Recipient.objects.filter(audience=audience)}
    assert sorted(recipients) == ["Ann", "Bob", "Cy", "Zoë"]

    zoe = recipients["Zoë"]
    assert zoe.contact.first_name == "Zoë"
    # The mobile number first (the reward comes by text); emails in lower case.
    assert (zoe.phone, zoe.email) == ("+15553010001", "zoe@example.com")
    assert (zoe.last_name, zoe.company, zoe.address1, zoe.address2) == (
        "O'Neil",
        "Acme",
        "1 Elm St",
        "Apt 2",
    )
    assert (zoe.city, zoe.state, zoe.zip, zoe.zip4) == ("Austin", "TX", "78701", "1234")
    assert zoe.custom_fields == {"shirt_size": "M", "external_id": "C-1"}
    assert zoe.validation_status == ValidationStatus.VALID
    assert zoe.sms_opt_in_status == SmsOptInStatus.NOT_SENT
    assert recipients["Ann"].sms_opt_in_status == SmsOptInStatus.OPTED_OUT
    assert (recipients["Bob"].phone, recipients["Bob"].email) == ("", "bob@example.com")
    assert recipients["Cy"].phone == "+15552010004"

    assert (audience.total_count, audience.valid_count, audience.invalid_count) == (4, 4, 4)
    assert audience.hygiene_json == {
        "contact_list": str(contact_list.pk),
        "members": 9,
        "added": 4,
        "do_not_contact": 1,
        "no_phone_or_email": 2,
        "duplicates": 2,
    }


def test_a_contact_who_opted_out_of_email_comes_without_it():
    contact_list = ContactListFactory(name="Newsletter refusers")
    _member(
        contact_list,
        first_name="Jo",
        phone="+15552020001",
        email="jo@example.com",
        email_opt_out=True,
    )
    _member(contact_list, first_name="Kim", phone="", email="kim@example.com", email_opt_out=True)

    audience = build_audience_from_list(contact_list, name="Autumn")

    (jo,) = Recipient.objects.filter(audience=audience)
    assert (jo.first_name, jo.phone, jo.email) == ("Jo", "+15552020001", "")
    assert audience.hygiene_json["no_phone_or_email"] == 1  # Kim: no email Mike may use


def test_every_recipient_gets_its_own_code_and_token(contact_list):
    RecipientFactory(phone="+15552010001")  # another audience's: not a duplicate here
    first = build_audience_from_list(contact_list, name="One")
    second = build_audience_from_list(contact_list, name="Two")
    codes = list(
        Recipient.objects.filter(audience__in=[first, second]).values_list(
            "redemption_code", "token"
        )
    )
    assert len(codes) == 8
    assert len({code for code, _ in codes}) == 8 and len({token for _, token in codes}) == 8
    assert all(len(code) == CODE_LENGTH and is_well_formed(code) for code, _ in codes)
    assert all(len(token) >= 22 for _, token in codes)


def test_duplicates_are_found_across_batches(settings):
    settings.IMPORT_BATCH_ROWS = 3
    contact_list = ContactListFactory()
    for n in range(10):
        _member(contact_list, phone=f"+1555201{n:04d}", email="")
    _member(contact_list, phone="+15552010001", email="")
    _member(contact_list, phone="", email="x@example.com")
    _member(contact_list, phone="+15552010099", email="X@example.com")
    audience = build_audience_from_list(contact_list, name="Batches")
    assert audience.total_count == 11 == audience.recipients.count()
    assert audience.hygiene_json["duplicates"] == 2


def test_an_empty_list_builds_an_empty_audience():
    audience = build_audience_from_list(ContactListFactory(), name="Nobody")
    assert (audience.total_count, audience.status) == (0, AudienceStatus.READY)
    assert built_summary(audience) == "0 recipients from 0 contacts"


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
def test_a_blank_or_too_long_name_is_refused(contact_list, name):
    with pytest.raises(AudienceBuildError):
        build_audience_from_list(contact_list, name=name)
    assert not Audience.objects.exists()


def test_command_builds_and_prints_what_it_left_out(contact_list):
    out = StringIO()
    call_command("build_audience", contact_list=str(contact_list.pk), name="From CLI", stdout=out)
    audience = Audience.objects.get()
    assert audience.name == "From CLI" and audience.recipients.count() == 4
    assert f"Audience {audience.pk} 'From CLI'" in out.getvalue()
    assert (
        "4 recipients from 9 contacts; left out 1 do-not-contact, 2 without a phone or email, "
        "2 duplicates"
    ) in out.getvalue()


def test_command_refuses_an_unknown_list_or_a_blank_name(contact_list):
    with pytest.raises(CommandError, match="No contact list with id nope"):
        call_command("build_audience", contact_list="nope", name="X")
    with pytest.raises(CommandError, match="Give the audience a name"):
        call_command("build_audience", contact_list=str(contact_list.pk), name=" ")
    assert not Audience.objects.exists()


ACTION = "build_audiences"


@pytest.fixture
def staff(client):
    user = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(user)
    return client


def _changelist():
    return reverse("admin:crm_contactlist_changelist")


def test_admin_action_asks_for_a_name_then_builds_one_audience_per_list(staff, contact_list):
    other = ContactListFactory(client=contact_list.client, name="Autumn leads")
    _member(other, phone="+15552010001", email="")
    selected = [str(contact_list.pk), str(other.pk)]

    page = staff.post(_changelist(), {"action": ACTION, "_selected_action": selected})
    assert page.status_code == 200
    assert "Build audiences from contact lists" in page.text
    assert "Spring leads" in page.text and "Autumn leads" in page.text
    assert not Audience.objects.exists()

    done = staff.post(
        _changelist(),
        {"action": ACTION, "_selected_action": selected, "name": "Mailing", "apply": "Build"},
        follow=True,
    )
    assert done.status_code == 200
    built = {a.name: a for a in Audience.objects.all()}
    assert sorted(built) == ["Mailing – Autumn leads", "Mailing – Spring leads"]
    assert built["Mailing – Spring leads"].total_count == 4
    assert built["Mailing – Autumn leads"].total_count == 1
    assert "Built 2 audience(s)" in done.text
    assert reverse(
        "admin:recipients_audience_change", args=[built["Mailing – Autumn leads"].pk]
    ) in (done.text)


def test_admin_action_without_a_name_names_the_audience_after_its_list(staff, contact_list):
    staff.post(
        _changelist(),
        {"action": ACTION, "_selected_action": [str(contact_list.pk)], "apply": "Build"},
    )
    assert Audience.objects.get().name == "Spring leads"


def test_admin_action_needs_the_right_to_add_audiences(client, contact_list):
    user = UserFactory(is_staff=True)
    user.user_permissions.add(
        Permission.objects.get(codename="view_contactlist"),
        Permission.objects.get(codename="change_contactlist"),
    )
    client.force_login(user)
    page = client.get(_changelist())
    assert page.status_code == 200 and ACTION not in page.text
    client.post(
        _changelist(),
        {"action": ACTION, "_selected_action": [str(contact_list.pk)], "apply": "Build"},
    )
    assert not Audience.objects.exists()

    user.user_permissions.add(Permission.objects.get(codename="add_audience"))
    assert ACTION in client.get(_changelist()).text
