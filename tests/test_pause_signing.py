"""While signing is paused, every open deadline moves on one London day per day paused, at most once a day."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from petitions import tasks
from petitions.dates import end_of_day
from petitions.models import Petition, PetitionState, SiteSettings
from petitions.services import petitions_extend_deadlines_while_paused

from .factories import ClosedPetitionFactory, OpenPetitionFactory

pytestmark = pytest.mark.django_db

LONDON = ZoneInfo("Europe/London")


def _pause(paused=True):
    site = SiteSettings.load()
    site.disable_collecting_signatures = paused
    site.save()


def _deadline(petition) -> datetime:
    return Petition.objects.get(pk=petition.pk).deadline_at


def test_nothing_moves_while_signing_is_open():
    petition = OpenPetitionFactory(deadline_at=end_of_day(date(2026, 3, 10)))
    assert petitions_extend_deadlines_while_paused(today=date(2026, 3, 1)) == 0
    assert _deadline(petition) == end_of_day(date(2026, 3, 10))
    assert SiteSettings.load().deadlines_extended_on is None


def test_open_deadlines_move_one_day_and_only_once_a_day():
    _pause()
    petitions = [OpenPetitionFactory(deadline_at=end_of_day(date(2026, 3, day))) for day in (10, 11, 20)]
    closed = ClosedPetitionFactory(deadline_at=end_of_day(date(2026, 2, 1)))

    assert petitions_extend_deadlines_while_paused(today=date(2026, 3, 1)) == 3
    # Twice the same day (two beats, or a manual run): no second day.
    assert petitions_extend_deadlines_while_paused(today=date(2026, 3, 1)) == 0

    # 10 → 11 and 11 → 12: a petition moved onto another's old deadline is not moved again.
    assert [_deadline(p) for p in petitions] == [end_of_day(date(2026, 3, day)) for day in (11, 12, 21)]
    assert _deadline(closed) == end_of_day(date(2026, 2, 1))
    assert SiteSettings.load().deadlines_extended_on == date(2026, 3, 1)

    assert petitions_extend_deadlines_while_paused(today=date(2026, 3, 2)) == 3
    assert [_deadline(p) for p in petitions] == [end_of_day(date(2026, 3, day)) for day in (12, 13, 22)]


def test_a_day_is_a_london_day_across_the_clock_change():
    _pause()
    petition = OpenPetitionFactory(deadline_at=datetime(2025, 10, 25, 23, 59, 59, 999999, tzinfo=LONDON))
    petitions_extend_deadlines_while_paused(today=date(2025, 10, 20))
    # 25 hours later in UTC terms, still 23:59:59.999999 on the London clock.
    assert _deadline(petition).astimezone(LONDON).isoformat() == "2025-10-26T23:59:59.999999+00:00"


def test_after_signing_resumes_deadlines_stay_where_they_got_to():
    _pause()
    petition = OpenPetitionFactory(deadline_at=end_of_day(date(2026, 3, 10)))
    for day in (1, 2, 3):
        petitions_extend_deadlines_while_paused(today=date(2026, 3, day))
    _pause(False)
    assert petitions_extend_deadlines_while_paused(today=date(2026, 3, 4)) == 0
    assert _deadline(petition) == end_of_day(date(2026, 3, 13))


def test_the_task_uses_the_london_date():
    _pause()
    petition = OpenPetitionFactory(deadline_at=end_of_day(date(2026, 7, 10)))
    # 23:30 UTC on 30 June is already 1 July in London (BST).
    with time_machine.travel(datetime(2026, 6, 30, 23, 30, tzinfo=ZoneInfo("UTC")), tick=False):
        assert tasks.extend_deadlines_while_paused.delay().get() == 1
        assert tasks.extend_deadlines_while_paused.delay().get() == 0
    assert SiteSettings.load().deadlines_extended_on == date(2026, 7, 1)
    assert _deadline(petition) == end_of_day(date(2026, 7, 11))


def test_a_paused_night_moves_deadlines_before_the_close_job_looks_at_them():
    _pause()
    last_day = date(2026, 3, 10)
    petition = OpenPetitionFactory(deadline_at=end_of_day(last_day))
    with time_machine.travel(end_of_day(last_day) + timedelta(minutes=1), tick=False):
        assert tasks.close_petitions.delay().get() == 0
        # The 00:05 run the same night finds the day already done.
        assert tasks.extend_deadlines_while_paused.delay().get() == 0
    petition.refresh_from_db()
    assert petition.state == PetitionState.OPEN
    assert petition.deadline_at == end_of_day(date(2026, 3, 11))
