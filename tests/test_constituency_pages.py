"""/constituencies (postcode search, list by region), /constituencies/<code> and its JSON: the figures come from
the tally's journals and must equal counts made directly from the signature rows."""

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db.models import Count

from debates import constituency_selectors, views_constituencies
from debates.forms_constituencies import PostcodeSearchForm
from debates.models import EventKind, ParliamentaryEvent
from petitions.models import Constituency, Nation, PetitionState, Signature, SignatureState, SiteSettings
from petitions.services import signatures_tally
from tests.conftest import SITE_NOTICES
from tests.factories import (
    ClosedPetitionFactory,
    InvalidatedSignatureFactory,
    OpenPetitionFactory,
    PendingSignatureFactory,
    PetitionFactory,
    ValidatedSignatureFactory,
)

pytestmark = pytest.mark.django_db

NOW = datetime(2023, 3, 20, 12, 0, tzinfo=UTC)
SW1A = "E14001172"  # Cities of London and Westminster: SW1A 1AA's constituency

ROW = re.compile(
    r'data-petition="(\d+)">.*?data-constituency-count>([\d,]+)<.*?data-total>([\d,]+)<.*?data-share>([^<]*)<',
    re.S,
)


def _constituencies(n: int) -> list[Constituency]:
    return list(Constituency.objects.exclude(nation=Nation.NORTHERN_IRELAND).order_by("gss_code")[:n])


def _sign(petition, constituency, n: int) -> None:
    ValidatedSignatureFactory.create_batch(n, petition=petition, constituency=constituency)


def _get(client, url: str):
    response = client.get(url)
    return response, re.sub(r"\s+", " ", response.content.decode())


def _rows(html: str) -> list[tuple[int, int, int, str]]:
    return [
        (int(pk), int(c.replace(",", "")), int(t.replace(",", "")), s) for pk, c, t, s in ROW.findall(html)
    ]


def _share(part: int, total: int) -> str:
    tenths = (2000 * part + total) // (2 * total)  # one decimal, rounded half up, in integers
    return f"{tenths // 10}.{tenths % 10}%"


def _direct_counts(constituency) -> dict[int, tuple[int, int]]:
    """{petition id: (validated signatures from the constituency, validated signatures in all)} from the rows."""
    validated = Signature.objects.filter(state=SignatureState.VALIDATED)
    totals = dict(validated.values("petition_id").annotate(n=Count("pk")).values_list("petition_id", "n"))
    local = (
        validated.filter(constituency=constituency)
        .values("petition_id")
        .annotate(n=Count("pk"))
        .values_list("petition_id", "n")
    )
    return {pk: (n, totals[pk]) for pk, n in local}


@pytest.fixture
def place():
    """Three constituencies and a spread of petitions signed in them (validated, plus rows that must not count)."""
    here, there, elsewhere = _constituencies(3)
    open_a, open_b, open_c = OpenPetitionFactory(), OpenPetitionFactory(), OpenPetitionFactory()
    closed = ClosedPetitionFactory()
    rejected = PetitionFactory(state=PetitionState.REJECTED)
    hidden = PetitionFactory(state=PetitionState.HIDDEN)
    _sign(open_a, here, 2)
    _sign(open_a, there, 4)
    _sign(open_b, here, 5)
    _sign(open_b, elsewhere, 1)
    _sign(open_c, here, 2)
    _sign(open_c, there, 1)
    _sign(closed, here, 7)
    _sign(closed, there, 2)
    _sign(rejected, here, 1)
    _sign(hidden, here, 9)
    PendingSignatureFactory.create_batch(3, petition=open_a, constituency=here)
    InvalidatedSignatureFactory.create_batch(2, petition=open_c, constituency=here)
    signatures_tally()
    return {
        "here": here,
        "there": there,
        "open": [open_b, open_a, open_c],
        "closed": closed,
        "rejected": rejected,
        "hidden": hidden,
    }


# --- The figures and the ranking -----------------------------------------------------------------------------------


