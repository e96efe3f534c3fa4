"""`/petitions` (facets, filters, pagination, bad input), `/petitions.csv` and `/petitions/local`."""

import csv
import io
import re
from datetime import date, timedelta

import pytest
from django.utils import timezone

from petitions import browse, postcodes
from petitions.models import (
    Constituency,
    ConstituencyPetitionJournal,
    DebateState,
    Department,
    PetitionState,
    ResponseState,
    SiteSettings,
    Topic,
)
from petitions.views_browse import CSV_HEADER, CSV_LIMIT, PETITIONS_PER_PAGE
from tests.conftest import SITE_NOTICES
from tests.factories import PetitionFactory, ValidatedSignatureFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def _ago(days: float):
    return NOW - timedelta(days=days)


def _petition(state=PetitionState.OPEN, **fields):
    fields.setdefault("opened_at", _ago(30) if state in (PetitionState.OPEN, PetitionState.CLOSED) else None)
    return PetitionFactory(state=state, **fields)


@pytest.fixture
def hand_built():
    """One or more public petitions in every facet, plus unpublished ones that no facet may show."""
    p = {
        "open_small": _petition(signature_count=100, created_at=_ago(40), opened_at=_ago(3)),
        "open_big_old": _petition(signature_count=500, created_at=_ago(50), opened_at=_ago(20)),
        "open_big_new": _petition(
            signature_count=500,
            created_at=_ago(45),
            opened_at=_ago(1),
            response_state=ResponseState.AWAITING,
            response_threshold_reached_at=_ago(1),
        ),
        "open_waiting_long": _petition(
            signature_count=20_000,
            created_at=_ago(60),
            opened_at=_ago(40),
            response_state=ResponseState.AWAITING,
            response_threshold_reached_at=_ago(30),
            debate_state=DebateState.AWAITING,
            debate_threshold_reached_at=_ago(2),
        ),
        "open_scheduled": _petition(
            signature_count=150_000,
            created_at=_ago(70),
            opened_at=_ago(50),
            response_state=ResponseState.RESPONDED,
            government_response_at=_ago(10),
            debate_state=DebateState.SCHEDULED,
            debate_threshold_reached_at=_ago(20),
            scheduled_debate_date=(NOW + timedelta(days=7)).date(),
        ),
        "open_awaiting_no_date": _petition(
            signature_count=100_001,
            created_at=_ago(65),
            opened_at=_ago(45),
            debate_state=DebateState.AWAITING,
            debate_threshold_reached_at=None,
        ),
        "closed_debated_old": _petition(
            PetitionState.CLOSED,
            signature_count=120_000,
            created_at=_ago(400),
            closed_at=_ago(200),
            response_state=ResponseState.RESPONDED,
            government_response_at=_ago(300),
            debate_state=DebateState.DEBATED,
            scheduled_debate_date=date(2024, 1, 15),
            debate_outcome_at=_ago(250),
        ),
        "closed_debated_new": _petition(
            PetitionState.CLOSED,
            signature_count=110_000,
            created_at=_ago(300),
            closed_at=_ago(100),
            response_state=ResponseState.RESPONDED,
            government_response_at=_ago(150),
            debate_state=DebateState.DEBATED,
            scheduled_debate_date=date(2025, 3, 10),
            debate_outcome_at=_ago(90),
        ),
        "closed_not_debated": _petition(
            PetitionState.CLOSED,
            signature_count=105_000,
            created_at=_ago(350),
            closed_at=_ago(150),
            debate_state=DebateState.NOT_DEBATED,
            debate_outcome_at=_ago(120),
        ),
        "rejected_old": _petition(PetitionState.REJECTED, created_at=_ago(90), rejected_at=_ago(80)),
        "rejected_new": _petition(PetitionState.REJECTED, created_at=_ago(10), rejected_at=_ago(5)),
    }
    # Never listed nor counted, whatever their response or debate state.
    _petition(PetitionState.PENDING, signature_count=1, response_state=ResponseState.AWAITING)
    _petition(PetitionState.SPONSORED, signature_count=6)
    _petition(PetitionState.HIDDEN, signature_count=999_999, debate_state=DebateState.DEBATED)
    _petition(PetitionState.STOPPED, response_state=ResponseState.RESPONDED)
    _petition(PetitionState.REMOVED, debate_state=DebateState.NOT_DEBATED)
    return p


