"""`/petitions/<id>.json`: one petition in petition.parliament.uk's format.

The contract tests rebuild, in our database, the petitions of the real API documents kept in
`../shared/data/petitions/` (a single-petition document and the items of a list document: open, closed with and
without a response, closed with a response and a debate, rejected), then compare our document with the real one:
the same keys in the same order (recursively), the same JSON types, the same nulls, and the same values wherever
the value comes straight from the petition.
"""

import datetime
import json
import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.urls import reverse
from django.utils import timezone

from debates.models import EventKind, OtherBusiness, Outcome, ParliamentaryEvent
from petitions.dates import deadline_for
from petitions.markdown import markdown_text
from petitions.models import (
    Constituency,
    ConstituencyPetitionJournal,
    Country,
    CountryPetitionJournal,
    Department,
    Petition,
    PetitionState,
    Rejection,
    RejectionReason,
    SiteSettings,
    Topic,
)
from responses.models import GovernmentResponse, ResponseStatus

from .factories import ClosedPetitionFactory, OpenPetitionFactory, PetitionFactory, ValidatedSignatureFactory

pytestmark = pytest.mark.django_db

#: The real documents: a copy kept with the tests if there is one, else the shared data next to the checkout.
REAL_DIRS = (
    Path(__file__).resolve().parent / "data" / "e-petitions-api",
    Path(django_settings.BASE_DIR).parent / "shared" / "data" / "petitions",
)
REAL_HOST = "https://petition.parliament.uk"

#: Keys today's e-petitions emits (reference §6.2) that the real documents, saved earlier, do not have yet. We emit
#: them because this site holds the data; everything else must match the real documents key for key.
NEWER_KEYS = {
    ("data", "attributes"): {"debate_scheduled_on"},
    ("data", "attributes", "other_parliamentary_business", "[]"): {"occurred_on"},
}
NEWER_KEYS_WHILE_OPEN = {("data", "attributes"): {"closing_date"}}
#: The reference stores a missing note as NULL or "" depending on the petition's age; ours is always a string.
STRING_OR_NULL = {("data", "attributes", "committee_note")}
#: Values that come straight from the petition row, so they must be identical to the real document's.
SAME_VALUES = (
    "action",
    "background",
    "additional_details",
    "state",
    "signature_count",
    "created_at",
    "updated_at",
    "rejected_at",
    "opened_at",
    "closed_at",
    "moderation_threshold_reached_at",
    "response_threshold_reached_at",
    "government_response_at",
    "debate_threshold_reached_at",
    "scheduled_debate_date",
    "debate_outcome_at",
    "creator_name",
    "rejection",
    "departments",
    "topics",
)
PAGE_ONLY_KEYS = [
    "signatures_by_country",
    "signatures_by_constituency",
    "signatures_by_region",
    "other_parliamentary_business",
]
UTC_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def _real(name: str) -> dict:
    for directory in REAL_DIRS:
        if (directory / name).exists():
            return json.loads((directory / name).read_text())
    pytest.skip(f"the real API document {name} is not in {' or '.join(map(str, REAL_DIRS))}")


def _real_single() -> dict:
    return _real("petition-582336.json")


def _real_list_item(petition_id: int) -> dict:
    """An item of the real list document as the single-petition document it comes from (without `links`)."""
    item = next(i for i in _real("petitions-list-q-fracking-page1.json")["data"] if i["id"] == petition_id)
    data = {k: v for k, v in item.items() if k != "links"}
    return {"links": {"self": item["links"]["self"]}, "data": data}


def _time(value: str | None) -> datetime.datetime | None:
    return datetime.datetime.fromisoformat(value) if value else None


def _date(value: str | None) -> datetime.date | None:
    return datetime.date.fromisoformat(value) if value else None


