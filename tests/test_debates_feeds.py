"""/debates.ics (iCalendar of upcoming events, with the browse filters) and /debates.atom (new events, outcomes,
published government responses)."""

from datetime import UTC, datetime, timedelta

import feedparser
import icalendar
import pytest
import time_machine

from debates.models import EventKind, Outcome, ParliamentaryEvent
from petitions.models import Constituency, ConstituencyPetitionJournal, PetitionState
from responses.models import GovernmentResponse, ResponseStatus
from tests.factories import ClosedPetitionFactory, OpenPetitionFactory, PetitionFactory

pytestmark = pytest.mark.django_db

#: Wednesday 15 March 2023, midday (GMT).
NOW = datetime(2023, 3, 15, 12, 0, tzinfo=UTC)
ALDERSHOT = "E14001063"


def _utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def _event(*, petitions=(), **fields) -> ParliamentaryEvent:
    fields.setdefault("kind", EventKind.WESTMINSTER_HALL_DEBATE)
    fields.setdefault("title", "A debate")
    event = ParliamentaryEvent.objects.create(**fields)
    event.petitions.add(*petitions)
    return event


def _calendar(client, query: str = "") -> icalendar.Calendar:
    response = client.get(f"/debates.ics{query}")
    assert response.status_code == 200, response.content
    return icalendar.Calendar.from_ical(response.content)


def _uids(calendar) -> list[str]:
    return [str(item["uid"]) for item in calendar.walk("VEVENT")]


def _response(
    petition, *, published_at, status=ResponseStatus.PUBLISHED, summary="We have considered it."
) -> GovernmentResponse:
    return GovernmentResponse.objects.create(
        petition=petition,
        responded_on=published_at.date(),
        summary=summary,
        status=status,
        published_at=published_at if status == ResponseStatus.PUBLISHED else None,
    )


# --- iCalendar -------------------------------------------------------------------------------------------------


@pytest.fixture
def calendar_world():
    petition = OpenPetitionFactory(action="Fund SEND provision properly", signature_count=150_000)
    hidden = PetitionFactory(state=PetitionState.HIDDEN, action="Secret hidden petition", signature_count=9)
    return {
        # 14:30 in London in summer (BST) is 13:30 UTC; in winter (GMT) it is 14:30 UTC.
        "summer": _event(
            title="SEND workforce",
            starts_at=_utc(2023, 7, 4, 13, 30),
            place="Westminster Hall",
            lead_mp_name="Geraint Davies MP",
            summary="MPs will debate **the specialist workforce**.",
            petitions=[petition, hidden],
        ),
        "winter": _event(
            title="School funding",
            kind=EventKind.BACKBENCH_BUSINESS_DEBATE,
            starts_at=_utc(2023, 11, 21, 14, 30),
            place="House of Commons chamber",
        ),
        "earlier_today": _event(
            title="Morning statement", kind=EventKind.MINISTERIAL_STATEMENT, starts_at=_utc(2023, 3, 15, 9, 0)
        ),
        "yesterday": _event(title="Old debate", starts_at=_utc(2023, 3, 14, 23, 59)),
        "petition": petition,
    }


