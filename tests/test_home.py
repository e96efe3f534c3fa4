"""The home page: trending petitions (from the tally's hourly rows), search, and the counts of petitions awaiting
or with a response or a debate."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from petitions.browse import petitions_trending
from petitions.models import DebateState, PetitionHourlyCount, PetitionState, ResponseState, SiteSettings
from tests.conftest import SITE_NOTICES
from tests.factories import PetitionFactory, ValidatedSignatureFactory

pytestmark = pytest.mark.django_db


def _petition(state=PetitionState.OPEN, **fields):
    return PetitionFactory(state=state, opened_at=timezone.now() - timedelta(days=3), **fields)


def _hourly(petition, hour, count):
    return PetitionHourlyCount.objects.create(petition=petition, hour=hour, signature_count=count)


def _this_hour():
    return timezone.now().astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def test_trending_weighs_the_previous_hour_by_the_share_inside_the_last_60_minutes():
    hour = datetime(2025, 5, 1, 14, tzinfo=UTC)
    now = hour + timedelta(minutes=15)
    steady = _petition(action="Steady", signature_count=5000)
    burst_earlier = _petition(action="Burst earlier", signature_count=100)
    just_started = _petition(action="Just started", signature_count=10)
    _hourly(steady, hour - timedelta(hours=1), 400)  # 3/4 inside the window: 300
    _hourly(steady, hour, 50)  # 350 in all
    _hourly(burst_earlier, hour - timedelta(hours=1), 1000)  # 750
    _hourly(just_started, hour, 200)  # 200
    _hourly(just_started, hour - timedelta(hours=2), 100_000)  # long before: ignored
    rows = petitions_trending(limit=3, now=now)
    assert [(p.action, p.trending_count) for p in rows] == [
        ("Burst earlier", 750),
        ("Steady", 350),
        ("Just started", 200),
    ]
    assert rows[0].get_absolute_url() == f"/petitions/{burst_earlier.pk}"
    # At 14:59 almost none of the 13:00 hour is left in the window.
    late = petitions_trending(limit=3, now=hour + timedelta(minutes=59))
    assert [(p.action, p.trending_count) for p in late] == [
        ("Just started", 200),
        ("Steady", 57),
        ("Burst earlier", 17),
    ]


def test_trending_counts_only_open_petitions_and_only_gains():
    hour = datetime(2025, 5, 1, 9, tzinfo=UTC)
    closed = _petition(PetitionState.CLOSED, action="Closed")
    hidden = _petition(PetitionState.HIDDEN, action="Hidden")
    invalidated = _petition(action="Invalidated")
    fine = _petition(action="Fine")
    _hourly(closed, hour, 9000)
    _hourly(hidden, hour, 9000)
    _hourly(invalidated, hour, 5)
    _hourly(invalidated, hour - timedelta(hours=1), -500)
    _hourly(fine, hour, 1)
    assert [p.action for p in petitions_trending(limit=10, now=hour + timedelta(minutes=1))] == ["Fine"]


def test_trending_keeps_the_limit_and_breaks_ties_by_petition_number():
    hour = datetime(2025, 5, 1, 9, tzinfo=UTC)
    petitions = [_petition(action=f"P{n}") for n in range(5)]
    for petition in petitions:
        _hourly(petition, hour, 10)
    assert [p.id for p in petitions_trending(limit=3, now=hour)] == [p.pk for p in petitions[:3]]


def test_home_page_shows_trending_petitions_with_their_last_hour(client):
    hour = _this_hour()
    first = _petition(action="Trending first", signature_count=40_000)
    second = _petition(action="Trending second", signature_count=90_000)
    _petition(action="Not trending", signature_count=1_000_000)
    _hourly(first, hour, 1234)
    _hourly(second, hour, 321)
    html = client.get("/").content.decode()
    section = html.split("Trending petitions", 1)[1].split("</ul>", 1)[0]
    assert re.findall(r'data-petition="(\d+)"', section) == [str(first.pk), str(second.pk)]
    assert "1,234 signatures in the last hour" in section
    assert "Not trending" not in section


def test_home_page_without_recent_signatures_has_no_trending_section(client):
    _petition(action="Quiet")
    assert "Trending petitions" not in client.get("/").content.decode()


def test_home_page_has_a_search_box_for_the_petitions_list(client):
    html = client.get("/").content.decode()
    form = re.search(r'<form method="get" action="/petitions" role="search".*?</form>', html, re.S).group(0)
    assert 'name="q"' in form and 'type="search"' in form
    assert 'for="home-search"' in form


def test_home_page_counts_public_petitions_awaiting_or_with_a_response_or_debate(client):
    _petition(response_state=ResponseState.AWAITING)
    _petition(response_state=ResponseState.AWAITING, debate_state=DebateState.AWAITING)
    _petition(PetitionState.CLOSED, response_state=ResponseState.RESPONDED, debate_state=DebateState.DEBATED)
    _petition(
        PetitionState.CLOSED, response_state=ResponseState.RESPONDED, debate_state=DebateState.NOT_DEBATED
    )
    _petition(debate_state=DebateState.SCHEDULED)
    # Not public: never counted.
    _petition(PetitionState.HIDDEN, response_state=ResponseState.AWAITING, debate_state=DebateState.DEBATED)
    _petition(PetitionState.SPONSORED, response_state=ResponseState.AWAITING)
    html = client.get("/").content.decode()
    counts = dict(re.findall(r'data-count="(\w+)">([\d,]+)<', html))
    assert counts == {
        "open": "3",
        "awaiting_response": "2",
        "with_response": "2",
        "awaiting_debate": "2",
        "debated": "1",
        "not_debated": "1",
    }
    assert 'href="/petitions?state=awaiting_response"' in html


def test_home_page_makes_a_fixed_number_of_queries(client, django_assert_num_queries):
    SiteSettings.load()  # created on first use
    # site notices, site settings, facet counts, trending, popular, recent responses
    expected = SITE_NOTICES + 5
    with django_assert_num_queries(expected):
        client.get("/")
    hour = _this_hour()
    for n in range(8):
        petition = _petition(
            action=f"Busy {n}",
            signature_count=n,
            response_state=ResponseState.RESPONDED,
            government_response_at=timezone.now(),
        )
        _hourly(petition, hour, 10 + n)
    with django_assert_num_queries(expected):
        html = client.get("/").content.decode()
    assert html.count("signatures in the last hour") == 3


def test_home_page_shows_no_signer_data(client):
    petition = _petition(action="Signed by someone", signature_count=1)
    signature = ValidatedSignatureFactory(petition=petition, name="Xanthippe Example")
    _hourly(petition, _this_hour(), 1)
    html = client.get("/").content.decode()
    assert "Signed by someone" in html
    assert signature.email not in html and "Xanthippe" not in html
    assert signature.postcode not in html
