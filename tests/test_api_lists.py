"""`/petitions.json`, `/constituencies.json` and `/trending.json` in petition.parliament.uk's format.

The contract test rebuilds here every petition of the real list document kept in `tests/data/e-petitions-api/`
(`GET /petitions.json?q=fracking&page=1` on the live site), asks ours the same question and compares: the same
keys in the same order (recursively), the same JSON types and nulls, the same links, and the same values wherever
they come straight from the petition. Then the pagination links, the filters the `/petitions` page shares, bad
input, the query count, the other two lists, and no signer's personal data in any JSON document.
"""

import datetime
import json

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from debates.models import EventKind, Outcome, ParliamentaryEvent
from petitions.models import (
    Constituency,
    Department,
    PetitionHourlyCount,
    PetitionState,
    Rejection,
    RejectionReason,
    SiteSettings,
    Topic,
)
from petitions.services import signatures_tally
from responses.models import GovernmentResponse, ResponseStatus

from .factories import ClosedPetitionFactory, OpenPetitionFactory, PetitionFactory, ValidatedSignatureFactory
from .test_api_petition import PAGE_ONLY_KEYS, REAL_DIRS, REAL_HOST, SAME_VALUES, build_like, differences
from .test_privacy import fill, public_routes

pytestmark = pytest.mark.django_db

LIST = "/petitions.json"
BASE = "http://testserver/petitions.json"
REAL_LIST = "petitions-list-q-fracking-page1.json"


def _real_list() -> dict:
    for directory in REAL_DIRS:
        if (directory / REAL_LIST).exists():
            return json.loads((directory / REAL_LIST).read_text())
    pytest.skip(f"the real API document {REAL_LIST} is not in {' or '.join(map(str, REAL_DIRS))}")


def get_json(client, url: str) -> dict:
    response = client.get(url)
    assert response.status_code == 200, response.content[:300]
    return response.json()


def actions(document: dict) -> list[str]:
    return [item["attributes"]["action"] for item in document["data"]]


# --- The contract: the real list document ---------------------------------------------------------------------


def test_the_list_matches_the_real_document(client, settings):
    settings.SITE_URL = REAL_HOST
    real = _real_list()
    for item in real["data"]:
        build_like({"links": {}, "data": {key: value for key, value in item.items() if key != "links"}})

    ours = get_json(client, "/petitions.json?q=fracking&page=1")

    assert list(ours) == list(real) == ["links", "data"]
    # The same five links in the same order, with the same URLs: self as asked, the others rebuilt.
    assert list(ours["links"]) == list(real["links"])
    assert ours["links"] == real["links"]
    real_items = {item["id"]: item for item in real["data"]}
    ids = [item["id"] for item in ours["data"]]
    if connection.vendor == "postgresql":
        # English stemming finds "fracked" for "fracking", as the live site's search did.
        assert sorted(ids) == sorted(real_items)
    else:
        # The SQLite fallback matches the word as typed: one rejected petition only says "fracked".
        assert set(ids) <= set(real_items) and len(ids) == len(real_items) - 1
    for item in ours["data"]:
        real_item = real_items[item["id"]]
        # Newer keys than the saved document (reference §6.2), as on `/petitions/<id>.json`.
        newer = {"debate_scheduled_on"} | (
            {"closing_date"} if real_item["attributes"]["state"] == "open" else set()
        )
        # Wrapped as a petition document, so the rules of test_api_petition apply to the same paths.
        wrapped = differences({"data": real_item}, {"data": item}, newer={("data", "attributes"): newer})
        assert wrapped == [], item["id"]
        assert item["links"] == real_item["links"]
        for key in SAME_VALUES:
            assert item["attributes"][key] == real_item["attributes"][key], (item["id"], key)
    states = {item["attributes"]["state"] for item in ours["data"]}
    assert states == {"open", "closed", "rejected"}


def test_the_contract_check_notices_a_missing_link_or_a_changed_type(client, settings):
    real = _real_list()
    item = json.loads(json.dumps(real["data"][0]))
    del item["links"]
    assert differences(real["data"][0], item)
    item = json.loads(json.dumps(real["data"][0]))
    item["attributes"]["signature_count"] = str(item["attributes"]["signature_count"])
    assert differences(real["data"][0], item) == ["attributes/signature_count: str != real int"]


