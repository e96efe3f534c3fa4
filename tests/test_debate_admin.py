"""The parliamentary business admin: who may see and change events and other business (Debate editors and
Sysadmins change, Reviewers read, Moderators and Response editors are refused), the event form's checks (https links
to allowed hosts, lead, deadline) as form errors, the POST-only Schedule buttons and the Record outcome pages
(through the services: states, audit rows, one email per petition), "Publish and email signers" on other
business, the autocompletes (petitions awaiting a debate first, MPs by name) and the changelist's query count."""

import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse
from django.utils import timezone

from debates.models import EventKind, OtherBusiness, Outcome, ParliamentaryEvent
from debates.services import event_record_outcome, event_schedule_debate
from petitions.groups import (
    DEBATE_EDITORS,
    MODERATORS,
    RESPONSE_EDITORS,
    REVIEWERS,
    SYSADMINS,
    staff_groups_ensure,
)
from petitions.models import AuditLog, Constituency, DebateState, Department, Notice, NoticeKind, Petition

from .factories import OpenPetitionFactory, PetitionFactory
from .test_admin import form_data

pytestmark = pytest.mark.django_db

ROLES = [SYSADMINS, MODERATORS, REVIEWERS, RESPONSE_EDITORS, DEBATE_EDITORS]
EDITORS = (SYSADMINS, DEBATE_EDITORS)


def make_staff(group_name: str, username: str | None = None) -> User:
    staff_groups_ensure()
    username = username or group_name.lower().replace(" ", "_")
    user = User.objects.create_user(username, f"{username}@staff.example", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=group_name))
    return user


def url(view, *args, model="parliamentaryevent"):
    return reverse(f"admin:debates_{model}_{view}", args=args)


def awaiting_petition(days=30, **fields) -> Petition:
    return OpenPetitionFactory(
        debate_state=DebateState.AWAITING,
        debate_threshold_reached_at=timezone.now() - timedelta(days=days),
        **fields,
    )


def make_event(kind=EventKind.WESTMINSTER_HALL_DEBATE, starts_at=None, petitions=(), **fields):
    event = ParliamentaryEvent.objects.create(
        kind=kind,
        title=fields.pop("title", "Trees in towns"),
        starts_at=starts_at or timezone.now() + timedelta(days=10),
        **fields,
    )
    event.petitions.set(petitions)
    return event


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def press(client, button, pk, model="parliamentaryevent") -> list[str]:
    """POST a button; it ends back on the change page, whose messages are returned."""
    answer = client.post(url(button, pk, model=model), follow=True)
    assert answer.redirect_chain == [(url("change", pk, model=model), 302)]
    return messages_of(answer)


@pytest.fixture
def login(client):
    def as_role(group_name):
        user = make_staff(group_name)
        client.force_login(user)
        return client, user

    return as_role


@pytest.fixture
def department():
    return Department.objects.get_or_create(acronym="DfE", defaults={"name": "Department for Education"})[0]


# --- Who sees what -------------------------------------------------------------------------------------------

PAGE_STATUS = {
    # role: (changelist, add, change page, outcome page, other business changelist, add, change page)
    SYSADMINS: (200, 200, 200, 200, 200, 200, 200),
    DEBATE_EDITORS: (200, 200, 200, 200, 200, 200, 200),
    REVIEWERS: (200, 403, 200, 403, 200, 403, 200),
    MODERATORS: (403, 403, 403, 403, 403, 403, 403),
    RESPONSE_EDITORS: (403, 403, 403, 403, 403, 403, 403),
}


@pytest.mark.parametrize("role", ROLES)
def test_pages_per_role(login, role):
    petition = awaiting_petition()
    event = make_event(starts_at=timezone.now() - timedelta(hours=1), petitions=[petition])
    item = OtherBusiness.objects.create(petition=petition, subject="News", body="Text")
    client, _ = login(role)
    statuses = (
        client.get(url("changelist")).status_code,
        client.get(url("add")).status_code,
        client.get(url("change", event.pk)).status_code,
        client.get(url("outcome", event.pk, "debated")).status_code,
        client.get(url("changelist", model="otherbusiness")).status_code,
        client.get(url("add", model="otherbusiness")).status_code,
        client.get(url("change", item.pk, model="otherbusiness")).status_code,
    )
    assert statuses == PAGE_STATUS[role]