EXPECTED_ORDERS = {
    # signature_count desc, then created_at desc
    "all": [
        "open_scheduled",
        "closed_debated_old",
        "closed_debated_new",
        "closed_not_debated",
        "open_awaiting_no_date",
        "open_waiting_long",
        "open_big_new",
        "open_big_old",
        "open_small",
        "rejected_new",
        "rejected_old",
    ],
    "open": [
        "open_scheduled",
        "open_awaiting_no_date",
        "open_waiting_long",
        "open_big_new",
        "open_big_old",
        "open_small",
    ],
    # opened_at desc
    "recent": [
        "open_big_new",
        "open_small",
        "open_big_old",
        "open_waiting_long",
        "open_awaiting_no_date",
        "open_scheduled",
    ],
    "closed": ["closed_debated_old", "closed_debated_new", "closed_not_debated"],
    # created_at desc
    "rejected": ["rejected_new", "rejected_old"],
    # response threshold reached longest ago first
    "awaiting_response": ["open_waiting_long", "open_big_new"],
    # most recent response first
    "with_response": ["open_scheduled", "closed_debated_new", "closed_debated_old"],
    # a scheduled date first, then threshold reached (never reached first)
    "awaiting_debate": ["open_scheduled", "open_awaiting_no_date", "open_waiting_long"],
    # most recent debate first
    "debated": ["closed_debated_new", "closed_debated_old"],
    "not_debated": ["closed_not_debated"],
}


def _names(petitions, hand_built) -> list[str]:
    by_pk = {p.pk: name for name, p in hand_built.items()}
    return [by_pk[p.pk] for p in petitions]


def test_facets_are_the_references_in_its_fixed_order():
    assert [slug for slug, _ in browse.FACETS] == [
        "all",
        "open",
        "recent",
        "closed",
        "rejected",
        "awaiting_response",
        "with_response",
        "awaiting_debate",
        "debated",
        "not_debated",
    ]


@pytest.mark.parametrize("facet", list(EXPECTED_ORDERS))
def test_each_facet_lists_its_public_petitions_in_the_references_order(hand_built, facet):
    assert _names(browse.petitions_browse(state=facet), hand_built) == EXPECTED_ORDERS[facet]
    assert _names(browse.facet_queryset(facet), hand_built) == EXPECTED_ORDERS[facet]


def test_facet_counts_match_the_lists_in_one_query(hand_built, django_assert_num_queries):
    with django_assert_num_queries(1):
        counts = browse.facet_counts()
    assert list(counts) == list(browse.FACET_SLUGS)
    assert counts == {facet: len(names) for facet, names in EXPECTED_ORDERS.items()}


def test_the_page_shows_every_facet_with_its_count_in_order(client, hand_built):
    html = client.get("/petitions").content.decode()
    found = re.findall(r'data-facet="(\w+)">.*?data-count>\(([\d,]+)\)', html)
    assert found == [(facet, str(len(names))) for facet, names in EXPECTED_ORDERS.items()]


@pytest.mark.parametrize("facet", ["awaiting_response", "debated", "rejected"])
def test_the_page_lists_a_facets_petitions_in_order(client, hand_built, facet):
    response = client.get("/petitions", {"state": facet})
    assert response.status_code == 200
    listed = [
        int(pk) for pk in re.findall(r'<li class="[^"]*" data-petition="(\d+)"', response.content.decode())
    ]
    assert listed == [hand_built[name].pk for name in EXPECTED_ORDERS[facet]]
    assert (
        f'data-facet="{facet}"><a class="govuk-link govuk-link--no-visited-state govuk-!-font-weight-bold"'
        in (response.content.decode())
    )


def test_rows_show_the_facets_status(client, hand_built):
    html = client.get("/petitions", {"state": "awaiting_response"}).content.decode()
    assert "Waiting 4" in html and "for a government response" in html
    html = client.get("/petitions", {"state": "with_response"}).content.decode()
    assert "Government responded on" in html
    html = client.get("/petitions", {"state": "debated"}).content.decode()
    assert "Debated in Parliament on 10 March 2025" in html
    html = client.get("/petitions", {"state": "closed"}).content.decode()
    assert "Closed on" in html


@pytest.mark.parametrize("state", ["nonsense", "", "ALL", "x" * 5000, "hidden", "pending"])
def test_an_unknown_facet_falls_back_to_all_without_an_error(client, hand_built, state):
    response = client.get("/petitions", {"state": state})
    assert response.status_code == 200
    html = response.content.decode()
    assert "There is a problem" not in html
    assert "of 11 petitions" in html
    assert browse.petitions_browse(state=state).count() == 11


