"""The filters and order of `/debates` and of its CSV, JSON and iCalendar forms.

Rules (shown to users as hints, and relied on by the tests):

- Every filter is optional and they combine with AND. An invalid value is reported on the form and that filter
  is left out (the page still lists events); the downloads refuse it with a 400 instead.
- `when`: `all` (default), `upcoming` (starts now or later) or `past` (started before now).
- `from` / `to`: London calendar days, both inclusive (`to` means up to the end of that day).
- `type`: one or more kinds of event (`westminster_hall` is accepted for `westminster_hall_debate`, and so on).
- `department`: the event's department, by acronym.
- `petition_state`, `min_signatures`, `constituency` look at the event's public petitions (open, closed or
  rejected), and at the SAME petition when combined: an event matches when one of its public petitions meets
  them all. `petition_state` maps to Petition fields as petition.parliament.uk's facets do: open/closed are the
  state, awaiting_response / with_response are response_state awaiting / responded, awaiting_debate is
  debate_state awaiting or scheduled, debated / not_debated are that debate_state. `min_signatures` is the
  petition's total. `constituency` (a GSS code) keeps petitions among that constituency's 50 public petitions
  with the most signatures from it (`debates.selectors.petitions_most_signed_in`).
- `text`: every word must appear (ignoring case) in the event's title or summary, or in the action of one of
  its public petitions.
- `sort`: `soonest` (default: upcoming events, soonest first, then past ones, most recent first), `date_asc`,
  `date_desc`, or `signatures` (the event's most signed public petition, most first). Ties go by date.
"""

import datetime
from zoneinfo import ZoneInfo

import django_filters
from django import forms
from django.db.models import Case, Exists, F, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from petitions.forms import GovukForm
from petitions.models import VISIBLE_STATES, Constituency, DebateState, Petition, PetitionState, ResponseState

from .models import EventKind, ParliamentaryEvent
from .selectors import departments_with_events, petitions_most_signed_in

LONDON = ZoneInfo("Europe/London")

ALL, UPCOMING, PAST = "all", "upcoming", "past"
WHEN_CHOICES = [(ALL, "All dates"), (UPCOMING, "Upcoming"), (PAST, "Past")]

SOONEST, DATE_ASC, DATE_DESC, SIGNATURES = "soonest", "date_asc", "date_desc", "signatures"
SORT_CHOICES = [
    (SOONEST, "Upcoming first, then most recent"),
    (DATE_ASC, "Date, oldest first"),
    (DATE_DESC, "Date, newest first"),
    (SIGNATURES, "Most signatures"),
]

#: Linked petitions' states, as petition.parliament.uk's public facets, and the Petition fields they read.
PETITION_STATES = {
    "open": ("Open", Q(state=PetitionState.OPEN)),
    "closed": ("Closed", Q(state=PetitionState.CLOSED)),
    "awaiting_response": ("Awaiting a government response", Q(response_state=ResponseState.AWAITING)),
    "with_response": ("Government responded", Q(response_state=ResponseState.RESPONDED)),
    "awaiting_debate": (
        "Awaiting a debate",
        Q(debate_state__in=[DebateState.AWAITING, DebateState.SCHEDULED]),
    ),
    "debated": ("Debated", Q(debate_state=DebateState.DEBATED)),
    "not_debated": ("Not debated", Q(debate_state=DebateState.NOT_DEBATED)),
}

#: Short names for kinds, so `?type=westminster_hall` works as well as `?type=westminster_hall_debate`.
TYPE_ALIASES = {
    "westminster_hall": EventKind.WESTMINSTER_HALL_DEBATE,
    "backbench_business": EventKind.BACKBENCH_BUSINESS_DEBATE,
    "chamber": EventKind.CHAMBER_DEBATE,
    "select_committee": EventKind.SELECT_COMMITTEE_SESSION,
}

DATE_FORMATS = ["%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y"]
# Keeps "the end of the `to` day" and every date the database compares representable.
EARLIEST_DATE, LATEST_DATE = datetime.date(1900, 1, 1), datetime.date(2100, 12, 31)
MAX_SIGNATURES = 1_000_000_000
MAX_WORDS = 10

Through = ParliamentaryEvent.petitions.through


def london_midnight(day: datetime.date) -> datetime.datetime:
    """The instant a London calendar day starts (midnight always exists in London: clocks change at 1am)."""
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=LONDON)


