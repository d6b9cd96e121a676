"""ACE forms: the builder (settings, fields, order, preview, publish), each form's submissions
with filters and a streamed CSV, and the embed snippet for the client's website.

Everyone who sees a client sees its forms and submissions; those who may change the client (its
admins, its agency's admins, staff) build and publish them. Everything is read through the scope,
so another tenant's form is a 404. Writes go through campaigns.ace_forms."""

import django_filters
import django_tables2 as tables
from django import forms
from django.contrib import messages
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.cache import patch_vary_headers
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from campaigns import ace_forms
from campaigns.ace_forms import AceFormError
from campaigns.models import AceForm, AceFormField, AceFormSubmission, Campaign
from mike.aceforms.fields import HONEYPOT, STARTED, PublicForm, sign_start

from ..access import dashboard_view
from ..tables import DashboardTable, DateInput, table_page
from .giftcards import client_time


class SettingsForm(forms.ModelForm):
    class Meta:
        model = AceForm
        fields = ["name", "slug", "description", "campaign", "success_message", "reveal_reward"]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 3}),
            "success_message": forms.Textarea(attrs={"rows": 2}),
        }
        help_texts = {
            "slug": "The end of the public address, /f/this-part/ (letters, digits, - and _)."
        }

    def __init__(self, *args, client, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["campaign"].queryset = Campaign.objects.filter(client=client).order_by("name")
        self.fields["campaign"].required = False
        self.fields[
            "campaign"
        ].help_text = (
            "A recipient of this campaign who submits meets its form-submitted conditions."
        )


class FieldForm(forms.ModelForm):
    choices = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="For a choice field: one option a line.",
    )

    class Meta:
        model = AceFormField
        fields = ["label", "name", "field_type", "required", "placeholder", "help_text"]
        help_texts = {"name": "The column in the submissions (letters, digits, - and _)."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["field_type"].label = "Type"
        if self.instance.pk:
            self.initial["choices"] = "\n".join(str(o) for o in self.instance.options or [])

    def values(self) -> dict:
        data = {name: self.cleaned_data[name] for name in self.Meta.fields}
        data["options"] = [
            line.strip() for line in self.cleaned_data["choices"].splitlines() if line.strip()
        ]
        return data

    def _post_clean(self):
        # The service validates (and says so per field); the model form's own instance check
        # would run before the options are set.
        pass


def apply_refusal(form, refusal: AceFormError) -> None:
    if not refusal.errors:
        form.add_error(None, str(refusal))
    for name, problems in refusal.errors.items():
        target = "choices" if name == "options" else name
        form.add_error(target if target in form.fields else None, problems)


def _forms(request):
    return request.scope.filter(AceForm.objects).select_related("client", "campaign")


def _form(request, form_id, *, manage=False) -> AceForm:
    found = get_object_or_404(_forms(request), pk=form_id)
    if manage:
        request.scope.require_manage(found.client)
    return found


class FormTable(DashboardTable):
    name = tables.Column("Form")
    state = tables.Column("Status", accessor="is_draft", orderable=False)
    campaign = tables.Column("Campaign", accessor="campaign__name", default="")
    total_views = tables.Column("Views", attrs={"td": {"class": "num"}})
    total_submissions = tables.Column("Submissions", attrs={"td": {"class": "num"}})
    created_at = tables.DateTimeColumn(verbose_name="Created", format="M j, Y")

    class Meta(DashboardTable.Meta):
        empty_text = "No forms yet: build one to collect sign-ups and meet a campaign condition."

    always_visible = ("name", "state")

    def render_name(self, record):
        return format_html(
            '<a href="{}">{}</a><br><span class="small muted">/f/{}/</span>',
            reverse("dashboard:ace_form", args=[record.pk]),
            record.name,
            record.slug,
        )

    def value_name(self, record):
        return record.name

    def render_state(self, record):
        return state_badge(record)

    def value_state(self, record):
        return "live" if record.is_live else "draft"


def state_badge(form):
    if form.is_live:
        return mark_safe('<span class="badge ok">Live</span>')
    if not form.is_active:
        return mark_safe('<span class="badge bad">Off</span>')
    return mark_safe('<span class="badge">Draft</span>')


@require_safe
@dashboard_view(section="forms")
def form_list(request):
    return table_page(
        request,
        table_class=FormTable,
        queryset=_forms(request),
        template="app/forms/list.html",
    )


@require_http_methods(["GET", "HEAD", "POST"])
@dashboard_view(section="forms")
def form_create(request):
    client = request.scope.managed_client("Your role may not build forms for any client.")
    if client is None:
        return render(request, "app/team/pick_client.html", {"what": "build a form"})
    form = SettingsForm(request.POST or None, client=client)
    if request.method == "POST" and form.is_valid():
        values = {name: form.cleaned_data[name] for name in SettingsForm.Meta.fields}
        try:
            created = ace_forms.create_form(client=client, by=request.user, **values)
        except AceFormError as refusal:
            apply_refusal(form, refusal)
        else:
            messages.success(request, f"{created.name} is created as a draft: add its fields.")
            return redirect("dashboard:ace_form", created.pk)
    return render(request, "app/forms/create.html", {"form": form, "client": client})


def _fields_context(request, ace_form):
    return {
        "ace_form": ace_form,
        "fields": list(ace_form.fields.order_by("position", "name")),
        "can_manage": request.scope.can_manage(ace_form.client),
    }


@require_http_methods(["GET", "HEAD", "POST"])
@dashboard_view(section="forms")
def form_detail(request, form_id):
    """The builder: the form's settings, its fields in order, a new field, the embed snippet."""
    ace_form = _form(request, form_id)
    can_manage = request.scope.can_manage(ace_form.client)
    settings_form = SettingsForm(
        request.POST if request.POST.get("save") == "settings" else None,
        instance=ace_form,
        client=ace_form.client,
        prefix="form",
    )
    field_form = FieldForm(
        request.POST if request.POST.get("save") == "field" else None, prefix="field"
    )
    if request.method == "POST":
        request.scope.require_manage(ace_form.client)
        bound = settings_form if request.POST.get("save") == "settings" else field_form
        if bound.is_bound and bound.is_valid():
            try:
                if bound is settings_form:
                    values = {n: bound.cleaned_data[n] for n in SettingsForm.Meta.fields}
                    ace_forms.update_form(form=ace_form, **values)
                    messages.success(request, "The form's settings are saved.")
                else:
                    added = ace_forms.save_field(form=ace_form, **bound.values())
                    messages.success(request, f"The field {added.label} is added.")
            except AceFormError as refusal:
                apply_refusal(bound, refusal)
            else:
                return redirect("dashboard:ace_form", ace_form.pk)
    public_url = request.build_absolute_uri(reverse("ace_form", args=[ace_form.slug]))
    embed_url = request.build_absolute_uri(reverse("ace_form_embed", args=[ace_form.slug]))
    context = {
        **_fields_context(request, ace_form),
        "settings_form": settings_form,
        "field_form": field_form,
        "public_url": public_url,
        "embed_url": embed_url,
        "embed_snippet": (
            f'<iframe src="{embed_url}" title="{ace_form.name}" width="100%" height="720" '
            'style="border:0" loading="lazy"></iframe>'
        ),
        "state_badge": state_badge(ace_form),
        "can_manage": can_manage,
    }
    status = 400 if request.method == "POST" else 200
    return render(request, "app/forms/detail.html", context, status=status)


@require_http_methods(["GET", "HEAD", "POST"])
@dashboard_view(section="forms")
def field_edit(request, form_id, field_id):
    ace_form = _form(request, form_id, manage=True)
    field = get_object_or_404(ace_form.fields, pk=field_id)
    form = FieldForm(request.POST or None, instance=field)
    if request.method == "POST" and request.POST.get("delete"):
        ace_forms.delete_field(field=field)
        messages.success(request, f"The field {field.label} is removed.")
        return redirect("dashboard:ace_form", ace_form.pk)
    if request.method == "POST" and form.is_valid():
        try:
            ace_forms.save_field(form=ace_form, field=field, **form.values())
        except AceFormError as refusal:
            apply_refusal(form, refusal)
        else:
            messages.success(request, f"The field {field.label} is saved.")
            return redirect("dashboard:ace_form", ace_form.pk)
    context = {"ace_form": ace_form, "field": field, "form": form}
    return render(request, "app/forms/field.html", context, status=400 if form.errors else 200)


@require_POST
@dashboard_view(section="forms")
def field_move(request, form_id, field_id):
    """Up or down: htmx swaps the list in place; without JavaScript the page reloads."""
    ace_form = _form(request, form_id, manage=True)
    field = get_object_or_404(ace_form.fields, pk=field_id)
    try:
        ace_forms.move_field(field=field, direction=request.POST.get("direction", ""))
    except AceFormError as refusal:
        messages.error(request, str(refusal))
    if getattr(request, "htmx", False):
        response = render(request, "app/forms/_fields.html", _fields_context(request, ace_form))
        patch_vary_headers(response, ["HX-Request"])
        return response
    return redirect(f"{reverse('dashboard:ace_form', args=[ace_form.pk])}#fields")


@require_POST
@dashboard_view(section="forms")
def form_publish(request, form_id):
    ace_form = _form(request, form_id, manage=True)
    publish = request.POST.get("publish") == "1"
    try:
        ace_forms.set_published(form=ace_form, published=publish)
    except AceFormError as refusal:
        messages.error(request, str(refusal))
    else:
        if publish:
            messages.success(request, f"{ace_form.name} is live at /f/{ace_form.slug}/.")
        else:
            messages.success(request, f"{ace_form.name} is back to draft: its page is offline.")
    return redirect("dashboard:ace_form", ace_form.pk)


@require_safe
@dashboard_view(section="forms")
def form_preview(request, form_id):
    """The public page as it will look, drafts included; it cannot be sent from here."""
    ace_form = _form(request, form_id)
    context = {
        "ace_form": ace_form,
        "public": PublicForm(ace_form=ace_form),
        "client_name": ace_form.client.name,
        "client_logo_url": ace_form.client.logo_url,
        "honeypot": HONEYPOT,
        "started_name": STARTED,
        "started": sign_start(),
        "preview": True,
    }
    return render(request, "public/ace_form.html", context)


class SubmissionTable(DashboardTable):
    submitted_at = tables.DateTimeColumn(verbose_name="Submitted", format="M j, Y H:i")
    recipient = tables.Column("Recipient", orderable=False, default="")
    ip_address = tables.Column("Address", default="")
    user_agent = tables.Column("Browser", default="", orderable=False)

    class Meta(DashboardTable.Meta):
        empty_text = "No submissions yet."
        # The answers (extra columns) first; where it came from last.
        sequence = ("submitted_at", "recipient", "...", "ip_address", "user_agent")

    always_visible = ("submitted_at",)

    def render_recipient(self, record):
        recipient = record.recipient
        return format_html(
            '{}<br><span class="small muted">{}</span>',
            recipient.full_name or "Recipient",
            recipient.display_code,
        )

    def value_recipient(self, record):
        return record.recipient.display_code


def answer_columns(ace_form):
    """One column per field of the form, in its order, after the fixed ones: the answers."""
    return [
        (
            f"answer_{field.name}",
            tables.Column(
                field.label, accessor=f"submission_data__{field.name}", orderable=False, default=""
            ),
        )
        for field in ace_form.fields.order_by("position", "name")
    ]


class SubmissionFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(label="Search", method="search")
    matched = django_filters.ChoiceFilter(
        label="Recipient",
        choices=[("yes", "Matched"), ("no", "Not matched")],
        empty_label="Anyone",
        method="filter_matched",
    )
    since = django_filters.DateFilter(
        label="From", field_name="submitted_at", lookup_expr="date__gte", widget=DateInput
    )
    until = django_filters.DateFilter(
        label="To", field_name="submitted_at", lookup_expr="date__lte", widget=DateInput
    )

    class Meta:
        model = AceFormSubmission
        fields = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.filters["q"].field.widget = forms.TextInput(
            attrs={"type": "search", "placeholder": "Answer, name or code"}
        )

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        code = value.upper().replace("-", "").replace(" ", "")
        return queryset.filter(
            Q(submission_data__icontains=value)
            | Q(recipient__redemption_code=code)
            | Q(recipient__first_name__icontains=value)
            | Q(recipient__last_name__icontains=value)
        )

    def filter_matched(self, queryset, name, value):
        if value == "yes":
            return queryset.filter(recipient__isnull=False)
        if value == "no":
            return queryset.filter(recipient__isnull=True)
        return queryset


@require_safe
@dashboard_view(section="forms")
def submissions(request, form_id):
    ace_form = _form(request, form_id)
    rows = AceFormSubmission.objects.filter(form=ace_form).select_related("recipient")
    with client_time(request.scope):
        return table_page(
            request,
            table_class=SubmissionTable,
            queryset=rows,
            filterset_class=SubmissionFilter,
            template="app/forms/submissions.html",
            export_name=f"form-{ace_form.slug}-submissions",
            context={"ace_form": ace_form},
            table_kwargs={"extra_columns": answer_columns(ace_form)},
        )


urlpatterns = [
    path("forms/", form_list, name="ace_forms"),
    path("forms/new/", form_create, name="ace_form_create"),
    path("forms/<uuid:form_id>/", form_detail, name="ace_form"),
    path("forms/<uuid:form_id>/publish/", form_publish, name="ace_form_publish"),
    path("forms/<uuid:form_id>/preview/", form_preview, name="ace_form_preview"),
    path("forms/<uuid:form_id>/submissions/", submissions, name="ace_form_submissions"),
    path("forms/<uuid:form_id>/fields/<uuid:field_id>/", field_edit, name="ace_form_field"),
    path(
        "forms/<uuid:form_id>/fields/<uuid:field_id>/move/",
        field_move,
        name="ace_form_field_move",
    ),
]
