"""/debates: every filter alone and combined against hand-computed lists, sorting, pages, the same rows as CSV
and JSON, fixed query counts, bad input and private petitions."""

import csv
import io
import json
import re
from datetime import UTC, datetime

import pytest
import time_machine
from django.urls import reverse

from debates.models import EventKind, Outcome, ParliamentaryEvent
from petitions.models import (
    Constituency,
    ConstituencyPetitionJournal,
    DebateState,
    Department,
    PetitionState,
    ResponseState,
    SiteSettings,
)
from tests.conftest import SITE_NOTICES
from tests.factories import ClosedPetitionFactory, OpenPetitionFactory, PetitionFactory

pytestmark = pytest.mark.django_db

#: Wednesday 15 March 2023, midday: GMT, so London time is UTC.
NOW = datetime(2023, 3, 15, 12, 0, tzinfo=UTC)
ALDERSHOT = "E14001063"


def _utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def _event(*, petitions=(), **fields) -> ParliamentaryEvent:
    fields.setdefault("kind", EventKind.WESTMINSTER_HALL_DEBATE)
    fields.setdefault("title", "A debate")
    event = ParliamentaryEvent.objects.create(**fields)
    event.petitions.add(*petitions)
    return event


def _journal(petition, constituency, count):
    ConstituencyPetitionJournal.objects.create(
        petition=petition, constituency=constituency, signature_count=count
    )


def _ids(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'id="event-(\d+)-title"', html)]


def _page(client, query: str = "") -> tuple[int, str]:
    response = client.get(f"/debates{query}")
    return response.status_code, re.sub(r"\s+", " ", response.content.decode())


def _csv_rows(client, query: str = "") -> list[dict]:
    response = client.get(f"/debates.csv{query}")
    assert response.status_code == 200, response.content
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def _json(client, query: str = "") -> dict:
    response = client.get(f"/debates.json{query}")
    assert response.status_code == 200, response.content
    return json.loads(response.content)


@pytest.fixture
def world():
    """Six events around NOW, five petitions (one hidden), two departments and two constituencies."""
    dfe = Department.objects.create(acronym="DFE", name="Department for Education")
    dhsc = Department.objects.create(acronym="DHSC", name="Department of Health and Social Care")
    aldershot = Constituency.objects.get(gss_code=ALDERSHOT)
    other = Constituency.objects.exclude(gss_code=ALDERSHOT).order_by("gss_code").first()
    big = OpenPetitionFactory(
        action="Fund SEND provision properly",
        signature_count=150_000,
        response_state=ResponseState.RESPONDED,
        debate_state=DebateState.SCHEDULED,
    )
    closed = ClosedPetitionFactory(
        action="Protect river water quality",
        signature_count=12_000,
        response_state=ResponseState.AWAITING,
        debate_state=DebateState.DEBATED,
    )
    small = OpenPetitionFactory(
        action="Keep libraries open late", signature_count=500, debate_state=DebateState.NOT_DEBATED
    )
    hidden = PetitionFactory(
        state=PetitionState.HIDDEN,
        action="Secret hidden petition",
        signature_count=900_000,
        debate_state=DebateState.NOT_DEBATED,
        response_state=ResponseState.RESPONDED,
    )
    rejected = PetitionFactory(state=PetitionState.REJECTED, action="Rejected idea", signature_count=3)
    _journal(hidden, aldershot, 5000)
    _journal(small, aldershot, 40)
    _journal(closed, aldershot, 10)
    _journal(big, other, 100)
    e = {
        "e1": _event(
            title="SEND workforce",
            kind=EventKind.WESTMINSTER_HALL_DEBATE,
            starts_at=_utc(2023, 3, 22, 14, 30),
            place="Westminster Hall",
            lead_mp_name="Geraint Davies MP",
            department=dfe,
            petitions=[big],
        ),
        "e2": _event(
            title="Statement on special needs",
            kind=EventKind.MINISTERIAL_STATEMENT,
            starts_at=_utc(2023, 3, 6, 15, 0),
            department=dfe,
            petitions=[big, closed],
        ),
        "e3": _event(
            title="Rivers and sewage",
            kind=EventKind.BACKBENCH_BUSINESS_DEBATE,
            starts_at=_utc(2023, 1, 11, 13, 0),
            department=dhsc,
            petitions=[closed, rejected],
        ),
        "e4": _event(
            title="Evidence session",
            kind=EventKind.SELECT_COMMITTEE_SESSION,
            starts_at=_utc(2023, 4, 18, 9, 0),
            petitions=[hidden],
        ),
        "e5": _event(
            title="Libraries",
            kind=EventKind.CHAMBER_DEBATE,
            starts_at=_utc(2023, 3, 15, 23, 30),
            department=dhsc,
            petitions=[small],
        ),
        "e6": _event(
            title="Call for evidence on buses",
            kind=EventKind.CALL_FOR_EVIDENCE,
            starts_at=_utc(2023, 3, 15, 0, 0),
            summary="Tell the committee about your bus route.",
        ),
    }
    e["petitions"] = {"big": big, "closed": closed, "small": small, "hidden": hidden, "rejected": rejected}
    e["other"] = other
    return e


