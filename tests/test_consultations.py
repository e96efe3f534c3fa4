"""Consultations: their blocks on the petition page and the public /consultations list with its filters."""

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from petitions.models import Department, PetitionState, ResponseState, SiteSettings
from petitions.templatetags.petition_tags import clock_time, consultation_state, day_date, http_url
from responses.models import Consultation, GovernmentResponse, ResponseStatus
from tests.conftest import SITE_NOTICES
from tests.factories import ClosedPetitionFactory, OpenPetitionFactory, PetitionFactory

pytestmark = pytest.mark.django_db

#: A summer (BST) instant while the consultations below are open.
JUNE = datetime(2022, 6, 1, 12, 0, tzinfo=UTC)
SEED_CLOSE = datetime(2022, 7, 1, 22, 45, tzinfo=UTC)  # 11.45pm on Friday 1 July 2022, London time

HOSTILE_MARKDOWN = (
    "Intro <script>alert('x')</script>\n\n"
    '<img src="x" onerror="alert(1)">\n\n'
    '<iframe src="https://evil.example/"></iframe>\n\n'
    "[Click me](javascript:alert(1)) and [also](JaVaScRiPt:alert(2))"
)


def _utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def _department(acronym: str) -> Department:
    return Department.objects.create(acronym=acronym, name=f"Department {acronym}")


def _consultation(*, petitions=(), responses=(), **fields) -> Consultation:
    fields.setdefault("title", "Plans for better buses")
    fields.setdefault("summary", "The Government wants to hear from bus users.")
    fields.setdefault("url", "https://www.gov.uk/government/consultations/buses")
    fields.setdefault("opens_at", JUNE - timedelta(days=30))
    fields.setdefault("closes_at", SEED_CLOSE)
    consultation = Consultation.objects.create(**fields)
    consultation.petitions.add(*petitions)
    consultation.responses.add(*responses)
    return consultation


def _response(petition, status=ResponseStatus.PUBLISHED) -> GovernmentResponse:
    return GovernmentResponse.objects.create(
        petition=petition,
        responded_on=datetime(2022, 3, 9).date(),
        summary="The Government has considered this petition.",
        status=status,
    )


def _page(client, petition) -> str:
    response = client.get(f"/petitions/{petition.pk}")
    assert response.status_code == 200
    return re.sub(r"\s+", " ", response.content.decode())


def _listed(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'id="consultation-(\d+)-title"', html)]


def _list(client, query: str = "") -> tuple[int, str]:
    response = client.get(f"/consultations{query}")
    return response.status_code, re.sub(r"\s+", " ", response.content.decode())


# --- Formatting units: the seed page's forms, in London time ----------------------------------------------


@pytest.mark.parametrize(
    ("utc", "time", "day"),
    [
        (SEED_CLOSE, "11.45pm", "Friday 1 July 2022"),  # BST: UTC+1
        (datetime(2022, 7, 1, 23, 30, tzinfo=UTC), "12.30am", "Saturday 2 July 2022"),
        (datetime(2022, 7, 1, 11, 0, tzinfo=UTC), "midday", "Friday 1 July 2022"),
        (datetime(2022, 6, 30, 23, 0, tzinfo=UTC), "midnight", "Friday 1 July 2022"),
        (datetime(2022, 7, 1, 8, 0, tzinfo=UTC), "9am", "Friday 1 July 2022"),
        (datetime(2022, 12, 1, 11, 45, tzinfo=UTC), "11.45am", "Thursday 1 December 2022"),  # GMT: UTC
        (datetime(2022, 12, 1, 23, 45, tzinfo=UTC), "11.45pm", "Thursday 1 December 2022"),
        (datetime(2022, 12, 1, 12, 0, tzinfo=UTC), "midday", "Thursday 1 December 2022"),
        (datetime(2022, 12, 1, 0, 0, tzinfo=UTC), "midnight", "Thursday 1 December 2022"),
        (datetime(2022, 12, 1, 9, 0, tzinfo=UTC), "9am", "Thursday 1 December 2022"),
        (datetime(2022, 12, 1, 0, 5, tzinfo=UTC), "12.05am", "Thursday 1 December 2022"),
    ],
)
def test_times_and_days_are_written_in_london_time_as_the_seed_page_writes_them(utc, time, day):
    assert clock_time(utc) == time
    assert day_date(utc) == day