@time_machine.travel(NOW, tick=False)
def test_calendar_holds_upcoming_events_with_london_times(client, calendar_world):
    response = client.get("/debates.ics")
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="debates.ics"'
    calendar = icalendar.Calendar.from_ical(response.content)
    assert str(calendar["prodid"]) == "-//UK Parliament//Petitions debates//EN"
    assert str(calendar["version"]) == "2.0"
    assert str(calendar["x-wr-calname"]) == "Petitions: debates and events in Parliament"
    summer, winter, today = (calendar_world[name] for name in ("summer", "winter", "earlier_today"))
    # From the start of today (London), soonest first: the event that started this morning stays.
    assert _uids(calendar) == [f"event-{e.pk}@testserver" for e in (today, summer, winter)]

    items = {str(item["uid"]): item for item in calendar.walk("VEVENT")}
    item = items[f"event-{summer.pk}@testserver"]
    assert item["dtstart"].params["TZID"] == "Europe/London"
    start = item.decoded("dtstart")
    assert (start.hour, start.minute) == (14, 30)
    assert start.astimezone(UTC) == _utc(2023, 7, 4, 13, 30)
    assert item.decoded("dtend") - start == timedelta(hours=1)
    assert item.decoded("dtend").astimezone(UTC) == _utc(2023, 7, 4, 14, 30)
    assert str(item["summary"]) == "Westminster Hall debate: SEND workforce"
    assert str(item["location"]) == "Westminster Hall"
    assert str(item["url"]) == f"http://testserver/debates/{summer.pk}"
    description = str(item["description"])
    assert "Tuesday 4 July 2023 at 2.30pm" in description
    assert "Led by Geraint Davies MP" in description
    assert "MPs will debate the specialist workforce." in description
    petition = calendar_world["petition"]
    assert (
        f"Fund SEND provision properly (150,000 signatures) http://testserver/petitions/{petition.pk}"
        in description
    )
    assert "Secret hidden petition" not in response.content.decode()
    assert item.decoded("dtstamp") == summer.updated_at.astimezone(UTC).replace(microsecond=0)

    item = items[f"event-{winter.pk}@testserver"]
    assert item["dtstart"].params["TZID"] == "Europe/London"
    start = item.decoded("dtstart")
    assert (start.hour, start.minute) == (14, 30)
    assert start.astimezone(UTC) == _utc(2023, 11, 21, 14, 30)

    text = response.content.decode()
    assert "DTSTART;TZID=Europe/London:20230704T143000" in text
    assert "DTSTART;TZID=Europe/London:20231121T143000" in text


@time_machine.travel(NOW, tick=False)
def test_the_calendar_time_zone_has_the_right_offsets(client, calendar_world):
    [zone] = _calendar(client).walk("VTIMEZONE")
    assert str(zone["tzid"]) == "Europe/London"
    tz = zone.to_tz()
    for moment, offset in (
        (datetime(2023, 7, 4, 14, 30), timedelta(hours=1)),
        (datetime(2023, 11, 21, 14, 30), timedelta(0)),
        (datetime(2023, 3, 26, 0, 30), timedelta(0)),  # the clocks go forward at 1am on 26 March 2023
        (datetime(2023, 3, 26, 2, 30), timedelta(hours=1)),
        (datetime(2030, 10, 27, 0, 30), timedelta(hours=1)),  # and back at 2am on 27 October 2030
        (datetime(2030, 10, 27, 3, 0), timedelta(0)),
    ):
        assert moment.replace(tzinfo=tz).utcoffset() == offset, moment


@time_machine.travel(NOW, tick=False)
def test_calendar_uids_and_stamps_do_not_change_between_requests(client, calendar_world):
    first, second = client.get("/debates.ics").content, client.get("/debates.ics").content
    assert first == second


@time_machine.travel(NOW, tick=False)
def test_calendar_takes_the_browse_filters(client, calendar_world):
    aldershot = Constituency.objects.get(gss_code=ALDERSHOT)
    ConstituencyPetitionJournal.objects.create(
        petition=calendar_world["petition"], constituency=aldershot, signature_count=12
    )
    also_on_it = _event(
        title="Statement",
        kind=EventKind.MINISTERIAL_STATEMENT,
        starts_at=_utc(2023, 5, 1, 10),
        petitions=[calendar_world["petition"]],
    )
    summer = calendar_world["summer"]
    for query in (
        f"?constituency={ALDERSHOT}&type=westminster_hall",
        f"?constituency={ALDERSHOT}&type=westminster_hall_debate",
    ):
        calendar = _calendar(client, query)
        assert _uids(calendar) == [f"event-{summer.pk}@testserver"]
        assert str(calendar["x-wr-calname"]) == "Petitions: debates and events in Parliament (Aldershot)"
    assert _uids(_calendar(client, f"?constituency={ALDERSHOT}")) == [
        f"event-{also_on_it.pk}@testserver",
        f"event-{summer.pk}@testserver",
    ]
    # Whatever the other filters, past days are never in the calendar.
    assert _uids(_calendar(client, "?when=past&type=westminster_hall_debate")) == []
    # Sorting does not reorder a calendar.
    winter = calendar_world["winter"]
    assert _uids(_calendar(client, "?sort=date_desc&from=2023-06-01"))[:2] == [
        f"event-{summer.pk}@testserver",
        f"event-{winter.pk}@testserver",
    ]