def test_reviewers_read_an_event_without_buttons(login):
    petition = awaiting_petition()
    event = make_event(petitions=[petition])
    client, _ = login(REVIEWERS)
    page = client.get(url("change", event.pk))
    assert not page.context["has_change_permission"]
    html = page.content.decode()
    assert "Trees in towns" in html and f"{petition.pk}: {petition.action}" in html
    for button in ('value="Schedule debate"', 'value="Schedule and email signers"', "Record outcome:"):
        assert button not in html
    assert client.post(url("change", event.pk), {"title": "Changed"}).status_code == 403
    event.refresh_from_db()
    assert event.title == "Trees in towns"


@pytest.mark.parametrize("role", ROLES)
def test_only_debate_editors_and_sysadmins_press_the_buttons(login, role):
    petition = awaiting_petition()
    event = make_event(petitions=[petition])
    past = make_event(starts_at=timezone.now() - timedelta(hours=1), petitions=[petition])
    item = OtherBusiness.objects.create(petition=petition, subject="News", body="Text")
    client, _ = login(role)
    may = role in EDITORS
    presses = [
        client.post(url("schedule", event.pk)),
        client.post(url("schedule_and_email", event.pk)),
        client.post(url("outcome", past.pk, "not_debated"), {"reason": "No time."}),
        client.post(url("publish_and_email", item.pk, model="otherbusiness")),
    ]
    assert [r.status_code for r in presses] == ([302] * 4 if may else [403] * 4)
    petition.refresh_from_db()
    if may:
        assert petition.debate_state == DebateState.NOT_DEBATED
        assert Notice.objects.count() == 2
        assert AuditLog.objects.filter(actor__username=role.lower().replace(" ", "_")).count() >= 4
    else:
        assert petition.debate_state == DebateState.AWAITING
        assert not Notice.objects.exists() and not AuditLog.objects.exists()


def test_the_buttons_are_post_only(login):
    event = make_event(petitions=[awaiting_petition()])
    client, _ = login(DEBATE_EDITORS)
    for button in ("schedule", "schedule_and_email"):
        assert client.get(url(button, event.pk)).status_code == 405
    assert Petition.objects.get().debate_state == DebateState.AWAITING


# --- The event form ------------------------------------------------------------------------------------------


def _event_post(**overrides) -> dict:
    data = {
        "kind": EventKind.WESTMINSTER_HALL_DEBATE,
        "title": "SEND workforce",
        "starts_at_0": "2031-03-22",
        "starts_at_1": "16:30:00",
        "place": "Westminster Hall",
        "summary": "A debate on the **SEND** workforce.",
        "lead_mp": "",
        "lead_mp_name": "Geraint Davies MP",
        "department": "",
        "evidence_deadline_0": "",
        "evidence_deadline_1": "",
        "evidence_url": "",
        "more_info_url": "",
        "transcript_url": "",
        "video_url": "",
        "debate_pack_url": "",
        "public_engagement_url": "",
        "debate_summary_url": "",
        "overview": "",
        "_save": "Save",
    }
    data.update(overrides)
    return data


def test_an_editor_adds_an_event_with_checked_links(login, department):
    client, editor = login(DEBATE_EDITORS)
    petition = awaiting_petition()
    page = client.get(url("add")).content.decode()
    # The petitions and the lead MP are chosen with this admin's own autocomplete.
    assert page.count(f'data-ajax--url="{url("autocomplete")}"') == 2
    answer = client.post(
        url("add"),
        _event_post(
            petitions=[str(petition.pk)],
            department=str(department.pk),
            evidence_deadline_0="2031-03-21",
            evidence_deadline_1="12:00:00",
            evidence_url="committees.parliament.uk/send",  # no scheme: https
            video_url="https://parliamentlive.tv/Event/Index/1",
        ),
    )
    assert answer.status_code == 302, answer.context["adminform"].form.errors
    event = ParliamentaryEvent.objects.get()
    assert event.evidence_url == "https://committees.parliament.uk/send"
    assert list(event.petitions.all()) == [petition]
    assert timezone.localtime(event.starts_at).strftime("%Y-%m-%d %H:%M") == "2031-03-22 16:30"
    audit = AuditLog.objects.get(action="admin.add")
    assert audit.actor == editor and audit.object_id == str(event.pk)
    # Saving links the petitions; only "Schedule debate" changes their state.
    assert Petition.objects.get().debate_state == DebateState.AWAITING


