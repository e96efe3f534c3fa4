"""The admin's forms for parliamentary business: the event form, the outcome pages and other business.

Every link field is an https link to a host in settings.PARLIAMENT_LINK_HOSTS (debates.validators). The
outcome fields of an event are not in the event form: they change only through the outcome pages (the
services), so the petitions' debate states follow.
"""

from django import forms
from django.contrib.admin.widgets import AutocompleteSelect, AutocompleteSelectMultiple
from django.core.exceptions import ValidationError

from petitions.models import Constituency
from responses.forms import TextareaField

from .models import OtherBusiness, ParliamentaryEvent
from .validators import LINK_FIELDS, event_errors, validate_parliament_link

#: The admin URL of the debates autocompletes (petitions awaiting a debate first; MPs by name).
AUTOCOMPLETE_URL_NAME = "%s:debates_parliamentaryevent_autocomplete"


class ParliamentLinkField(forms.URLField):
    """An https link to a parliament or government site. A link typed without a scheme means https."""

    def __init__(self, **kwargs):
        kwargs.setdefault("assume_scheme", "https")
        super().__init__(**kwargs)

    def validate(self, value):
        super().validate(value)
        # Before Django's URL check, so an http: or foreign link gets one clear message, not two.
        validate_parliament_link(value)


class _KnownValuesOnly:
    """Django's autocomplete widgets look the posted values up to show them again with the form's errors: a
    value that is not an id at all (a tampered form) would raise there, a 500, instead of "Select a valid
    choice"."""

    def optgroups(self, name, value, attr=None):
        field = self.field.target_field
        valid = []
        for item in value:
            try:
                field.run_validators(field.to_python(item))
            except ValidationError:
                continue
            valid.append(item)
        return super().optgroups(name, valid, attr)


class EventAutocompleteSelect(_KnownValuesOnly, AutocompleteSelect):
    url_name = AUTOCOMPLETE_URL_NAME


class EventAutocompleteSelectMultiple(_KnownValuesOnly, AutocompleteSelectMultiple):
    url_name = AUTOCOMPLETE_URL_NAME


def lead_mp_label(constituency: Constituency) -> str:
    """ "Geraint Davies MP (Swansea West)": staff look for the MP, and the constituency tells two apart."""
    if constituency.mp_name:
        return f"{constituency.mp_name} MP ({constituency.name})"
    return f"{constituency.name} (no MP)"


class LeadMpChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return lead_mp_label(obj)


class ParliamentaryEventForm(forms.ModelForm):
    class Meta:
        model = ParliamentaryEvent
        fields = (
            "kind",
            "title",
            "starts_at",
            "place",
            "summary",
            "petitions",
            "lead_mp",
            "lead_mp_name",
            "department",
            "evidence_deadline",
            "evidence_url",
            "more_info_url",
            "transcript_url",
            "video_url",
            "debate_pack_url",
            "public_engagement_url",
            "debate_summary_url",
            "overview",
        )
        field_classes = {
            **dict.fromkeys(LINK_FIELDS, ParliamentLinkField),
            "summary": TextareaField,
            "overview": TextareaField,
            "lead_mp": LeadMpChoiceField,
        }
        labels = {
            "kind": "Type",
            "starts_at": "Date and time",
            "lead_mp": "Lead MP",
            "lead_mp_name": "Lead (if not an MP in the list)",
            "evidence_deadline": "Deadline for contributions",
            "evidence_url": "Link to share experiences or evidence",
            "more_info_url": "Link to find out more",
            "transcript_url": "Transcript link",
            "video_url": "Video link",
            "debate_pack_url": "Debate pack link",
            "public_engagement_url": "Public engagement link",
            "debate_summary_url": "Debate summary link",
        }
        help_texts = {
            "starts_at": "London time. After changing the date of a scheduled debate, press “Schedule debate” "
            "again so its petitions show the new date.",
            "petitions": "A petition number or words from its title. Petitions awaiting a debate decision are "
            "listed first, the longest waiting first.",
            "lead_mp": "The MP leading it: type the MP's or the constituency's name.",
            "lead_mp_name": "For ministers, committees or former MPs: e.g. “Claire Coutinho MP, Minister for "
            "Children, Families and Wellbeing”. Leave blank when you chose an MP above.",
            "evidence_deadline": "Needed for a call for evidence; for a debate, when its call for experiences "
            "closes (London time).",
            "summary": "Markdown: a blank line between paragraphs, - for a bullet, [text](https://…) for a link.",
            "overview": "Markdown: what was said, once debated.",
        }
        error_messages = {
            "kind": {"required": "Choose the type of event."},
            "title": {"required": "Enter the title."},
            "starts_at": {
                "required": "Enter the date and time.",
                "invalid_date": "Enter a real date, like 22/03/2031.",
                "invalid_time": "Enter a real time, like 16:30.",
            },
            "evidence_deadline": {
                "invalid_date": "Enter the date contributions close, like 21/03/2031.",
                "invalid_time": "Enter the time contributions close, like 12:00.",
            },
        }
        widgets = {
            "summary": forms.Textarea(attrs={"rows": 8, "cols": 80}),
            "overview": forms.Textarea(attrs={"rows": 8, "cols": 80}),
        }

    def clean(self):
        cleaned = super().clean()
        errors = event_errors(
            kind=cleaned.get("kind") or self.instance.kind,
            lead_mp=cleaned.get("lead_mp"),
            lead_mp_name=cleaned.get("lead_mp_name", ""),
            evidence_deadline=cleaned.get("evidence_deadline"),
            outcome=self.instance.outcome,
            outcome_reason=self.instance.outcome_reason,
        )
        for name, messages in errors.items():
            if name in self.errors:
                continue  # that field's own error says enough
            for message in messages:
                self.add_error(name if name in self.fields else None, message)
        return cleaned


