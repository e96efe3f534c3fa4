"""Petition deadlines: a petition closes at the end of the day, London time, N months after it opened.

All calendar arithmetic here is done on London wall-clock dates, never on UTC instants, so a deadline stays at
23:59:59.999999 local time whichever side of a clock change the petition opened, closes or is extended.
"""

import calendar
from datetime import date, datetime, time, timedelta

from django.utils import timezone


def add_months(day, months: int):
    """The same day `months` later (or earlier, if negative), clamped to the month's last day (31 Aug → 28 Feb)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return day.replace(year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1]))


def end_of_day(day: date) -> datetime:
    """23:59:59.999999 London time on `day` (London never changes its clocks near midnight)."""
    return timezone.make_aware(datetime.combine(day, time.max))


def deadline_for(opened_at: datetime, months: int) -> datetime:
    """End of the same calendar day `months` after opening (clamped at month end), London time."""
    return end_of_day(add_months(timezone.localdate(opened_at), months))


def add_local_days(value: datetime, days: int) -> datetime:
    """The same London wall-clock time `days` calendar days later (not `days` × 24 hours across a clock change)."""
    local = timezone.localtime(value)
    return timezone.make_aware(datetime.combine(local.date() + timedelta(days=days), local.time()))


def months_before(now: datetime, months: int) -> datetime:
    """The same London wall-clock time `months` earlier, clamped at month end."""
    local = timezone.localtime(now)
    day = add_months(local.date(), -months)
    return timezone.make_aware(datetime.combine(day, local.time()))


def days_left(deadline: datetime, now: datetime | None = None) -> int:
    """Whole London calendar days from today until the deadline's day: 0 on the last day, negative once past."""
    return (timezone.localdate(deadline) - timezone.localdate(now or timezone.now())).days
