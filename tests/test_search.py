"""Search on `/petitions`: PostgreSQL full text through the trigger-maintained `search_vector` (prefix matching,
ts_rank), and the word-by-word fallback on SQLite."""

import re

import pytest
from django.db import connection

from petitions import browse
from petitions.models import Petition, PetitionState
from tests.factories import PetitionFactory

pytestmark = pytest.mark.django_db

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="full-text search needs PostgreSQL (the search_vector trigger)"
)


def _petition(action, background="Because it matters.", details="", state=PetitionState.OPEN, **fields):
    return PetitionFactory(
        action=action, background=background, additional_details=details, state=state, **fields
    )


def _found(q, state="all") -> list[Petition]:
    return list(browse.petitions_browse(state=state, q=q))


@pytest.fixture
def texts():
    return {
        "action": _petition("Fund research into hedgehog decline", signature_count=10),
        "background": _petition(
            "Protect garden wildlife", "Hedgehog numbers have halved since 2000.", signature_count=20
        ),
        "details": _petition(
            "Ban slug pellets",
            "Pellets poison animals.",
            "Hedgehogs eat the poisoned slugs.",
            signature_count=30,
        ),
        "other": _petition("Lower the voting age to 16", "Young people pay tax.", signature_count=1000),
    }


def test_search_finds_words_in_the_action_background_and_additional_details(texts):
    assert {p.pk for p in _found("hedgehog")} == {texts[k].pk for k in ("action", "background", "details")}
    assert _found("voting") == [texts["other"]]
    assert _found("poison") == [texts["details"]]
    assert _found("halved") == [texts["background"]]


def test_every_word_must_match_and_case_does_not_matter(texts):
    assert _found("HEDGEHOG Garden") == [texts["background"]]
    assert _found("hedgehog voting") == []


def test_the_action_ranks_before_the_background_and_the_background_before_the_details(texts):
    # By signatures alone ("all" facet order) the details match would come first.
    assert _found("hedgehog") == [texts["action"], texts["background"], texts["details"]]
    ranks = [p.search_rank for p in _found("hedgehog")]
    assert ranks == sorted(ranks, reverse=True) and ranks[0] > ranks[-1]


def test_equally_relevant_matches_keep_the_facets_order():
    older = _petition("Save the red squirrel", signature_count=5)
    bigger = _petition("Save the red squirrel now", signature_count=500)
    assert [p.pk for p in _found("squirrel", state="open")] == [bigger.pk, older.pk]


def test_the_last_word_is_a_prefix_so_search_as_you_type_works():
    vaccines = _petition("Make vaccines free for everyone")
    _petition("Plant more trees")
    assert _found("vacc") == [vaccines]
    assert _found("free vacc") == [vaccines]


@postgresql_only
def test_the_trigger_fills_and_refreshes_the_search_vector():
    petition = _petition("Make vaccines free", "Health for all.", "Details about clinics.")
    petition.refresh_from_db()
    assert "vaccin" in str(petition.search_vector)
    assert "clinic" in str(petition.search_vector)
    petition.action = "Build more libraries"
    petition.save()
    assert _found("libraries") == [petition]
    assert _found("vaccines") == []


@postgresql_only
def test_postgresql_matches_word_forms_and_ignores_stop_words():
    petition = _petition("Stop the closure of rural libraries")
    assert _found("library closures") == [petition]
    assert _found("the rural") == [petition]


@postgresql_only
def test_postgresql_uses_the_index_expression_not_a_scan_of_the_texts():
    sql = str(browse.petitions_browse(state="open", q="vacc").query)
    assert "search_vector" in sql and "@@" in sql and "LIKE" not in sql.upper()


def test_search_within_a_facet_and_counts_under_the_same_search(texts):
    closed = _petition(
        "Hedgehog crossings on roads", state=PetitionState.CLOSED, closed_at=texts["other"].created_at
    )
    _petition("Hedgehog tunnels", state=PetitionState.PENDING)
    assert _found("hedgehog", state="closed") == [closed]
    counts = browse.facet_counts("hedgehog")
    assert counts["all"] == 4 and counts["open"] == 3 and counts["closed"] == 1 and counts["rejected"] == 0


@pytest.mark.parametrize("q", ["", "   "])
def test_a_blank_query_finds_everything(texts, q):
    assert len(_found(q)) == 4
    assert browse.facet_counts(q)["all"] == 4


@pytest.mark.parametrize("q", ["!!!", "& | ! ( ) : * < >", "''", "-"])
def test_a_query_without_words_finds_nothing(texts, q, client):
    assert _found(q) == []
    assert browse.facet_counts(q) == dict.fromkeys(browse.FACET_SLUGS, 0)
    assert client.get("/petitions", {"q": q}).status_code == 200


@pytest.mark.parametrize(
    "q",
    [
        "hedgehog & !voting",
        "hedgehog:* | voting",
        "'; DROP TABLE petitions_petition; --",
        "hedgehog) (",
        '"hedgehog decline"',
        "hedgehog_decline",
        "café naïve 東京",
        "x" * 250,
        " ".join(["hedgehog"] * 100),
    ],
)
def test_operators_and_odd_input_are_read_as_words_never_an_error(texts, q, client):
    response = client.get("/petitions", {"q": q})
    assert response.status_code == 200
    browse.facet_counts(q)
    list(browse.petitions_browse(state="all", q=q))


def test_operator_characters_separate_words(texts):
    assert _found("hedgehog & research") == [texts["action"]]
    assert _found('"hedgehog decline"') == [texts["action"]]


def test_the_search_page_shows_matches_with_the_terms(client, texts):
    html = client.get("/petitions", {"q": "hedgehog"}).content.decode()
    listed = [int(pk) for pk in re.findall(r'<li class="[^"]*" data-petition="(\d+)"', html)]
    assert listed == [texts[k].pk for k in ("action", "background", "details")]
    assert "matching “hedgehog”" in html
    assert "<title>Search results for “hedgehog”" in html


def test_the_search_is_escaped_on_the_page(client, texts):
    html = client.get("/petitions", {"q": "<script>alert(1)</script>"}).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html


def test_words_are_capped(texts):
    words = browse.search_words(" ".join(f"w{n}" for n in range(100)) + " " + "y" * 500)
    assert len(words) == browse.SEARCH_MAX_WORDS
    assert all(len(word) <= browse.WORD_MAX_LENGTH for word in browse.search_words("y" * 500))
    assert browse.search_tsquery(["climate", "change"]) == "climate & change:*"