@time_machine.travel(NOW, tick=False)
def test_an_event_not_debated_is_cancelled_in_the_calendar(client, calendar_world):
    winter = calendar_world["winter"]
    winter.outcome, winter.outcome_reason = Outcome.NOT_DEBATED, "Parliament was dissolved."
    winter.save()
    items = {str(item["uid"]): item for item in _calendar(client).walk("VEVENT")}
    assert str(items[f"event-{winter.pk}@testserver"]["status"]) == "CANCELLED"
    assert "status" not in items[f"event-{calendar_world['summer'].pk}@testserver"]


@time_machine.travel(NOW, tick=False)
def test_calendar_refuses_bad_filters(client, calendar_world):
    response = client.get("/debates.ics?constituency=NOWHERE&from=31/02/2023")
    assert response.status_code == 400
    body = response.content.decode()
    assert "Enter a constituency’s GSS code, like E14001063" in body
    assert "Enter the ‘from’ date as a real date, like 21/3/2023" in body


@time_machine.travel(NOW, tick=False)
def test_an_empty_calendar_is_still_valid(client):
    calendar = _calendar(client)
    assert calendar.walk("VEVENT") == [] and len(calendar.walk("VTIMEZONE")) == 1


@time_machine.travel(NOW, tick=False)
def test_calendar_makes_a_fixed_number_of_queries(client, django_assert_num_queries):
    petition = OpenPetitionFactory()
    _event(starts_at=_utc(2023, 4, 1, 10), petitions=[petition])
    with django_assert_num_queries(2):  # the events, their public petitions
        client.get("/debates.ics")
    for n in range(30):
        _event(starts_at=_utc(2023, 4, 2, 10, n), petitions=[petition])
    with django_assert_num_queries(2):
        assert len(_calendar(client).walk("VEVENT")) == 31


# --- Atom ------------------------------------------------------------------------------------------------------


def _feed(client):
    response = client.get("/debates.atom")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/atom+xml; charset=utf-8"
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo, parsed.bozo_exception
    return parsed


@pytest.fixture
def feed_world():
    open_petition = OpenPetitionFactory(action="Fund SEND provision properly", signature_count=150_000)
    closed = ClosedPetitionFactory(action="Protect river water quality")
    hidden = PetitionFactory(state=PetitionState.HIDDEN, action="Secret hidden petition")
    with time_machine.travel(_utc(2023, 3, 1, 9), tick=False):
        added = _event(
            title="SEND workforce", starts_at=_utc(2023, 3, 22, 14, 30), petitions=[open_petition, hidden]
        )
    with time_machine.travel(_utc(2023, 1, 5, 9), tick=False):
        debated = _event(
            title="Rivers and sewage",
            starts_at=_utc(2023, 1, 11, 13),
            petitions=[closed],
            outcome=Outcome.DEBATED,
            overview="MPs **agreed** <script>alert(1)</script>",
            outcome_at=_utc(2023, 3, 2, 9),
        )
    with time_machine.travel(_utc(2023, 1, 6, 9), tick=False):
        not_debated = _event(
            title="Buses",
            kind=EventKind.CHAMBER_DEBATE,
            starts_at=_utc(2023, 1, 12, 13),
            outcome=Outcome.NOT_DEBATED,
            outcome_reason="The House rose early.",
            outcome_at=_utc(2023, 3, 3, 9),
        )
    response = _response(
        closed, published_at=_utc(2023, 3, 4, 9), summary="The Government is acting on rivers."
    )
    _response(
        open_petition, published_at=_utc(2023, 3, 5, 9), status=ResponseStatus.DRAFT, summary="Draft text"
    )
    _response(hidden, published_at=_utc(2023, 3, 6, 9), summary="Response to a hidden petition")
    return {
        "added": added,
        "debated": debated,
        "not_debated": not_debated,
        "response": response,
        "closed": closed,
        "open": open_petition,
    }


