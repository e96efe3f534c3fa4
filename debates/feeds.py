"""Feeds for MPs' offices and anyone following Parliament's work on petitions.

`/debates.ics`: an iCalendar of the events `/debates` would list with the same filters, from the start of
today (London) on, so an event stays in a subscriber's calendar for the whole of its day; at most
CALENDAR_LIMIT events, soonest first. Times are in Europe/London (with its VTIMEZONE); each event lasts
EVENT_DURATION (one hour: Parliament does not publish end times in advance). UIDs (`event-<id>@<site host>`)
never change, so a calendar updates an event rather than duplicating it.

`/debates.atom`: an Atom feed of the FEED_LIMIT newest of: events added, outcomes recorded (debated or not) and
government responses published (to public petitions), newest first. Entry ids are the item's page URL with a
fragment for what happened, so they never change.
"""

import datetime
from urllib.parse import urlsplit

import icalendar
from django.conf import settings
from django.http import HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.feedgenerator import Atom1Feed
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_safe

from petitions.markdown import markdown_html, markdown_text

from .filters import LONDON, EventFilter, london_midnight
from .models import Outcome
from .selectors import (
    events_added_recently,
    events_browsed,
    events_with_recent_outcomes,
    responses_published_recently,
)
from .views_browse import absolute, download_headers, event_path, filter_errors_response, starts_at_text

CALENDAR_LIMIT = 1_000
EVENT_DURATION = datetime.timedelta(hours=1)
FEED_LIMIT = 50
PRODID = "-//UK Parliament//Petitions debates//EN"
CALENDAR_NAME = "Petitions: debates and events in Parliament"

# Europe/London as its rules have stood since 1996 (last Sunday of March and of October, at 1am UTC), which
# every calendar program understands: more compact than icalendar's generated list of dates, and not cut off
# in 2038.
LONDON_VTIMEZONE = """BEGIN:VTIMEZONE
TZID:Europe/London
BEGIN:DAYLIGHT
TZOFFSETFROM:+0000
TZOFFSETTO:+0100
TZNAME:BST
DTSTART:19700329T010000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:+0100
TZOFFSETTO:+0000
TZNAME:GMT
DTSTART:19701025T020000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
END:VTIMEZONE
"""


def site_host() -> str:
    return urlsplit(settings.SITE_URL).hostname or "localhost"


# --- iCalendar --------------------------------------------------------------------------------------------------


def event_description(event) -> str:
    lines = [event.get_kind_display(), starts_at_text(event)]
    if event.lead:
        lines.append(f"Led by {event.lead}")
    if event.department:
        lines.append(f"Department: {event.department.name}")
    summary = markdown_text(event.summary).strip()
    if summary:
        lines += ["", summary]
    if event.public_petitions:
        lines += ["", "Petitions:"]
        lines += [
            f"- {p.action} ({p.signature_count:,} signatures) {absolute(p.get_absolute_url())}"
            for p in event.public_petitions
        ]
    lines += ["", absolute(event_path(event.pk))]
    return "\n".join(lines)


def calendar_event(event, *, host: str) -> icalendar.Event:
    starts_at = timezone.localtime(event.starts_at, LONDON)
    item = icalendar.Event()
    item.add("uid", f"event-{event.pk}@{host}")
    item.add("dtstamp", event.updated_at.astimezone(datetime.UTC))
    item.add("last-modified", event.updated_at.astimezone(datetime.UTC))
    item.add("dtstart", starts_at)
    item.add("dtend", starts_at + EVENT_DURATION)
    item.add("summary", f"{event.get_kind_display()}: {event.title}")
    if event.place:
        item.add("location", event.place)
    item.add("description", event_description(event))
    item.add("url", absolute(event_path(event.pk)))
    if event.outcome == Outcome.NOT_DEBATED:
        item.add("status", "CANCELLED")
    return item