def test_page_figures_equal_counts_from_the_signature_rows(client, place):
    here = place["here"]
    response, html = _get(client, f"/constituencies/{here.gss_code}?state=all")
    assert response.status_code == 200
    rows = _rows(html)
    direct = _direct_counts(here)
    del direct[place["hidden"].pk]  # signed here, but not public
    assert {pk: (local, total) for pk, local, total, _share_text in rows} == direct
    for _pk, local, total, share_text in rows:
        assert share_text == _share(local, total)
    # Hand-checked too: 2 of 6 is 33.3%, 5 of 6 is 83.3%, 2 of 3 is 66.7%, 7 of 9 is 77.8%, 1 of 1 is 100.0%.
    assert sorted(share for *_rest, share in rows) == ["100.0%", "33.3%", "66.7%", "77.8%", "83.3%"]


def test_ranking_is_by_signatures_from_the_constituency_then_petition_id(client, place):
    _response, html = _get(client, f"/constituencies/{place['here'].gss_code}?state=all")
    open_b, open_a, open_c = place["open"]
    assert open_a.pk < open_c.pk
    assert [pk for pk, *_ in _rows(html)] == [
        place["closed"].pk,  # 7 from here
        open_b.pk,  # 5
        open_a.pk,  # 2 (6 in all), tied with open_c: the lower id first
        open_c.pk,  # 2 (3 in all)
        place["rejected"].pk,  # 1
    ]
    # Another constituency ranks differently: counts are per constituency.
    _response, html = _get(client, f"/constituencies/{place['there'].gss_code}?state=all")
    assert [(pk, local) for pk, local, *_ in _rows(html)] == [
        (open_a.pk, 4),
        (place["closed"].pk, 2),
        (open_c.pk, 1),
    ]


def test_open_petitions_by_default_all_public_ones_on_request(client, place):
    code = place["here"].gss_code
    open_ids = [p.pk for p in place["open"]]
    open_b, open_a, open_c = place["open"]
    _response, html = _get(client, f"/constituencies/{code}")
    assert [pk for pk, *_ in _rows(html)] == [open_b.pk, open_a.pk, open_c.pk]
    assert "Showing 1 to 3 of 3 open petitions" in html
    assert _get(client, f"/constituencies/{code}?state=open")[1].count("data-petition=") == 3
    _response, html = _get(client, f"/constituencies/{code}?state=all")
    ids = {pk for pk, *_ in _rows(html)}
    assert ids == {*open_ids, place["closed"].pk, place["rejected"].pk}
    assert place["hidden"].pk not in ids and place["hidden"].action not in html


@pytest.mark.parametrize("state", ["bogus", "OPEN", "all" * 50])
def test_a_bad_filter_is_reported_and_open_petitions_shown(client, place, state):
    response = client.get(f"/constituencies/{place['here'].gss_code}", {"state": state})
    html = re.sub(r"\s+", " ", response.content.decode())
    assert response.status_code == 200
    assert "Choose open petitions or all petitions" in html and "<title>Error: " in html
    assert len(_rows(html)) == 3


def test_pages_of_fifty(client):
    here = _constituencies(1)[0]
    petitions = [OpenPetitionFactory() for _ in range(53)]
    for i, petition in enumerate(petitions):
        _sign(petition, here, 1 + i % 4)
    signatures_tally()
    _response, first = _get(client, f"/constituencies/{here.gss_code}")
    _response, second = _get(client, f"/constituencies/{here.gss_code}?page=2")
    assert len(_rows(first)) == 50 and len(_rows(second)) == 3
    assert "Showing 51 to 53 of 53 open petitions" in second
    every = _rows(first) + _rows(second)
    assert len({pk for pk, *_ in every}) == 53
    assert [local for _pk, local, *_ in every] == sorted((local for _pk, local, *_ in every), reverse=True)
    assert _get(client, f"/constituencies/{here.gss_code}?page=abc")[0].status_code == 200


def test_a_constituency_nobody_signed_in(client):
    here = _constituencies(1)[0]
    response, html = _get(client, f"/constituencies/{here.gss_code}")
    assert response.status_code == 200
    assert "No open petitions have been signed in" in html
    assert "No debates are coming up" in html