def test_list_items_have_the_petition_documents_attributes_without_the_breakdowns(client):
    department = Department.objects.create(acronym="DfE", name="Department for Education")
    topic = Topic.objects.create(code="education", name="Education")
    open_petition = OpenPetitionFactory(signature_count=40)
    open_petition.departments.add(department)
    open_petition.topics.add(topic)
    ValidatedSignatureFactory(petition=open_petition, creator=True, name="Ada Creator")
    debated = ClosedPetitionFactory(signature_count=30)
    ValidatedSignatureFactory(petition=debated, creator=True, name="Closed Creator")
    GovernmentResponse.objects.create(
        petition=debated,
        responded_on=datetime.date(2026, 3, 9),
        summary="No plans.",
        details="Some *details*.",
        status=ResponseStatus.PUBLISHED,
        published_at=timezone.now(),
    )
    event = ParliamentaryEvent.objects.create(
        kind=EventKind.WESTMINSTER_HALL_DEBATE,
        title="MPs debate it",
        starts_at=timezone.now() - datetime.timedelta(days=2),
        summary="They *talked*.",
        outcome=Outcome.DEBATED,
    )
    event.petitions.add(debated)
    rejected = PetitionFactory(state=PetitionState.REJECTED, rejected_at=timezone.now(), signature_count=5)
    Rejection.objects.create(petition=rejected, reason=RejectionReason.objects.first(), details="Duplicate.")

    document = get_json(client, LIST)

    assert [item["id"] for item in document["data"]] == [open_petition.pk, debated.pk, rejected.pk]
    for item in document["data"]:
        assert list(item) == ["type", "id", "links", "attributes"]
        assert item["links"] == {"self": f"http://testserver/petitions/{item['id']}.json"}
        single = get_json(client, f"/petitions/{item['id']}.json")["data"]["attributes"]
        expected = {key: value for key, value in single.items() if key not in PAGE_ONLY_KEYS}
        assert item["attributes"] == expected
        assert list(item["attributes"]) == list(expected)
    a_open, a_debated, a_rejected = (item["attributes"] for item in document["data"])
    assert a_open["creator_name"] == "Ada Creator" and "closing_date" in a_open
    assert a_open["departments"][0]["acronym"] == "DfE" and a_open["topics"] == ["education"]
    assert a_debated["creator_name"] is None and "closing_date" not in a_debated
    assert a_debated["debate"]["overview"] == "They talked."
    assert a_debated["government_response"]["details"] == "Some details."
    assert a_rejected["rejection"] == {"code": RejectionReason.objects.first().code, "details": "Duplicate."}


# --- Pagination links -----------------------------------------------------------------------------------------


@pytest.fixture
def hedgehogs():
    petitions = [
        OpenPetitionFactory(action=f"Save the hedgehogs {i}", signature_count=100 - i) for i in range(5)
    ]
    OpenPetitionFactory(action="Something else entirely", signature_count=1000)
    return petitions


def test_links_page_through_the_same_query_in_the_reference_s_order(client, hedgehogs):
    document = get_json(client, "/petitions.json?state=open&q=hedgehogs&count=2&page=2")
    query = "count=2&q=hedgehogs&state=open"
    assert document["links"] == {
        "self": f"{BASE}?state=open&q=hedgehogs&count=2&page=2",
        "first": f"{BASE}?{query}",
        "last": f"{BASE}?count=2&page=3&q=hedgehogs&state=open",
        "next": f"{BASE}?count=2&page=3&q=hedgehogs&state=open",
        "prev": f"{BASE}?{query}",
    }
    assert actions(document) == ["Save the hedgehogs 2", "Save the hedgehogs 3"]

    last = get_json(client, document["links"]["last"].removeprefix("http://testserver"))
    assert actions(last) == ["Save the hedgehogs 4"]
    assert last["links"]["next"] is None
    assert last["links"]["prev"] == f"{BASE}?count=2&page=2&q=hedgehogs&state=open"


def test_the_first_page_has_no_prev_and_defaults_are_left_out_of_the_links(client, hedgehogs):
    document = get_json(client, "/petitions.json?state=all&page=1")
    assert document["links"] == {
        "self": f"{BASE}?state=all&page=1",
        "first": BASE,
        "last": BASE,
        "next": None,
        "prev": None,
    }
    assert len(document["data"]) == 6


def test_fifty_a_page_by_default(client):
    for i in range(51):
        OpenPetitionFactory(signature_count=i)
    document = get_json(client, LIST)
    assert len(document["data"]) == 50
    assert document["links"]["next"] == document["links"]["last"] == f"{BASE}?page=2"
    assert len(get_json(client, "/petitions.json?page=2")["data"]) == 1