def build_like(document: dict) -> Petition:
    """A petition in our database equivalent to a real API document: same fields, response, debate, other
    business, departments, topics and tallies (constituencies: one per region carrying the region's total, since
    the real documents use the 2010 constituencies)."""
    pid = document["data"]["id"]
    a = document["data"]["attributes"]
    petition = Petition.objects.create(
        pk=pid,
        action=a["action"],
        background=a["background"],
        additional_details=a["additional_details"],
        committee_note=a["committee_note"] or "",
        state=a["state"],
        signature_count=a["signature_count"],
        created_at=_time(a["created_at"]),
        rejected_at=_time(a["rejected_at"]),
        opened_at=_time(a["opened_at"]),
        closed_at=_time(a["closed_at"]),
        deadline_at=deadline_for(_time(a["opened_at"]), 6) if a["state"] == "open" else None,
        moderation_threshold_reached_at=_time(a["moderation_threshold_reached_at"]),
        response_threshold_reached_at=_time(a["response_threshold_reached_at"]),
        government_response_at=_time(a["government_response_at"]),
        debate_threshold_reached_at=_time(a["debate_threshold_reached_at"]),
        scheduled_debate_date=_date(a["scheduled_debate_date"]),
        debate_outcome_at=_time(a["debate_outcome_at"]),
    )
    for d in a["departments"]:
        department, _ = Department.objects.get_or_create(
            acronym=d["acronym"], defaults={"name": d["name"], "url": d["url"]}
        )
        petition.departments.add(department)
    for code in a["topics"]:
        petition.topics.add(Topic.objects.get_or_create(code=code, defaults={"name": code})[0])
    if a["creator_name"]:
        ValidatedSignatureFactory(petition=petition, creator=True, name=a["creator_name"])
    if a["rejection"]:
        Rejection.objects.create(
            petition=petition,
            reason=RejectionReason.objects.get(code=a["rejection"]["code"]),
            details=a["rejection"]["details"],
        )
    if response := a["government_response"]:
        GovernmentResponse.objects.create(
            petition=petition,
            responded_on=_date(response["responded_on"]),
            summary=response["summary"],
            details=response["details"],
            status=ResponseStatus.PUBLISHED,
            published_at=_time(response["created_at"]),
            text_updated_at=(
                _time(response["updated_at"]) if response["updated_at"] != response["created_at"] else None
            ),
        )
    if debate := a["debate"]:
        event = ParliamentaryEvent.objects.create(
            kind=EventKind.WESTMINSTER_HALL_DEBATE,
            title="MPs debate this petition",
            starts_at=timezone.make_aware(
                datetime.datetime.combine(_date(debate["debated_on"]), datetime.time(16, 30))
            ),
            transcript_url=debate["transcript_url"],
            video_url=debate["video_url"],
            debate_pack_url=debate["debate_pack_url"],
            summary=debate["overview"],
            outcome=Outcome.DEBATED,
        )
        event.petitions.add(petition)
    for item in a.get("other_parliamentary_business", []):
        business = OtherBusiness.objects.create(
            petition=petition,
            subject=item["subject"],
            body=item["body"],
            occurred_on=_time(item["created_at"]).date(),
            created_at=_time(item["created_at"]),
        )
        OtherBusiness.objects.filter(pk=business.pk).update(updated_at=_time(item["updated_at"]))
    for country in a.get("signatures_by_country", []):
        CountryPetitionJournal.objects.create(
            petition=petition,
            country=Country.objects.get(code=country["code"]),
            signature_count=country["signature_count"],
        )
    for region in a.get("signatures_by_region", []):
        constituency = (
            Constituency.objects.filter(region__api_code=region["ons_code"]).order_by("gss_code").first()
        )
        ConstituencyPetitionJournal.objects.create(
            petition=petition, constituency=constituency, signature_count=region["signature_count"]
        )
    Petition.objects.filter(pk=pid).update(updated_at=_time(a["updated_at"]))
    return petition


def api_url(petition_id) -> str:
    return f"/petitions/{petition_id}.json"


def fetch(client, petition_id) -> dict:
    response = client.get(api_url(petition_id))
    assert response.status_code == 200, response.content[:300]
    return response.json()


def _type(value) -> str:
    return "null" if value is None else type(value).__name__


def _shape(value):
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(item) for item in value[:1]]
    return _type(value)


