"""Petition deadlines: a petition closes at the end of the day, London time, N months after it opened."""

import calendar
from datetime import datetime, time, timedelta

from django.utils import timezone


def add_months(day, months: int):
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return day.replace(year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1]))


def deadline_for(opened_at: datetime, months: int) -> datetime:
    """End of the same calendar day `months` after opening (clamped at month end), London time."""
    opened_day = timezone.localtime(opened_at).date()
    closing_day = add_months(opened_day, months)
    end = datetime.combine(closing_day + timedelta(days=1), time.min)
    return timezone.make_aware(end) - timedelta(microseconds=1)
