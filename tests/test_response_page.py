"""The government response on the petition page, and the state banners above the timeline."""

import re
from datetime import UTC, date, datetime

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from petitions.models import DebateState, Department, ResponseState, SiteSettings
from responses.models import GovernmentResponse, ResponseStatus
from tests.factories import ClosedPetitionFactory, OpenPetitionFactory

pytestmark = pytest.mark.django_db

DETAILS = "## Reforms to teacher training\n\nAll teachers are teachers of SEND.\n\n- one\n- two"


def _response(petition, **fields) -> GovernmentResponse:
    fields.setdefault("responded_on", date(2022, 3, 9))
    fields.setdefault(
        "summary", "To achieve Qualified Teacher Status, all teachers must already demonstrate it."
    )
    fields.setdefault("details", DETAILS)
    fields.setdefault("status", ResponseStatus.PUBLISHED)
    return GovernmentResponse.objects.create(petition=petition, **fields)


def _page(client, petition) -> str:
    response = client.get(f"/petitions/{petition.pk}")
    assert response.status_code == 200
    return re.sub(r"\s+", " ", response.content.decode())


def test_published_response_block(client):
    petition = ClosedPetitionFactory(response_state=ResponseState.RESPONDED)
    department = Department.objects.create(acronym="DFE", name="Department for Education")
    response = _response(petition, department=department)
    html = _page(client, petition)
    block = html[html.index(f'id="government_response-{response.pk}"') :]
    assert f'id="government_response-{response.pk}-heading">Government responded</h2>' in block
    assert "This response was given on 9 March 2022" in block
    assert '<p class="govuk-body-l">To achieve Qualified Teacher Status' in block
    # The details sit in a GOV.UK details element, rendered from Markdown.
    assert (
        '<details class="govuk-details"> <summary class="govuk-details__summary">'
        '<span class="govuk-details__summary-text">Read the response in full</span></summary>'
    ) in block
    assert '<h3 class="govuk-heading-m">Reforms to teacher training</h3>' in block
    assert '<ul class="govuk-list govuk-list--bullet">' in block
    assert block.index("Read the response in full") < block.index("Department for Education")
    assert "Updated on" not in html


def test_response_without_details_has_nothing_to_expand(client):
    petition = ClosedPetitionFactory(response_state=ResponseState.RESPONDED)
    _response(petition, details="")
    html = _page(client, petition)
    assert "Government responded" in html and "Read the response in full" not in html


@pytest.mark.parametrize(
    ("updated_at", "shown"),
    [
        (datetime(2022, 7, 31, 23, 30, tzinfo=UTC), "Updated on 1 August 2022"),  # BST: already 1 August
        (datetime(2022, 12, 31, 23, 30, tzinfo=UTC), "Updated on 31 December 2022"),  # GMT
    ],
)
def test_updated_on_shows_when_the_text_changed_in_london_time(client, updated_at, shown):
    petition = ClosedPetitionFactory(response_state=ResponseState.RESPONDED)
    _response(petition, text_updated_at=updated_at)
    html = _page(client, petition)
    assert html.index("This response was given on 9 March 2022") < html.index(shown)
    assert html.count("Updated on") == 1


def test_draft_response_never_shows(client):
    petition = OpenPetitionFactory(response_state=ResponseState.AWAITING)
    _response(
        petition, status=ResponseStatus.DRAFT, summary="A draft nobody may read", details="Draft details"
    )
    html = _page(client, petition)
    assert "A draft nobody may read" not in html and "Draft details" not in html
    assert "Government responded" not in html
    assert "The Government will respond" in html


def test_awaiting_banner_says_the_government_will_respond(client):
    site = SiteSettings.load()
    petition = OpenPetitionFactory(response_state=ResponseState.AWAITING)
    html = _page(client, petition)
    assert "<strong>The Government will respond</strong>" in html
    assert f"more than {site.threshold_for_response:,} signatures" in html
    assert "Government responded" not in html


def test_responded_banner_links_to_the_response_block(client):
    petition = ClosedPetitionFactory(response_state=ResponseState.RESPONDED)
    response = _response(petition)
    html = _page(client, petition)
    banner = html.index("<strong>Government responded</strong>")
    assert (
        "The Government responded to this petition on "
        f'<a class="govuk-link" href="#government_response-{response.pk}">9 March 2022</a>.'
    ) in html
    target = html.index(f'<section class="app-petition-event" id="government_response-{response.pk}"')
    assert banner < target
    assert "The Government will respond" not in html


def test_responded_state_without_a_published_response_shows_no_banner(client):
    petition = ClosedPetitionFactory(response_state=ResponseState.RESPONDED)
    _response(petition, status=ResponseStatus.DRAFT)
    html = _page(client, petition)
    assert "Government responded" not in html and "#government_response-" not in html


@time_machine.travel(datetime(2022, 6, 1, 12, 0, tzinfo=UTC), tick=False)
def test_debate_banners_are_kept_beside_the_response_banner(client):
    petition = ClosedPetitionFactory(
        response_state=ResponseState.RESPONDED,
        debate_state=DebateState.SCHEDULED,
        scheduled_debate_date=date(2022, 7, 4),
    )
    _response(petition)
    html = _page(client, petition)
    assert "<strong>Government responded</strong>" in html
    assert "Parliament will debate this petition on Monday 4 July 2022." in html
    petition.debate_state = DebateState.AWAITING
    petition.save(update_fields=["debate_state"])
    assert "This petition will be considered for debate" in _page(client, petition)


def test_response_markdown_is_harmless(client):
    petition = ClosedPetitionFactory(response_state=ResponseState.RESPONDED)
    _response(
        petition,
        summary="<script>alert('summary')</script>",
        details=(
            "<script>alert('x')</script>\n\n<img src=x onerror=alert(1)>\n\n"
            '<iframe src="https://evil.example/"></iframe>\n\n[Read more](javascript:alert(1))'
        ),
    )
    html = _page(client, petition).lower()
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#x27;summary&#x27;)&lt;/script&gt;" in html
    assert "onerror" not in html and "<iframe" not in html and "<img" not in html
    assert "javascript:" not in html
    assert "read more" in html


def test_response_page_queries_do_not_depend_on_the_response(client):
    site_ready = ClosedPetitionFactory()
    _page(client, site_ready)  # fills the per-process caches first
    without = ClosedPetitionFactory()
    with CaptureQueriesContext(connection) as plain:
        _page(client, without)
    responded = ClosedPetitionFactory(response_state=ResponseState.RESPONDED)
    _response(responded, department=Department.objects.create(acronym="HO", name="Home Office"))
    with CaptureQueriesContext(connection) as with_response:
        _page(client, responded)
    assert len(with_response) == len(plain)
