"""A petition's signature history: `/petitions/<id>/history.json` and the chart on the petition page.

Both read `PetitionHourlyCount`, which the tally keeps in the same transaction as the counts (see
petitions/services/counting.py): one query for the petition's whole life, whatever its length. Hours with no net
change are left out. The chart is plain SVG drawn on the server (no JavaScript), aggregated to days or weeks for
long lives so that it never has more than `MAX_POINTS` points, with a table of the same figures beside it.
"""

import datetime
import math
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.humanize.templatetags.humanize import intcomma
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_safe

from .api import MAX_ID, api_cache_headers, api_datetime, api_json_response, petition_api_status
from .models import Petition, PetitionHourlyCount, PetitionState, SiteSettings
from .templatetags.petition_tags import clock_time, long_date

HOUR = datetime.timedelta(hours=1)

#: Points of the chart's line at most (one per period, plus the start at zero).
MAX_POINTS = 200

# The chart's drawing area, in SVG user units (the SVG scales to its container).
WIDTH, HEIGHT = 640, 260
PLOT_LEFT, PLOT_RIGHT, PLOT_TOP, PLOT_BOTTOM = 72, 624, 16, 220


# --- Reads -------------------------------------------------------------------------------------------------------


def petition_hours(*, petition_id: int) -> list[tuple[datetime.datetime, int]]:
    """(UTC hour, signatures gained that hour) for every hour with a change, oldest first: one query."""
    return list(
        PetitionHourlyCount.objects.filter(petition_id=petition_id)
        .exclude(signature_count=0)
        .order_by("hour")
        .values_list("hour", "signature_count")
    )


def history_document(*, petition_id: int, hours: list[tuple[datetime.datetime, int]]) -> dict:
    """The whole `/petitions/<id>/history.json` document: each hour's count and the running total."""
    total, items = 0, []
    for hour, count in hours:
        total += count
        items.append({"hour": api_datetime(hour), "signature_count": count, "total": total})
    return {
        "links": {"self": settings.SITE_URL + reverse("petitions_history:json", args=[petition_id])},
        "data": {"type": "history", "id": petition_id, "attributes": {"hours": items}},
    }


# --- The chart ---------------------------------------------------------------------------------------------------


@dataclass
class Period:
    """One step of a series: a clock hour, a London day or a run of London weeks."""

    start: datetime.datetime
    label: str
    count: int = 0
    total: int = 0


@dataclass
class HistoryChart:
    title: str
    desc: str
    points: str
    y_ticks: list[tuple[str, str]]  # (y, label), coordinates as strings: no localisation in the template
    x_labels: list[tuple[str, str, str]]  # (x, text-anchor, label)
    rows: list[Period]
    row_heading: str
    row_caption: str
    json_url: str
    width: int = WIDTH
    height: int = HEIGHT
    plot: dict = field(
        default_factory=lambda: {
            "left": str(PLOT_LEFT),
            "right": str(PLOT_RIGHT),
            "y_label_x": str(PLOT_LEFT - 8),
            "x_label_y": str(HEIGHT - 14),
        }
    )