def test_consultation_state_uses_the_same_bounds_as_is_open():
    consultation = Consultation(opens_at=JUNE, closes_at=SEED_CLOSE)
    assert consultation_state(consultation, JUNE - timedelta(microseconds=1)) == "upcoming"
    assert consultation_state(consultation, JUNE) == "open" and consultation.is_open(JUNE)
    assert consultation_state(consultation, SEED_CLOSE - timedelta(microseconds=1)) == "open"
    assert consultation_state(consultation, SEED_CLOSE) == "closed" and not consultation.is_open(SEED_CLOSE)
    # Closed wins over "not open yet" if staff typed the dates the wrong way round.
    assert consultation_state(Consultation(opens_at=SEED_CLOSE, closes_at=JUNE), JUNE) == "closed"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://www.gov.uk/x", "https://www.gov.uk/x"),
        (" HTTP://example.org/ ", "HTTP://example.org/"),
        ("javascript:alert(1)", ""),
        ("data:text/html,<script>", ""),
        ("//evil.example", ""),
        ("", ""),
        (None, ""),
    ],
)
def test_http_url_keeps_only_web_links(value, expected):
    assert http_url(value) == expected


# --- The petition page ----------------------------------------------------------------------------------------


@time_machine.travel(JUNE, tick=False)
def test_open_consultation_invites_views_until_the_closing_time_in_summer(client):
    petition = OpenPetitionFactory()
    consultation = _consultation(petitions=[petition], department=_department("DFT"))
    html = _page(client, petition)
    assert (
        f'id="consultation-{consultation.pk}-heading">Share your views: Plans for better buses</h2>' in html
    )
    assert "The Government wants to hear from bus users." in html
    assert (
        "Find out more about the consultation and share your views:</p> "
        '<p class="govuk-body app-text-break"><a class="govuk-link" '
        'href="https://www.gov.uk/government/consultations/buses"'
    ) in html
    assert "You can respond until 11.45pm on Friday 1 July 2022." in html
    assert "Department DFT" in html
    assert 'href="/consultations">See all consultations</a>' in html
    assert "Consultation closed" not in html and "Not open yet" not in html


@time_machine.travel(datetime(2022, 11, 20, 12, 0, tzinfo=UTC), tick=False)
def test_open_consultation_closing_in_winter_shows_gmt_time(client):
    petition = OpenPetitionFactory()
    _consultation(petitions=[petition], closes_at=datetime(2022, 12, 1, 11, 45, tzinfo=UTC))
    assert "You can respond until 11.45am on Thursday 1 December 2022." in _page(client, petition)


@time_machine.travel(JUNE, tick=False)
def test_a_title_already_inviting_views_is_not_prefixed(client):
    petition = OpenPetitionFactory()
    _consultation(petitions=[petition], title="Share your views on Government's plans for SEND")
    html = _page(client, petition)
    assert '-heading">Share your views on Government&#x27;s plans for SEND</h2>' in html
    assert "Share your views: Share" not in html


@time_machine.travel(JUNE, tick=False)
def test_upcoming_consultation_says_when_it_opens(client):
    petition = OpenPetitionFactory()
    _consultation(
        petitions=[petition],
        opens_at=datetime(2022, 7, 1, 8, 0, tzinfo=UTC),
        closes_at=datetime(2022, 12, 1, 0, 0, tzinfo=UTC),
        details="Kept for after it closes.",
    )
    html = _page(client, petition)
    assert "Not open yet" in html
    assert "Opens on Friday 1 July 2022 at 9am." in html
    assert "You will be able to respond until midnight on Thursday 1 December 2022." in html
    assert "You can respond until" not in html
    assert "Kept for after it closes." not in html
    assert '-heading">Plans for better buses</h2>' in html


@time_machine.travel(JUNE, tick=False)
def test_open_consultation_keeps_its_details_for_after_it_closes(client):
    petition = OpenPetitionFactory()
    _consultation(petitions=[petition], details="What the Government decided.")
    assert "What the Government decided." not in _page(client, petition)