def differences(real, ours, *, path=(), newer=None) -> list[str]:
    """How `ours` departs from `real`: keys (and their order) of every object, JSON types and nulls of every
    value. Lists: each of our items must match one of the real items' shapes."""
    newer = newer or {}
    where = "/".join(path) or "document"
    if isinstance(real, dict):
        if not isinstance(ours, dict):
            return [f"{where}: object expected, got {_type(ours)}"]
        extra = newer.get(path, set())
        ours_keys = [k for k in ours if k not in extra]
        problems = []
        if ours_keys != list(real):
            problems.append(f"{where}: keys {ours_keys} != real {list(real)}")
        missing_newer = extra - set(ours)
        if missing_newer:
            problems.append(f"{where}: newer keys missing: {sorted(missing_newer)}")
        for key in real:
            if key in ours:
                problems += differences(real[key], ours[key], path=(*path, key), newer=newer)
        return problems
    if isinstance(real, list):
        if not isinstance(ours, list):
            return [f"{where}: array expected, got {_type(ours)}"]
        if real and not ours:
            return [f"{where}: empty, the real one is not"]
        # One real item of each shape: items of one list may differ in their nulls (a seat without an MP).
        examples = list({json.dumps(_shape(item)): item for item in real}.values())
        problems = []
        for item in ours if real else []:
            attempts = [differences(example, item, path=(*path, "[]"), newer=newer) for example in examples]
            if all(attempts):
                problems += attempts[0]
        return problems
    if path in STRING_OR_NULL and _type(ours) in ("str", "null"):
        return []
    if _type(real) != _type(ours):
        return [f"{where}: {_type(ours)} != real {_type(real)}"]
    return []


def assert_matches_real(client, real: dict) -> dict:
    petition = build_like(real)
    ours = fetch(client, petition.pk)
    newer = dict(NEWER_KEYS)
    if real["data"]["attributes"]["state"] == "open":
        newer[("data", "attributes")] = (
            NEWER_KEYS[("data", "attributes")] | NEWER_KEYS_WHILE_OPEN[("data", "attributes")]
        )
    assert differences(real, ours, newer=newer) == []
    assert ours["links"] == real["links"]
    assert (ours["data"]["type"], ours["data"]["id"]) == (real["data"]["type"], real["data"]["id"])
    a, r = ours["data"]["attributes"], real["data"]["attributes"]
    for key in SAME_VALUES:
        assert a[key] == r[key], key
    assert a["committee_note"] == (r["committee_note"] or "")
    return ours


@pytest.fixture(autouse=True)
def real_host(settings):
    settings.SITE_URL = REAL_HOST


# --- The contract: the real documents ----------------------------------------------------------------------------


def test_closed_petition_with_response_debate_and_business_matches_the_real_document(client):
    real = _real_single()
    ours = assert_matches_real(client, real)
    a, r = ours["data"]["attributes"], real["data"]["attributes"]
    assert a["signatures_by_country"] == r["signatures_by_country"]
    assert a["signatures_by_region"] == r["signatures_by_region"]
    assert [c["ons_code"] for c in a["signatures_by_constituency"]] == sorted(
        c["ons_code"] for c in a["signatures_by_constituency"]
    )
    assert sum(c["signature_count"] for c in a["signatures_by_constituency"]) == sum(
        c["signature_count"] for c in r["signatures_by_constituency"]
    )
    real_response, response = r["government_response"], a["government_response"]
    for key in ("responded_on", "summary", "created_at", "updated_at"):
        assert response[key] == real_response[key]
    assert response["details"] == markdown_text(real_response["details"])
    assert a["debate"] == r["debate"]
    assert a["debate_scheduled_on"] is None
    assert [(b["subject"], b["created_at"], b["updated_at"]) for b in a["other_parliamentary_business"]] == [
        (b["subject"], b["created_at"], b["updated_at"]) for b in r["other_parliamentary_business"]
    ]
    assert [b["occurred_on"] for b in a["other_parliamentary_business"]] == [
        b["created_at"][:10] for b in r["other_parliamentary_business"]
    ]


def test_open_petition_matches_the_real_document_and_shows_its_creator_and_closing_date(client):
    real = _real_list_item(622021)
    real["data"]["attributes"] |= {key: [] for key in PAGE_ONLY_KEYS}
    ours = assert_matches_real(client, real)
    a = ours["data"]["attributes"]
    assert a["creator_name"] == "Margaret Georgiadou"
    assert a["closing_date"] == "2023-02-19"
    assert list(a).index("closing_date") == list(a).index("signature_count") + 1