class SignatureCountField(forms.IntegerField):
    """A whole number of signatures; "10,000" and "10 000" are read as 10000."""

    def to_python(self, value):
        if isinstance(value, str):
            value = value.replace(",", "").replace(" ", "").replace("_", "")
        return super().to_python(value)


class SignatureCountFilter(django_filters.Filter):
    field_class = SignatureCountField


class EventFilterForm(GovukForm):
    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("from"), cleaned.get("to")
        if start and end and end < start:
            self.add_error("to", "The ‘to’ date must be the same as or after the ‘from’ date")
        return cleaned


def _date_filter(label: str, method: str) -> django_filters.DateFilter:
    name = label.lower()
    return django_filters.DateFilter(
        label=label,
        method=method,
        input_formats=DATE_FORMATS,
        help_text="For example, 21/3/2023",
        widget=forms.TextInput(attrs={"class": "govuk-input--width-10", "autocomplete": "off"}),
        error_messages={"invalid": f"Enter the ‘{name}’ date as a real date, like 21/3/2023"},
        validators=[
            _date_bound(lambda d: d >= EARLIEST_DATE, f"The ‘{name}’ date must be in 1900 or later"),
            _date_bound(lambda d: d <= LATEST_DATE, f"The ‘{name}’ date must be in 2100 or earlier"),
        ],
    )


def _date_bound(check, message: str):
    def validate(value: datetime.date) -> None:
        if not check(value):
            raise forms.ValidationError(message, code="out_of_range")

    return validate