@pytest.mark.parametrize(
    ("query", "size", "first", "prev"),
    [
        ("page=abc", 6, BASE, None),  # not a number: the first page, as Ruby's to_i reads it
        ("page=-3", 6, BASE, None),
        ("page=2abc", 0, BASE, BASE),
        ("page=100000000000000000000", 0, BASE, f"{BASE}?page=99998"),  # the reference's last page number
        ("count=500", 6, f"{BASE}?count=50", None),  # clamped to the largest page
        ("count=0", 1, f"{BASE}?count=1", None),
        ("count=abc", 6, f"{BASE}?count=50", None),
    ],
)
def test_page_and_count_are_read_leniently(client, hedgehogs, query, size, first, prev):
    document = get_json(client, f"/petitions.json?{query}")
    assert len(document["data"]) == size
    assert (document["links"]["first"], document["links"]["prev"]) == (first, prev)


def test_a_page_past_the_end_is_empty_with_links_back(client, hedgehogs):
    document = get_json(client, "/petitions.json?page=5")
    assert document["data"] == []
    assert document["links"]["last"] == BASE
    assert (document["links"]["next"], document["links"]["prev"]) == (None, f"{BASE}?page=4")


# --- Filters, as the /petitions page ----------------------------------------------------------------------------


def test_only_public_petitions_are_listed_and_state_picks_the_facet(client):
    open_petition = OpenPetitionFactory(action="Open one")
    ClosedPetitionFactory(action="Closed one")
    PetitionFactory(state=PetitionState.REJECTED, action="Rejected one", rejected_at=timezone.now())
    for state in (
        PetitionState.PENDING,
        PetitionState.SPONSORED,
        PetitionState.HIDDEN,
        PetitionState.STOPPED,
    ):
        PetitionFactory(state=state, action=f"Not public {state}")
    assert sorted(actions(get_json(client, LIST))) == ["Closed one", "Open one", "Rejected one"]
    assert actions(get_json(client, "/petitions.json?state=rejected")) == ["Rejected one"]
    assert actions(get_json(client, "/petitions.json?state=open")) == ["Open one"]
    # An unknown facet lists everything public, and is left out of the links.
    unknown = get_json(client, "/petitions.json?state=bogus")
    assert len(unknown["data"]) == 3 and unknown["links"]["first"] == BASE
    # A number is searched like any other words: JSON never redirects to the petition's page.
    assert client.get(f"/petitions.json?q={open_petition.pk}").status_code == 200


def test_q_finds_words_in_the_action_background_and_details(client):
    OpenPetitionFactory(action="Protect the badgers")
    OpenPetitionFactory(action="Something", background="Badgers need setts.")
    OpenPetitionFactory(action="Other", additional_details="A badger lives here.")
    OpenPetitionFactory(action="Unrelated")
    found = actions(get_json(client, "/petitions.json?q=badger"))
    assert sorted(found) == ["Other", "Protect the badgers", "Something"]
    assert found[0] == "Protect the badgers"  # a match in the action ranks first


def test_topic_and_department_filter_as_on_the_page(client):
    department = Department.objects.create(acronym="DfE", name="Department for Education")
    topic = Topic.objects.create(code="schools", name="Schools")
    both = OpenPetitionFactory(action="Both")
    both.departments.add(department)
    both.topics.add(topic)
    OpenPetitionFactory(action="Neither")
    document = get_json(client, "/petitions.json?department=dfe&topic=schools")
    assert actions(document) == ["Both"]
    assert document["links"]["first"] == f"{BASE}?department=DfE&topic=schools"


@pytest.mark.parametrize(
    ("query", "parameter", "detail"),
    [
        ("q=" + "a" * 10_000, "q", "Search terms must be 255 characters or fewer"),
        ("topic=nope", "topic", "Choose a topic from the list"),
        ("department=NOPE", "department", "Choose a government department from the list"),
    ],
)
def test_values_the_page_refuses_are_a_400_with_its_message(client, query, parameter, detail):
    response = client.get(f"/petitions.json?{query}")
    assert response.status_code == 400
    assert response.json() == {"errors": [{"parameter": parameter, "detail": detail}]}
    assert response["Access-Control-Allow-Origin"] == "*"


def test_nul_characters_get_a_clear_400_never_a_500(client):
    response = client.get("/petitions.json?q=%00abc%00def%00ghi%00jk")
    assert response.status_code == 400
    assert b"invalid characters" in response.content
    # Punctuation only: no words, so nothing matches (and nothing breaks the search).
    assert get_json(client, "/petitions.json?q=%26%7C%21%28%29%3A%2A")["data"] == []