def test_rejected_petition_matches_the_real_document_without_breakdowns(client):
    real = _real_list_item(626087)
    ours = assert_matches_real(client, real)
    a = ours["data"]["attributes"]
    assert a["rejection"]["code"] == "irrelevant"
    assert not set(PAGE_ONLY_KEYS) & set(a)
    assert "closing_date" not in a


@pytest.mark.parametrize("petition_id", [608745, 614611])
def test_closed_petitions_with_and_without_a_response_match_the_real_documents(client, petition_id):
    real = _real_list_item(petition_id)
    real["data"]["attributes"] |= {key: [] for key in PAGE_ONLY_KEYS}
    ours = assert_matches_real(client, real)
    assert ours["data"]["attributes"]["creator_name"] is None
    assert "closing_date" not in ours["data"]["attributes"]


def test_the_contract_check_notices_a_changed_key_type_or_null():
    real = _real_single()
    assert differences(real, real) == []
    renamed = json.loads(json.dumps(real))
    renamed["data"]["attributes"]["signatures"] = renamed["data"]["attributes"].pop("signature_count")
    assert differences(real, renamed)
    retyped = json.loads(json.dumps(real))
    retyped["data"]["attributes"]["signatures_by_region"][3]["signature_count"] = "5595"
    assert differences(real, retyped) == [
        "data/attributes/signatures_by_region/[]/signature_count: str != real int"
    ]
    nulled = json.loads(json.dumps(real))
    nulled["data"]["attributes"]["government_response"]["responded_on"] = None
    assert differences(real, nulled) == ["data/attributes/government_response/responded_on: null != real str"]


# --- Formats ---------------------------------------------------------------------------------------------------------


def test_timestamps_are_utc_with_milliseconds_and_dates_are_iso(client):
    summer = datetime.datetime(
        2026, 6, 1, 13, 0, 5, 123456, tzinfo=datetime.timezone(datetime.timedelta(hours=1))
    )
    petition = OpenPetitionFactory(
        opened_at=summer,
        deadline_at=deadline_for(summer, 6),
        response_threshold_reached_at=summer,
        debate_scheduled_on=datetime.date(2026, 6, 20),
        scheduled_debate_date=datetime.date(2026, 7, 6),
    )
    a = fetch(client, petition.pk)["data"]["attributes"]
    assert a["opened_at"] == a["response_threshold_reached_at"] == "2026-06-01T12:00:05.123Z"
    assert UTC_MS.fullmatch(a["created_at"]) and UTC_MS.fullmatch(a["updated_at"])
    # The deadline is the end of 1 December in London (GMT then), and the closing date is that London day.
    assert a["closing_date"] == "2026-12-01"
    assert (a["debate_scheduled_on"], a["scheduled_debate_date"]) == ("2026-06-20", "2026-07-06")


def test_headers_cache_for_the_tally_interval_and_allow_any_origin(client):
    site = SiteSettings.load()
    site.signature_count_interval = 7
    site.save()
    response = client.get(api_url(OpenPetitionFactory().pk))
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Cache-Control"] == "public, max-age=7, stale-while-revalidate=14, stale-if-error=35"
    assert response["Access-Control-Allow-Origin"] == "*"
    assert client.head(api_url(OpenPetitionFactory().pk)).status_code == 200
    assert client.post(api_url(OpenPetitionFactory().pk)).status_code == 405


def test_non_ascii_is_utf8_and_markup_characters_are_escaped(client):
    petition = OpenPetitionFactory(action="Protect the Afon Dyfrdwy – “now”", background="Fish & chips <b>")
    response = client.get(api_url(petition.pk))
    body = response.content.decode()
    assert "Afon Dyfrdwy – “now”" in body
    assert "<" not in body and ">" not in body and "&" not in body
    assert response.json()["data"]["attributes"]["background"] == "Fish & chips <b>"


# --- Government response -------------------------------------------------------------------------------------------