def test_mp_party_and_links(client, place):
    here = place["here"]
    Constituency.objects.filter(pk=here.pk).update(
        mp_name="Jo Bloggs", party="Labour", party_colour="#d50000"
    )
    _response, html = _get(client, f"/constituencies/{here.gss_code}")
    assert here.name in html and here.region.name in html
    assert "Jo Bloggs" in html and "Labour" in html and 'fill="#d50000"' in html
    assert f'href="/debates?constituency={here.gss_code}"' in html
    assert f'href="/debates.ics?constituency={here.gss_code}"' in html
    assert f'href="/constituencies/{here.gss_code}.json"' in html
    # A colour that is not a plain #rrggbb never reaches the SVG.
    Constituency.objects.filter(pk=here.pk).update(party_colour='#"<x>"')
    _response, html = _get(client, f"/constituencies/{here.gss_code}")
    assert "<x>" not in html and "<svg" not in html.split("Party", 1)[1].split("</dd>", 1)[0]


# --- Upcoming debates -------------------------------------------------------------------------------------------------


def _event(petitions, starts_at, title):
    event = ParliamentaryEvent.objects.create(
        kind=EventKind.WESTMINSTER_HALL_DEBATE, title=title, starts_at=starts_at
    )
    event.petitions.add(*petitions)
    return event


@time_machine.travel(NOW, tick=False)
def test_upcoming_debates_are_future_events_on_the_most_signed_petitions(client, place, monkeypatch):
    open_b, open_a, open_c = place["open"]
    closed, rejected, hidden = place["closed"], place["rejected"], place["hidden"]
    later = _event([open_b, closed], NOW + timedelta(days=9), "Later debate")
    soon = _event([open_a], NOW + timedelta(days=2), "Soon debate")
    starting_now = _event([closed], NOW, "Starting now")
    _event([open_a, open_b], NOW - timedelta(seconds=1), "Past debate")
    _event([hidden], NOW + timedelta(days=1), "Hidden petition debate")
    _event([OpenPetitionFactory()], NOW + timedelta(days=1), "Nobody here signed")
    _event([rejected], NOW + timedelta(days=3), "Outside the top")
    monkeypatch.setattr(constituency_selectors, "UPCOMING_PETITIONS", 4)  # rejected is fifth here
    _response, html = _get(client, f"/constituencies/{place['here'].gss_code}")
    listed = [int(pk) for pk in re.findall(r'data-event="(\d+)"', html)]
    assert listed == [starting_now.pk, soon.pk, later.pk]
    assert (
        "Past debate" not in html and "Hidden petition debate" not in html and "Outside the top" not in html
    )
    # With its date and time in London (GMT in March until the 26th), and its petitions from the top list.
    assert "midday on Monday 20 March 2023" in html
    assert "1pm on Wednesday 29 March 2023" in html  # British Summer Time from 26 March
    section = html.split(f'data-event="{later.pk}"', 1)[1].split("</li>", 1)[0]
    assert open_b.action in section and closed.action in section
    # The filter does not change them: a closed petition is often debated after it closes.
    _response, html_all = _get(client, f"/constituencies/{place['here'].gss_code}?state=all")
    assert re.findall(r'data-event="(\d+)"', html_all) == [str(pk) for pk in listed]


# --- Postcode search and the list ------------------------------------------------------------------------------------


def test_the_list_shows_every_constituency_by_region(client):
    response, html = _get(client, "/constituencies")
    assert response.status_code == 200
    assert html.count('href="/constituencies/') == Constituency.objects.count() == 650
    assert html.index(">North East<") < html.index(">Wales<") < html.index(">Northern Ireland<")
    assert 'method="get"' in html and 'name="postcode"' in html


@pytest.mark.parametrize("postcode", ["SW1A 1AA", "sw1a1aa", "  SW1A-1AA "])
def test_a_gb_postcode_leads_to_its_constituency(client, postcode):
    response = client.get("/constituencies", {"postcode": postcode})
    assert response.status_code == 302
    assert response["Location"] == f"/constituencies/{SW1A}"
    assert client.get("/constituencies?postcode=SW1A+1AA")["Location"] == f"/constituencies/{SW1A}"