def _names(world, ids: list[int]) -> list[str]:
    by_pk = {event.pk: name for name, event in world.items() if isinstance(event, ParliamentaryEvent)}
    return [by_pk[pk] for pk in ids]


def _listed(client, world, query: str = "") -> list[str]:
    status, html = _page(client, query)
    assert status == 200
    assert "There is a problem" not in html, html
    return _names(world, _ids(html))


# --- Filters alone and combined ----------------------------------------------------------------------------------

DEFAULT = ["e5", "e1", "e4", "e6", "e2", "e3"]


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", DEFAULT),
        ("?when=all", DEFAULT),
        ("?when=upcoming", ["e5", "e1", "e4"]),
        ("?when=past", ["e6", "e2", "e3"]),
        ("?type=westminster_hall_debate", ["e1"]),
        ("?type=westminster_hall", ["e1"]),
        ("?type=ministerial_statement&type=chamber_debate", ["e5", "e2"]),
        ("?from=2023-03-15", ["e5", "e1", "e4", "e6"]),
        ("?to=2023-03-15", ["e5", "e6", "e2", "e3"]),
        ("?from=15/3/2023&to=15/03/2023", ["e5", "e6"]),
        ("?from=2023-03-16&to=2023-04-30", ["e1", "e4"]),
        ("?department=DFE", ["e1", "e2"]),
        ("?department=DHSC", ["e5", "e3"]),
        ("?petition_state=open", ["e5", "e1", "e2"]),
        ("?petition_state=closed", ["e2", "e3"]),
        ("?petition_state=awaiting_response", ["e2", "e3"]),
        ("?petition_state=with_response", ["e1", "e2"]),
        ("?petition_state=awaiting_debate", ["e1", "e2"]),
        ("?petition_state=debated", ["e2", "e3"]),
        ("?petition_state=not_debated", ["e5"]),
        ("?min_signatures=10000", ["e1", "e2", "e3"]),
        ("?min_signatures=10,000", ["e1", "e2", "e3"]),
        ("?min_signatures=100000", ["e1", "e2"]),
        ("?min_signatures=600000", []),
        ("?min_signatures=0", ["e5", "e1", "e2", "e3"]),
        (f"?constituency={ALDERSHOT}", ["e5", "e2", "e3"]),
        (f"?constituency={ALDERSHOT.lower()}", ["e5", "e2", "e3"]),
        ("?text=send", ["e1", "e2"]),
        ("?text=workforce+SEND", ["e1"]),
        ("?text=bus+route", ["e6"]),
        ("?text=hidden", []),
        ("?text=rejected", ["e3"]),
        ("?text=%25", []),
        # Combined.
        ("?when=past&department=DFE&min_signatures=10000", ["e2"]),
        (f"?constituency={ALDERSHOT}&petition_state=open", ["e5"]),
        (f"?constituency={ALDERSHOT}&when=past&type=backbench_business_debate", ["e3"]),
        ("?petition_state=closed&min_signatures=100000", []),  # no single petition is both
        ("?petition_state=open&min_signatures=100000&from=2023-03-01&to=2023-03-31", ["e1", "e2"]),
        ("?text=send&when=upcoming&type=westminster_hall_debate&department=DFE", ["e1"]),
    ],
)
def test_filters_alone_and_combined(client, world, query, expected):
    assert _listed(client, world, query) == expected