class EventFilter(django_filters.FilterSet):
    text = django_filters.CharFilter(
        label="Search",
        method="filter_text",
        max_length=200,
        help_text="Words in the title, summary or a petition",
        error_messages={"max_length": "Search words must be 200 characters or fewer"},
    )
    type = django_filters.MultipleChoiceFilter(
        label="Type",
        choices=EventKind.choices,
        method="filter_type",
        distinct=False,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "govuk-checkboxes--small"}),
        error_messages={"invalid_choice": "Choose types of event from the list"},
    )
    when = django_filters.ChoiceFilter(
        label="When",
        choices=WHEN_CHOICES,
        empty_label=None,
        method="filter_when",
        widget=forms.RadioSelect(attrs={"class": "govuk-radios--small"}),
        error_messages={"invalid_choice": "Choose all dates, upcoming or past"},
    )
    # `from` is a Python keyword, so these two go straight into the class namespace (its locals()).
    locals()["from"] = _date_filter("From", "filter_from")
    locals()["to"] = _date_filter("To", "filter_to")
    department = django_filters.ModelChoiceFilter(
        label="Department",
        queryset=departments_with_events,
        to_field_name="acronym",
        empty_label="All departments",
        error_messages={"invalid_choice": "Choose a department from the list"},
    )
    petition_state = django_filters.ChoiceFilter(
        label="Petition status",
        choices=[(value, label) for value, (label, _q) in PETITION_STATES.items()],
        empty_label="Any status",
        method="filter_petition_state",
        error_messages={"invalid_choice": "Choose a petition status from the list"},
    )
    min_signatures = SignatureCountFilter(
        label="Minimum signatures",
        method="filter_min_signatures",
        help_text="On one of its petitions, for example 10,000",
        min_value=0,
        max_value=MAX_SIGNATURES,
        widget=forms.TextInput(attrs={"class": "govuk-input--width-10", "inputmode": "numeric"}),
        error_messages={
            "invalid": "Enter minimum signatures as a whole number, like 10000",
            "min_value": "Minimum signatures must be 0 or more",
            "max_value": "Minimum signatures must be 1,000,000,000 or fewer",
        },
    )
    constituency = django_filters.ModelChoiceFilter(
        label="Constituency",
        queryset=Constituency.objects.all(),
        to_field_name="gss_code",
        method="filter_constituency",
        help_text="Its GSS code, for example E14001063. Shows events on the 50 petitions most signed there",
        widget=forms.TextInput(attrs={"class": "govuk-input--width-10", "spellcheck": "false"}),
        error_messages={"invalid_choice": "Enter a constituency’s GSS code, like E14001063"},
    )
    sort = django_filters.ChoiceFilter(
        label="Sort by",
        choices=SORT_CHOICES,
        empty_label=None,
        method="filter_sort",
        error_messages={"invalid_choice": "Choose an order from the list"},
    )

    class Meta:
        model = ParliamentaryEvent
        fields: list = []
        form = EventFilterForm

    def __init__(self, data=None, *args, now=None, **kwargs):
        if data is not None:
            data = data.copy()
            for name, default in (("when", ALL), ("sort", SOONEST)):
                if not data.get(name):
                    data[name] = default
            if "type" in data:
                data.setlist("type", [TYPE_ALIASES.get(v.strip(), v.strip()) for v in data.getlist("type")])
            if data.get("constituency"):
                data["constituency"] = data["constituency"].strip().upper()
        super().__init__(data, *args, **kwargs)
        self.now = now or timezone.now()
        self._petition_conditions: list[Q] = []

    # --- Filters on the event itself ------------------------------------------------------------------------

    def filter_type(self, queryset, name, value):
        return queryset.filter(kind__in=value)

    def filter_when(self, queryset, name, value):
        if value == UPCOMING:
            return queryset.filter(starts_at__gte=self.now)
        if value == PAST:
            return queryset.filter(starts_at__lt=self.now)
        return queryset

    def filter_from(self, queryset, name, value):
        return queryset.filter(starts_at__gte=london_midnight(value))

    def filter_to(self, queryset, name, value):
        return queryset.filter(starts_at__lt=london_midnight(value + datetime.timedelta(days=1)))

    def filter_text(self, queryset, name, value):
        for word in value.split()[:MAX_WORDS]:
            in_petition = Through.objects.filter(
                parliamentaryevent_id=OuterRef("pk"),
                petition__state__in=VISIBLE_STATES,
                petition__action__icontains=word,
            )
            queryset = queryset.filter(
                Q(title__icontains=word) | Q(summary__icontains=word) | Exists(in_petition)
            )
        return queryset

    # --- Filters on the event's public petitions (applied together, to one petition) ------------------------

    def filter_petition_state(self, queryset, name, value):
        self._petition_conditions.append(PETITION_STATES[value][1])
        return queryset

    def filter_min_signatures(self, queryset, name, value):
        self._petition_conditions.append(Q(signature_count__gte=value))
        return queryset

    def filter_constituency(self, queryset, name, value):
        self._petition_conditions.append(Q(pk__in=petitions_most_signed_in(constituency=value)))
        return queryset

    def filter_sort(self, queryset, name, value):
        return queryset  # applied last, in filter_queryset

    def filter_queryset(self, queryset):
        self._petition_conditions = []
        queryset = super().filter_queryset(queryset)
        if self._petition_conditions:
            conditions = Q(state__in=VISIBLE_STATES)
            for condition in self._petition_conditions:
                conditions &= condition
            matching = Through.objects.filter(
                parliamentaryevent_id=OuterRef("pk"),
                petition__in=Petition.objects.filter(conditions),
            )
            queryset = queryset.filter(Exists(matching))
        return self.order(queryset, self.form.cleaned_data.get("sort") or SOONEST)

    def order(self, queryset: QuerySet, sort: str) -> QuerySet:
        if sort == DATE_ASC:
            return queryset.order_by("starts_at", "pk")
        if sort == DATE_DESC:
            return queryset.order_by("-starts_at", "-pk")
        if sort == SIGNATURES:
            most = Through.objects.filter(
                parliamentaryevent_id=OuterRef("pk"), petition__state__in=VISIBLE_STATES
            ).order_by("-petition__signature_count")
            return queryset.annotate(
                most_signatures=Coalesce(Subquery(most.values("petition__signature_count")[:1]), Value(0))
            ).order_by("-most_signatures", "-starts_at", "-pk")
        upcoming = Q(starts_at__gte=self.now)
        return queryset.order_by(
            Case(When(upcoming, then=Value(0)), default=Value(1)),
            Case(When(upcoming, then=F("starts_at"))).asc(nulls_last=True),
            Case(When(~upcoming, then=F("starts_at"))).desc(nulls_last=True),
            "pk",
        )

    # --- For the views --------------------------------------------------------------------------------------

    @property
    def chosen_constituency(self) -> Constituency | None:
        """The constituency filtered on, if its code is valid."""
        if not self.is_bound or "constituency" in self.form.errors:
            return None
        return self.form.cleaned_data.get("constituency")

    def error_list(self) -> list[tuple[str, str]]:
        """(parameter, message) for every invalid filter, in the form's order."""
        return [(name, str(message)) for name, errors in self.form.errors.items() for message in errors]