def _local_midnight(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def _series(
    hours: list[tuple[datetime.datetime, int]], start: datetime.datetime, end: datetime.datetime, unit: str
):
    """Every period from the one holding `start` to the one holding `end` (none skipped, so that the line is
    flat where nobody signed), with the signatures gained in each and the running total. `unit` is "hour",
    "day" or "<n>w" (runs of n weeks starting on Mondays)."""
    if unit == "hour":
        first = start.astimezone(datetime.UTC).replace(minute=0, second=0, microsecond=0)
        count = int((end - first) // HOUR) + 1

        def index(when):
            return int((when - first) // HOUR)

        def period(i):
            at = first + i * HOUR
            return Period(at, f"{clock_time(at)} on {long_date(at)}")
    else:
        step = 1 if unit == "day" else 7 * int(unit[:-1])
        day0 = timezone.localdate(start)
        if unit != "day":
            day0 -= datetime.timedelta(days=day0.weekday())
        count = (timezone.localdate(end) - day0).days // step + 1

        def index(when):
            return (timezone.localdate(when) - day0).days // step

        def period(i):
            day = day0 + datetime.timedelta(days=i * step)
            return Period(_local_midnight(day), long_date(day))

    periods = [period(i) for i in range(count)]
    for when, n in hours:
        periods[min(max(index(when), 0), count - 1)].count += n
    total = 0
    for p in periods:
        total += p.count
        p.total = total
    return periods


def _unit(start: datetime.datetime, end: datetime.datetime) -> str:
    """The finest of hours, days and runs of weeks that keeps the line within `MAX_POINTS` points."""
    if (end - start) // HOUR + 2 <= MAX_POINTS:
        return "hour"
    days = (timezone.localdate(end) - timezone.localdate(start)).days
    if days + 2 <= MAX_POINTS:
        return "day"
    weeks = (days + 6) // 7 + 1  # periods of one week at most, counting from the Monday before
    return f"{math.ceil(weeks / (MAX_POINTS - 1))}w"


def _nice_step(top: int, ticks: int = 5) -> int:
    """A round step (1, 2, 2.5 or 5 times a power of ten, whole) giving at most about `ticks` steps up to `top`."""
    raw = max(top, 1) / ticks
    magnitude = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    for multiple in (1, 2, 2.5, 5, 10):
        step = multiple * magnitude
        if step >= raw and step == int(step):
            return int(step)
    return int(10 * magnitude)


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def history_chart(
    *, petition: Petition, hours: list[tuple[datetime.datetime, int]], now: datetime.datetime
) -> HistoryChart | None:
    """The chart and table of cumulative signatures, from the first signature (the creator's) to the close,
    or now while open. None without any signature."""
    if not hours:
        return None
    start = hours[0][0]
    end = hours[-1][0]
    if petition.state == PetitionState.OPEN:
        end = max(end, now)
    elif petition.closed_at is not None:
        end = max(end, petition.closed_at - datetime.timedelta(microseconds=1))
    unit = _unit(start, end)
    periods = _series(hours, start, end, unit)
    rows = periods if unit != "hour" else _series(hours, start, end, "day")

    totals = [0] + [p.total for p in periods]
    low = min(totals)
    step = _nice_step(max(max(totals), 1))
    top = step * math.ceil(max(max(totals), 1) / step)
    span = top - low or 1

    def x(i: int) -> float:
        return PLOT_LEFT + (PLOT_RIGHT - PLOT_LEFT) * i / len(periods)

    def y(value: int) -> float:
        return PLOT_BOTTOM - (PLOT_BOTTOM - PLOT_TOP) * (value - low) / span

    points = " ".join(f"{_fmt(x(i))},{_fmt(y(total))}" for i, total in enumerate(totals))
    y_ticks = [(_fmt(y(v)), intcomma(v)) for v in range(0, top + 1, step)]
    first_day, last_day = long_date(start), long_date(end)
    x_labels = [(str(PLOT_LEFT), "start", first_day), (str(PLOT_RIGHT), "end", last_day)]

    final = periods[-1].total
    desc = (
        f"A line showing the total number of signatures rising from 0 on {first_day} "
        f"to {intcomma(final)} on {last_day}."
    )
    busiest = max(rows, key=lambda p: p.count)
    if busiest.count > 0:
        if unit in ("hour", "day"):
            when = f"day was {busiest.label}"
        elif unit == "1w":
            when = f"week was the week beginning {busiest.label}"
        else:
            when = f"{unit[:-1]} weeks were those beginning {busiest.label}"
        plural = "s" if busiest.count != 1 else ""
        desc += f" The busiest {when}, with {intcomma(busiest.count)} signature{plural}."
    return HistoryChart(
        title="Total signatures over time",
        desc=desc,
        points=points,
        y_ticks=y_ticks,
        x_labels=x_labels,
        rows=[p for p in rows if p.count],
        row_heading="Day" if unit in ("hour", "day") else "Week beginning",
        row_caption="Signatures each day (days without any are left out)"
        if unit in ("hour", "day")
        else f"Signatures each {'week' if unit == '1w' else f'{unit[:-1]} weeks'} (periods without any are left out)",
        json_url=reverse("petitions_history:json", args=[petition.pk]),
    )


def petition_history_chart(
    *, petition: Petition, now: datetime.datetime | None = None
) -> HistoryChart | None:
    """The petition page's chart: only for petitions that have opened (one query), else None (no query)."""
    if petition.opened_at is None:
        return None
    return history_chart(
        petition=petition, hours=petition_hours(petition_id=petition.pk), now=now or timezone.now()
    )


# --- Views -------------------------------------------------------------------------------------------------------


@require_safe
def history_json(request, petition_id: int):
    """`/petitions/<id>/history.json`: the signatures gained in every hour of the petition's life. Public
    petitions only, as `/petitions/<id>.json` decides (404, or 410 once taken down)."""
    petition = (
        Petition.objects.only("state", "opened_at").filter(pk=petition_id).first()
        if petition_id <= MAX_ID
        else None
    )
    status = petition_api_status(petition)
    if status == 410:
        return render(request, "410.html", {"petition": petition}, status=410)
    if status != 200:
        raise Http404("No such petition")
    document = history_document(petition_id=petition.pk, hours=petition_hours(petition_id=petition.pk))
    return api_cache_headers(
        api_json_response(document), interval=SiteSettings.cached().signature_count_interval
    )