@time_machine.travel(NOW, tick=False)
def test_constituency_filter_keeps_only_its_50_most_signed_public_petitions(client, world):
    aldershot = Constituency.objects.get(gss_code=ALDERSHOT)
    # 49 more public petitions signed more in Aldershot than "closed" (10) but fewer than "small" (40): small
    # stays in the top 50 and closed drops out; the hidden petition (5000) never counts.
    for n in range(49):
        _journal(ClosedPetitionFactory(signature_count=20), aldershot, 11 + n % 20)
    assert _listed(client, world, f"?constituency={ALDERSHOT}") == ["e5"]
    # A tie at the 50th place goes to the older petition: one more with 10 signatures comes after "closed".
    _journal(ClosedPetitionFactory(signature_count=20), aldershot, 10)
    ConstituencyPetitionJournal.objects.filter(
        constituency=aldershot, signature_count__range=(11, 30)
    ).first().delete()
    assert _listed(client, world, f"?constituency={ALDERSHOT}") == ["e5", "e2", "e3"]


@time_machine.travel(NOW, tick=False)
def test_date_range_uses_london_days_in_summer_time(client, world):
    # 00:30 on Tuesday 18 April in London is 23:30 on Monday 17 April in UTC.
    late = _event(title="Just after midnight", starts_at=_utc(2023, 4, 17, 23, 30))
    assert late.pk in _ids(_page(client, "?from=2023-04-18&to=2023-04-18")[1])
    assert late.pk not in _ids(_page(client, "?to=2023-04-17")[1])
    assert late.pk not in _ids(_page(client, "?from=2023-04-19")[1])


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("soonest", DEFAULT),
        ("date_asc", ["e3", "e2", "e6", "e5", "e1", "e4"]),
        ("date_desc", ["e4", "e1", "e5", "e6", "e2", "e3"]),
        # Most signed public petition: e1 and e2 150,000 (later first), e3 12,000, e5 500, e4 and e6 none.
        ("signatures", ["e1", "e2", "e3", "e5", "e4", "e6"]),
    ],
)
def test_sorting(client, world, sort, expected):
    assert _listed(client, world, f"?sort={sort}") == expected
    assert _listed(client, world, f"?sort={sort}&when=past") == [
        n for n in expected if n in ("e2", "e3", "e6")
    ]


# --- What the page shows ---------------------------------------------------------------------------------------


@time_machine.travel(NOW, tick=False)
def test_each_event_shows_its_details_and_public_petitions(client, world):
    world["e1"].lead_mp = Constituency.objects.get(gss_code=ALDERSHOT)
    world["e1"].lead_mp_name = ""
    world["e1"].save()
    status, html = _page(client)
    assert status == 200
    e1 = world["e1"]
    assert f'<a class="govuk-link" href="/debates/{e1.pk}">SEND workforce</a>' in html
    assert "Westminster Hall debate" in html
    assert "Wednesday 22 March 2023 at 2.30pm" in html
    assert "Westminster Hall</dd>" in html
    assert "Alex Baker MP" in html
    assert "Department for Education" in html
    assert f'href="/petitions/{world["petitions"]["big"].pk}">Fund SEND provision properly</a>' in html
    assert "150,000 signatures" in html
    assert "Wednesday 15 March 2023 at 11.30pm" in html  # e5
    assert "Wednesday 15 March 2023 at midnight" in html  # e6
    # Summer time: 09:00 UTC on 18 April is 10am in London.
    assert "Tuesday 18 April 2023 at 10am" in html
    _, html = _page(client, f"?constituency={ALDERSHOT}")
    assert "Events on the 50 petitions most signed in <strong>Aldershot</strong>" in html
    assert "500 signatures, 40 from Aldershot" in html
    assert "12,000 signatures, 10 from Aldershot" in html


@time_machine.travel(NOW, tick=False)
def test_outcomes_are_shown(client, world):
    e3 = world["e3"]
    e3.outcome, e3.outcome_reason = Outcome.NOT_DEBATED, "The House rose early."
    e3.save()
    _, html = _page(client, "?when=past")
    assert "Not debated: The House rose early." in html


@time_machine.travel(NOW, tick=False)
def test_private_petitions_are_never_shown_nor_matched(client, world):
    hidden = world["petitions"]["hidden"]
    for query in ("", "?sort=signatures", f"?constituency={ALDERSHOT}", "?when=upcoming"):
        _, html = _page(client, query)
        assert "Secret hidden petition" not in html
        assert "900,000" not in html and f"/petitions/{hidden.pk}" not in html
        content = client.get(f"/debates.csv{query}").content.decode("utf-8-sig")
        assert "Secret hidden petition" not in content and "900000" not in content
        document = client.get(f"/debates.json{query}").content.decode()
        assert "Secret hidden petition" not in document and "900000" not in document
    # The event itself is public; it just lists no petitions.
    assert "Evidence session" in _page(client)[1]


