"""An MP's office finds its constituency from a postcode, sees the petitions its constituents sign most, filters
the debates on them to Westminster Hall debates, and downloads the calendar: all in a real browser."""

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
from django.utils import timezone
from playwright.sync_api import expect

from debates.models import EventKind, ParliamentaryEvent
from petitions.models import Constituency, ConstituencyPetitionJournal
from petitions.postcodes import lookup
from tests.factories import OpenPetitionFactory

LONDON = ZoneInfo("Europe/London")
POSTCODE = "SW1A 1AA"


@pytest.mark.django_db(transaction=True)
def test_mp_office_from_postcode_to_calendar(page, site_url, tmp_path):
    constituency = Constituency.objects.get(gss_code=lookup(POSTCODE).gss_code)
    local = OpenPetitionFactory(action="Fund more school nurses", signature_count=2_400)
    ConstituencyPetitionJournal.objects.create(petition=local, constituency=constituency, signature_count=310)
    elsewhere = OpenPetitionFactory(action="Rename the moon", signature_count=900)

    in_ten_days = timezone.localdate() + timedelta(days=10)
    debate_at = datetime(in_ten_days.year, in_ten_days.month, in_ten_days.day, 16, 30, tzinfo=LONDON)
    debate = ParliamentaryEvent.objects.create(
        kind=EventKind.WESTMINSTER_HALL_DEBATE,
        title="MPs debate school nurses",
        starts_at=debate_at,
        place="Westminster Hall",
    )
    debate.petitions.add(local)
    statement = ParliamentaryEvent.objects.create(
        kind=EventKind.MINISTERIAL_STATEMENT,
        title="Minister's statement on school health",
        starts_at=debate_at + timedelta(days=1),
    )
    statement.petitions.add(local)
    unrelated = ParliamentaryEvent.objects.create(
        kind=EventKind.WESTMINSTER_HALL_DEBATE, title="MPs debate the moon", starts_at=debate_at
    )
    unrelated.petitions.add(elsewhere)

    # --- From a postcode to the constituency page.
    page.goto(site_url + "/constituencies")
    page.get_by_label("Postcode").fill(POSTCODE.lower())
    page.get_by_role("button", name="Find constituency").click()
    expect(page).to_have_url(re.compile(rf"/constituencies/{constituency.gss_code}$"))
    main = page.locator("main")
    expect(main.get_by_role("heading", level=1)).to_contain_text(constituency.name)
    if constituency.mp_name:
        expect(main).to_contain_text(constituency.mp_name)
    expect(main).to_contain_text("Fund more school nurses")
    expect(main).not_to_contain_text("Rename the moon")
    expect(main).to_contain_text("MPs debate school nurses")

    # --- The debates on those petitions, filtered to Westminster Hall debates.
    page.get_by_role("link", name=re.compile("Debates and business on the petitions most signed")).click()
    expect(page).to_have_url(re.compile(rf"/debates\?constituency={constituency.gss_code}"))
    expect(main).to_contain_text("Minister's statement on school health")
    page.get_by_label("Westminster Hall debate").check()
    page.get_by_role("button", name="Apply filters").click()
    expect(main).to_contain_text("MPs debate school nurses")
    expect(main).not_to_contain_text("Minister's statement on school health")
    expect(main).not_to_contain_text("MPs debate the moon")

    # --- The calendar holds just that debate, at 4.30pm London time.
    with page.expect_download() as download_info:
        page.get_by_role("link", name=re.compile("Add upcoming events to your calendar")).click()
    path = tmp_path / "debates.ics"
    download_info.value.save_as(path)
    calendar = icalendar.Calendar.from_ical(path.read_bytes())
    events = list(calendar.walk("VEVENT"))
    assert [str(event["SUMMARY"]) for event in events] == [
        "Westminster Hall debate: MPs debate school nurses"
    ]
    start = events[0]["DTSTART"]
    assert start.params.get("TZID") == "Europe/London"
    assert start.dt == debate_at and start.dt.astimezone(LONDON).strftime("%H:%M") == "16:30"