class _OutcomeForm(forms.Form):
    email_signers = forms.BooleanField(
        required=False,
        label="Email signers",
        help_text="Email the creator and every signer of each petition who asked for updates, once: signers "
        "already emailed about this outcome are not emailed again.",
    )


class DebatedForm(_OutcomeForm):
    """Record outcome: debated. The links and the overview replace the event's."""

    overview = TextareaField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 10, "cols": 80}),
        max_length=20000,
        help_text="Markdown: what was said in the debate. Shown on the petition pages.",
    )
    video_url = ParliamentLinkField(required=False, max_length=500, label="Video link")
    transcript_url = ParliamentLinkField(required=False, max_length=500, label="Transcript link")
    debate_pack_url = ParliamentLinkField(required=False, max_length=500, label="Debate pack link")
    public_engagement_url = ParliamentLinkField(
        required=False, max_length=500, label="Public engagement link"
    )
    debate_summary_url = ParliamentLinkField(required=False, max_length=500, label="Debate summary link")

    LINKS = ("video_url", "transcript_url", "debate_pack_url", "public_engagement_url", "debate_summary_url")

    field_order = ("overview", *LINKS, "email_signers")

    @classmethod
    def initial_for(cls, event: ParliamentaryEvent) -> dict:
        return {"overview": event.overview, **{name: getattr(event, name) for name in cls.LINKS}}

    def links(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.LINKS}


class NotDebatedForm(_OutcomeForm):
    """Record outcome: not debated, with the reason."""

    reason = TextareaField(
        widget=forms.Textarea(attrs={"rows": 5, "cols": 80}),
        max_length=2000,
        help_text="Shown on the petition pages and in the email, e.g. “The Petitions Committee decided not to "
        "debate this petition because it was debated recently.”",
        error_messages={"required": "Say why it was not debated."},
    )

    field_order = ("reason", "email_signers")

    @classmethod
    def initial_for(cls, event: ParliamentaryEvent) -> dict:
        return {"reason": event.outcome_reason}


class OtherBusinessForm(forms.ModelForm):
    class Meta:
        model = OtherBusiness
        fields = ("petition", "subject", "body", "occurred_on")
        field_classes = {"body": TextareaField}
        widgets = {"body": forms.Textarea(attrs={"rows": 12, "cols": 80})}
        labels = {"occurred_on": "Date"}
        help_texts = {
            "petition": "A petition number or words from its title.",
            "subject": "The heading on the petition page, and the email's subject.",
            "body": "Markdown: a blank line between paragraphs, - for a bullet, [text](https://…) for a link.",
            "occurred_on": "When it happened.",
        }
        error_messages = {
            "petition": {"required": "Choose the petition."},
            "subject": {"required": "Enter a subject."},
            "body": {"required": "Say what happened."},
            "occurred_on": {"invalid": "Enter a real date."},
        }