@pytest.mark.parametrize(
    ("postcode", "message"),
    [
        ("BT1 1AA", "We don&#x27;t have postcode data for Northern Ireland"),
        ("GIR 0AA", "We can&#x27;t find a constituency for this postcode"),
        ("YY1 1AA", "We can&#x27;t find a constituency for this postcode"),
        ("BFPO 1234", "British Forces (BFPO) addresses are not in a constituency"),
        ("NOT A POSTCODE", "Enter a real UK postcode, like SW1A 1AA"),
        ("Q1 1AA", "Enter a real UK postcode, like SW1A 1AA"),
        ("SW1A 1AA" * 40, "Enter a real UK postcode, like SW1A 1AA"),
        ("ſw1a 1aa", "Enter a real UK postcode, like SW1A 1AA"),
        ("", "Enter a postcode"),
        ("   ", "Enter a postcode"),
    ],
)
def test_a_postcode_that_leads_nowhere_gets_a_clear_error(client, postcode, message):
    response = client.get("/constituencies", {"postcode": postcode})
    html = re.sub(r"\s+", " ", response.content.decode())
    assert response.status_code == 200
    assert "<title>Error: Constituencies" in html
    assert "govuk-error-summary" in html and message in html
    assert 'href="#id_postcode"' in html
    assert html.count('href="/constituencies/') == 650  # the list is still there to choose from


# --- The postcode form itself (NUL bytes never reach it over HTTP: the middleware answers 400) ---------------------------


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("SW1A\x001AA", "Enter a real UK postcode, like SW1A 1AA"),
        ("x" * 33, "Enter a real UK postcode, like SW1A 1AA"),
        ("\x00", "Enter a real UK postcode, like SW1A 1AA"),
    ],
)
def test_postcode_form_rejects_nul_bytes_and_oversize_input(raw, message):
    form = PostcodeSearchForm({"postcode": raw})
    assert not form.is_valid()
    assert form.errors["postcode"] == [message]


# --- Bad codes ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code", ["E99999999", "XYZ", "E1400106", "E140010633", "E14001063 ", "é14001063", "E" * 5000]
)
def test_an_unknown_constituency_is_a_404_page(client, code):
    for url in (f"/constituencies/{code}", f"/constituencies/{code}.json"):
        response, html = _get(client, url)
        assert response.status_code == 404
        assert "Page not found" in html


@pytest.mark.parametrize(
    "url",
    [
        "/constituencies/E14001063%00",
        "/constituencies/%00.json",
        "/constituencies?postcode=SW1A%001AA",
        "/constituencies/E14001063?state=%00",
    ],
)
def test_nul_bytes_get_the_readable_400_page(client, url):
    response, html = _get(client, url)
    assert response.status_code == 400
    assert "Sorry, there is a problem with your request" in html


def test_a_lower_case_code_redirects_to_the_upper_case_one(client, place):
    code = place["here"].gss_code
    response = client.get(f"/constituencies/{code.lower()}?state=all&page=1")
    assert response.status_code == 301
    assert response["Location"] == f"/constituencies/{code}?state=all&page=1"
    response = client.get(f"/constituencies/{code.lower()}.json")
    assert response.status_code == 301 and response["Location"] == f"/constituencies/{code}.json"


# --- JSON -----------------------------------------------------------------------------------------------------------


@time_machine.travel(NOW, tick=False)
def test_json_matches_the_page(client, place, settings):
    settings.SITE_URL = "https://petition.example"
    SiteSettings.objects.update_or_create(pk=1, defaults={"signature_count_interval": 7})
    SiteSettings.cache_clear()
    here = place["here"]
    Constituency.objects.filter(pk=here.pk).update(mp_name="Jo Bloggs", party="Labour")
    event = _event([place["closed"], place["open"][0]], NOW + timedelta(days=2, hours=4, minutes=30), "Soon")
    for state in ("", "open", "all"):
        _response, html = _get(client, f"/constituencies/{here.gss_code}?state={state}")
        response = client.get(f"/constituencies/{here.gss_code}.json?state={state}")
        assert response.status_code == 200
        assert response["Content-Type"] == "application/json; charset=utf-8"
        assert response["Access-Control-Allow-Origin"] == "*"
        assert response["Cache-Control"].startswith("public, max-age=7")
        document = json.loads(response.content)
        data = document["data"]
        assert data["type"] == "constituency" and data["id"] == here.gss_code
        attributes = data["attributes"]
        assert attributes["name"] == here.name and attributes["ons_code"] == here.gss_code
        assert attributes["region"] == here.region.name
        assert attributes["mp"] == "Jo Bloggs MP" and attributes["party"] == "Labour"
        assert [
            (p["id"], p["constituency_signature_count"], p["signature_count"])
            for p in attributes["petitions"]
        ] == [(pk, local, total) for pk, local, total, _share_text in _rows(html)]
        first = attributes["petitions"][0]
        assert first["url"] == f"https://petition.example/petitions/{first['id']}"
        assert first["state"] in ("open", "closed") and first["action"]
        assert attributes["upcoming_debates"] == [
            {
                "id": event.pk,
                "kind": "westminster_hall_debate",
                "title": "Soon",
                "starts_at": "2023-03-22T16:30:00.000Z",
                "place": "",
                "url": f"https://petition.example/debates/{event.pk}",
                "petition_ids": [place["closed"].pk, place["open"][0].pk],
            }
        ]
        assert document["links"]["next"] is None and document["links"]["prev"] is None