@time_machine.travel(NOW, tick=False)
def test_hostile_titles_are_escaped(client):
    _event(title="<script>alert(1)</script>", starts_at=NOW, place="<b>Hall</b>")
    _, html = _page(client)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    assert "<b>Hall</b>" not in html


@time_machine.travel(NOW, tick=False)
def test_pagination_keeps_filters(client):
    dfe = Department.objects.create(acronym="DFE", name="Department for Education")
    events = [
        _event(title=f"Debate {n}", starts_at=_utc(2023, 1, 1 + n % 28, 10, n), department=dfe)
        for n in range(60)
    ]
    status, html = _page(client, "?department=DFE&sort=date_asc")
    assert status == 200
    assert "Showing 1 to 25 of 60 events" in html and len(_ids(html)) == 25
    assert 'href="?department=DFE&amp;sort=date_asc&amp;page=2"' in html
    _, html = _page(client, "?department=DFE&sort=date_asc&page=3")
    assert "Showing 51 to 60 of 60 events" in html
    expected = sorted(events, key=lambda e: (e.starts_at, e.pk))[50:]
    assert _ids(html) == [e.pk for e in expected]
    for page in ("abc", "0", "99999999999999999999"):
        assert _page(client, f"?page={page}")[0] == 200


def test_the_page_is_reachable_by_name_and_only_answers_safe_methods(client):
    assert reverse("debates_browse:list") == "/debates"
    assert reverse("debates_browse:list_csv") == "/debates.csv"
    assert reverse("debates_browse:list_json") == "/debates.json"
    for path in ("/debates", "/debates.csv", "/debates.json", "/debates.ics", "/debates.atom"):
        assert client.post(path).status_code == 405
        assert client.head(path).status_code == 200


# --- The same rows as CSV and JSON -----------------------------------------------------------------------------


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize(
    "query",
    ["", "?when=past", f"?constituency={ALDERSHOT}&sort=date_desc", "?sort=signatures&min_signatures=1"],
)
def test_page_csv_and_json_give_the_same_rows(client, world, query):
    page_ids = _ids(_page(client, query)[1])
    assert page_ids
    assert [int(row["id"]) for row in _csv_rows(client, query)] == page_ids
    assert [item["id"] for item in _json(client, query)["data"]] == page_ids


@time_machine.travel(NOW, tick=False)
def test_downloads_hold_every_page(client):
    for n in range(30):
        _event(title=f"Debate {n}", starts_at=_utc(2023, 2, 1, 10, n))
    assert len(_ids(_page(client)[1])) == 25
    assert len(_csv_rows(client)) == 30
    document = _json(client)
    assert len(document["data"]) == 30
    assert document["meta"] == {"count": 30, "limit": 5000, "truncated": False}


@time_machine.travel(NOW, tick=False)
def test_downloads_stop_at_the_documented_limit(client, monkeypatch):
    from debates import views_browse

    monkeypatch.setattr(views_browse, "EXPORT_LIMIT", 3)
    for n in range(5):
        _event(title=f"Debate {n}", starts_at=_utc(2023, 2, 1, 10, n))
    assert len(_csv_rows(client)) == 3
    assert _json(client)["meta"] == {"count": 3, "limit": 3, "truncated": True}


@time_machine.travel(NOW, tick=False)
def test_csv_columns_and_headers(client, world):
    response = client.get("/debates.csv?type=ministerial_statement")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="debates-2023-03-15.csv"'
    assert response["Access-Control-Allow-Origin"] == "*"
    [row] = _csv_rows(client, "?type=ministerial_statement")
    big, closed = world["petitions"]["big"], world["petitions"]["closed"]
    assert row == {
        "id": str(world["e2"].pk),
        "url": f"http://testserver/debates/{world['e2'].pk}",
        "type": "Ministerial statement",
        "title": "Statement on special needs",
        "date": "2023-03-06",
        "time": "15:00",
        "starts_at": "2023-03-06T15:00:00.000Z",
        "place": "",
        "lead": "",
        "department": "Department for Education",
        "outcome": "",
        "petition_ids": f"{big.pk}\n{closed.pk}",
        "petitions": "Fund SEND provision properly\nProtect river water quality",
        "signature_counts": "150000\n12000",
    }


