"""The government response form of the admin, and the Markdown preview's input."""

from django import forms
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import ValidationError
from django.urls import reverse

from .models import GovernmentResponse

SUMMARY_MAX = GovernmentResponse._meta.get_field("summary").max_length
DETAILS_MAX = GovernmentResponse._meta.get_field("details").max_length


class TextareaField(forms.CharField):
    """A CharField for textareas: browsers send line breaks as CRLF, which would count twice against the
    length limit (the textarea's own counter counts one) and make unchanged text look changed."""

    def to_python(self, value):
        value = super().to_python(value)
        return value.replace("\r\n", "\n").replace("\r", "\n") if value else value


class SafeAutocompleteSelect(AutocompleteSelect):
    """Django's autocomplete widget looks the posted value up to show it again with the form's errors: a value
    that is not an id at all (a tampered form) would raise there, a 500, instead of "Select a valid choice"."""

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


class GovernmentResponseForm(forms.ModelForm):
    """The fields staff edit; the status and publication fields change only through the publish buttons."""

    class Meta:
        model = GovernmentResponse
        fields = ("petition", "department", "responded_on", "summary", "details")
        field_classes = {"summary": TextareaField, "details": TextareaField}
        widgets = {
            "summary": forms.Textarea(attrs={"rows": 3, "cols": 80, "data-character-count": SUMMARY_MAX}),
            "details": forms.Textarea(attrs={"rows": 16, "cols": 80}),
        }
        labels = {"department": "Responding department", "responded_on": "Responded on"}
        help_texts = {
            "petition": "A petition number or words from its title. Petitions awaiting a response are listed "
            "first, the longest waiting first.",
            "summary": f"Shown first on the petition page and in the email; up to {SUMMARY_MAX} characters.",
            "details": "The full response, in Markdown: a blank line between paragraphs, ## for a heading, "
            "- for a bullet, [text](https://…) for a link. The preview below shows it as the petition page "
            "will.",
        }
        error_messages = {
            "petition": {
                "unique": "This petition already has a government response: change that one instead.",
                "required": "Choose the petition this response is to.",
            },
            "summary": {"required": "Enter a summary of the response."},
            "responded_on": {"required": "Enter the date the government responded."},
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "details" in self.fields:
            self.fields["details"].widget.attrs.update(
                {
                    "data-markdown-preview-url": reverse("admin:responses_governmentresponse_preview"),
                    "data-markdown-preview-target": "details",
                }
            )

    class Media:
        js = ("js/response_preview.js",)


class MarkdownPreviewForm(forms.Form):
    """What the live preview posts: the Markdown of the textarea."""

    text = TextareaField(
        required=False,
        strip=False,
        max_length=DETAILS_MAX,
        error_messages={"max_length": f"The preview shows up to {DETAILS_MAX:,} characters."},
    )
