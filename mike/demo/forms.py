from django import forms
from django.core.exceptions import ValidationError

from mike.demo import phone_simulator


class SimulatorRecipientField(forms.ModelChoiceField):
    """A recipient of a campaign, posted by id from the simulator page."""

    def __init__(self, **kwargs):
        super().__init__(
            queryset=phone_simulator.simulated_recipients(),
            widget=forms.HiddenInput,
            error_messages={"invalid_choice": "That recipient does not exist (any more)."},
            **kwargs,
        )

    def to_python(self, value):
        # A malformed id fails the UUID field's own validation with a message about UUIDs; the
        # person only needs to know the recipient is not there.
        try:
            return super().to_python(value)
        except ValidationError as exc:
            raise ValidationError(
                self.error_messages["invalid_choice"], code="invalid_choice"
            ) from exc


class PickRecipientForm(forms.Form):
    """GET: which recipient the page shows, and the search for one."""

    recipient = SimulatorRecipientField(required=False)
    q = forms.CharField(required=False, max_length=40, strip=True)


class CallForm(forms.Form):
    tracked_number = forms.ChoiceField(
        label="Dial",
        error_messages={"invalid_choice": "%(value)s is not a tracked number of any campaign."},
    )
    caller = forms.CharField(
        label="From",
        max_length=40,
        help_text="The caller's phone: a recipient's to be matched, any other to be unmatched.",
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "off"}),
    )
    duration = forms.IntegerField(
        label="Seconds on the call",
        initial=90,
        min_value=0,
        max_value=phone_simulator.MAX_CALL_SECONDS,
    )
    interested = forms.BooleanField(
        label="The agent closes the call as “interested”",
        required=False,
        help_text="Meets the next condition marked by an agent.",
    )
    live = forms.BooleanField(
        label="Stay on the line",
        required=False,
        help_text="The call stays in progress and shows in the call console for an agent.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tracked_number"].choices = [
            (t.phone_number, f"{t.phone_number} — {t.campaign}")
            for t in phone_simulator.tracked_numbers().order_by("phone_number")
        ]


class RecipientActionForm(forms.Form):
    """Approve, or mark the next condition met, for one recipient."""

    recipient = SimulatorRecipientField()


class ReplyForm(forms.Form):
    recipient = SimulatorRecipientField()
    body = forms.CharField(
        label="Text back",
        max_length=phone_simulator.MAX_TEXT_LENGTH,
        widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "YES"}),
        error_messages={"required": "Type the text to send."},
    )
