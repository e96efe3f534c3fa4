"""Response timeliness for staff: days waiting for a government response, the overdue flag, per-department
figures, the admin page at /admin/responses/timeliness/ and the admin home queue."""

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import Group, User
from django.urls import reverse

from petitions.groups import (
    DEBATE_EDITORS,
    MODERATORS,
    RESPONSE_EDITORS,
    REVIEWERS,
    SYSADMINS,
    staff_groups_ensure,
)
from petitions.models import Department, PetitionState, ResponseState, SiteSettings
from responses import selectors
from responses.models import GovernmentResponse, ResponseStatus

from .factories import PetitionFactory

pytestmark = pytest.mark.django_db

LONDON = ZoneInfo("Europe/London")
URL = "/admin/responses/timeliness/"


def london(*args) -> datetime:
    return datetime(*args, tzinfo=LONDON)


def _staff(group_name: str) -> User:
    staff_groups_ensure()
    username = group_name.lower().replace(" ", "_")
    user = User.objects.create_user(username, f"{username}@staff.example", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=group_name))
    return user


@pytest.fixture
def editor_client(client):
    client.force_login(_staff(RESPONSE_EDITORS))
    return client


def department(name: str, acronym: str) -> Department:
    return Department.objects.create(name=name, acronym=acronym)


def awaiting(action: str, reached_at: datetime, *departments: Department):
    petition = PetitionFactory(
        action=action,
        state=PetitionState.CLOSED,
        response_state=ResponseState.AWAITING,
        response_threshold_reached_at=reached_at,
    )
    petition.departments.set(departments)
    return petition


def responded(
    reached_at: datetime | None,
    responded_on: date,
    by: Department | None,
    *,
    status: str = ResponseStatus.PUBLISHED,
) -> GovernmentResponse:
    petition = PetitionFactory(
        state=PetitionState.CLOSED,
        response_state=ResponseState.RESPONDED
        if status == ResponseStatus.PUBLISHED
        else ResponseState.AWAITING,
        response_threshold_reached_at=reached_at,
    )
    return GovernmentResponse.objects.create(
        petition=petition, responded_on=responded_on, summary="We hear you.", department=by, status=status
    )


def awaiting_rows(now: datetime) -> list[selectors.AwaitingResponse]:
    cutoff = selectors.response_overdue_cutoff(now=now)
    return selectors.awaiting_response_rows(selectors.awaiting_response_petitions(), cutoff=cutoff, now=now)


# --- Days waiting and the overdue flag -------------------------------------------------------------------------


def test_a_threshold_reached_in_summer_time_becomes_overdue_at_the_same_london_time_in_winter():
    SiteSettings.load()  # the default limit: 3 months
    # 10am BST is 9am UTC; three months later the clocks have gone back and 10am London is 10am UTC.
    awaiting("Plant more trees", london(2024, 8, 15, 10, 0))
    for now, days, overdue in (
        (london(2024, 11, 14, 23, 59), 91, False),
        (london(2024, 11, 15, 9, 30), 92, False),  # past 9am UTC, but not yet 10am London time
        (london(2024, 11, 15, 10, 0), 92, False),  # exactly three months: not longer than the limit
        (london(2024, 11, 15, 10, 1), 92, True),
        (london(2025, 2, 1, 12, 0), 170, True),
    ):
        [row] = awaiting_rows(now)
        assert (row.threshold_on, row.days_waiting, row.overdue) == (date(2024, 8, 15), days, overdue), now


def test_days_waiting_counts_london_calendar_days_not_utc_ones():
    # 12.30am BST on 15 August is still 14 August in UTC; 11.45pm GMT on 14 November is 14 November in both.
    awaiting("Ban fireworks", london(2024, 8, 15, 0, 30))
    [row] = awaiting_rows(london(2024, 11, 14, 23, 45))
    assert row.threshold_on == date(2024, 8, 15)
    assert row.days_waiting == 91
    [row] = awaiting_rows(london(2024, 11, 15, 0, 15))
    assert row.days_waiting == 92


def test_the_limit_is_clamped_at_month_end():
    SiteSettings.load()
    awaiting("Reached on the last day of August", london(2024, 8, 31, 12, 0))
    # There is no 31 November: three months on is 30 November, so the petition is overdue from 1 December.
    assert not awaiting_rows(london(2024, 11, 30, 23, 59))[0].overdue
    assert awaiting_rows(london(2024, 12, 1, 0, 1))[0].overdue