def calendar_document(events, *, constituency=None) -> bytes:
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", f"{CALENDAR_NAME} ({constituency.name})" if constituency else CALENDAR_NAME)
    calendar.add("x-wr-timezone", "Europe/London")
    calendar.add_component(icalendar.Timezone.from_ical(LONDON_VTIMEZONE))
    host = site_host()
    for event in events:
        calendar.add_component(calendar_event(event, host=host))
    return calendar.to_ical()


@require_safe
def event_calendar(request):
    events = EventFilter(request.GET, queryset=events_browsed())
    if not events.is_valid():
        return filter_errors_response(events, as_json=False)
    today = timezone.localdate(timezone.now(), LONDON)
    rows = events.qs.filter(starts_at__gte=london_midnight(today)).order_by("starts_at", "pk")[
        :CALENDAR_LIMIT
    ]
    document = calendar_document(rows, constituency=events.chosen_constituency)
    response = HttpResponse(document, content_type="text/calendar; charset=utf-8")
    return download_headers(response, filename="debates.ics")


# --- Atom -------------------------------------------------------------------------------------------------------


def _markdown(text: str) -> str:
    return mark_safe(markdown_html(text))  # noqa: S308 - sanitised by nh3 in markdown_html


def _petition_list(event):
    if not event.public_petitions:
        return ""
    return format_html(
        "<ul>{}</ul>",
        format_html_join(
            "",
            '<li><a href="{}">{}</a> ({} signatures)</li>',
            (
                (absolute(p.get_absolute_url()), p.action, f"{p.signature_count:,}")
                for p in event.public_petitions
            ),
        ),
    )


def feed_entries() -> list[dict]:
    """The newest FEED_LIMIT things that happened, as Atom1Feed.add_item keyword arguments."""
    entries = []
    for event in events_added_recently(limit=FEED_LIMIT):
        url = absolute(event_path(event.pk))
        entries.append(
            {
                "title": f"{event.get_kind_display()}: {event.title}",
                "link": url,
                "unique_id": f"{url}#added",
                "updateddate": event.created_at,
                "pubdate": event.created_at,
                "description": format_html(
                    "<p>{}{}</p>{}{}",
                    starts_at_text(event),
                    f", {event.place}" if event.place else "",
                    _markdown(event.summary),
                    _petition_list(event),
                ),
                "categories": ["event", event.kind],
            }
        )
    for event in events_with_recent_outcomes(limit=FEED_LIMIT):
        url = absolute(event_path(event.pk))
        debated = event.outcome == Outcome.DEBATED
        entries.append(
            {
                "title": f"{'Debated' if debated else 'Not debated'}: {event.title}",
                "link": url,
                "unique_id": f"{url}#outcome",
                "updateddate": event.outcome_at,
                "pubdate": event.outcome_at,
                "description": format_html(
                    "{}{}",
                    _markdown(event.overview) if debated else format_html("<p>{}</p>", event.outcome_reason),
                    _petition_list(event),
                ),
                "categories": ["outcome", event.outcome],
            }
        )
    for response in responses_published_recently(limit=FEED_LIMIT):
        petition = response.petition
        url = absolute(f"{petition.get_absolute_url()}#government_response-{response.pk}")
        entries.append(
            {
                "title": f"Government responded: {petition.action}",
                "link": url,
                "unique_id": url,
                "updateddate": response.published_at,
                "pubdate": response.published_at,
                "description": format_html("<p>{}</p>", response.summary),
                "categories": ["government_response"],
            }
        )
    entries.sort(key=lambda entry: (entry["updateddate"], entry["unique_id"]), reverse=True)
    return entries[:FEED_LIMIT]


@require_safe
def activity_feed(request):
    feed_url = absolute(reverse("debates_browse:feed"))
    feed = Atom1Feed(
        title="Petitions: debates, outcomes and government responses",
        link=absolute(reverse("debates_browse:list")),
        description="New debates and other events in Parliament on petitions, their outcomes, and government "
        "responses to petitions.",
        feed_url=feed_url,
        feed_guid=feed_url,
        language="en-GB",
    )
    for entry in feed_entries():
        feed.add_item(**entry)
    response = HttpResponse(content_type=f"{feed.content_type}")
    feed.write(response, "utf-8")
    return download_headers(response)