def test_headers_cache_for_the_tally_interval_and_allow_any_origin(client):
    site = SiteSettings.load()
    site.signature_count_interval = 7
    site.save()
    response = client.get(LIST)
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Cache-Control"] == "public, max-age=7, stale-while-revalidate=14, stale-if-error=35"
    assert response["Access-Control-Allow-Origin"] == "*"
    assert client.head(LIST).status_code == 200
    assert client.post(LIST).status_code == 405


def _varied_petitions(n: int) -> None:
    """n petitions of every kind, each with what its attributes read: departments, topics, creator, response,
    debate outcome, rejection. The most signed is open, so every page has a creator to read."""
    departments = [Department.objects.create(acronym=f"D{i}", name=f"Department {i}") for i in range(3)]
    topics = [Topic.objects.create(code=f"topic-{i}", name=f"Topic {i}") for i in range(3)]
    reason = RejectionReason.objects.first()
    for i in range(n):
        kind = i % 3
        if kind == 0:
            petition = OpenPetitionFactory(signature_count=1000 - i)
            ValidatedSignatureFactory(petition=petition, creator=True)
        elif kind == 1:
            petition = ClosedPetitionFactory(signature_count=1000 - i)
            GovernmentResponse.objects.create(
                petition=petition,
                responded_on=datetime.date(2026, 3, 9),
                summary="No.",
                details="No.",
                status=ResponseStatus.PUBLISHED,
                published_at=timezone.now(),
            )
            event = ParliamentaryEvent.objects.create(
                kind=EventKind.WESTMINSTER_HALL_DEBATE,
                title=f"Debate {i}",
                starts_at=timezone.now(),
                outcome=Outcome.DEBATED,
            )
            event.petitions.add(petition)
        else:
            petition = PetitionFactory(
                state=PetitionState.REJECTED, rejected_at=timezone.now(), signature_count=1000 - i
            )
            Rejection.objects.create(petition=petition, reason=reason, details="No.")
        petition.departments.add(*departments[: 1 + kind])
        petition.topics.add(*topics[: 1 + kind])


def test_a_fixed_number_of_queries_whatever_the_page_size(client):
    _varied_petitions(30)
    client.get(LIST)  # the site settings are cached from then on
    counts = {}
    for size in (3, 30):
        with CaptureQueriesContext(connection) as queries:
            document = get_json(client, f"/petitions.json?count={size}&q=thing")
        assert len(document["data"]) == size
        counts[size] = len(queries)
    # Topics and departments (the page's form), the count, the page, its departments, its topics, the
    # creators, the debate outcomes.
    assert counts == {3: 8, 30: 8}


# --- /constituencies.json -------------------------------------------------------------------------------------


def test_constituencies_are_keyed_by_ons_code_with_their_mp(client, django_assert_num_queries):
    Constituency.objects.filter(gss_code="E14001063").update(mp_name="Alex Baker", party="Labour")
    Constituency.objects.filter(gss_code="E14001064").update(mp_name="", party="")
    with django_assert_num_queries(1):
        response = client.get("/constituencies.json")
    assert response.status_code == 200
    document = response.json()
    codes = list(Constituency.objects.order_by("gss_code").values_list("gss_code", flat=True))
    assert len(codes) == 650
    assert list(document) == codes
    assert document["E14001063"] == {
        "mp": "Alex Baker MP",
        "party": "Labour",
        "constituency": "Aldershot",
        "ons_code": "E14001063",
        "start_date": "2024-07-04",
        "end_date": None,
    }
    assert list(document["E14001063"]) == [
        "mp",
        "party",
        "constituency",
        "ons_code",
        "start_date",
        "end_date",
    ]
    # A vacant seat.
    assert (document["E14001064"]["mp"], document["E14001064"]["party"]) == (None, None)
    assert response["Cache-Control"] == "public, max-age=60, stale-while-revalidate=120, stale-if-error=300"
    assert response["Access-Control-Allow-Origin"] == "*"
    assert client.post("/constituencies.json").status_code == 405


# --- /trending.json -------------------------------------------------------------------------------------------

NOW = datetime.datetime(2026, 3, 2, 14, 20, 37, 500000, tzinfo=datetime.UTC)
HOUR = NOW.replace(minute=0, second=0, microsecond=0)


def _hourly(petition, hour, count):
    PetitionHourlyCount.objects.create(petition=petition, hour=hour, signature_count=count)