@time_machine.travel(datetime(2022, 7, 1, 22, 45, tzinfo=UTC), tick=False)
def test_closed_consultation_says_when_it_closed_and_shows_its_details(client):
    petition = ClosedPetitionFactory()
    _consultation(
        petitions=[petition], details="## What happens next\n\nThe Government will publish its plans."
    )
    html = _page(client, petition)
    assert '<strong class="govuk-tag govuk-tag--grey">Consultation closed</strong>' in html
    assert "This consultation closed at 11.45pm on Friday 1 July 2022." in html
    assert '<h3 class="govuk-heading-m">What happens next</h3>' in html
    assert "The Government will publish its plans." in html
    # The summary as it was announced is folded away, before the details.
    folded = html.index("The consultation as it was announced")
    assert (
        folded < html.index("The Government wants to hear from bus users.") < html.index("What happens next")
    )
    assert "Share your views:" not in html


@time_machine.travel(JUNE, tick=False)
def test_the_link_is_not_repeated_when_the_summary_already_links_to_the_consultation(client):
    petition = OpenPetitionFactory()
    url = "https://www.gov.uk/government/consultations/buses"
    _consultation(
        petitions=[petition],
        summary=f"Find out more about the consultation and share your views:\n\n[Buses consultation]({url})",
    )
    html = _page(client, petition)
    assert html.count("Find out more about the consultation and share your views:") == 1
    assert html.count(f'href="{url}"') == 1


@time_machine.travel(JUNE, tick=False)
def test_consultation_linked_directly_and_through_the_response_is_shown_once(client):
    petition = ClosedPetitionFactory(response_state=ResponseState.RESPONDED)
    response = _response(petition)
    both = _consultation(petitions=[petition], responses=[response], title="Linked both ways")
    via_response = _consultation(responses=[response], title="Linked through the response")
    html = _page(client, petition)
    assert html.count(f'id="consultation-{both.pk}-heading"') == 1
    assert html.count("Linked both ways") == 1
    assert f'id="consultation-{via_response.pk}-heading"' in html


@time_machine.travel(JUNE, tick=False)
def test_consultation_linked_only_through_a_draft_response_is_not_shown(client):
    petition = ClosedPetitionFactory()
    _consultation(responses=[_response(petition, status=ResponseStatus.DRAFT)], title="Secret plans")
    html = _page(client, petition)
    assert "Secret plans" not in html
    assert "See all consultations" not in html


@time_machine.travel(JUNE, tick=False)
def test_consultations_of_another_petition_are_not_shown(client):
    petition, other = OpenPetitionFactory(), OpenPetitionFactory()
    _consultation(petitions=[other], responses=[_response(other)], title="Somebody else's")
    assert "Somebody else" not in _page(client, petition)


@time_machine.travel(JUNE, tick=False)
def test_timeline_lists_consultations_by_opening_time_after_the_response(client):
    from petitions.selectors import petition_timeline

    petition = ClosedPetitionFactory()
    response = _response(petition)
    later = _consultation(petitions=[petition], opens_at=datetime(2022, 5, 1, tzinfo=UTC))
    earlier = _consultation(responses=[response], opens_at=datetime(2022, 4, 1, tzinfo=UTC))
    entries = petition_timeline(petition=petition)
    assert [(e.kind, e.obj.pk) for e in entries] == [
        ("government_response", response.pk),
        ("consultation", earlier.pk),
        ("consultation", later.pk),
    ]


@pytest.mark.parametrize("moment", [JUNE, datetime(2022, 8, 1, tzinfo=UTC)], ids=["open", "closed"])
def test_hostile_markdown_and_links_are_harmless_on_the_petition_page(client, moment):
    with time_machine.travel(moment, tick=False):
        petition = OpenPetitionFactory()
        _consultation(
            petitions=[petition],
            title="<b>Bold</b> plans",
            summary=HOSTILE_MARKDOWN,
            details=HOSTILE_MARKDOWN,
            url="javascript:alert(3)",
        )
        html = _page(client, petition)
    _assert_harmless(html)
    assert "&lt;b&gt;Bold&lt;/b&gt; plans" in html
    assert "Intro" in html and "Click me" in html


def _assert_harmless(html: str) -> None:
    lowered = html.lower()
    assert "<script>alert" not in lowered
    assert "onerror" not in lowered
    assert "<iframe" not in lowered
    assert "<img" not in lowered
    assert "javascript:" not in lowered