def test_topic_and_department_filter_the_list_and_the_counts(client, hand_built):
    health = Topic.objects.create(code="health", name="Health")
    Topic.objects.create(code="transport", name="Transport")
    dhsc = Department.objects.create(acronym="DHSC", name="Department of Health and Social Care")
    hand_built["open_small"].topics.add(health)
    hand_built["closed_debated_new"].topics.add(health)
    hand_built["closed_debated_new"].departments.add(dhsc)
    hand_built["open_big_new"].departments.add(dhsc)

    html = client.get("/petitions", {"topic": "health"}).content.decode()
    assert "of 2 petitions" in html and 'data-facet="closed">' in html
    assert set(map(int, re.findall(r'data-petition="(\d+)"', html))) == {
        hand_built["open_small"].pk,
        hand_built["closed_debated_new"].pk,
    }
    counts = browse.facet_counts(topic=health)
    assert counts["all"] == 2 and counts["open"] == 1 and counts["debated"] == 1 and counts["rejected"] == 0
    # Acronyms in any case; both filters together.
    html = client.get("/petitions", {"department": "dhsc", "topic": "health"}).content.decode()
    assert re.findall(r'data-petition="(\d+)"', html) == [str(hand_built["closed_debated_new"].pk)]
    # The string forms that /petitions.json passes on.
    assert list(browse.petitions_browse(state="open", department="dhsc")) == [hand_built["open_big_new"]]
    assert browse.petitions_browse(state="all", topic="health").count() == 2


def test_a_petition_in_several_topics_is_listed_once(hand_built):
    petition = hand_built["open_small"]
    for code in ("a", "b", "c"):
        petition.topics.add(Topic.objects.create(code=code, name=code.upper()))
    assert browse.petitions_browse(state="all").count() == 11
    assert browse.facet_counts()["all"] == 11


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"topic": "no-such-topic"}, "Choose a topic from the list"),
        ({"department": "XYZ"}, "Choose a government department from the list"),
        ({"topic": "<script>alert(1)</script>"}, "Choose a topic from the list"),
    ],
)
def test_bad_filters_get_a_govuk_error_summary_and_are_left_out(client, hand_built, params, message):
    Topic.objects.create(code="health", name="Health")
    response = client.get("/petitions", params)
    assert response.status_code == 200
    html = response.content.decode()
    assert "govuk-error-summary" in html and message in html
    assert "<title>Error:" in html
    assert "<script>alert(1)</script>" not in html
    assert "of 11 petitions" in html


def test_a_10kb_query_gets_a_form_error_never_a_500(client, hand_built):
    response = client.get("/petitions", {"q": "vaccines " * 1200})
    assert response.status_code == 200
    html = response.content.decode()
    assert "govuk-error-summary" in html
    assert "Search terms must be 255 characters or fewer" in html
    assert client.get("/petitions.csv", {"q": "x" * 10_000}).status_code == 400


@pytest.mark.parametrize("path", ["/petitions", "/petitions.csv", "/petitions/local"])
def test_a_nul_laden_query_gets_a_readable_400(client, path):
    response = client.get(path, {"q": "clim\x00ate\x00\x00change\x00\x00\x00", "postcode": "SW1A\x001AA"})
    assert response.status_code == 400
    assert "invalid characters" in response.content.decode()


@pytest.mark.parametrize("page", ["abc", "-1", "0", "99999999999999999999999", "2.5", "1e3"])
def test_a_bad_page_number_shows_a_page(client, hand_built, page):
    response = client.get("/petitions", {"page": page})
    assert response.status_code == 200
    assert 'data-petition="' in response.content.decode()


def test_fifty_a_page_and_pagination_keeps_the_query_and_facet(client):
    for n in range(PETITIONS_PER_PAGE + 5):
        _petition(action=f"Protect hedgehogs {n}", signature_count=n)
    _petition(action="Something else")
    response = client.get("/petitions", {"q": "hedgehogs", "state": "open"})
    html = response.content.decode()
    assert len(re.findall(r'<li class="[^"]*" data-petition="', html)) == PETITIONS_PER_PAGE
    assert "of 55 petitions" in html
    assert "?q=hedgehogs&amp;state=open&amp;page=2" in html
    second = client.get("/petitions", {"q": "hedgehogs", "state": "open", "page": 2}).content.decode()
    assert len(re.findall(r'<li class="[^"]*" data-petition="', second)) == 5
    assert 'start="51"' in second