def _respond(petition, *, details, status=ResponseStatus.PUBLISHED, **fields):
    return GovernmentResponse.objects.create(
        petition=petition,
        responded_on=datetime.date(2026, 3, 9),
        summary="The Government has no plans to do this.",
        details=details,
        status=status,
        published_at=timezone.now() if status == ResponseStatus.PUBLISHED else None,
        **fields,
    )


def test_response_details_are_plain_text_without_markdown_or_html(client):
    petition = ClosedPetitionFactory(government_response_at=timezone.now())
    _respond(
        petition,
        details="## What we do\n\nWe **already** fund _free_ meals:\n\n- infants\n- juniors\n\n"
        "Read [the guidance](https://www.gov.uk/guidance) or `ask`.\n\n> Quoted",
    )
    details = fetch(client, petition.pk)["data"]["attributes"]["government_response"]["details"]
    assert details == (
        "What we do\n\nWe already fund free meals:\n\n- infants\n- juniors\n\n"
        "Read the guidance (https://www.gov.uk/guidance) or ask.\n\nQuoted"
    )


def test_malicious_markdown_comes_out_harmless(client):
    petition = ClosedPetitionFactory(government_response_at=timezone.now())
    _respond(
        petition,
        details='Hello <script>alert("x")</script><iframe src="https://evil.example"></iframe>\n\n'
        '[click me](javascript:alert(1)) <a href="javascript:alert(2)">or me</a> '
        '<img src=x onerror="alert(3)"> <div style="x">raw</div>\n\n&lt;script&gt;',
    )
    response = client.get(api_url(petition.pk))
    details = response.json()["data"]["attributes"]["government_response"]["details"]
    assert "alert(" not in details and "javascript" not in details and "iframe" not in details
    assert "onerror" not in details and "style=" not in details
    assert details.startswith("Hello") and "click me" in details and "or me" in details and "raw" in details
    # Escaped markup stays as the text it was, and even then never reaches the bytes as a tag.
    assert details.endswith("<script>")
    assert b"<" not in response.content


def test_a_draft_response_is_not_published(client):
    petition = ClosedPetitionFactory(government_response_at=timezone.now())
    _respond(petition, details="Not yet", status=ResponseStatus.DRAFT)
    a = fetch(client, petition.pk)["data"]["attributes"]
    assert a["government_response"] is None
    assert a["government_response_at"] is None
    assert b"Not yet" not in client.get(api_url(petition.pk)).content


def test_response_times_are_publication_times_not_drafting_times(client):
    petition = ClosedPetitionFactory(government_response_at=timezone.now())
    published = datetime.datetime(2026, 3, 9, 16, 0, tzinfo=datetime.UTC)
    edited = datetime.datetime(2026, 3, 20, 9, 30, 0, 250000, tzinfo=datetime.UTC)
    _respond(petition, details="Text", created_at=published - datetime.timedelta(days=9))
    GovernmentResponse.objects.filter(petition=petition).update(
        published_at=published, text_updated_at=edited
    )
    response = fetch(client, petition.pk)["data"]["attributes"]["government_response"]
    assert response == {
        "responded_on": "2026-03-09",
        "summary": "The Government has no plans to do this.",
        "details": "Text",
        "created_at": "2026-03-09T16:00:00.000Z",
        "updated_at": "2026-03-20T09:30:00.250Z",
    }


# --- Debate, breakdowns, other business -------------------------------------------------------------------------


def test_a_petition_not_debated_has_a_debate_without_a_date(client):
    petition = ClosedPetitionFactory(debate_outcome_at=timezone.now())
    event = ParliamentaryEvent.objects.create(
        kind=EventKind.WESTMINSTER_HALL_DEBATE,
        title="Not debated",
        starts_at=timezone.now(),
        outcome=Outcome.NOT_DEBATED,
        outcome_reason="The Committee decided a debate would not add to recent ones.",
    )
    event.petitions.add(petition)
    # A statement is not a debate, and a debate without an outcome has no outcome to show yet.
    for kind, outcome in ((EventKind.MINISTERIAL_STATEMENT, Outcome.DEBATED), (EventKind.CHAMBER_DEBATE, "")):
        other = ParliamentaryEvent.objects.create(
            kind=kind, title="x", starts_at=timezone.now(), outcome=outcome
        )
        other.petitions.add(petition)
    debate = fetch(client, petition.pk)["data"]["attributes"]["debate"]
    assert debate == {
        "debated_on": None,
        "transcript_url": "",
        "video_url": "",
        "debate_pack_url": "",
        "overview": "The Committee decided a debate would not add to recent ones.",
    }