def test_trending_lists_open_petitions_by_signatures_in_the_last_hour(client):
    steady = OpenPetitionFactory(action="Steady")
    _hourly(steady, HOUR, 30)
    _hourly(steady, HOUR - datetime.timedelta(hours=1), 60)  # 40 of its 60 minutes are in the last hour
    surge = OpenPetitionFactory(action="Surge")
    _hourly(surge, HOUR, 100)
    _hourly(ClosedPetitionFactory(action="Closed"), HOUR, 500)
    _hourly(OpenPetitionFactory(action="Yesterday"), HOUR - datetime.timedelta(hours=2), 900)
    _hourly(OpenPetitionFactory(action="Invalidated"), HOUR, -5)
    with time_machine.travel(NOW, tick=False):
        response = client.get("/trending.json")
    assert response.status_code == 200
    document = response.json()
    assert document == {
        "data": [
            {
                "type": "petition",
                "id": surge.pk,
                "links": {"self": f"http://testserver/petitions/{surge.pk}.json"},
                "attributes": {"action": "Surge", "signature_count": 100},
            },
            {
                "type": "petition",
                "id": steady.pk,
                "links": {"self": f"http://testserver/petitions/{steady.pk}.json"},
                "attributes": {"action": "Steady", "signature_count": 70},
            },
        ],
        "links": {"self": "http://testserver/trending.json"},
        "meta": {"updated_at": "2026-03-02T14:20:00.000Z"},
    }
    assert list(document) == ["data", "links", "meta"]
    assert list(document["data"][0]) == ["type", "id", "links", "attributes"]
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response["Cache-Control"].startswith("public, max-age=")


def test_trending_shows_the_top_ten(client):
    petitions = [OpenPetitionFactory(action=f"Petition {i}") for i in range(12)]
    for i, petition in enumerate(petitions):
        _hourly(petition, HOUR, 10 + i)
    with time_machine.travel(NOW, tick=False):
        document = get_json(client, "/trending.json")
    assert [item["id"] for item in document["data"]] == [p.pk for p in reversed(petitions)][:10]
    assert [item["attributes"]["signature_count"] for item in document["data"]] == list(range(21, 11, -1))


def test_trending_is_empty_when_nobody_signed(client):
    OpenPetitionFactory()
    with time_machine.travel(NOW, tick=False):
        document = get_json(client, "/trending.json")
    assert document["data"] == []
    assert document["meta"]["updated_at"] == "2026-03-02T14:20:00.000Z"


# --- Privacy -----------------------------------------------------------------------------------------------------

EMAIL = "Zebedee.Secretive+api@privacy-test.example"
POSTCODE = "LS2 9JT"
IP = "198.51.100.231"
SIGNER = "Zebedee Secretive"
SECRETS = [EMAIL, EMAIL.lower(), "zebedee.secretive", "privacy-test.example", POSTCODE, "LS29JT", IP, SIGNER]


def test_no_json_document_holds_a_signers_email_postcode_ip_or_name(client):
    petition = OpenPetitionFactory(action="Plant more oak trees", background="Oaks host many species.")
    ValidatedSignatureFactory(petition=petition, creator=True, name="Open Creator")
    signature = ValidatedSignatureFactory(
        petition=petition,
        name=SIGNER,
        email=EMAIL,
        canonical_email=EMAIL.lower(),
        postcode=POSTCODE,
        ip_address=IP,
    )
    signatures_tally()
    assert PetitionHourlyCount.objects.filter(petition=petition).exists()
    values = {"petition_id": petition.pk, "gss_code": signature.constituency.gss_code}
    paths = [fill(route, values) for route, _ in public_routes() if route.endswith(".json")]
    paths = [path for path in paths if path is not None]
    paths += ["/petitions.json?q=oak", "/petitions.json?state=open", f"/petitions.json?q={petition.pk}"]
    for expected in (
        "/petitions.json",
        "/constituencies.json",
        "/trending.json",
        f"/petitions/{petition.pk}.json",
    ):
        assert expected in paths
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200, path
        body = response.content.decode()
        for secret in SECRETS:
            assert secret.lower() not in body.lower(), f"{secret!r} appears in {path}"
    # The documents really are about this petition (so the check above looked at something).
    assert get_json(client, "/trending.json")["data"][0]["id"] == petition.pk
    assert (
        get_json(client, "/petitions.json?q=oak")["data"][0]["attributes"]["creator_name"] == "Open Creator"
    )
