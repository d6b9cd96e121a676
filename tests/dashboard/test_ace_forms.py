"""The ACE form builder and submissions in the dashboard: who sees and changes what, fields,
order (plain POST and htmx), publishing, the submissions table and its CSV."""

import csv
import io

from campaigns.models import AceFieldType, AceForm, AceFormField
from tests import factories

LIST = "/app/forms/"


def _form(client_org, **extra):
    form = factories.AceFormFactory(client=client_org, is_draft=True, **extra)
    for n, name in enumerate(("first_name", "email", "phone")):
        factories.AceFormFieldFactory(form=form, name=name, label=name.title(), position=n)
    return form


def _names(form):
    return list(form.fields.order_by("position").values_list("name", flat=True))


def test_the_owner_sees_the_list_and_another_tenant_gets_404(login_as, people, tenants):
    form = _form(tenants.client_a, name="Spring sign-up")
    page = login_as(people.client_user).get(LIST)
    assert page.status_code == 200 and "Spring sign-up" in page.content.decode()
    assert login_as(people.client_user).get(f"{LIST}{form.pk}/").status_code == 200
    other = login_as(people.other_client_admin)
    assert "Spring sign-up" not in other.get(LIST).content.decode()
    for url in ("", "submissions/", "preview/"):
        assert other.get(f"{LIST}{form.pk}/{url}").status_code == 404
    assert other.post(f"{LIST}{form.pk}/publish/", {"publish": "1"}).status_code == 404


def test_anonymous_is_sent_to_sign_in(client, tenants):
    response = client.get(LIST)
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_a_client_admin_creates_a_form_with_a_clear_error_for_a_taken_slug(
    login_as, people, tenants
):
    _form(tenants.client_b, slug="taken")
    web = login_as(people.client_admin)
    response = web.post(f"{LIST}new/", {"name": "Sign-up", "slug": "taken"})
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    response = web.post(
        f"{LIST}new/", {"name": "Sign-up", "slug": "spring", "success_message": "Thanks!"}
    )
    form = AceForm.objects.get(slug="spring")
    assert response.status_code == 302 and form.client == tenants.client_a and form.is_draft


def test_a_client_user_may_look_but_not_change(login_as, people, tenants):
    form = _form(tenants.client_a)
    web = login_as(people.client_user)
    assert web.post(f"{LIST}{form.pk}/publish/", {"publish": "1"}).status_code == 403
    assert web.post(f"{LIST}new/", {"name": "X", "slug": "x"}).status_code == 403
    form.refresh_from_db()
    assert form.is_draft


def test_adding_fields_with_per_field_errors(login_as, people, tenants):
    form = _form(tenants.client_a)
    web = login_as(people.client_admin)
    url = f"{LIST}{form.pk}/"
    bad = web.post(
        url,
        {
            "save": "field",
            "field-label": "Size",
            "field-name": "size",
            "field-field_type": "select",
        },
    )
    assert bad.status_code == 400
    assert "A choice field needs at least one option." in bad.content.decode()
    taken = web.post(
        url,
        {
            "save": "field",
            "field-label": "Email",
            "field-name": "email",
            "field-field_type": "text",
        },
    )
    assert "already has a field named email" in taken.content.decode()
    good = web.post(
        url,
        {
            "save": "field",
            "field-label": "Size",
            "field-name": "size",
            "field-field_type": AceFieldType.SELECT,
            "field-choices": "Small\nLarge\n",
            "field-required": "on",
        },
    )
    assert good.status_code == 302
    size = AceFormField.objects.get(form=form, name="size")
    assert size.options == ["Small", "Large"] and size.required and size.position == 3


def test_moving_a_field_without_javascript_and_with_htmx(login_as, people, tenants):
    form = _form(tenants.client_a)
    web = login_as(people.client_admin)
    phone = form.fields.get(name="phone")
    response = web.post(f"{LIST}{form.pk}/fields/{phone.pk}/move/", {"direction": "up"})
    assert response.status_code == 302
    assert _names(form) == ["first_name", "phone", "email"]
    first = form.fields.get(name="first_name")
    response = web.post(
        f"{LIST}{form.pk}/fields/{first.pk}/move/", {"direction": "down"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert 'id="field-list"' in response.content.decode()
    assert "<html" not in response.content.decode()
    assert _names(form) == ["phone", "first_name", "email"]
    # At the top, up moves nothing.
    web.post(f"{LIST}{form.pk}/fields/{phone.pk}/move/", {"direction": "up"})
    assert _names(form) == ["phone", "first_name", "email"]


def test_publish_needs_a_field_and_unpublish_takes_the_page_offline(
    login_as, people, tenants, client
):
    empty = factories.AceFormFactory(client=tenants.client_a, is_draft=True, slug="empty")
    web = login_as(people.client_admin)
    web.post(f"{LIST}{empty.pk}/publish/", {"publish": "1"})
    empty.refresh_from_db()
    assert empty.is_draft
    form = _form(tenants.client_a, slug="live-one")
    web.post(f"{LIST}{form.pk}/publish/", {"publish": "1"})
    form.refresh_from_db()
    assert form.is_live
    assert web.get("/f/live-one/").status_code == 200
    web.post(f"{LIST}{form.pk}/publish/", {"publish": "0"})
    assert web.get("/f/live-one/").status_code == 404


def test_the_preview_shows_a_draft(login_as, people, tenants):
    form = _form(tenants.client_a)
    page = login_as(people.client_admin).get(f"{LIST}{form.pk}/preview/").content.decode()
    assert "Preview of a draft" in page and 'name="first_name"' in page


def test_the_form_page_shows_the_embed_snippet(login_as, people, tenants):
    form = _form(tenants.client_a, slug="embed-me")
    page = login_as(people.client_admin).get(f"{LIST}{form.pk}/").content.decode()
    assert "/f/embed-me/embed/" in page and "&lt;iframe" in page


def test_submissions_filter_and_export_escapes_formulas(login_as, people, tenants):
    form = _form(tenants.client_a)
    recipient = factories.RecipientFactory(audience__client=tenants.client_a)
    factories.AceFormSubmissionFactory(
        form=form, recipient=recipient, submission_data={"first_name": "=HYPERLINK(1)"}
    )
    factories.AceFormSubmissionFactory(form=form, submission_data={"first_name": "Sam"})
    web = login_as(people.client_user)
    url = f"{LIST}{form.pk}/submissions/"
    matched = web.get(url, {"matched": "yes"}).content.decode()
    assert recipient.display_code in matched and "Sam" not in matched
    found = web.get(url, {"q": "sam"}).content.decode()
    assert "Sam" in found and recipient.display_code not in found
    response = web.get(url, {"export": "csv"})
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][0] == "Submitted"
    header = rows[0]
    by_name = [dict(zip(header, row, strict=True)) for row in rows[1:]]
    assert sorted(row["First_Name"] for row in by_name) == ["'=HYPERLINK(1)", "Sam"]