@pytest.mark.parametrize(
    "overrides, field, message",
    [
        ({"video_url": "http://parliamentlive.tv/Event/1"}, "video_url", "Links must start with https://"),
        (
            {"transcript_url": "https://hansard.parliament.uk.evil.com/x"},
            "transcript_url",
            "Links must point to a parliament or government site",
        ),
        (
            {"debate_pack_url": "https://evilparliament.uk/pack"},
            "debate_pack_url",
            "Links must point to a parliament or government site",
        ),
        ({"more_info_url": "javascript:alert(1)"}, "more_info_url", "Links must start with https://"),
        ({"kind": EventKind.CALL_FOR_EVIDENCE}, "evidence_deadline", "a call for evidence needs the date"),
        ({"starts_at_0": "2031-02-30"}, "starts_at", "Enter a real date, like 22/03/2031."),
        ({"starts_at_1": "25:99"}, "starts_at", "Enter a real time, like 16:30."),
        ({"starts_at_1": ""}, "starts_at", "Enter the date and time."),
        ({"evidence_deadline_0": "2031-03-21"}, "evidence_deadline", "Enter the time contributions close"),
        ({"evidence_deadline_1": "12:00"}, "evidence_deadline", "Enter the date contributions close"),
        ({"starts_at_0": "", "starts_at_1": ""}, "starts_at", "Enter the date and time."),
        ({"kind": "debate_in_the_pub"}, "kind", "Select a valid choice."),
        ({"petitions": ["not-a-number"]}, "petitions", "“not-a-number” is not a valid value."),
        ({"petitions": ["999999"]}, "petitions", "Select a valid choice."),
        ({"lead_mp": "nonsense"}, "lead_mp", "Select a valid choice."),
        ({"title": ""}, "title", "Enter the title."),
    ],
)
def test_bad_input_gives_form_errors_not_500s(login, overrides, field, message):
    client, _ = login(DEBATE_EDITORS)
    answer = client.post(url("add"), _event_post(**overrides))
    assert answer.status_code == 200
    errors = answer.context["adminform"].form.errors
    assert any(message in error for error in errors[field]), errors
    assert not ParliamentaryEvent.objects.exists()


def test_a_lead_mp_and_a_typed_lead_are_not_both_allowed(login):
    client, _ = login(DEBATE_EDITORS)
    constituency = Constituency.objects.exclude(mp_name="").first()
    answer = client.post(url("add"), _event_post(lead_mp=constituency.pk, lead_mp_name="Claire Coutinho MP"))
    assert answer.status_code == 200
    assert "not both" in answer.context["adminform"].form.errors["lead_mp_name"][0]
    answer = client.post(url("add"), _event_post(lead_mp=constituency.pk, lead_mp_name=""))
    assert answer.status_code == 302
    assert ParliamentaryEvent.objects.get().lead == f"{constituency.mp_name} MP"


def test_a_debate_with_an_outcome_stays_a_debate(login):
    client, editor = login(DEBATE_EDITORS)
    event = make_event(starts_at=timezone.now() - timedelta(hours=1), petitions=[awaiting_petition()])
    event_record_outcome(event=event, outcome=Outcome.DEBATED, actor=editor)
    data = form_data(client.get(url("change", event.pk)), ParliamentaryEvent)
    data["kind"] = EventKind.MINISTERIAL_STATEMENT
    answer = client.post(url("change", event.pk), data)
    assert answer.status_code == 200
    assert "must stay a debate" in answer.context["adminform"].form.errors["kind"][0]
    # The form's own fields never include the outcome: it is the services' business.
    data = form_data(client.get(url("change", event.pk)), ParliamentaryEvent)
    assert "outcome" not in data and "outcome_reason" not in data
    data.update({"outcome": "not_debated", "title": "Renamed"})
    assert client.post(url("change", event.pk), data).status_code == 302
    event.refresh_from_db()
    assert (event.title, event.outcome) == ("Renamed", Outcome.DEBATED)
    # And a debate with an outcome cannot be deleted.
    assert client.get(url("delete", event.pk)).status_code == 403