@time_machine.travel(JUNE, tick=False)
def test_petition_page_queries_do_not_grow_with_consultations(client):
    petition = ClosedPetitionFactory(response_state=ResponseState.RESPONDED)
    response = _response(petition)
    department = _department("DHSC")
    _consultation(petitions=[petition], department=department)
    _page(client, petition)  # fills the per-process caches (site settings) first
    with CaptureQueriesContext(connection) as one:
        _page(client, petition)
    for n in range(4):
        _consultation(petitions=[petition] if n % 2 else [], responses=[response], department=department)
    with CaptureQueriesContext(connection) as five:
        html = _page(client, petition)
    assert html.count("See all consultations") == 5
    assert len(five) == len(one)


# --- /consultations -------------------------------------------------------------------------------------------


@pytest.fixture
def listed():
    """Six consultations around JUNE, by name; open ones first in the expected order, and so on."""
    dfe, dhsc = _department("DFE"), _department("DHSC")
    _department("MOJ")  # no consultations: not offered in the filter
    rows = {
        "A": {"department": dfe, "opens_at": _utc(2022, 5, 1), "closes_at": SEED_CLOSE},
        "B": {"department": dhsc, "opens_at": _utc(2022, 4, 1), "closes_at": _utc(2022, 8, 1)},
        "C": {"department": dfe, "opens_at": _utc(2022, 6, 10), "closes_at": _utc(2022, 9, 1)},
        "D": {"department": None, "opens_at": _utc(2022, 6, 5), "closes_at": _utc(2022, 9, 1)},
        "E": {"department": dhsc, "opens_at": _utc(2022, 1, 1), "closes_at": _utc(2022, 5, 1)},
        "F": {"department": dfe, "opens_at": _utc(2022, 2, 1), "closes_at": _utc(2022, 5, 20)},
    }
    made = {name: _consultation(title=f"Consultation {name}", **fields) for name, fields in rows.items()}
    return {"dfe": dfe, "dhsc": dhsc, **{name: c.pk for name, c in made.items()}}


def _names(listed, html) -> str:
    by_pk = {pk: name for name, pk in listed.items() if isinstance(pk, int)}
    return "".join(by_pk[pk] for pk in _listed(html))


@time_machine.travel(JUNE, tick=False)
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", "ABDCFE"),  # open (closing soonest first), not open yet (opening soonest), closed (latest first)
        ("?status=all", "ABDCFE"),
        ("?status=open", "AB"),
        ("?status=upcoming", "DC"),
        ("?status=closed", "FE"),
        ("?department={dfe}", "ACF"),
        ("?department={dhsc}", "BE"),
        ("?status=open&department={dfe}", "A"),
        ("?status=closed&department={dhsc}", "E"),
        ("?status=upcoming&department={dfe}", "C"),
        ("?status=all&department={dhsc}", "BE"),
        ("?status=&department=", "ABDCFE"),
    ],
)
def test_consultation_filters_alone_and_combined(client, listed, query, expected):
    status, html = _list(client, query.format(dfe=listed["dfe"].pk, dhsc=listed["dhsc"].pk))
    assert status == 200
    assert _names(listed, html) == expected
    assert "There is a problem" not in html


@time_machine.travel(JUNE, tick=False)
def test_no_match_says_so(client, listed):
    status, html = _list(client, f"?status=upcoming&department={listed['dhsc'].pk}")
    assert status == 200 and _listed(html) == []
    assert "No consultations match these filters." in html


@time_machine.travel(JUNE, tick=False)
def test_filter_form_offers_statuses_and_only_departments_with_consultations(client, listed):
    _, html = _list(client)
    assert '<form method="get" action="/consultations" novalidate>' in html
    assert '<select name="status" class="govuk-select"' in html
    assert '<option value="all" selected>All consultations</option>' in html
    assert '<option value="open">Open</option>' in html
    assert '<option value="upcoming">Not open yet</option>' in html
    assert '<option value="closed">Closed</option>' in html
    assert '<option value="" selected>All departments</option>' in html
    assert f'<option value="{listed["dfe"].pk}">Department DFE</option>' in html
    assert "Department MOJ" not in html
    _, html = _list(client, f"?status=closed&department={listed['dfe'].pk}")
    assert '<option value="closed" selected>Closed</option>' in html
    assert f'<option value="{listed["dfe"].pk}" selected>Department DFE</option>' in html