def test_a_number_that_is_a_public_petition_opens_it(client, hand_built):
    petition = hand_built["closed_debated_new"]
    response = client.get("/petitions", {"q": f" {petition.pk} "})
    assert response.status_code == 302
    assert response["Location"] == f"/petitions/{petition.pk}"


def test_a_number_that_is_not_a_public_petition_is_searched_for(client, hand_built):
    hidden = _petition(PetitionState.HIDDEN)
    _petition(action="Build 4000000 homes")
    for q in (str(hidden.pk), "4000000", "99999999999999999999999999"):
        response = client.get("/petitions", {"q": q})
        assert response.status_code == 200, q
    assert "Build 4000000 homes" in client.get("/petitions", {"q": "4000000"}).content.decode()


def _rows(html: str) -> int:
    return len(re.findall(r'<li class="[^"]*" data-petition="', html))


@pytest.mark.parametrize(
    "params", [{}, {"state": "open", "q": "thing"}, {"topic": "health", "department": "dhsc"}]
)
def test_the_page_makes_a_fixed_number_of_queries_whatever_its_size(
    client, django_assert_num_queries, params
):
    SiteSettings.load()  # created on first use
    health = Topic.objects.create(code="health", name="Health")
    dhsc = Department.objects.create(acronym="DHSC", name="Department of Health and Social Care")
    # site notices, topics, departments, facet counts (also the page count), the page's rows
    expected = SITE_NOTICES + 4

    def add(n):
        for _ in range(n):
            petition = _petition(action="Do the thing", background="Because.")
            petition.topics.add(health)
            petition.departments.add(dhsc)

    add(2)
    with django_assert_num_queries(expected):
        response = client.get("/petitions", params)
    assert _rows(response.content.decode()) == 2
    add(PETITIONS_PER_PAGE + 10)
    with django_assert_num_queries(expected):
        response = client.get("/petitions", params)
    assert _rows(response.content.decode()) == PETITIONS_PER_PAGE


# --- CSV -----------------------------------------------------------------------------------------------------------


def _csv(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == 'attachment; filename="filtered-petitions.csv"'
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_csv_has_the_references_columns_and_the_pages_rows_in_order(client, hand_built, settings):
    settings.SITE_URL = "https://petitions.example"
    rows = _csv(client.get("/petitions.csv", {"state": "with_response"}))
    assert rows[0] == CSV_HEADER == ["Petition", "URL", "State", "Signatures Count"]
    expected = [hand_built[name] for name in EXPECTED_ORDERS["with_response"]]
    assert rows[1:] == [
        [p.action, f"https://petitions.example/petitions/{p.pk}", p.state, str(p.signature_count)]
        for p in expected
    ]
    page = client.get("/petitions", {"state": "with_response"}).content.decode()
    assert [int(pk) for pk in re.findall(r'<li class="[^"]*" data-petition="(\d+)"', page)] == [
        p.pk for p in expected
    ]


def test_csv_keeps_the_search_and_filters_and_the_page_links_to_it(client, hand_built):
    _petition(action="Ban fireworks sales", signature_count=7)
    _petition(PetitionState.CLOSED, action="Ban fireworks displays", signature_count=3)
    html = client.get("/petitions", {"q": "fireworks", "state": "open"}).content.decode()
    assert 'href="/petitions.csv?q=fireworks&amp;state=open"' in html
    assert 'href="/petitions.json?q=fireworks&amp;state=open"' in html
    rows = _csv(client.get("/petitions.csv", {"q": "fireworks", "state": "open"}))
    assert [row[0] for row in rows[1:]] == ["Ban fireworks sales"]


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_csv_cells_cannot_run_as_formulas(client, start):
    _petition(action=f'{start}HYPERLINK("https://evil.example")', signature_count=3)
    rows = _csv(client.get("/petitions.csv"))
    assert rows[1][0] == f'\'{start}HYPERLINK("https://evil.example")'
    for row in rows[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))


def test_csv_stops_at_its_limit(client, monkeypatch):
    monkeypatch.setattr("petitions.views_browse.CSV_LIMIT", 3)
    for n in range(5):
        _petition(signature_count=n)
    rows = _csv(client.get("/petitions.csv"))
    assert [int(row[3]) for row in rows[1:]] == [4, 3, 2]
    assert CSV_LIMIT == 10_000