@time_machine.travel(NOW, tick=False)
def test_csv_cells_cannot_run_as_formulas(client):
    petition = OpenPetitionFactory(action='=HYPERLINK("http://evil")', signature_count=5)
    _event(
        title="=1+1",
        place="+44 20",
        lead_mp_name="@SUM(A1)",
        starts_at=NOW,
        petitions=[petition],
    )
    _event(title="-2", place="\tTabbed", lead_mp_name="\rReturn", starts_at=_utc(2023, 3, 16, 10))
    _event(title="Plain title", place="Room 1", starts_at=_utc(2023, 3, 17, 10))
    rows = _csv_rows(client, "?sort=date_asc")
    assert rows[0]["title"] == "'=1+1" and rows[0]["place"] == "'+44 20" and rows[0]["lead"] == "'@SUM(A1)"
    assert rows[0]["petitions"] == '\'=HYPERLINK("http://evil")'
    assert rows[1]["title"] == "'-2" and rows[1]["place"] == "'\tTabbed" and rows[1]["lead"] == "'\rReturn"
    assert rows[2]["title"] == "Plain title" and rows[2]["place"] == "Room 1"
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), row


@time_machine.travel(NOW, tick=False)
def test_json_document(client, world):
    e1 = world["e1"]
    e1.transcript_url = "https://hansard.parliament.uk/commons/2023-03-22/debates/1"
    e1.video_url = "http://not-https.example/video"
    e1.save()
    response = client.get("/debates.json?type=westminster_hall_debate")
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Access-Control-Allow-Origin"] == "*"
    document = json.loads(response.content)
    big = world["petitions"]["big"]
    assert document["links"] == {"self": "http://testserver/debates.json?type=westminster_hall_debate"}
    assert document["data"] == [
        {
            "type": "debate",
            "id": e1.pk,
            "links": {"self": f"http://testserver/debates/{e1.pk}"},
            "attributes": {
                "kind": "westminster_hall_debate",
                "kind_name": "Westminster Hall debate",
                "title": "SEND workforce",
                "summary": "",
                "starts_at": "2023-03-22T14:30:00.000Z",
                "place": "Westminster Hall",
                "lead": "Geraint Davies MP",
                "department": {"acronym": "DFE", "name": "Department for Education"},
                "evidence_deadline": None,
                "outcome": None,
                "outcome_reason": None,
                "outcome_at": None,
                "links": {
                    "more_info_url": "",
                    "evidence_url": "",
                    "transcript_url": "https://hansard.parliament.uk/commons/2023-03-22/debates/1",
                    "video_url": "",
                    "debate_pack_url": "",
                    "public_engagement_url": "",
                    "debate_summary_url": "",
                },
                "petitions": [
                    {
                        "id": big.pk,
                        "action": "Fund SEND provision properly",
                        "signature_count": 150000,
                        "url": f"http://testserver/petitions/{big.pk}",
                    }
                ],
            },
        }
    ]


# --- Queries ---------------------------------------------------------------------------------------------------


def _many_events(count: int, dfe: Department) -> None:
    """`count` events with the same two open petitions, both signed in Aldershot."""
    aldershot = Constituency.objects.get(gss_code=ALDERSHOT)
    petitions = [OpenPetitionFactory(signature_count=n) for n in (5, 50)]
    for petition in petitions:
        _journal(petition, aldershot, 3)
    for n in range(count):
        _event(
            title=f"Debate {n}", starts_at=_utc(2023, 2, 1 + n % 28, 10), department=dfe, petitions=petitions
        )


@time_machine.travel(NOW, tick=False)
def test_the_page_makes_a_fixed_number_of_queries(client, django_assert_num_queries):
    dfe = Department.objects.create(acronym="DFE", name="Department for Education")
    SiteSettings.load()
    # count, page, its public petitions, the department options.
    expected = 4 + SITE_NOTICES
    # + the department and the constituency looked up to validate them, and the page's Aldershot counts.
    filtered = expected + 3
    query = f"?department=DFE&constituency={ALDERSHOT}&sort=signatures&text=debate&petition_state=open"
    _many_events(1, dfe)
    with django_assert_num_queries(expected):
        assert len(_ids(_page(client)[1])) == 1
    with django_assert_num_queries(filtered):
        assert len(_ids(_page(client, query)[1])) == 1
    _many_events(40, dfe)
    with django_assert_num_queries(expected):
        assert len(_ids(_page(client)[1])) == 25
    with django_assert_num_queries(filtered):
        assert len(_ids(_page(client, query)[1])) == 25
    with django_assert_num_queries(filtered):
        assert len(_ids(_page(client, query + "&page=2")[1])) == 16


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize("path", ["/debates.csv", "/debates.json"])
def test_downloads_make_a_fixed_number_of_queries(client, django_assert_num_queries, path):
    dfe = Department.objects.create(acronym="DFE", name="Department for Education")
    _many_events(1, dfe)
    with django_assert_num_queries(2):  # the events, their public petitions
        client.get(path)
    _many_events(60, dfe)
    with django_assert_num_queries(2):
        client.get(path)
    with django_assert_num_queries(3):  # + the department, to validate it
        assert client.get(f"{path}?department=DFE").status_code == 200