@time_machine.travel(JUNE, tick=False)
def test_status_boundaries_match_the_petition_page():
    from responses.filters import ConsultationFilter, consultations_listed

    opening_now = _consultation(opens_at=JUNE, closes_at=SEED_CLOSE)
    closing_now = _consultation(opens_at=JUNE - timedelta(days=1), closes_at=JUNE)

    def pks(status):
        return list(
            ConsultationFilter({"status": status}, queryset=consultations_listed(now=JUNE), now=JUNE).qs
        )

    assert pks("open") == [opening_now]
    assert pks("closed") == [closing_now]
    assert pks("upcoming") == []


@time_machine.travel(JUNE, tick=False)
def test_listing_shows_link_department_summary_dates_and_petitions(client):
    department = _department("DFE")
    shown_directly = ClosedPetitionFactory(action="Fund more buses")
    through_response = ClosedPetitionFactory(
        action="Cheaper bus fares", response_state=ResponseState.RESPONDED
    )
    both_ways = ClosedPetitionFactory(action="Bus lanes everywhere")
    draft_only = ClosedPetitionFactory(action="Draft response petition")
    hidden = PetitionFactory(action="Hidden petition", state=PetitionState.HIDDEN)
    hidden_response = _response(PetitionFactory(action="Hidden with response", state=PetitionState.HIDDEN))
    _consultation(
        title="Share your views on buses",
        summary="**Bus users** are asked to reply.",
        department=department,
        opens_at=datetime(2022, 3, 29, 9, 0, tzinfo=UTC),
        petitions=[shown_directly, both_ways, hidden],
        responses=[
            _response(through_response),
            _response(both_ways),
            _response(draft_only, status=ResponseStatus.DRAFT),
            hidden_response,
        ],
    )
    status, html = _list(client)
    assert status == 200
    assert (
        '<a class="govuk-link" href="https://www.gov.uk/government/consultations/buses" '
        'rel="noopener noreferrer">Share your views on buses</a>'
    ) in html
    assert '<dd class="govuk-summary-list__value">Department DFE</dd>' in html
    assert '<p class="govuk-body"><strong>Bus users</strong> are asked to reply.</p>' in html
    assert 'Opened</dt> <dd class="govuk-summary-list__value">10am on Tuesday 29 March 2022</dd>' in html
    assert 'Closes</dt> <dd class="govuk-summary-list__value">11.45pm on Friday 1 July 2022</dd>' in html
    assert '<strong class="govuk-tag govuk-tag--green">Open</strong>' in html
    for petition in (shown_directly, through_response, both_ways):
        assert html.count(f'href="/petitions/{petition.pk}"') == 1
    assert "Draft response petition" not in html
    assert "Hidden petition" not in html and "Hidden with response" not in html


@time_machine.travel(datetime(2022, 11, 20, 12, 0, tzinfo=UTC), tick=False)
def test_listing_writes_winter_and_summer_times_in_london_time(client):
    _consultation(
        opens_at=datetime(2022, 12, 1, 0, 0, tzinfo=UTC), closes_at=datetime(2022, 12, 1, 11, 45, tzinfo=UTC)
    )
    _consultation(
        opens_at=datetime(2022, 7, 1, 11, 0, tzinfo=UTC), closes_at=datetime(2022, 7, 1, 8, 0, tzinfo=UTC)
    )
    _, html = _list(client)
    assert (
        'Opens</dt> <dd class="govuk-summary-list__value">midnight on Thursday 1 December 2022</dd>' in html
    )
    assert (
        'Closes</dt> <dd class="govuk-summary-list__value">11.45am on Thursday 1 December 2022</dd>' in html
    )
    assert 'Opened</dt> <dd class="govuk-summary-list__value">midday on Friday 1 July 2022</dd>' in html
    assert 'Closed</dt> <dd class="govuk-summary-list__value">9am on Friday 1 July 2022</dd>' in html