def test_changing_the_limit_in_site_settings_changes_the_flag(editor_client):
    awaiting("Two and a bit months", london(2024, 11, 10, 9, 0))
    now = london(2025, 1, 20, 12, 0)
    with time_machine.travel(now, tick=False):
        assert [row.overdue for row in awaiting_rows(now)] == [False]
        page = editor_client.get(URL).content.decode()
        assert "Overdue</strong>" not in page and "<strong>3 months</strong>" in page

        site = SiteSettings.load()
        site.response_overdue_months = 2
        site.save()

        assert [row.overdue for row in awaiting_rows(now)] == [True]
        page = editor_client.get(URL).content.decode()
        assert "<strong>2 months</strong>" in page
        assert page.split('id="awaiting-response"')[1].count("Overdue</strong>") == 1
        report = selectors.response_timeliness(now=now)
        assert (report.months, report.total.due, report.total.overdue) == (2, 0, 1)
        home = editor_client.get("/admin/").content.decode()
        assert "Overdue</strong>" in home.split('id="staff-queues"')[1]


# --- Per-department figures ------------------------------------------------------------------------------------


def test_per_department_figures_match_a_hand_count():
    SiteSettings.load()
    now = london(2025, 1, 20, 12, 0)  # the 3-month limit: threshold reached before 20 October 2024, midday
    alpha = department("Department for Alpha", "DA")
    beta = department("Department for Beta", "DB")
    department("Department for Gamma", "DG")  # nothing yet: zeros and no median

    awaiting("Alpha, due", london(2024, 12, 1, 9, 0), alpha)
    awaiting("Alpha and Beta, overdue", london(2024, 9, 1, 9, 0), alpha, beta)  # one petition, both rows
    awaiting("Beta, due", london(2024, 10, 25, 9, 0), beta)
    awaiting("Beta, just within the limit", london(2024, 10, 20, 12, 0), beta)
    awaiting("Nobody's, overdue", london(2024, 6, 1, 9, 0))
    awaiting("Nobody's, due", london(2025, 1, 10, 9, 0))
    PetitionFactory(state=PetitionState.OPEN).departments.set([alpha])  # below the threshold: not counted

    # Alpha: 10, 20 and 60 days (odd count: median 20), and one without a threshold date (counted, no median).
    # 12.30am BST on 2 July is 1 July in UTC: 10 London days to 12 July, not 11.
    responded(london(2024, 7, 2, 0, 30), date(2024, 7, 12), alpha)
    responded(london(2024, 3, 1, 15, 0), date(2024, 3, 21), alpha)
    responded(london(2024, 1, 10, 8, 0), date(2024, 3, 10), alpha)
    responded(None, date(2024, 5, 1), alpha)
    # Beta: 15 and 30 days (even count: median 22.5). A draft does not count: its petition, in no department,
    # is still awaiting a response (overdue).
    responded(london(2024, 4, 1, 12, 0), date(2024, 4, 16), beta)
    responded(london(2024, 5, 1, 12, 0), date(2024, 5, 31), beta)
    responded(london(2024, 5, 1, 12, 0), date(2024, 12, 31), beta, status=ResponseStatus.DRAFT)
    # No responding department: 5 days.
    responded(london(2024, 2, 1, 12, 0), date(2024, 2, 6), None)

    report = selectors.response_timeliness(now=now)

    assert report.months == 3
    assert report.cutoff == london(2024, 10, 20, 12, 0)
    assert [(r.label, r.due, r.overdue, r.responded, r.median_days) for r in report.rows] == [
        ("Department for Alpha", 1, 1, 4, 20),
        ("Department for Beta", 2, 1, 2, 22.5),
        ("Department for Gamma", 0, 0, 0, None),
        ("No department", 1, 2, 1, 5),
    ]
    # Each petition once: 4 due, 3 overdue; median of 5, 10, 15, 20, 30, 60.
    total = report.total
    assert (total.due, total.overdue, total.responded, total.median_days) == (4, 3, 7, 17.5)