@time_machine.travel(NOW, tick=False)
def test_atom_feed_lists_new_events_outcomes_and_published_responses_newest_first(client, feed_world):
    feed = _feed(client)
    assert feed.feed.title == "Petitions: debates, outcomes and government responses"
    assert feed.feed.id == "http://testserver/debates.atom"
    added, debated, not_debated = feed_world["added"], feed_world["debated"], feed_world["not_debated"]
    response, closed = feed_world["response"], feed_world["closed"]
    response_url = f"http://testserver/petitions/{closed.pk}#government_response-{response.pk}"
    assert [(entry.id, entry.title) for entry in feed.entries] == [
        (response_url, "Government responded: Protect river water quality"),
        (f"http://testserver/debates/{not_debated.pk}#outcome", "Not debated: Buses"),
        (f"http://testserver/debates/{debated.pk}#outcome", "Debated: Rivers and sewage"),
        (f"http://testserver/debates/{added.pk}#added", "Westminster Hall debate: SEND workforce"),
        (f"http://testserver/debates/{not_debated.pk}#added", "Chamber debate: Buses"),
        (f"http://testserver/debates/{debated.pk}#added", "Westminster Hall debate: Rivers and sewage"),
    ]
    entries = {entry.id: entry for entry in feed.entries}
    assert entries[response_url].link == response_url
    assert entries[response_url].summary == "<p>The Government is acting on rivers.</p>"
    assert datetime(*entries[response_url].updated_parsed[:6], tzinfo=UTC) == _utc(2023, 3, 4, 9)
    new = entries[f"http://testserver/debates/{added.pk}#added"]
    assert new.link == f"http://testserver/debates/{added.pk}"
    assert "Wednesday 22 March 2023 at 2.30pm" in new.summary
    assert "Fund SEND provision properly" in new.summary and "150,000 signatures" in new.summary
    assert datetime(*new.updated_parsed[:6], tzinfo=UTC) == _utc(2023, 3, 1, 9)
    outcome = entries[f"http://testserver/debates/{debated.pk}#outcome"]
    assert "<strong>agreed</strong>" in outcome.summary
    assert "The House rose early." in entries[f"http://testserver/debates/{not_debated.pk}#outcome"].summary
    assert datetime(*feed.feed.updated_parsed[:6], tzinfo=UTC) == _utc(2023, 3, 4, 9)


@time_machine.travel(NOW, tick=False)
def test_atom_feed_never_shows_private_things(client, feed_world):
    body = client.get("/debates.atom").content.decode()
    assert "Secret hidden petition" not in body
    assert "Response to a hidden petition" not in body
    assert "Draft text" not in body
    assert "alert(1)" not in body


@time_machine.travel(NOW, tick=False)
def test_atom_entry_ids_are_stable(client, feed_world):
    first = [entry.id for entry in _feed(client).entries]
    feed_world["added"].title = "SEND workforce (rescheduled)"
    feed_world["added"].save()
    assert [entry.id for entry in _feed(client).entries] == first


@time_machine.travel(NOW, tick=False)
def test_atom_feed_holds_the_newest_50(client, django_assert_num_queries):
    petition = OpenPetitionFactory()
    for n in range(40):
        with time_machine.travel(_utc(2023, 2, 1) + timedelta(hours=n), tick=False):
            _event(title=f"Event {n}", starts_at=_utc(2023, 4, 1), petitions=[petition])
    for n in range(30):
        _response(ClosedPetitionFactory(), published_at=_utc(2023, 2, 1, 0, 30) + timedelta(hours=n))
    # Two outcomes, recorded before everything else: too old to be listed, but their petitions are read.
    ParliamentaryEvent.objects.filter(title__in=["Event 0", "Event 1"]).update(
        outcome=Outcome.DEBATED, outcome_at=_utc(2023, 1, 1)
    )
    with django_assert_num_queries(5):  # added events, their petitions, outcomes, their petitions, responses
        feed = _feed(client)
    assert len(feed.entries) == 50
    updated = [datetime(*entry.updated_parsed[:6], tzinfo=UTC) for entry in feed.entries]
    assert updated == sorted(updated, reverse=True)
    # 40 events hourly from 00:00 and 30 responses hourly from 00:30 on 1 February: the oldest 20 are cut.
    assert updated[-1] == _utc(2023, 2, 1, 10, 0)
    assert feed.entries[0].title == "Westminster Hall debate: Event 39"