# --- Scheduling ----------------------------------------------------------------------------------------------


def test_schedule_debate_and_schedule_and_email_signers(login):
    client, editor = login(DEBATE_EDITORS)
    first, second = awaiting_petition(), awaiting_petition()
    event = make_event(petitions=[first, second])
    page = client.get(url("change", event.pk)).content.decode()
    assert 'value="Schedule debate"' in page and 'value="Schedule and email signers"' in page
    assert "Record outcome: debated" not in page  # it has not happened yet
    assert "Record outcome: not debated" in page

    messages = press(client, "schedule", event.pk)
    day = timezone.localtime(event.starts_at)
    assert messages == [
        f"Debate scheduled for {day:%A} {day.day} {day:%B %Y} at {_clock(day)}: 2 petitions are now "
        "“Debate scheduled”. Signers were not emailed."
    ]
    for petition in (first, second):
        petition.refresh_from_db()
        assert (petition.debate_state, petition.scheduled_debate_date) == (DebateState.SCHEDULED, day.date())
    assert AuditLog.objects.filter(action="event.schedule_debate", actor=editor).count() == 1
    assert not Notice.objects.exists()

    messages = press(client, "schedule_and_email", event.pk)
    notices = list(Notice.objects.order_by("pk"))
    assert len(notices) == 2 and {n.kind for n in notices} == {NoticeKind.DEBATE_SCHEDULED}
    assert f"(bulk emails {notices[0].pk}, {notices[1].pk})" in messages[0]
    messages = press(client, "schedule_and_email", event.pk)
    assert Notice.objects.count() == 2
    assert f"petitions {first.pk}, {second.pk} were already emailed about this" in messages[0]


def _clock(value) -> str:
    from petitions.templatetags.petition_tags import clock_time

    return clock_time(value)


def test_refusals_show_as_messages(login):
    client, _ = login(DEBATE_EDITORS)
    statement = make_event(kind=EventKind.MINISTERIAL_STATEMENT, petitions=[awaiting_petition()])
    assert press(client, "schedule", statement.pk) == [
        "Only debates can be scheduled: this is a ministerial statement."
    ]
    empty = make_event()
    assert press(client, "schedule_and_email", empty.pk) == ["Link the petitions this debate is about first."]
    assert not AuditLog.objects.exists() and not Notice.objects.exists()
    assert client.post(url("schedule", 999999)).status_code == 302  # the admin's "does not exist" redirect


# --- Recording outcomes --------------------------------------------------------------------------------------


def test_record_outcome_debated_with_links_and_email(login):
    client, editor = login(DEBATE_EDITORS)
    petition = awaiting_petition()
    event = make_event(petitions=[petition])
    event_schedule_debate(event=event, petitions=[petition], actor=editor)
    ParliamentaryEvent.objects.filter(pk=event.pk).update(starts_at=timezone.now() - timedelta(hours=2))
    page = client.get(url("change", event.pk)).content.decode()
    assert "Record outcome: debated" in page and 'value="Schedule debate"' not in page

    form_page = client.get(url("outcome", event.pk, "debated"))
    assert form_page.status_code == 200
    assert set(form_page.context["form"].fields) >= {
        "overview",
        "video_url",
        "transcript_url",
        "email_signers",
    }
    answer = client.post(
        url("outcome", event.pk, "debated"),
        {
            "overview": "MPs *agreed*.",
            "video_url": "https://parliamentlive.tv/Event/Index/1",
            "transcript_url": "https://hansard.parliament.uk/Commons/debates/1",
            "debate_pack_url": "",
            "public_engagement_url": "",
            "debate_summary_url": "",
            "email_signers": "on",
        },
        follow=True,
    )
    assert answer.redirect_chain == [(url("change", event.pk), 302)]
    notice = Notice.objects.get()
    assert messages_of(answer) == [
        "Outcome recorded: debated. 1 petition is now “Debated”. The creator and the signers who asked for "
        f"updates will be emailed (bulk email {notice.pk})."
    ]
    event.refresh_from_db()
    petition.refresh_from_db()
    assert (event.outcome, event.overview, event.video_url) == (
        Outcome.DEBATED,
        "MPs *agreed*.",
        "https://parliamentlive.tv/Event/Index/1",
    )
    assert petition.debate_state == DebateState.DEBATED and petition.debate_outcome_at == event.outcome_at
    assert (notice.kind, notice.source_id) == (NoticeKind.DEBATE_OUTCOME, str(event.pk))
    assert AuditLog.objects.filter(action="event.record_outcome", actor=editor).count() == 1

    # The form opens again with what was recorded.
    again = client.get(url("outcome", event.pk, "debated"))
    assert (
        again.context["form"].initial["transcript_url"] == "https://hansard.parliament.uk/Commons/debates/1"
    )


