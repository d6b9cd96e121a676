"""The dashboard's table machinery: formula-safe CSV cells, streamed export, per-user columns and
page size, the htmx fragment, and a page size that cannot be raised from the address bar."""

import django_tables2 as tables
import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from mike.accounts.models import Organization, UserTablePreference
from mike.dashboard.tables import DashboardTable, csv_safe, stream_csv, table_page
from tests import factories

from .helpers import read_csv


class OrganizationTable(DashboardTable):
    name = tables.Column()
    slug = tables.Column(verbose_name="Slug")
    tagline = tables.Column()

    class Meta(DashboardTable.Meta):
        model = Organization
        fields = ("name", "slug", "tagline")
        order_by = ("name",)

    always_visible = ("name",)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+1", "'+1+1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("-2+3", "'-2+3"),
        ("\tcmd", "'\tcmd"),
        ("-12.50", "-12.50"),
        ("+15551230000", "+15551230000"),
        ("plain", "plain"),
        (None, ""),
    ],
)
def test_csv_cells_that_a_spreadsheet_would_run_are_escaped(value, expected):
    assert csv_safe(value) == expected


def _render(request, **kwargs):
    return table_page(
        request,
        table_class=OrganizationTable,
        queryset=Organization.objects.order_by("name"),
        template="app/_table.html",
        export_name="organizations",
        **kwargs,
    )


def test_export_streams_every_row_with_the_visible_columns(db):
    user = factories.UserFactory()
    factories.AgencyFactory.create_batch(30, tagline="=cmd|' /C calc'!A0")
    request = RequestFactory().get("/x/", {"export": "csv", "sort": "-name"})
    request.user = user

    response = _render(request)

    rows = read_csv(response)
    assert len(rows) == Organization.objects.count()
    assert list(rows[0]) == ["Name", "Slug", "Tagline"]
    assert rows[0]["Name"] == max(o.name for o in Organization.objects.all())
    assert rows[0]["Tagline"].startswith("'=")


def test_a_users_hidden_columns_and_page_size_apply(db):
    user = factories.UserFactory()
    factories.AgencyFactory.create_batch(60)
    UserTablePreference.objects.create(
        user=user, table_name="OrganizationTable", visible_columns=["slug"], page_size=50
    )
    request = RequestFactory().get("/x/", {"per_page": "100000"})
    request.user = user

    response = _render(request)

    html = response.content.decode()
    assert "Tagline" not in html and "Slug" in html
    assert html.count("<tr ") == 50  # the address bar's per_page is ignored


def test_export_leaves_out_the_columns_the_user_hid(db):
    user = factories.UserFactory()
    factories.AgencyFactory()
    UserTablePreference.objects.create(
        user=user, table_name="OrganizationTable", visible_columns=["slug"]
    )
    request = RequestFactory().get("/x/", {"export": "csv"})
    request.user = user
    assert list(read_csv(_render(request))[0]) == ["Name", "Slug"]


def test_htmx_table_request_gets_the_fragment_and_varies_on_hx_request(db):
    user = factories.UserFactory()
    request = RequestFactory().get("/x/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="table")
    request.user = user
    from django_htmx.middleware import HtmxMiddleware

    HtmxMiddleware(lambda r: HttpResponse())(request)

    response = table_page(
        request,
        table_class=OrganizationTable,
        queryset=Organization.objects.all(),
        template="app/base.html",
    )

    assert "<html" not in response.content.decode()
    assert "HX-Request" in response["Vary"]


def test_table_settings_are_saved_for_the_user(client, people):
    client.force_login(people.client_user)
    response = client.post(
        "/app/tables/OrganizationTable/",
        {"columns": ["slug", "nonsense"], "page_size": "100", "next": "/app/"},
    )
    assert response.status_code == 302
    pref = UserTablePreference.objects.get(user=people.client_user)
    assert pref.visible_columns == ["slug"]
    assert pref.page_size == 100


def test_an_unknown_table_is_404(client, people):
    client.force_login(people.client_user)
    assert client.post("/app/tables/Nope/", {"page_size": "25"}).status_code == 404


def test_stream_csv_does_not_cache_the_queryset(db):
    factories.AgencyFactory.create_batch(5)
    qs = Organization.objects.order_by("name")
    table = OrganizationTable(qs)
    response = stream_csv(table, qs, filename="x")
    body = b"".join(response.streaming_content)
    assert body.count(b"\r\n") == 6
    assert qs._result_cache is None
