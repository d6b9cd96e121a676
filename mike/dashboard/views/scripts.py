"""The selected client's call scripts: its own (for every campaign) and one per campaign where a
campaign needs its own words. Client admins (and agency admins, staff) write them here; agents
read them beside the call they are on. The sections are cleaned by calls.scripts.clean."""

from django import forms
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.views.decorators.http import require_http_methods, require_safe

from calls.models import CallScript, ScriptSection
from calls.scripts import MAX_SECTION_CHARS, ScriptRefused, editable, save_script, sections_of
from campaigns.models import Campaign

from ..access import dashboard_view

HELP = {
    ScriptSection.GREETING: "The first words on the call: who the agent is and for whom.",
    ScriptSection.VERIFICATION: "How to confirm who is calling: their code from the card, "
    "their name and address.",
    ScriptSection.EXPLANATION: "The offer and what the caller has to do for the reward.",
    ScriptSection.OBJECTION_HANDLING: "Answers to the usual doubts (is this a scam, why the text).",
    ScriptSection.CLOSING: "How to end the call and what the caller will receive.",
    ScriptSection.ESCALATION: "When and to whom the agent hands the call on.",
}


class ScriptForm(forms.Form):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for key, label in ScriptSection.choices:
            self.fields[key] = forms.CharField(
                label=label,
                required=False,
                max_length=MAX_SECTION_CHARS,
                widget=forms.Textarea(attrs={"rows": 4}),
                help_text=f"{HELP[key]} Plain text, or simple HTML: bold, italics, lists, links.",
            )


def _client(request):
    """The selected client, whose scripts the user may change; None for "all clients"."""
    return request.scope.managed_client("Your role may not change any client's call scripts.")


@require_safe
@dashboard_view(section="scripts")
def script_list(request):
    client = _client(request)
    if client is None:
        return render(request, "app/team/pick_client.html", {"what": "write its call scripts"})
    scripts = {s.campaign_id: s for s in CallScript.objects.filter(client=client)}
    campaigns = Campaign.objects.filter(client=client).order_by("-created_at")
    rows = [
        {
            "name": campaign.name,
            "status": campaign.get_status_display(),
            "script": scripts.get(campaign.pk),
            "url": f"{reverse('dashboard:script_edit')}?campaign={campaign.pk}",
        }
        for campaign in campaigns
    ]
    context = {
        "client": client,
        "default": scripts.get(None),
        "default_sections": sections_of(scripts.get(None)),
        "rows": rows,
    }
    return render(request, "app/scripts/list.html", context)


@require_http_methods(["GET", "HEAD", "POST"])
@dashboard_view(section="scripts")
def script_edit(request):
    client = _client(request)
    if client is None:
        return redirect("dashboard:scripts")
    campaign = None
    if campaign_id := request.GET.get("campaign"):
        try:
            campaign = get_object_or_404(Campaign, pk=campaign_id, client=client)
        except ValueError:  # not a UUID
            return redirect("dashboard:scripts")
    script = CallScript.objects.filter(client=client, campaign=campaign).first()
    initial = {key: editable(value) for key, value in (script.sections if script else {}).items()}
    form = ScriptForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            save_script(
                client=client, campaign=campaign, sections=form.cleaned_data, by=request.user
            )
        except ScriptRefused as refusal:
            form.add_error(None, str(refusal))
        else:
            what = f"{campaign.name}'s call script" if campaign else f"{client.name}'s call script"
            messages.success(request, f"{what} is saved.")
            return redirect("dashboard:scripts")
    context = {
        "client": client,
        "campaign": campaign,
        "form": form,
        "sections": sections_of(script),
    }
    return render(request, "app/scripts/edit.html", context)


urlpatterns = [
    path("call-scripts/", script_list, name="scripts"),
    path("call-scripts/edit/", script_edit, name="script_edit"),
]