# --- Bad input -------------------------------------------------------------------------------------------------

BAD = [
    ("?from=2023-02-30", "Enter the ‘from’ date as a real date, like 21/3/2023"),
    ("?from=yesterday", "Enter the ‘from’ date as a real date, like 21/3/2023"),
    ("?to=31/12/99999", "Enter the ‘to’ date as a real date, like 21/3/2023"),
    ("?to=9999-12-31", "The ‘to’ date must be in 2100 or earlier"),
    ("?from=0001-01-01", "The ‘from’ date must be in 1900 or later"),
    ("?from=2023-03-10&to=2023-03-01", "The ‘to’ date must be the same as or after the ‘from’ date"),
    ("?type=bogus", "Choose types of event from the list"),
    ("?type=westminster_hall_debate&type=%3Cscript%3E", "Choose types of event from the list"),
    ("?when=sometime", "Choose all dates, upcoming or past"),
    ("?petition_state=pending", "Choose a petition status from the list"),
    ("?department=NOPE", "Choose a department from the list"),
    ("?constituency=X99999999", "Enter a constituency’s GSS code, like E14001063"),
    ("?constituency=%3Cscript%3E", "Enter a constituency’s GSS code, like E14001063"),
    ("?min_signatures=lots", "Enter minimum signatures as a whole number, like 10000"),
    ("?min_signatures=1e5", "Enter minimum signatures as a whole number, like 10000"),
    ("?min_signatures=-5", "Minimum signatures must be 0 or more"),
    ("?min_signatures=99999999999999999999999", "Minimum signatures must be 1,000,000,000 or fewer"),
    ("?sort=random", "Choose an order from the list"),
    ("?text=" + "a" * 201, "Search words must be 200 characters or fewer"),
]


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize(("query", "message"), BAD)
def test_bad_values_get_a_clear_message_never_a_500(client, world, query, message):
    status, html = _page(client, query)
    assert status == 200
    assert "<title>Error: Debates and events in Parliament" in html
    assert 'class="govuk-error-summary"' in html and message in html
    assert "<SCRIPT>" not in html and "<script>" not in html.replace('<script src="', "")
    for path in ("/debates.csv", "/debates.ics"):
        response = client.get(path + query)
        assert response.status_code == 400
        assert response["Content-Type"] == "text/plain; charset=utf-8"
        assert message in response.content.decode()
    response = client.get("/debates.json" + query)
    assert response.status_code == 400
    assert message in [error["detail"] for error in json.loads(response.content)["errors"]]


@time_machine.travel(NOW, tick=False)
def test_an_invalid_filter_is_left_out_and_the_valid_ones_still_apply(client, world):
    status, html = _page(client, "?type=bogus&department=DFE&min_signatures=many")
    assert status == 200 and "Choose types of event from the list" in html
    assert _names(world, _ids(html)) == ["e1", "e2"]
    # The valid choice stays selected on the form.
    assert '<option value="DFE" selected>' in html
    # The downloads get the filters the page applied, so they hold the same rows.
    assert 'href="/debates.csv?department=DFE">' in html and 'href="/debates.ics?department=DFE">' in html
    assert 'href="/debates.json?department=DFE">' in html
    _, html = _page(client, "?from=2023-03-10&to=2023-03-01&when=past")
    assert 'href="/debates.csv?from=2023-03-10&amp;when=past">' in html
    assert _names(world, _ids(html)) == ["e6"]


@time_machine.travel(NOW, tick=False)
def test_department_choices_are_those_with_events(client, world):
    Department.objects.create(acronym="MOD", name="Ministry of Defence")
    _, html = _page(client)
    assert '<option value="DFE">Department for Education</option>' in html
    assert "Ministry of Defence" not in html