@pytest.mark.parametrize(
    "outcome, data, field, message",
    [
        (
            "debated",
            {"video_url": "http://parliamentlive.tv/x"},
            "video_url",
            "Links must start with https://",
        ),
        (
            "debated",
            {"transcript_url": "https://parliament.uk.evil.com/x"},
            "transcript_url",
            "Links must point to a parliament or government site",
        ),
        ("not_debated", {"reason": "   "}, "reason", "Say why it was not debated."),
        ("not_debated", {}, "reason", "Say why it was not debated."),
    ],
)
def test_the_outcome_page_gives_form_errors(login, outcome, data, field, message):
    client, _ = login(DEBATE_EDITORS)
    petition = awaiting_petition()
    event = make_event(starts_at=timezone.now() - timedelta(hours=2), petitions=[petition])
    answer = client.post(url("outcome", event.pk, outcome), data)
    assert answer.status_code == 200
    assert any(message in error for error in answer.context["form"].errors[field])
    assert "Please correct the errors below." in answer.content.decode()
    event.refresh_from_db()
    assert event.outcome == "" and not AuditLog.objects.exists()


def test_the_outcome_page_shows_the_services_refusals(login):
    client, _ = login(DEBATE_EDITORS)
    event = make_event(petitions=[awaiting_petition()])  # in ten days
    answer = client.post(url("outcome", event.pk, "debated"), {"overview": ""})
    assert answer.status_code == 200
    assert "once it has taken place" in answer.context["form"].non_field_errors()[0]
    assert not AuditLog.objects.exists()

    assert client.get(url("outcome", event.pk, "postponed")).status_code == 404
    statement = make_event(kind=EventKind.SELECT_COMMITTEE_SESSION, petitions=[awaiting_petition()])
    answer = client.get(url("outcome", statement.pk, "debated"), follow=True)
    assert answer.redirect_chain == [(url("change", statement.pk), 302)]
    assert messages_of(answer) == [
        "Only debates have an outcome: this is a select committee evidence session."
    ]


def test_record_outcome_not_debated(login):
    client, _ = login(SYSADMINS)
    petition = awaiting_petition()
    event = make_event(petitions=[petition])
    answer = client.post(
        url("outcome", event.pk, "not_debated"), {"reason": "It was debated last month."}, follow=True
    )
    assert messages_of(answer) == [
        "Outcome recorded: not debated. 1 petition is now “Not debated”. Signers were not emailed."
    ]
    petition.refresh_from_db()
    assert petition.debate_state == DebateState.NOT_DEBATED
    assert ParliamentaryEvent.objects.get().outcome_reason == "It was debated last month."


# --- Other business ------------------------------------------------------------------------------------------