def test_json_pages_like_the_page(client):
    here = _constituencies(1)[0]
    for petition in [OpenPetitionFactory() for _ in range(52)]:
        _sign(petition, here, 1)
    signatures_tally()
    document = client.get(f"/constituencies/{here.gss_code}.json?page=2").json()
    _response, html = _get(client, f"/constituencies/{here.gss_code}?page=2")
    assert [p["id"] for p in document["data"]["attributes"]["petitions"]] == [pk for pk, *_ in _rows(html)]
    assert len(document["data"]["attributes"]["petitions"]) == 2
    assert document["links"]["prev"].endswith(f"/constituencies/{here.gss_code}.json?state=open&page=1")
    assert document["links"]["next"] is None


# --- Queries and privacy -----------------------------------------------------------------------------------------------


@time_machine.travel(NOW, tick=False)
def test_fixed_number_of_queries_whatever_the_page_size(client, django_assert_num_queries, monkeypatch):
    here = _constituencies(1)[0]
    SiteSettings.load()
    petitions = [OpenPetitionFactory() for _ in range(3)]
    for petition in petitions:
        _sign(petition, here, 2)
    signatures_tally()
    _event(petitions, NOW + timedelta(days=1), "Upcoming")
    # The constituency, the count, the page of petitions, the upcoming debates with their petitions.
    expected = 4 + SITE_NOTICES
    with django_assert_num_queries(expected):
        assert len(_rows(_get(client, f"/constituencies/{here.gss_code}")[1])) == 3
    more = [OpenPetitionFactory() for _ in range(60)]
    for petition in more:
        _sign(petition, here, 1)
    signatures_tally()
    for i in range(0, 60, 6):
        _event(more[i : i + 6], NOW + timedelta(days=2 + i), f"Upcoming {i}")
    with django_assert_num_queries(expected):
        assert len(_rows(_get(client, f"/constituencies/{here.gss_code}?state=all")[1])) == 50
    monkeypatch.setattr(views_constituencies, "PETITIONS_PER_PAGE", 20)
    with django_assert_num_queries(expected):
        assert len(_rows(_get(client, f"/constituencies/{here.gss_code}?page=2")[1])) == 20
    SiteSettings.cached()
    with django_assert_num_queries(4):
        document = client.get(f"/constituencies/{here.gss_code}.json").json()
    assert len(document["data"]["attributes"]["petitions"]) == 20
    # The top 50: the 3 most signed, then 47 of the 60 by id; 8 of the later events are on those.
    assert len(document["data"]["attributes"]["upcoming_debates"]) == 9


def test_index_makes_a_fixed_number_of_queries(client, django_assert_num_queries):
    SiteSettings.load()
    with django_assert_num_queries(1 + SITE_NOTICES):
        assert client.get("/constituencies").status_code == 200
    with django_assert_num_queries(1 + SITE_NOTICES):
        assert client.get("/constituencies?postcode=BT1+1AA").status_code == 200
    with django_assert_num_queries(1):  # the constituency is checked to exist, then the redirect
        assert client.get("/constituencies?postcode=SW1A+1AA").status_code == 302


def test_no_signer_email_or_postcode_on_the_pages(client, place):
    here = place["here"]
    signers = Signature.objects.filter(constituency=here)
    Signature.objects.filter(pk__in=signers.values("pk")[:1]).update(postcode="SW1A 2AA")
    emails = set(signers.values_list("email", flat=True))
    postcodes = set(signers.exclude(postcode="").values_list("postcode", flat=True))
    assert emails and postcodes
    pages = [
        client.get(f"/constituencies/{here.gss_code}?state=all").content.decode(),
        client.get(f"/constituencies/{here.gss_code}.json?state=all").content.decode(),
    ]
    for page in pages:
        for value in emails | postcodes:
            assert value not in page
