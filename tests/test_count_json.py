"""`/petitions/<id>/count.json`: the live count in petition.parliament.uk's format, and the page that polls it."""

import datetime
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from petitions.models import DebateState, PetitionState, SiteSettings

from .factories import OpenPetitionFactory, PetitionFactory

pytestmark = pytest.mark.django_db

KEYS = {
    "signature_count",
    "response_threshold_reached_at",
    "government_response_at",
    "debate_threshold_reached_at",
    "scheduled_debate_date",
    "debate_outcome_at",
    "debated",
}
LONDON = datetime.timezone(datetime.timedelta(hours=1))  # British Summer Time


def count_url(petition_id: int) -> str:
    return reverse("petitions:count_json", args=[petition_id])


def test_a_new_petition_has_its_count_and_nulls(client):
    petition = OpenPetitionFactory(signature_count=1234)
    response = client.get(count_url(petition.pk))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "signature_count": 1234,
        "response_threshold_reached_at": None,
        "government_response_at": None,
        "debate_threshold_reached_at": None,
        "scheduled_debate_date": None,
        "debate_outcome_at": None,
        "debated": False,
    }


def test_times_are_utc_with_milliseconds_and_the_date_is_iso(client):
    summer = datetime.datetime(2026, 6, 1, 13, 0, 5, 123456, tzinfo=LONDON)
    petition = PetitionFactory(
        state=PetitionState.CLOSED,
        signature_count=150_000,
        response_threshold_reached_at=summer,
        government_response_at=datetime.datetime(2026, 1, 31, 12, 0, tzinfo=datetime.UTC),
        debate_threshold_reached_at=summer + datetime.timedelta(days=1),
        scheduled_debate_date=datetime.date(2026, 7, 6),
        debate_outcome_at=datetime.datetime(2026, 7, 6, 20, 30, 0, 999, tzinfo=datetime.UTC),
        debate_state=DebateState.DEBATED,
    )
    data = client.get(count_url(petition.pk)).json()
    assert set(data) == KEYS
    assert data["response_threshold_reached_at"] == "2026-06-01T12:00:05.123Z"
    assert data["government_response_at"] == "2026-01-31T12:00:00.000Z"
    assert data["debate_threshold_reached_at"] == "2026-06-02T12:00:05.123Z"
    assert data["scheduled_debate_date"] == "2026-07-06"
    assert data["debate_outcome_at"] == "2026-07-06T20:30:00.000Z"
    assert data["debated"] is True
    for key in ("response_threshold_reached_at", "government_response_at", "debate_outcome_at"):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", data[key])


def test_headers_follow_the_tally_interval(client):
    site = SiteSettings.load()
    site.signature_count_interval = 7
    site.save()
    response = client.get(count_url(OpenPetitionFactory().pk))
    assert response["Cache-Control"] == "public, max-age=7, stale-while-revalidate=14, stale-if-error=35"
    assert response["Access-Control-Allow-Origin"] == "*"


def test_a_rejected_petition_is_visible(client):
    petition = PetitionFactory(state=PetitionState.REJECTED)
    assert client.get(count_url(petition.pk)).status_code == 200


@pytest.mark.parametrize(
    "state",
    [
        PetitionState.PENDING,
        PetitionState.VALIDATED,
        PetitionState.SPONSORED,
        PetitionState.FLAGGED,
        PetitionState.DORMANT,
        PetitionState.HIDDEN,
        PetitionState.STOPPED,
        PetitionState.REMOVED,
    ],
)
def test_petitions_that_are_not_visible_are_json_404s(client, state):
    petition = PetitionFactory(state=state, signature_count=3)
    response = client.get(count_url(petition.pk))
    assert response.status_code == 404
    assert response.json() == {"error": "Not found"}
    assert "max-age" not in response.get("Cache-Control", "")


def test_a_missing_petition_is_a_json_404(client):
    response = client.get(count_url(987654321))
    assert (response.status_code, response.json()) == (404, {"error": "Not found"})


def test_only_reads_are_allowed(client):
    assert client.post(count_url(OpenPetitionFactory().pk)).status_code == 405


def test_count_json_makes_at_most_two_queries(client, django_assert_max_num_queries):
    SiteSettings.load()
    petition = OpenPetitionFactory()
    with django_assert_max_num_queries(2):
        assert client.get(count_url(petition.pk)).status_code == 200


def test_the_petition_page_polls_the_count(client):
    petition = OpenPetitionFactory(signature_count=12)
    page = client.get(petition.get_absolute_url()).content.decode()
    count = re.search(r'<p class="app-signature-count"[^>]*>', page).group(0)
    assert 'role="status"' in count
    assert f'data-count-url="{count_url(petition.pk)}"' in count
    assert '<script type="module" src="/static/js/count.js' in page or re.search(
        r'<script type="module" src="[^"]*js/count[^"]*\.js">', page
    )


def test_the_script_polls_while_visible_and_updates_the_status_region():
    script = (Path(settings.BASE_DIR) / "static" / "js" / "count.js").read_text()
    assert "data-count-url" in script and "visibilityState" in script and "fetch(" in script