def test_the_page_shows_the_table_and_the_awaiting_petitions_oldest_first(client):
    sysadmin = _staff(SYSADMINS)
    client.force_login(sysadmin)
    alpha = department("Department for Alpha", "DA")
    beta = department("Department for Beta", "DB")
    newer = awaiting("Newer petition", london(2025, 1, 2, 9, 0))
    older = awaiting("Older petition", london(2024, 8, 15, 10, 0), alpha, beta)
    responded(london(2024, 4, 1, 12, 0), date(2024, 4, 16), alpha)

    with time_machine.travel(london(2025, 1, 20, 12, 0), tick=False):
        response = client.get(URL)
    assert response.status_code == 200
    page = response.content.decode()

    assert "<h1>Response timeliness</h1>" in page
    assert 'href="/admin/responses/">Government responses</a>' in page
    limit = page.split('id="overdue-limit"')[1].split("</p>")[0]
    assert "<strong>3 months</strong>" in limit and "20 October 2024 at midday" in limit
    assert f'href="{reverse("admin:petitions_sitesettings_changelist")}"' in limit

    table = page.split('id="timeliness-by-department"')[1].split('id="awaiting-response"')[0]
    alpha_row = table.split("Department for Alpha</th>")[1].split("</tr>")[0]
    assert [re.sub(r"<[^>]+>", "", cell).strip() for cell in alpha_row.split("</td>")[:-1]] == [
        "0",
        "1",
        "1",
        "15",
    ]

    listing = page.split('id="awaiting-response"')[1]
    assert "Awaiting a government response (2)" in listing
    assert listing.index("Older petition") < listing.index("Newer petition")
    older_row = listing.split("Older petition")[1].split("</tr>")[0]
    assert f'href="{reverse("admin:petitions_petition_change", args=[older.pk])}">{older.pk}</a>' in listing
    assert 'title="Department for Alpha">DA</abbr>, <abbr title="Department for Beta">DB</abbr>' in older_row
    assert "15 August 2024" in older_row and "158 days" in older_row and "Overdue</strong>" in older_row
    newer_row = listing.split("Newer petition")[1].split("</tr>")[0]
    assert "18 days" in newer_row and "Overdue" not in newer_row
    assert f'href="{reverse("admin:petitions_petition_change", args=[newer.pk])}">{newer.pk}</a>' in listing


def test_staff_who_cannot_change_site_settings_are_told_who_can(editor_client):
    page = editor_client.get(URL).content.decode()
    limit = page.split('id="overdue-limit"')[1].split("</p>")[0]
    assert "Sysadmins change the limit" in limit and "<a " not in limit


def test_a_bad_page_number_shows_a_page_not_an_error(editor_client):
    awaiting("Only one", london(2024, 8, 15, 10, 0))
    for page in ("abc", "0", "99", "-1"):
        response = editor_client.get(URL, {"page": page})
        assert response.status_code == 200
        assert "Only one" in response.content.decode()


# --- Access ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("group", "status"),
    [(RESPONSE_EDITORS, 200), (REVIEWERS, 200), (SYSADMINS, 200), (MODERATORS, 403), (DEBATE_EDITORS, 403)],
)
def test_access_by_group(client, group, status):
    client.force_login(_staff(group))
    assert client.get(URL).status_code == status


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_the_admin_home_links_to_the_page_for_those_who_may_see_it(client):
    client.force_login(_staff(RESPONSE_EDITORS))
    assert f'href="{URL}">Response timeliness</a>' in client.get("/admin/").content.decode()
    client.force_login(_staff(MODERATORS))
    assert "Response timeliness" not in client.get("/admin/").content.decode()


def test_the_admin_home_queue_flags_overdue_petitions(editor_client):
    SiteSettings.load()
    awaiting("Long overdue", london(2024, 8, 15, 10, 0))
    awaiting("Recent", london(2025, 1, 2, 9, 0))
    with time_machine.travel(london(2025, 1, 20, 12, 0), tick=False):
        page = editor_client.get("/admin/").content.decode()
    queue = page.split('id="staff-queues"')[1].split("Awaiting a debate decision")[0]
    assert "Overdue</strong>" in queue.split("Long overdue")[1].split("</tr>")[0]
    assert "Overdue" not in queue.split("Recent")[1].split("</tr>")[0]


# --- Query counts --------------------------------------------------------------------------------------------------


def _populate(size: int) -> None:
    departments = [department(f"Department {size}-{i}", f"D{size}-{i}") for i in range(size)]
    for i in range(size * 3):
        reached_at = london(2024, 1 + i % 12, 1 + i % 28, 9, 0)
        awaiting(f"Awaiting {i}", reached_at, *departments[i % size : i % size + 2])
        responded(reached_at if i % 4 else None, date(2025, 1, 1), departments[i % size] if i % 5 else None)


@pytest.mark.parametrize("size", [1, 6])
def test_the_page_makes_a_fixed_number_of_queries(editor_client, django_assert_num_queries, size):
    SiteSettings.load()
    _populate(size)
    # Session, user, permissions (2), site settings, departments, awaiting totals, responses, the listing's count,
    # the user's groups (admin chrome), the listed petitions and their departments.
    with django_assert_num_queries(12):
        page = editor_client.get(URL).content.decode()
    assert page.count("Awaiting ") >= size * 3


@pytest.mark.parametrize("size", [1, 6])
def test_the_report_makes_a_fixed_number_of_queries(django_assert_num_queries, size):
    SiteSettings.load()
    _populate(size)
    with django_assert_num_queries(3):
        report = selectors.response_timeliness(now=london(2025, 2, 1, 12, 0), months=3)
    assert len(report.rows) == size + 1
    assert report.total.due + report.total.overdue == size * 3