def test_other_business_is_published_on_save_and_emailed_once(login):
    client, editor = login(DEBATE_EDITORS)
    petition = awaiting_petition()
    answer = client.post(
        url("add", model="otherbusiness"),
        {
            "petition": str(petition.pk),
            "subject": "The committee wrote to the minister",
            "body": "Read the *letter*.",
            "occurred_on": "2031-03-29",
            "_save": "Save",
        },
    )
    assert answer.status_code == 302
    item = OtherBusiness.objects.get()
    audit = AuditLog.objects.get(action="other_business.publish")
    assert audit.actor == editor and audit.details["created"] and not audit.details["email_signers"]

    page = client.get(url("change", item.pk, model="otherbusiness")).content.decode()
    assert "Publish and email signers" in page
    messages = press(client, "publish_and_email", item.pk, model="otherbusiness")
    notice = Notice.objects.get()
    assert messages == [
        "Published on the petition page. The creator and the signers who asked for updates will be emailed "
        f"(bulk email {notice.pk})."
    ]
    page = client.get(url("change", item.pk, model="otherbusiness")).content.decode()
    assert "Publish and email signers" not in page and "Signers have been (or are being) emailed" in page
    messages = press(client, "publish_and_email", item.pk, model="otherbusiness")
    assert "already emailed" in messages[0] and Notice.objects.count() == 1

    answer = client.post(url("add", model="otherbusiness"), {"petition": "abc", "subject": "", "body": ""})
    form = answer.context["adminform"].form
    assert answer.status_code == 200 and set(form.errors) >= {"petition", "subject", "body"}


# --- Autocompletes -------------------------------------------------------------------------------------------


def _autocomplete(client, model, field, term=""):
    answer = client.get(
        url("autocomplete"), {"app_label": "debates", "model_name": model, "field_name": field, "term": term}
    )
    assert answer.status_code == 200
    return json.loads(answer.content)["results"]


def test_the_petition_autocomplete_lists_petitions_awaiting_a_debate_first(login):
    client, _ = login(DEBATE_EDITORS)
    newest = OpenPetitionFactory()
    awaiting_recent = awaiting_petition(days=5, signature_count=100_001)
    awaiting_oldest = awaiting_petition(days=50)
    debated = OpenPetitionFactory(debate_state=DebateState.DEBATED)
    results = _autocomplete(client, "parliamentaryevent", "petitions")
    assert [int(r["id"]) for r in results] == [awaiting_oldest.pk, awaiting_recent.pk, debated.pk, newest.pk]
    assert results[1]["text"] == (
        f"{awaiting_recent.pk}: {awaiting_recent.action} (awaiting a debate decision, 100,001 signatures)"
    )
    assert [int(r["id"]) for r in _autocomplete(client, "otherbusiness", "petition", str(newest.pk))] == [
        newest.pk
    ]


def test_the_lead_mp_autocomplete_shows_mps_by_name(login):
    client, _ = login(DEBATE_EDITORS)
    constituency = Constituency.objects.exclude(mp_name="").first()
    results = _autocomplete(client, "parliamentaryevent", "lead_mp", constituency.mp_name)
    assert {"id": str(constituency.pk), "text": f"{constituency.mp_name} MP ({constituency.name})"} in results


@pytest.mark.parametrize("role", [MODERATORS, RESPONSE_EDITORS])
def test_the_autocomplete_refuses_other_staff_and_other_fields(login, role):
    client, _ = login(DEBATE_EDITORS)
    params = {"app_label": "petitions", "model_name": "signature", "field_name": "petition"}
    assert client.get(url("autocomplete"), params).status_code == 403
    client, _ = login(role)
    params = {"app_label": "debates", "model_name": "parliamentaryevent", "field_name": "petitions"}
    assert client.get(url("autocomplete"), params).status_code == 403


# --- Query counts --------------------------------------------------------------------------------------------


def test_the_event_changelist_makes_a_fixed_number_of_queries(login, department, django_assert_num_queries):
    client, _ = login(DEBATE_EDITORS)
    constituency = Constituency.objects.exclude(mp_name="").first()

    def add_events(n):
        for i in range(n):
            make_event(
                title=f"Event {i}",
                lead_mp=constituency,
                department=department,
                petitions=[awaiting_petition(), PetitionFactory()],
            )

    add_events(3)
    client.get(url("changelist"))  # warm the per-process caches (content types, site settings)
    # session, user, permissions (user's, groups'), groups (the role check), department filter choices,
    # counts (filtered, total), rows with their petition counts, date hierarchy (range, the days or months)
    expected = 11
    with django_assert_num_queries(expected):
        page = client.get(url("changelist"))
    assert page.status_code == 200 and page.context["cl"].result_count == 3

    add_events(10)
    with django_assert_num_queries(expected):
        page = client.get(url("changelist"))
    assert page.context["cl"].result_count == 13
    assert "Event 9" in page.content.decode()
