"""GET forms of `/petitions` (search, facet, topic, department) and `/petitions/local` (postcode)."""

from django import forms

from .browse import DEFAULT_FACET, QUERY_MAX_LENGTH, facet_slug
from .forms import GovukForm, gb_postcode_lookup, postcode_field
from .models import Constituency, Department, Topic

QUERY_TOO_LONG_MESSAGE = f"Search terms must be {QUERY_MAX_LENGTH} characters or fewer"
NORTHERN_IRELAND_MESSAGE = "We don't have postcode data for Northern Ireland: choose your constituency from the list of constituencies"
BFPO_MESSAGE = "British Forces (BFPO) addresses are not in a constituency: enter a UK home postcode"
NOT_FOUND_MESSAGE = "We can't find a constituency for this postcode: check it and try again"
LOCAL_OPEN, LOCAL_ALL = "open", "all"


class PetitionSearchForm(GovukForm):
    """Search terms, facet (`state`), topic and department. An unknown facet is simply "all"; a topic or
    department that is not on the list, or search terms that are too long, are errors: the page lists them and
    leaves that value out. The choices are the topics and departments the page has already read, so checking a
    value costs no query."""

    q = forms.CharField(
        label="Search petitions",
        required=False,
        max_length=QUERY_MAX_LENGTH,
        error_messages={
            "max_length": QUERY_TOO_LONG_MESSAGE,
            "null_characters_not_allowed": "Search terms must not contain invalid characters",
        },
        widget=forms.TextInput(attrs={"type": "search", "spellcheck": "false", "enterkeyhint": "search"}),
    )
    state = forms.CharField(required=False, widget=forms.HiddenInput)
    topic = forms.ChoiceField(
        label="Topic", required=False, error_messages={"invalid_choice": "Choose a topic from the list"}
    )
    department = forms.ChoiceField(
        label="Government department",
        required=False,
        error_messages={"invalid_choice": "Choose a government department from the list"},
    )

    def __init__(self, data=None, *args, topics: list[Topic], departments: list[Department], **kwargs):
        self.topics = {topic.code: topic for topic in topics}
        self.departments = {department.acronym.lower(): department for department in departments}
        # Acronyms in any case: "dfe" is "DfE".
        if data is not None and data.get("department"):
            department = self.departments.get(str(data["department"]).strip().lower())
            if department is not None:
                data = data.copy()
                data["department"] = department.acronym
        super().__init__(data, *args, **kwargs)
        # The browser must not cut a long query: it is answered with the message instead.
        self.fields["q"].widget.attrs.pop("maxlength", None)
        self.fields["topic"].choices = [("", "All topics")] + [(t.code, t.name) for t in topics]
        self.fields["department"].choices = [("", "All departments")] + [
            (d.acronym, d.name) for d in departments
        ]

    def _valid(self, name: str) -> str:
        """The cleaned value of a field, or "" when it is blank or invalid (or the form is not bound)."""
        if not self.is_bound or not self.is_valid() and name in self.errors:
            return ""
        return self.cleaned_data.get(name) or ""

    @property
    def query(self) -> str:
        return self._valid("q").strip()

    @property
    def facet(self) -> str:
        return facet_slug(self._valid("state"))

    @property
    def chosen_topic(self) -> Topic | None:
        return self.topics.get(self._valid("topic"))

    @property
    def chosen_department(self) -> Department | None:
        return self.departments.get(self._valid("department").lower())

    def valid_params(self) -> dict[str, str]:
        """The filters that apply, as query parameters (for facet links, pagination and downloads)."""
        params = {}
        if self.query:
            params["q"] = self.query
        if self.facet != DEFAULT_FACET:
            params["state"] = self.facet
        if self.chosen_topic:
            params["topic"] = self.chosen_topic.code
        if self.chosen_department:
            params["department"] = self.chosen_department.acronym
        return params


class LocalPetitionsForm(GovukForm):
    """A UK postcode, looked up offline; once valid, `constituency` is its constituency. Open petitions
    (the default) or every public one: an unknown choice is the default."""

    postcode = postcode_field("Enter your postcode")
    state = forms.CharField(required=False, widget=forms.HiddenInput)

    constituency: Constituency | None = None

    def clean_postcode(self) -> str:
        found = gb_postcode_lookup(
            self.cleaned_data["postcode"], northern_ireland=NORTHERN_IRELAND_MESSAGE, bfpo=BFPO_MESSAGE
        )
        constituency = None
        if found.gss_code is not None:
            constituency = (
                Constituency.objects.select_related("region").filter(gss_code=found.gss_code).first()
            )
        if constituency is None:
            raise forms.ValidationError(NOT_FOUND_MESSAGE, code="not_found")
        self.constituency = constituency
        return found.postcode

    def clean_state(self) -> str:
        return LOCAL_ALL if self.cleaned_data.get("state") == LOCAL_ALL else LOCAL_OPEN

    @property
    def open_only(self) -> bool:
        return not (self.is_bound and self.is_valid() and self.cleaned_data["state"] == LOCAL_ALL)