@time_machine.travel(JUNE, tick=False)
@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?department=999999", "Choose a department from the list"),
        ("?department=abc", "Choose a department from the list"),
        ("?department=99999999999999999999999999", "Choose a department from the list"),
        ("?department=-1", "Choose a department from the list"),
        ("?department=1.5", "Choose a department from the list"),
        ("?status=bogus", "Choose a status from the list"),
        ("?status=OPEN", "Choose a status from the list"),
    ],
)
def test_bad_filter_values_get_a_message_and_are_left_out(client, listed, query, message):
    status, html = _list(client, query)
    assert status == 200
    assert "There is a problem" in html and message in html
    assert html.startswith("<!DOCTYPE html>") and "<title>Error: Government consultations" in html
    assert _names(listed, html) == "ABDCFE"


@time_machine.travel(JUNE, tick=False)
def test_a_bad_filter_leaves_the_good_one_applied(client, listed):
    status, html = _list(client, "?status=closed&department=nope")
    assert status == 200 and "Choose a department from the list" in html
    assert _names(listed, html) == "FE"


@pytest.mark.parametrize("query", ["?status=%00", "?department=1%00", "?page=%00"])
def test_nul_bytes_in_the_filters_get_a_400_page(client, query):
    status, html = _list(client, query)
    assert status == 400 and "invalid characters" in html


@time_machine.travel(JUNE, tick=False)
def test_pagination_20_a_page_keeps_the_filters_and_copes_with_any_page_number(client):
    department = _department("DFE")
    for n in range(45):
        _consultation(
            title=f"Numbered {n:02d}", department=department, closes_at=SEED_CLOSE + timedelta(hours=n)
        )
    _, html = _list(client, f"?department={department.pk}")
    assert len(_listed(html)) == 20
    assert "Showing 1 to 20 of 45 consultations" in html
    assert f'href="?department={department.pk}&amp;page=2"' in html
    _, html = _list(client, f"?department={department.pk}&page=3")
    assert len(_listed(html)) == 5 and "Showing 41 to 45 of 45 consultations" in html
    assert "Numbered 44" in html and "Numbered 39" not in html
    for page in ("99999999999999999999999", "-1", "0"):
        status, html = _list(client, f"?page={page}")
        assert status == 200 and "Showing 41 to 45 of 45 consultations" in html
    for page in ("abc", "", "1.5"):
        status, html = _list(client, f"?page={page}")
        assert status == 200 and "Showing 1 to 20 of 45 consultations" in html


@time_machine.travel(JUNE, tick=False)
def test_listing_makes_a_fixed_number_of_queries(client, django_assert_num_queries):
    department = _department("DFE")
    petitions = [ClosedPetitionFactory(response_state=ResponseState.RESPONDED) for _ in range(3)]
    responses = [_response(p) for p in petitions]
    SiteSettings.load()  # created once, outside the counted requests
    # count, page, its petitions, its published responses with their petitions, the department options.
    expected = 5 + SITE_NOTICES
    _consultation(department=department, petitions=petitions[:1], responses=responses[1:])
    with django_assert_num_queries(expected):
        assert len(_listed(_list(client)[1])) == 1
    for _n in range(44):
        _consultation(department=department, petitions=petitions[:2], responses=responses)
    with django_assert_num_queries(expected):
        assert len(_listed(_list(client)[1])) == 20
    with django_assert_num_queries(expected + 1):  # the chosen department is looked up to validate it
        assert len(_listed(_list(client, f"?department={department.pk}&status=open&page=3")[1])) == 5


@pytest.mark.parametrize("moment", [JUNE, datetime(2022, 8, 1, tzinfo=UTC)], ids=["open", "closed"])
def test_hostile_markdown_and_links_are_harmless_on_the_list(client, moment):
    with time_machine.travel(moment, tick=False):
        _consultation(title="<b>Bold</b> plans", summary=HOSTILE_MARKDOWN, url="javascript:alert(3)")
        status, html = _list(client)
    assert status == 200
    _assert_harmless(html)
    assert "&lt;b&gt;Bold&lt;/b&gt; plans</h2>" in html


def test_consultations_page_is_reachable_by_name():
    from django.urls import reverse

    assert reverse("responses:consultations") == "/consultations"


def test_post_is_not_allowed(client):
    assert client.post("/consultations").status_code == 405
