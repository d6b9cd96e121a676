"""The forms of the campaign pages: the wizard's steps. They only read and check what a person
typed; the writes are campaigns.services (and calls.services for the tracked number)."""

from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.html import escape

from calls.models import TrackedNumberStatus, TrackedPhoneNumber
from campaigns.models import AceForm, MailingMethod, TriggerType
from campaigns.services import MAX_CONDITIONS
from giftcards.models import GiftCardBrand
from mike.core import texts
from recipients.models import Audience

from .tables import DateInput

DEFAULT_RESPONSE_RATE = Decimal("2.00")


class ClientChoiceForm(forms.Form):
    """Which client a new campaign is for, asked when "all clients" is selected."""

    client = forms.ChoiceField(label="Client")

    def __init__(self, *args, clients, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["client"].choices = [("", "Choose a client")] + [
            (str(c.pk), c.name) for c in clients
        ]


class DetailsForm(forms.Form):
    name = forms.CharField(max_length=200)
    mailing_method = forms.ChoiceField(
        choices=MailingMethod.choices,
        initial=MailingMethod.CUSTOMER_HANDLED,
        help_text="Customer handled: you print and mail the pieces. Platform handled: Mike's "
        "print partner does.",
    )
    mail_date = forms.DateField(
        required=False, widget=DateInput, help_text="When the pieces go in the mail."
    )
    audience = forms.ModelChoiceField(
        queryset=Audience.objects.none(),
        required=False,
        empty_label="No audience yet",
        help_text="Who the campaign mails. Audiences of this client only.",
    )

    def __init__(self, *args, client, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["audience"].queryset = Audience.objects.filter(client=client).order_by("name")


class ConditionForm(forms.Form):
    """One condition of the ladder: what meets it, and the card it earns."""

    condition_name = forms.CharField(
        label="Name", max_length=200, help_text="E.g. “Booked an appointment”."
    )
    trigger_type = forms.ChoiceField(
        label="Met when", choices=TriggerType.choices, initial=TriggerType.MANUAL_AGENT
    )
    crm_event_name = forms.CharField(
        label="CRM event name",
        max_length=200,
        required=False,
        help_text="For a CRM event: the event name your CRM posts.",
    )
    time_delay_hours = forms.IntegerField(
        label="Delay (hours)",
        min_value=0,
        required=False,
        help_text="For a time delay: hours after the previous condition.",
    )
    min_call_duration_seconds = forms.IntegerField(
        label="Minimum call length (seconds)",
        min_value=0,
        required=False,
        help_text="For a completed call: only calls at least this long count.",
    )
    form = forms.ModelChoiceField(
        label="Form",
        queryset=AceForm.objects.none(),
        required=False,
        help_text="For a submitted form: the form whose submission meets the condition.",
    )
    brand = forms.ModelChoiceField(queryset=GiftCardBrand.objects.none(), label="Gift card")
    card_value = forms.DecimalField(
        label="Value ($)", min_value=Decimal("0.01"), max_digits=12, decimal_places=2
    )
    sms_template = forms.CharField(
        label="Reward text",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        validators=[texts.validate_reward_template],
        # Escaped: help texts are shown as HTML, and "<field>" would vanish as a tag.
        help_text=escape(
            "Blank uses the client's reward text, then Mike's. Variables: "
            + ", ".join(f"{{{name}}}" for name in texts.REWARD_VARIABLES)
            + ", {custom.<field>}."
        ),
    )

    def __init__(self, *args, client, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["brand"].queryset = GiftCardBrand.objects.enabled().order_by("brand_name")
        self.fields["form"].queryset = AceForm.objects.filter(client=client).order_by("name")

    def clean(self):
        data = super().clean()
        trigger = data.get("trigger_type")
        if trigger == TriggerType.CRM_WEBHOOK and not (data.get("crm_event_name") or "").strip():
            self.add_error("crm_event_name", "A CRM event needs the event's name.")
        if trigger == TriggerType.TIME_DELAY and data.get("time_delay_hours") is None:
            self.add_error("time_delay_hours", "A time delay needs a number of hours.")
        if trigger == TriggerType.FORM_SUBMITTED and data.get("form") is None:
            self.add_error("form", "Choose the form whose submission meets the condition.")
        return data

    def service_values(self) -> dict:
        """The cleaned row as `campaigns.services.set_conditions` takes it: the fields a trigger
        does not use are cleared, so a condition switched from CRM to manual forgets its event."""
        data = self.cleaned_data
        trigger = data["trigger_type"]
        return {
            "condition_name": data["condition_name"],
            "trigger_type": trigger,
            "crm_event_name": (
                data["crm_event_name"].strip() if trigger == TriggerType.CRM_WEBHOOK else ""
            ),
            "time_delay_hours": (
                data["time_delay_hours"] if trigger == TriggerType.TIME_DELAY else None
            ),
            "min_call_duration_seconds": (
                data["min_call_duration_seconds"] if trigger == TriggerType.CALL_COMPLETED else None
            ),
            "form": data["form"] if trigger == TriggerType.FORM_SUBMITTED else None,
            "brand": data["brand"],
            "card_value": data["card_value"],
            "sms_template": data["sms_template"],
        }


class BaseConditionFormSet(forms.BaseFormSet):
    """Up to three rows; a row left empty is no condition, a row ticked "Remove" is removed."""

    def clean(self):
        if any(self.errors):
            return
        if not self.kept_forms():
            raise ValidationError("Add at least one condition.")

    def kept_forms(self) -> list[ConditionForm]:
        deleted = set(self.deleted_forms) if self.can_delete else set()
        return [f for f in self.forms if f not in deleted and f.has_changed() and f.cleaned_data]


def condition_formset(*, client, data=None, initial=None):
    initial = initial or []
    formset_class = forms.formset_factory(
        ConditionForm,
        formset=BaseConditionFormSet,
        extra=max(0, MAX_CONDITIONS - len(initial)),
        max_num=MAX_CONDITIONS,
        absolute_max=MAX_CONDITIONS,
        validate_max=True,
        can_delete=True,
    )
    return formset_class(
        data=data, initial=initial, prefix="conditions", form_kwargs={"client": client}
    )


class TrackedNumberForm(forms.Form):
    number = forms.ModelChoiceField(
        queryset=TrackedPhoneNumber.objects.none(),
        required=False,
        empty_label="No tracked number yet",
        widget=forms.RadioSelect,
        blank=True,
        label="Tracked number",
        help_text="The number printed on the mail. Calls to it are matched to this campaign's "
        "recipients and forwarded to your call centre.",
    )

    def __init__(self, *args, campaign, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["number"].queryset = TrackedPhoneNumber.objects.filter(
            Q(
                client_id=campaign.client_id,
                status=TrackedNumberStatus.AVAILABLE,
                campaign__isnull=True,
            )
            | Q(campaign_id=campaign.pk)
        ).order_by("phone_number")
        self.fields["number"].label_from_instance = _number_label


def _number_label(number: TrackedPhoneNumber) -> str:
    parts = [number.phone_number]
    if number.friendly_name:
        parts.append(number.friendly_name)
    if number.forward_to_number:
        parts.append(f"forwards to {number.forward_to_number}")
    return " · ".join(parts)


class BudgetForm(forms.Form):
    response_rate = forms.DecimalField(
        label="Expected response rate (%)",
        min_value=Decimal("0.01"),
        max_value=Decimal("100"),
        max_digits=5,
        decimal_places=2,
        initial=DEFAULT_RESPONSE_RATE,
        help_text="The share of the audience you expect to earn the rewards. 1–3% is usual for "
        "direct mail.",
    )
