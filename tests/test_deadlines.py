"""Deadlines: the end of the same London calendar day N months after opening, whatever the clocks do."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from petitions.dates import add_local_days, add_months, days_left, deadline_for, months_before
from petitions.models import SiteSettings
from petitions.templatetags.petition_tags import days_left_filter, time_left

from .factories import OpenPetitionFactory

LONDON = ZoneInfo("Europe/London")


def london(*args) -> datetime:
    return datetime(*args, tzinfo=LONDON)


@pytest.mark.parametrize(
    ("opened", "months", "expected"),
    [
        # Any time of day closes at the end of the day.
        (london(2025, 3, 10, 0, 0), 6, "2025-09-10T23:59:59.999999+01:00"),
        (london(2025, 3, 10, 23, 59, 59), 6, "2025-09-10T23:59:59.999999+01:00"),
        # Month ends clamp: 31 August → 28 February, or 29 February in a leap year.
        (london(2025, 8, 31, 10, 0), 6, "2026-02-28T23:59:59.999999+00:00"),
        (london(2027, 8, 31, 10, 0), 6, "2028-02-29T23:59:59.999999+00:00"),
        (london(2023, 8, 30, 10, 0), 6, "2024-02-29T23:59:59.999999+00:00"),
        (london(2025, 12, 31, 10, 0), 6, "2026-06-30T23:59:59.999999+01:00"),
        (london(2024, 2, 29, 10, 0), 12, "2025-02-28T23:59:59.999999+00:00"),
        (london(2025, 7, 31, 10, 0), 1, "2025-08-31T23:59:59.999999+01:00"),
        # Across the year end.
        (london(2025, 11, 15, 10, 0), 3, "2026-02-15T23:59:59.999999+00:00"),
    ],
)
def test_deadline_is_the_end_of_the_same_day_n_months_on(opened, months, expected):
    assert deadline_for(opened, months).isoformat() == expected


def test_opened_in_winter_closes_at_the_end_of_a_summer_day():
    # 23:30 GMT on 10 January 2026 → 23:59:59.999999 BST on 10 July 2026 (22:59:59.999999 UTC).
    deadline = deadline_for(datetime(2026, 1, 10, 23, 30, tzinfo=UTC), 6)
    assert deadline.isoformat() == "2026-07-10T23:59:59.999999+01:00"
    assert deadline.astimezone(UTC) == datetime(2026, 7, 10, 22, 59, 59, 999999, tzinfo=UTC)


def test_opened_in_summer_closes_at_the_end_of_a_winter_day():
    # 23:30 BST on 15 June 2025 is 22:30 UTC: the London day is what counts.
    deadline = deadline_for(datetime(2025, 6, 15, 22, 30, tzinfo=UTC), 6)
    assert deadline.isoformat() == "2025-12-15T23:59:59.999999+00:00"


def test_opened_just_after_midnight_bst_counts_the_london_day_not_the_utc_one():
    # 00:30 BST on 26 October 2025 (the day the clocks go back) is still 25 October in UTC.
    opened = datetime(2025, 10, 25, 23, 30, tzinfo=UTC)
    assert timezone.localtime(opened).date() == date(2025, 10, 26)
    assert deadline_for(opened, 6).isoformat() == "2026-04-26T23:59:59.999999+01:00"


def test_opened_on_the_day_the_clocks_go_forward():
    # 02:30 BST on 30 March 2025, half an hour after the change.
    opened = datetime(2025, 3, 30, 1, 30, tzinfo=UTC)
    assert deadline_for(opened, 6).isoformat() == "2025-09-30T23:59:59.999999+01:00"
    # And 00:30 GMT, before it.
    assert deadline_for(datetime(2025, 3, 30, 0, 30, tzinfo=UTC), 6).date() == date(2025, 9, 30)


def test_closing_on_a_clock_change_day_still_ends_at_local_midnight():
    # Closing on 26 October 2025, when the clocks go back at 2am: the day has 25 hours, the end is 23:59:59 GMT.
    assert deadline_for(london(2025, 4, 26, 12, 0), 6).isoformat() == "2025-10-26T23:59:59.999999+00:00"
    # Closing on 29 March 2026, when the clocks go forward at 1am: the day has 23 hours, the end is 23:59:59 BST.
    assert deadline_for(london(2025, 9, 29, 12, 0), 6).isoformat() == "2026-03-29T23:59:59.999999+01:00"


@pytest.mark.django_db
def test_a_petition_opened_now_gets_the_deadline_of_its_london_day():
    with time_machine.travel(datetime(2025, 10, 25, 23, 30, tzinfo=UTC), tick=False):
        petition = OpenPetitionFactory()
        petition.deadline_at = deadline_for(petition.opened_at, SiteSettings.load().petition_duration_months)
        petition.save()
    petition.refresh_from_db()
    assert timezone.localtime(petition.deadline_at).isoformat() == "2026-04-26T23:59:59.999999+01:00"


@given(
    opened=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2090, 12, 31), timezones=st.just(UTC)
    ),
    months=st.integers(min_value=1, max_value=12),
)
def test_every_deadline_is_the_last_microsecond_of_a_london_day(opened, months):
    deadline = timezone.localtime(deadline_for(opened, months))
    assert deadline.time() == time.max
    assert deadline.date() == add_months(timezone.localdate(opened), months)
    assert deadline - opened > timedelta(days=27 * months)


def test_add_months_clamps_and_goes_backwards():
    assert add_months(date(2025, 8, 31), 6) == date(2026, 2, 28)
    assert add_months(date(2025, 8, 31), -6) == date(2025, 2, 28)
    assert add_months(date(2025, 1, 15), -1) == date(2024, 12, 15)


def test_months_before_keeps_london_wall_clock_time():
    assert months_before(london(2026, 5, 1, 3, 0), 6).isoformat() == "2025-11-01T03:00:00+00:00"


def test_adding_a_local_day_across_a_clock_change_keeps_the_end_of_the_day():
    assert add_local_days(london(2025, 10, 25, 23, 59, 59, 999999), 1).isoformat() == (
        "2025-10-26T23:59:59.999999+00:00"
    )
    assert add_local_days(london(2026, 3, 28, 23, 59, 59, 999999), 1).isoformat() == (
        "2026-03-29T23:59:59.999999+01:00"
    )


def test_days_left_counts_london_calendar_days():
    deadline = london(2026, 3, 10, 23, 59, 59, 999999)
    assert days_left(deadline, london(2026, 3, 10, 0, 0)) == 0
    assert days_left(deadline, london(2026, 3, 9, 23, 59)) == 1
    assert days_left(deadline, london(2026, 2, 28, 9, 0)) == 10
    assert days_left(deadline, london(2026, 3, 11, 0, 0)) == -1
    # 23:30 UTC on 25 October is already 26 October in London (BST).
    assert days_left(london(2025, 10, 27, 23, 59), datetime(2025, 10, 25, 23, 30, tzinfo=UTC)) == 1


def test_days_left_uses_the_current_time_by_default():
    with time_machine.travel(london(2026, 3, 1, 12, 0), tick=False):
        assert days_left(london(2026, 3, 10, 23, 59, 59, 999999)) == 9


def test_time_left_wording():
    deadline = london(2026, 3, 10, 23, 59, 59, 999999)
    assert time_left(deadline, london(2026, 2, 28, 9, 0)) == "10 days left"
    assert time_left(deadline, london(2026, 3, 8, 9, 0)) == "2 days left"
    assert time_left(deadline, london(2026, 3, 9, 9, 0)) == "Closes tomorrow at 11.59pm"
    assert time_left(deadline, london(2026, 3, 10, 0, 0)) == "Closes today at 11.59pm"
    assert time_left(deadline, london(2026, 3, 11, 0, 0, 1)) == "Closed to new signatures"
    assert time_left(None) == ""
    assert days_left_filter(deadline, london(2026, 3, 8, 9, 0)) == 2
    assert days_left_filter(None) == ""


@pytest.mark.django_db
def test_petition_page_shows_the_deadline_and_the_days_left(client):
    with time_machine.travel(london(2026, 2, 28, 9, 0), tick=False):
        petition = OpenPetitionFactory(deadline_at=london(2026, 3, 10, 23, 59, 59, 999999))
        html = client.get(petition.get_absolute_url()).content.decode()
    assert "<strong>Deadline</strong> 10 March 2026" in html
    assert "10 days left" in html
    assert "All petitions run for 6 months" in html


@pytest.mark.django_db
def test_petition_page_on_the_last_day_says_it_closes_tonight(client):
    with time_machine.travel(london(2026, 3, 10, 8, 0), tick=False):
        petition = OpenPetitionFactory(deadline_at=london(2026, 3, 10, 23, 59, 59, 999999))
        html = client.get(petition.get_absolute_url()).content.decode()
    assert "<strong>Deadline</strong> 10 March 2026" in html
    assert "Closes today at 11.59pm" in html


@pytest.mark.django_db
def test_petition_page_of_a_closed_petition_has_no_deadline(client):
    with time_machine.travel(london(2026, 3, 20, 8, 0), tick=False):
        petition = OpenPetitionFactory(
            state="closed",
            deadline_at=london(2026, 3, 10, 23, 59, 59, 999999),
            closed_at=london(2026, 3, 10, 23, 59, 59, 999999),
        )
        html = client.get(petition.get_absolute_url()).content.decode()
    assert "This petition is closed" in html
    assert "Deadline" not in html and "days left" not in html