def test_csv_with_a_bad_filter_is_a_400_listing_it(client):
    response = client.get("/petitions.csv", {"topic": "nope"})
    assert response.status_code == 400
    assert "Choose a topic from the list" in response.content.decode()


def test_csv_makes_a_fixed_number_of_queries(client, django_assert_num_queries):
    for n in range(3):
        _petition(signature_count=n)
    with django_assert_num_queries(3):  # topics, departments, rows
        assert len(_csv(client.get("/petitions.csv"))) == 4
    for n in range(60):
        _petition(signature_count=n)
    with django_assert_num_queries(3):
        assert len(_csv(client.get("/petitions.csv"))) == 64


# --- Privacy ---------------------------------------------------------------------------------------------------------


def test_no_signer_data_on_the_page_or_in_the_csv(client):
    petition = _petition(action="Plant more trees", signature_count=2)
    signatures = ValidatedSignatureFactory.create_batch(
        2, petition=petition, ip_address="203.0.113.7", name="Zebedee Quux"
    )
    text = client.get("/petitions").content.decode()
    text += client.get("/petitions.csv").content.decode()
    text += client.get("/petitions", {"q": "trees"}).content.decode()
    assert "Plant more trees" in text
    for signature in signatures:
        assert signature.email not in text
        assert signature.postcode not in text
    assert "203.0.113.7" not in text and "Zebedee" not in text


# --- Local petitions --------------------------------------------------------------------------------------------------


def _local_setup():
    place = Constituency.objects.get(gss_code=postcodes.lookup("SW1A 1AA").gss_code)
    elsewhere = Constituency.objects.exclude(pk=place.pk).order_by("gss_code").first()
    top = _petition(action="Most signed here", signature_count=1000)
    second = _petition(action="Second here", signature_count=50_000)
    closed = _petition(PetitionState.CLOSED, action="Closed but signed here", signature_count=400)
    rejected = _petition(PetitionState.REJECTED, action="Rejected here")
    hidden = _petition(PetitionState.HIDDEN, action="Hidden here")
    only_elsewhere = _petition(action="Only elsewhere", signature_count=9000)
    for petition, count in ((top, 700), (second, 30), (closed, 900), (rejected, 5), (hidden, 9999)):
        ConstituencyPetitionJournal.objects.create(
            petition=petition, constituency=place, signature_count=count
        )
    ConstituencyPetitionJournal.objects.create(
        petition=only_elsewhere, constituency=elsewhere, signature_count=9000
    )
    return place, [top, second, closed, rejected]


def test_local_without_a_postcode_shows_the_form(client):
    response = client.get("/petitions/local")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="postcode"' in html and "govuk-error-summary" not in html


def test_local_lists_open_petitions_most_signed_in_the_constituency(client, django_assert_num_queries):
    SiteSettings.load()  # created on first use
    place, (top, second, closed, rejected) = _local_setup()
    # site notices, the constituency, the ranking
    with django_assert_num_queries(SITE_NOTICES + 2):
        response = client.get("/petitions/local", {"postcode": "sw1a1aa"})
    html = response.content.decode()
    assert response.status_code == 200
    assert f"Petitions popular in {place.name}" in html
    assert [int(pk) for pk in re.findall(r'<tr class="govuk-table__row" data-petition="(\d+)"', html)] == [
        top.pk,
        second.pk,
    ]
    assert f'href="/constituencies/{place.gss_code}"' in html
    assert "SW1A 1AA is in" in html
    assert "Only elsewhere" not in html and "Hidden here" not in html

    html = client.get("/petitions/local", {"postcode": "SW1A 1AA", "state": "all"}).content.decode()
    assert [int(pk) for pk in re.findall(r'<tr class="govuk-table__row" data-petition="(\d+)"', html)] == [
        closed.pk,
        top.pk,
        second.pk,
        rejected.pk,
    ]


@pytest.mark.parametrize(
    ("postcode", "message"),
    [
        ("BT1 1AA", "Northern Ireland"),
        ("not a postcode", "Enter a real UK postcode"),
        ("BFPO 1234", "British Forces"),
        ("GIR 0AA", "find a constituency for this postcode"),
        ("", "Enter a postcode"),
        ("SW1A 1AA" * 100, "Enter a real UK postcode"),
    ],
)
def test_local_with_a_bad_postcode_gets_a_form_error(client, postcode, message):
    response = client.get("/petitions/local", {"postcode": postcode})
    assert response.status_code == 200
    html = response.content.decode()
    assert "govuk-error-summary" in html and message in html