def test_no_debate_outcome_means_a_null_debate(client):
    petition = OpenPetitionFactory()
    event = ParliamentaryEvent.objects.create(
        kind=EventKind.WESTMINSTER_HALL_DEBATE, title="Scheduled", starts_at=timezone.now()
    )
    event.petitions.add(petition)
    assert fetch(client, petition.pk)["data"]["attributes"]["debate"] is None


def test_breakdowns_come_from_the_tallies_only_with_signatures(client):
    petition = OpenPetitionFactory(signature_count=65)
    north_west = Constituency.objects.filter(region__api_code="B").order_by("gss_code").first()
    north_east_1, north_east_2, north_east_3 = Constituency.objects.filter(region__api_code="A").order_by(
        "gss_code"
    )[:3]
    for constituency, count in ((north_west, 30), (north_east_2, 5), (north_east_1, 20), (north_east_3, 0)):
        ConstituencyPetitionJournal.objects.create(
            petition=petition, constituency=constituency, signature_count=count
        )
    for code, count in (("GB", 55), ("FR", 10), ("DE", 0)):
        CountryPetitionJournal.objects.create(
            petition=petition, country=Country.objects.get(code=code), signature_count=count
        )
    a = fetch(client, petition.pk)["data"]["attributes"]
    expected = sorted(
        [(north_west, 30), (north_east_1, 20), (north_east_2, 5)], key=lambda pair: pair[0].gss_code
    )
    assert a["signatures_by_constituency"] == [
        {"name": c.name, "ons_code": c.gss_code, "mp": f"{c.mp_name} MP", "signature_count": n}
        for c, n in expected
    ]
    assert a["signatures_by_country"] == [
        {"name": "France", "code": "FR", "signature_count": 10},
        {"name": "United Kingdom", "code": "GB", "signature_count": 55},
    ]
    assert a["signatures_by_region"] == [
        {"name": "North East", "ons_code": "A", "signature_count": 25},
        {"name": "North West", "ons_code": "B", "signature_count": 30},
    ]


def test_a_constituency_without_an_mp_has_a_null_mp(client):
    petition = OpenPetitionFactory()
    constituency = Constituency.objects.order_by("gss_code").first()
    Constituency.objects.filter(pk=constituency.pk).update(mp_name="")
    ConstituencyPetitionJournal.objects.create(
        petition=petition, constituency=constituency, signature_count=1
    )
    assert fetch(client, petition.pk)["data"]["attributes"]["signatures_by_constituency"][0]["mp"] is None


def test_other_business_body_is_plain_text(client):
    petition = ClosedPetitionFactory()
    OtherBusiness.objects.create(
        petition=petition,
        subject="MPs to debate",
        body="**Watch** [on Parliament TV](https://parliamentlive.tv/x) <script>x()</script>",
        occurred_on=datetime.date(2026, 5, 20),
    )
    [business] = fetch(client, petition.pk)["data"]["attributes"]["other_parliamentary_business"]
    assert business["subject"] == "MPs to debate"
    assert business["body"] == "Watch on Parliament TV (https://parliamentlive.tv/x)"
    assert business["occurred_on"] == "2026-05-20"


