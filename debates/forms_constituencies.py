"""GET forms of the event page and the constituency pages: postcode search, constituency choice, open/all."""

from django import forms

from petitions.forms import GovukForm, gb_postcode_lookup, postcode_field

from . import constituency_selectors as selectors

NORTHERN_IRELAND_MESSAGE = "We don't have postcode data for Northern Ireland: choose the constituency from the Northern Ireland list below"
BFPO_MESSAGE = "British Forces (BFPO) addresses are not in a constituency: enter a UK home postcode"
NOT_FOUND_MESSAGE = (
    "We can't find a constituency for this postcode: check it, or choose the constituency below"
)

OPEN, ALL = "open", "all"


class PostcodeSearchForm(GovukForm):
    """A UK postcode, looked up offline. Once valid, `constituency_code` is the GSS code of its constituency."""

    postcode = postcode_field("Postcode")

    def clean_postcode(self) -> str:
        found = gb_postcode_lookup(
            self.cleaned_data["postcode"], northern_ireland=NORTHERN_IRELAND_MESSAGE, bfpo=BFPO_MESSAGE
        )
        if found.gss_code is None or not selectors.constituency_exists(gss_code=found.gss_code):
            raise forms.ValidationError(NOT_FOUND_MESSAGE, code="not_found")
        self.constituency_code = found.gss_code
        return found.postcode


class EventConstituencyForm(GovukForm):
    """The constituency whose signatures the event page shows. The choices are the constituencies already read
    for the page, grouped by region, so checking the value costs no query."""

    constituency = forms.ChoiceField(
        label="Show signatures from a constituency",
        required=False,
        error_messages={"invalid_choice": "Choose a constituency from the list"},
    )

    def __init__(self, data=None, *args, groups: list[selectors.RegionGroup], **kwargs):
        if data is not None and data.get("constituency"):
            data = data.copy()
            data["constituency"] = data["constituency"].strip().upper()
        super().__init__(data, *args, **kwargs)
        self.by_code = {c.gss_code: c for group in groups for c in group.constituencies}
        self.fields["constituency"].choices = [("", "Choose a constituency")] + [
            (group.region.name, [(c.gss_code, c.name) for c in group.constituencies]) for group in groups
        ]

    @property
    def chosen(self):
        """The chosen constituency, or None (none chosen, or not one of the list)."""
        if not self.is_bound or not self.is_valid():
            return None
        return self.by_code.get(self.cleaned_data["constituency"])


class ConstituencyPetitionsForm(GovukForm):
    """Open petitions only (the default) or every public one. A bad value is reported and the default used."""

    state = forms.ChoiceField(
        label="Petitions",
        choices=[(OPEN, "Open petitions"), (ALL, "All petitions (open, closed and rejected)")],
        required=False,
        widget=forms.RadioSelect(attrs={"class": "govuk-radios--small"}),
        error_messages={"invalid_choice": "Choose open petitions or all petitions"},
    )

    def __init__(self, data=None, *args, **kwargs):
        if data is not None and not data.get("state"):
            data = data.copy()
            data["state"] = OPEN
        super().__init__(data, *args, **kwargs)

    @property
    def open_only(self) -> bool:
        return not (self.is_valid() and self.cleaned_data["state"] == ALL)

    @property
    def chosen_state(self) -> str:
        return OPEN if self.open_only else ALL