def test_queries_do_not_grow_with_constituencies_countries_or_business(client, django_assert_num_queries):
    SiteSettings.cached()
    small = OpenPetitionFactory()
    ValidatedSignatureFactory(petition=small, creator=True)
    ConstituencyPetitionJournal.objects.create(
        petition=small, constituency=Constituency.objects.first(), signature_count=1
    )
    big = OpenPetitionFactory()
    ValidatedSignatureFactory(petition=big, creator=True)
    big.departments.add(*(Department.objects.create(acronym=f"D{i}", name=f"Dept {i}") for i in range(3)))
    big.topics.add(*(Topic.objects.create(code=f"t{i}", name=f"Topic {i}") for i in range(3)))
    ConstituencyPetitionJournal.objects.bulk_create(
        ConstituencyPetitionJournal(petition=big, constituency=c, signature_count=3)
        for c in Constituency.objects.all()
    )
    CountryPetitionJournal.objects.bulk_create(
        CountryPetitionJournal(petition=big, country=c, signature_count=2)
        for c in Country.objects.all()[:100]
    )
    for i in range(4):
        OtherBusiness.objects.create(petition=big, subject=f"Business {i}", body="Body")
    _respond(big, details="Details")
    # The petition (with rejection and response), departments, topics, creator, debate, countries,
    # constituencies (with their regions) and other business.
    for petition in (small, big):
        with django_assert_num_queries(8):
            attributes = fetch(client, petition.pk)["data"]["attributes"]
    assert len(attributes["signatures_by_constituency"]) == Constituency.objects.count() == 650
    assert len(attributes["signatures_by_region"]) == 12


# --- Privacy ---------------------------------------------------------------------------------------------------------


def test_nothing_about_signers_and_the_creator_only_while_open(client):
    petition = OpenPetitionFactory()
    creator = ValidatedSignatureFactory(
        petition=petition,
        creator=True,
        name="Ada Creator",
        email="ada.creator@example.com",
        ip_address="192.0.2.55",
    )
    signer = ValidatedSignatureFactory(
        petition=petition, name="Bob Signer", email="bob@example.org", ip_address="198.51.100.7"
    )
    body = client.get(api_url(petition.pk)).content.decode()
    assert "Ada Creator" in body
    for private in (
        creator.email,
        creator.postcode,
        creator.ip_address,
        signer.name,
        signer.email,
        signer.ip_address,
    ):
        assert private not in body
    for token in (creator.confirm_token, creator.unsubscribe_token, petition.sponsor_token):
        assert token not in body
    Petition.objects.filter(pk=petition.pk).update(state=PetitionState.CLOSED, closed_at=timezone.now())
    closed = client.get(api_url(petition.pk))
    assert closed.json()["data"]["attributes"]["creator_name"] is None
    assert b"Ada Creator" not in closed.content


# --- What the public cannot see --------------------------------------------------------------------------------------


def _readable_page(response) -> str:
    assert response["Content-Type"].startswith("text/html")
    return re.sub(r"\s+", " ", response.content.decode())


@pytest.mark.parametrize(
    "state",
    [
        PetitionState.PENDING,
        PetitionState.VALIDATED,
        PetitionState.SPONSORED,
        PetitionState.FLAGGED,
        PetitionState.DORMANT,
        PetitionState.STOPPED,
        PetitionState.HIDDEN,
    ],
)
def test_petitions_never_published_are_not_found(client, state):
    petition = PetitionFactory(state=state, signature_count=3)
    response = client.get(api_url(petition.pk))
    assert response.status_code == 404
    assert "Page not found" in _readable_page(response)
    assert "max-age" not in response.get("Cache-Control", "")


@pytest.mark.parametrize("state", [PetitionState.REMOVED, PetitionState.HIDDEN])
def test_petitions_taken_down_after_publication_are_gone(client, state):
    petition = PetitionFactory(state=state, opened_at=timezone.now() - timezone.timedelta(days=3))
    response = client.get(api_url(petition.pk))
    assert response.status_code == 410
    page = _readable_page(response)
    assert "This petition has been removed" in page
    assert petition.action not in page


@pytest.mark.parametrize(
    "path",
    [
        "/petitions/987654321.json",
        "/petitions/abc.json",
        "/petitions/12a.json",
        "/petitions/-1.json",
        "/petitions/99999999999999999999999.json",
        "/petitions/.json",
    ],
)
def test_unknown_or_malformed_ids_are_not_found(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert "Page not found" in _readable_page(response)


def test_the_route_and_count_json_live_side_by_side(client):
    petition = OpenPetitionFactory(signature_count=9)
    assert reverse("petitions:detail_json", args=[petition.pk]) == f"/petitions/{petition.pk}.json"
    assert client.get(f"/petitions/{petition.pk}/count.json").json()["signature_count"] == 9
    assert fetch(client, petition.pk)["data"]["attributes"]["signature_count"] == 9
