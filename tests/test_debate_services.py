"""The parliamentary business workflow's services and checks: https links to allowed hosts only (look-alikes
refused), the event rules (lead, deadline, outcome), scheduling a debate, recording its outcome, publishing other
business (roles, petition states and dates, audit rows, exactly one bulk email per petition and never a second),
the nightly job that turns past scheduled debates into debated ones (idempotent, and safe to run twice at once),
and the three emails (the seed's phrasing; malicious Markdown harmless)."""

import threading
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import AnonymousUser, Group, User
from django.core import mail
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.test import override_settings
from django.utils import timezone

from debates import tasks
from debates.models import EventKind, OtherBusiness, Outcome, ParliamentaryEvent
from debates.services import (
    DebateTransitionError,
    event_record_outcome,
    event_schedule_debate,
    events_mark_debated,
    is_debate_editor,
    other_business_publish,
)
from debates.validators import event_clean, event_errors, host_allowed, validate_parliament_link
from petitions.groups import (
    DEBATE_EDITORS,
    MODERATORS,
    RESPONSE_EDITORS,
    REVIEWERS,
    SYSADMINS,
    staff_groups_ensure,
)
from petitions.models import (
    AuditLog,
    Constituency,
    DebateState,
    Notice,
    NoticeKind,
    NoticeState,
    Petition,
    PetitionState,
)
from petitions.services import NotAllowed, TransitionError, notice_email_render

from .factories import ClosedPetitionFactory, OpenPetitionFactory, PetitionFactory, ValidatedSignatureFactory

pytestmark = pytest.mark.django_db

LONDON = ZoneInfo("Europe/London")
ROLES = [SYSADMINS, MODERATORS, REVIEWERS, RESPONSE_EDITORS, DEBATE_EDITORS]
HOSTS_MESSAGE = (
    "Links must point to a parliament or government site: *.parliament.uk, parliamentlive.tv, www.youtube.com, "
    "youtu.be, *.gov.uk or ukparliament.shorthandstories.com."
)


def make_staff(group_name: str, username: str | None = None) -> User:
    staff_groups_ensure()
    username = username or group_name.lower().replace(" ", "_")
    user = User.objects.create_user(username, f"{username}@staff.example", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=group_name))
    return user


@pytest.fixture
def editor():
    return make_staff(DEBATE_EDITORS)


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


def _state(petition) -> tuple:
    petition.refresh_from_db()
    return petition.debate_state, petition.scheduled_debate_date, petition.debate_outcome_at


# --- Links ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "link",
    [
        "http://www.parliament.uk/debate",
        "ftp://www.parliament.uk/pack.pdf",
        "javascript:alert(1)",
        "www.gov.uk/x",
    ],
)
def test_links_must_be_https(link):
    with pytest.raises(ValidationError) as caught:
        validate_parliament_link(link)
    assert caught.value.messages == ["Links must start with https://"]


@pytest.mark.parametrize(
    "link",
    [
        "https://parliament.uk.evil.com/debate",
        "https://evilparliament.uk/debate",
        "https://www.parliament.uk.evil.com/debate",
        "https://parliament.uk/debate",  # "*.parliament.uk" is subdomains only (settings)
        "https://youtube.com/watch?v=1",  # only www.youtube.com is listed
        "https://www.youtube.com.evil.com/watch",
        "https://example.com/parliament.uk",
        "https://www.parliament.uk@evil.com/debate",
        "https://evil.com\\@www.parliament.uk/debate",
        "https://user:pw@hansard.parliament.uk/debate",
        "https://hansard.parliament.uk:8443/debate",
        "https://evilgov.uk/x",
        "https://",
    ],
)
def test_links_must_point_to_an_allowed_host(link):
    with pytest.raises(ValidationError) as caught:
        validate_parliament_link(link)
    assert caught.value.messages == [HOSTS_MESSAGE]


@pytest.mark.parametrize(
    "link",
    [
        "https://hansard.parliament.uk/Commons/2023-03-06/debates/1",
        "https://committees.parliament.uk/work/1",
        "https://a.b.parliament.uk/deep",
        "https://HANSARD.Parliament.UK/x",
        "https://hansard.parliament.uk./trailing-dot",
        "https://hansard.parliament.uk:443/x",
        "https://parliamentlive.tv/Event/Index/1",
        "https://www.youtube.com/watch?v=abc",
        "https://youtu.be/abc",
        "https://www.gov.uk/government/consultations/send",
        "",
    ],
)
def test_links_to_allowed_hosts_and_their_subdomains_pass(link):
    validate_parliament_link(link)


@override_settings(PARLIAMENT_LINK_HOSTS=["*.example.org", "video.example.net"])
def test_the_allowed_hosts_come_from_settings():
    validate_parliament_link("https://a.example.org/x")
    validate_parliament_link("https://video.example.net/x")
    for refused in (
        "https://www.parliament.uk/x",
        "https://www.video.example.net/x",
        "https://example.org/x",
    ):
        with pytest.raises(ValidationError, match="example.org or video.example.net"):
            validate_parliament_link(refused)
    assert host_allowed("www.parliament.uk", ["*.parliament.uk"])
    assert not host_allowed("parliament.uk", ["*.parliament.uk"])


def test_the_event_rules():
    constituency = Constituency.objects.first()
    assert (
        event_errors(
            kind=EventKind.WESTMINSTER_HALL_DEBATE,
            lead_mp=constituency,
            lead_mp_name="",
            evidence_deadline=None,
            outcome="",
            outcome_reason="",
        )
        == {}
    )
    errors = event_errors(
        kind=EventKind.CALL_FOR_EVIDENCE,
        lead_mp=constituency,
        lead_mp_name="Claire Coutinho MP",
        evidence_deadline=None,
        outcome=Outcome.DEBATED,
        outcome_reason="",
    )
    assert set(errors) == {"lead_mp_name", "evidence_deadline", "kind"}
    assert "not both" in errors["lead_mp_name"][0]
    assert errors["kind"][0].startswith("This event has an outcome (debated)")
    assert event_errors(
        kind=EventKind.CHAMBER_DEBATE,
        lead_mp=None,
        lead_mp_name="",
        evidence_deadline=None,
        outcome=Outcome.NOT_DEBATED,
        outcome_reason="  ",
    ) == {"outcome_reason": ["Say why it was not debated."]}

    event = ParliamentaryEvent(
        kind=EventKind.MINISTERIAL_STATEMENT,
        title="A statement",
        starts_at=timezone.now(),
        video_url="http://parliamentlive.tv/x",
        transcript_url="https://hansard.parliament.uk.evil.com/x",
        outcome=Outcome.DEBATED,
    )
    with pytest.raises(ValidationError) as caught:
        event_clean(event)
    errors = caught.value.message_dict
    assert set(errors) == {"kind", "video_url", "transcript_url"}
    assert errors["video_url"] == ["Links must start with https://"]
    assert errors["transcript_url"] == [HOSTS_MESSAGE]


# --- Roles ---------------------------------------------------------------------------------------------------


def test_is_debate_editor():
    assert not is_debate_editor(None)
    assert not is_debate_editor(AnonymousUser())
    users = {role: make_staff(role) for role in ROLES}
    assert {role for role, user in users.items() if is_debate_editor(user)} == {SYSADMINS, DEBATE_EDITORS}
    root = User.objects.create_superuser("root", "root@example.com", "pw")
    assert is_debate_editor(root)
    inactive = users[DEBATE_EDITORS]
    inactive.is_active = False
    assert not is_debate_editor(inactive)


@pytest.mark.parametrize("role", [MODERATORS, REVIEWERS, RESPONSE_EDITORS, None])
def test_other_staff_can_do_nothing(role):
    actor = make_staff(role) if role else None
    petition = awaiting_petition()
    event = make_event(petitions=[petition])
    past = make_event(starts_at=timezone.now() - timedelta(hours=2), petitions=[petition])
    calls = [
        lambda: event_schedule_debate(event=event, petitions=[petition], actor=actor, email_signers=True),
        lambda: event_record_outcome(event=past, outcome=Outcome.DEBATED, actor=actor, email_signers=True),
        lambda: event_record_outcome(
            event=event, outcome=Outcome.NOT_DEBATED, actor=actor, reason="No time."
        ),
        lambda: other_business_publish(
            item=OtherBusiness(petition=petition, subject="News", body="Text"),
            actor=actor,
            email_signers=True,
        ),
    ]
    for call in calls:
        with pytest.raises(NotAllowed, match="Only debate editors and sysadmins can"):
            call()
    assert _state(petition) == (DebateState.AWAITING, None, None)
    assert not Notice.objects.exists()
    assert not OtherBusiness.objects.exists()
    assert not AuditLog.objects.exists()
    assert issubclass(DebateTransitionError, TransitionError)


# --- Scheduling ----------------------------------------------------------------------------------------------


def test_scheduling_sets_the_petitions_state_and_the_london_date(editor):
    first, second = awaiting_petition(), ClosedPetitionFactory(debate_state=DebateState.AWAITING)
    other = awaiting_petition()
    # 11.30pm UTC on 1 June is 12.30am on 2 June in London (BST).
    event = make_event(starts_at=datetime(2031, 6, 1, 23, 30, tzinfo=UTC))
    emails = event_schedule_debate(event=event, petitions=[first, second], actor=editor, email_signers=False)

    assert emails == []
    assert set(event.petitions.all()) == {first, second}
    for petition in (first, second):
        assert _state(petition) == (DebateState.SCHEDULED, date(2031, 6, 2), None)
        assert petition.debate_scheduled_on == timezone.localdate()
    assert _state(other) == (DebateState.AWAITING, None, None)
    assert not Notice.objects.exists()
    audit = AuditLog.objects.get(action="event.schedule_debate")
    assert (audit.actor, audit.object_type, audit.object_id) == (
        editor,
        "debates.parliamentaryevent",
        str(event.pk),
    )
    assert audit.details == {
        "petitions": sorted([first.pk, second.pk]),
        "date": "2031-06-02",
        "email_signers": False,
        "notices": [],
        "already_emailed": [],
    }


def test_rescheduling_moves_the_date_and_keeps_when_it_was_first_scheduled(editor):
    petition = awaiting_petition()
    event = make_event(starts_at=datetime(2031, 6, 1, 15, 0, tzinfo=LONDON))
    with time_machine.travel(datetime(2031, 5, 1, 12, 0, tzinfo=LONDON)):
        event_schedule_debate(event=event, petitions=[petition], actor=editor)
    ParliamentaryEvent.objects.filter(pk=event.pk).update(
        starts_at=datetime(2031, 6, 8, 15, 0, tzinfo=LONDON)
    )
    event.refresh_from_db()
    with time_machine.travel(datetime(2031, 5, 20, 12, 0, tzinfo=LONDON)):
        event_schedule_debate(event=event, petitions=event.petitions.all(), actor=editor)
    petition.refresh_from_db()
    assert (petition.scheduled_debate_date, petition.debate_scheduled_on) == (
        date(2031, 6, 8),
        date(2031, 5, 1),
    )
    assert AuditLog.objects.filter(action="event.schedule_debate").count() == 2


def test_schedule_and_email_queues_exactly_one_notice_per_petition_and_never_twice(
    editor, django_capture_on_commit_callbacks
):
    first, second = awaiting_petition(), awaiting_petition()
    event = make_event()
    with django_capture_on_commit_callbacks(execute=False):
        emails = event_schedule_debate(
            event=event, petitions=[first, second], actor=editor, email_signers=True
        )
    notices = list(Notice.objects.order_by("petition_id"))
    assert [n.petition_id for n in notices] == sorted([first.pk, second.pk])
    for notice in notices:
        assert (notice.kind, notice.source_type, notice.source_id) == (
            NoticeKind.DEBATE_SCHEDULED,
            "debates.parliamentaryevent",
            str(event.pk),
        )
        assert notice.created_by == editor
    assert {(e.petition_id, e.notice.pk, e.new) for e in emails} == {
        (n.petition_id, n.pk, True) for n in notices
    }
    assert sorted(AuditLog.objects.get(action="event.schedule_debate").details["notices"]) == sorted(
        n.pk for n in notices
    )

    # Pressed again, once the first emails have gone, and with a third petition added: only that one's signers.
    Notice.objects.update(state=NoticeState.COMPLETED, completed_at=timezone.now())
    third = awaiting_petition()
    with django_capture_on_commit_callbacks(execute=False):
        again = event_schedule_debate(
            event=event, petitions=[first, second, third], actor=editor, email_signers=True
        )
    assert Notice.objects.count() == 3
    assert [(e.petition_id, e.new) for e in again] == [
        (first.pk, False),
        (second.pk, False),
        (third.pk, True),
    ]
    details = AuditLog.objects.filter(action="event.schedule_debate").latest("pk").details
    assert details["already_emailed"] == [first.pk, second.pk] and len(details["notices"]) == 1

    # A cancelled email does not count as sent.
    Notice.objects.filter(petition=first).update(state=NoticeState.CANCELLED, cancelled_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=False):
        event_schedule_debate(event=event, petitions=[first], actor=editor, email_signers=True)
    assert Notice.objects.filter(petition=first).exclude(state=NoticeState.CANCELLED).count() == 1


def test_the_notices_roll_back_with_a_failed_schedule(editor):
    petition = awaiting_petition()
    event = make_event()
    with pytest.raises(RuntimeError), transaction.atomic():
        event_schedule_debate(event=event, petitions=[petition], actor=editor, email_signers=True)
        raise RuntimeError("the request failed afterwards")
    assert not Notice.objects.exists()
    assert not AuditLog.objects.exists()
    assert _state(petition) == (DebateState.AWAITING, None, None)
    assert not event.petitions.exists()


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda p: make_event(kind=EventKind.MINISTERIAL_STATEMENT), "Only debates can be scheduled"),
        (lambda p: make_event(outcome=Outcome.NOT_DEBATED, outcome_reason="x"), "already has an outcome"),
        (lambda p: make_event(starts_at=timezone.now() - timedelta(minutes=5)), "record its outcome instead"),
    ],
)
def test_scheduling_is_refused_for_statements_outcomes_and_past_dates(editor, setup, message):
    petition = awaiting_petition()
    event = setup(petition)
    with pytest.raises(DebateTransitionError, match=message):
        event_schedule_debate(event=event, petitions=[petition], actor=editor, email_signers=True)
    assert _state(petition) == (DebateState.AWAITING, None, None)
    assert not Notice.objects.exists() and not AuditLog.objects.exists()


def test_scheduling_needs_petitions_that_are_open_or_closed(editor):
    event = make_event()
    with pytest.raises(DebateTransitionError, match="Link the petitions"):
        event_schedule_debate(event=event, petitions=[], actor=editor)
    good = awaiting_petition()
    pending = PetitionFactory(state=PetitionState.PENDING)
    rejected = PetitionFactory(state=PetitionState.REJECTED)
    with pytest.raises(DebateTransitionError) as caught:
        event_schedule_debate(event=event, petitions=[good, pending, rejected], actor=editor)
    assert str(caught.value) == (
        f"Only open or closed petitions can be debated: petition {pending.pk} is pending (creator's email not "
        f"confirmed); petition {rejected.pk} is rejected. Remove them from the debate first."
    )
    assert _state(good) == (DebateState.AWAITING, None, None)
    assert not event.petitions.exists() and not AuditLog.objects.exists()


# --- Outcomes ------------------------------------------------------------------------------------------------


def _scheduled(editor, *petitions, hours_ago=2):
    """A debate scheduled through the service, whose time has now passed (`hours_ago`)."""
    event = make_event()
    event_schedule_debate(event=event, petitions=petitions, actor=editor)
    ParliamentaryEvent.objects.filter(pk=event.pk).update(
        starts_at=timezone.now() - timedelta(hours=hours_ago)
    )
    event.refresh_from_db()
    return event


LINKS = {
    "video_url": "https://parliamentlive.tv/Event/Index/1",
    "transcript_url": "https://hansard.parliament.uk/Commons/2031/debates/1",
    "debate_pack_url": "https://commonslibrary.parliament.uk/research-briefings/cdp-1/",
}


def test_recording_debated_sets_the_petitions_the_event_and_an_audit_row(editor):
    first, second = awaiting_petition(), awaiting_petition()
    event = _scheduled(editor, first, second)
    event.overview = "stale"
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        now = timezone.now()
        emails = event_record_outcome(
            event=event, outcome=Outcome.DEBATED, actor=editor, overview="  MPs *agreed*.  ", links=LINKS
        )
        traveller.shift(timedelta(hours=3))
        # Recorded again to add the summary link: when it was recorded is kept.
        event_record_outcome(
            event=event,
            outcome=Outcome.DEBATED,
            actor=editor,
            overview="MPs *agreed*.",
            links={"debate_summary_url": "https://www.parliament.uk/summary/1"},
        )
    assert emails == []
    event.refresh_from_db()
    assert (event.outcome, event.outcome_at, event.overview, event.outcome_reason) == (
        Outcome.DEBATED,
        now,
        "MPs *agreed*.",
        "",
    )
    assert event.video_url == LINKS["video_url"] and event.transcript_url == LINKS["transcript_url"]
    assert event.debate_summary_url == "https://www.parliament.uk/summary/1"
    for petition in (first, second):
        assert _state(petition) == (DebateState.DEBATED, timezone.localdate(event.starts_at), now)
    audits = list(AuditLog.objects.filter(action="event.record_outcome").order_by("pk"))
    assert len(audits) == 2 and audits[0].actor == editor
    assert audits[0].details["outcome"] == "debated"
    assert audits[0].details["petitions"] == sorted([first.pk, second.pk])
    assert audits[0].details["links"] == sorted(LINKS)
    assert not Notice.objects.exists()


def test_recording_not_debated_needs_the_reason_and_sets_the_petitions(editor):
    petition = awaiting_petition()
    event = make_event(petitions=[petition])
    with pytest.raises(DebateTransitionError, match="Say why it was not debated"):
        event_record_outcome(event=event, outcome=Outcome.NOT_DEBATED, actor=editor, reason="   ")
    assert _state(petition) == (DebateState.AWAITING, None, None)

    event_record_outcome(
        event=event, outcome=Outcome.NOT_DEBATED, actor=editor, reason=" It was debated last month. "
    )
    event.refresh_from_db()
    assert (event.outcome, event.outcome_reason, event.overview) == (
        Outcome.NOT_DEBATED,
        "It was debated last month.",
        "",
    )
    state, scheduled_date, outcome_at = _state(petition)
    assert (state, scheduled_date, outcome_at) == (DebateState.NOT_DEBATED, None, event.outcome_at)

    # Changed to debated once it took place after all: the time of the outcome moves with it.
    ParliamentaryEvent.objects.filter(pk=event.pk).update(starts_at=timezone.now() - timedelta(hours=1))
    event.refresh_from_db()
    event_record_outcome(event=event, outcome=Outcome.DEBATED, actor=editor)
    event.refresh_from_db()
    assert event.outcome_reason == "" and event.outcome_at > outcome_at
    assert _state(petition)[0] == DebateState.DEBATED


@pytest.mark.parametrize(
    "kind, starts_in, outcome, links, message",
    [
        (EventKind.SELECT_COMMITTEE_SESSION, -2, Outcome.DEBATED, {}, "Only debates can have an outcome"),
        (EventKind.WESTMINSTER_HALL_DEBATE, 2, Outcome.DEBATED, {}, "once it has taken place"),
        (EventKind.WESTMINSTER_HALL_DEBATE, -2, "postponed", {}, "Choose whether"),
        (
            EventKind.WESTMINSTER_HALL_DEBATE,
            -2,
            Outcome.DEBATED,
            {"video_url": "http://parliamentlive.tv/x"},
            "Video url: Links must start with https://",
        ),
        (
            EventKind.WESTMINSTER_HALL_DEBATE,
            -2,
            Outcome.DEBATED,
            {"transcript_url": "https://hansard.parliament.uk.evil.com/x"},
            "Transcript url: Links must point to a parliament",
        ),
    ],
)
def test_outcomes_are_refused_clearly(editor, kind, starts_in, outcome, links, message):
    petition = awaiting_petition()
    event = make_event(kind=kind, starts_at=timezone.now() + timedelta(hours=starts_in), petitions=[petition])
    with pytest.raises(DebateTransitionError, match=message):
        event_record_outcome(event=event, outcome=outcome, actor=editor, links=links, email_signers=True)
    event.refresh_from_db()
    assert (event.outcome, event.video_url, event.transcript_url) == ("", "", "")
    assert _state(petition) == (DebateState.AWAITING, None, None)
    assert not Notice.objects.exists() and not AuditLog.objects.exists()


def test_an_outcome_needs_petitions(editor):
    event = make_event(starts_at=timezone.now() - timedelta(hours=1))
    with pytest.raises(DebateTransitionError, match="Link the petitions"):
        event_record_outcome(event=event, outcome=Outcome.DEBATED, actor=editor)


def test_outcome_emails_go_once_per_petition(editor, django_capture_on_commit_callbacks):
    first, second = awaiting_petition(), awaiting_petition()
    event = _scheduled(editor, first, second)
    with django_capture_on_commit_callbacks(execute=False):
        emails = event_record_outcome(event=event, outcome=Outcome.DEBATED, actor=editor, email_signers=True)
        again = event_record_outcome(
            event=event, outcome=Outcome.DEBATED, actor=editor, links=LINKS, email_signers=True
        )
    notices = Notice.objects.filter(kind=NoticeKind.DEBATE_OUTCOME)
    assert sorted(notices.values_list("petition_id", flat=True)) == sorted([first.pk, second.pk])
    assert all(e.new for e in emails) and not any(e.new for e in again)
    assert {e.notice.pk for e in again} == set(notices.values_list("pk", flat=True))
    assert not Notice.objects.filter(kind=NoticeKind.DEBATE_SCHEDULED).exists()


# --- Other parliamentary business ----------------------------------------------------------------------------


def test_other_business_is_published_with_an_audit_row_and_emailed_once(
    editor, django_capture_on_commit_callbacks
):
    petition = awaiting_petition()
    item = OtherBusiness(
        petition=petition, subject="The committee wrote to the minister", body="Read the letter."
    )
    assert other_business_publish(item=item, actor=editor) is None
    assert OtherBusiness.objects.get() == item
    audit = AuditLog.objects.get(action="other_business.publish")
    assert audit.details == {
        "created": True,
        "fields": [],
        "petition": petition.pk,
        "email_signers": False,
        "notices": [],
        "already_emailed": [],
    }
    updated_at = OtherBusiness.objects.get().updated_at

    with django_capture_on_commit_callbacks(execute=False):
        email = other_business_publish(item=item, actor=editor, email_signers=True)
        again = other_business_publish(item=item, actor=editor, email_signers=True)
    assert email.new and not again.new and again.notice == email.notice
    notice = Notice.objects.get()
    assert (notice.kind, notice.source_type, notice.source_id, notice.petition_id) == (
        NoticeKind.OTHER_BUSINESS,
        "debates.otherbusiness",
        str(item.pk),
        petition.pk,
    )
    assert OtherBusiness.objects.get().updated_at == updated_at  # emailing does not re-save it
    assert AuditLog.objects.filter(action="other_business.publish").count() == 3


def test_other_business_on_a_petition_nobody_can_see_is_not_emailed(editor):
    petition = PetitionFactory(state=PetitionState.HIDDEN)
    item = OtherBusiness(petition=petition, subject="News", body="Text")
    with pytest.raises(DebateTransitionError, match="petition .* is hidden"):
        other_business_publish(item=item, actor=editor, email_signers=True)
    assert not OtherBusiness.objects.exists() and not Notice.objects.exists()


# --- The nightly job -----------------------------------------------------------------------------------------


def test_the_nightly_job_marks_only_past_scheduled_debates(editor):
    scheduled, other = awaiting_petition(), awaiting_petition()
    soon = timezone.now() + timedelta(days=1)
    past_event = make_event(starts_at=soon)
    event_schedule_debate(event=past_event, petitions=[scheduled], actor=editor)
    future_event = make_event(starts_at=soon + timedelta(days=7))
    future_petition = awaiting_petition()
    event_schedule_debate(event=future_event, petitions=[future_petition], actor=editor)
    # Past, but never scheduled (its petition awaits a decision), a statement, and one with an outcome.
    unscheduled = make_event(starts_at=soon - timedelta(hours=1), petitions=[other])
    statement = make_event(kind=EventKind.MINISTERIAL_STATEMENT, starts_at=soon - timedelta(hours=1))
    statement.petitions.add(scheduled)
    not_debated = make_event(starts_at=soon - timedelta(hours=1), petitions=[scheduled])
    ParliamentaryEvent.objects.filter(pk=not_debated.pk).update(
        outcome=Outcome.NOT_DEBATED, outcome_reason="x"
    )

    assert events_mark_debated(now=soon - timedelta(minutes=1)) == []
    later = soon + timedelta(hours=3)
    assert events_mark_debated(now=later) == [past_event.pk]

    past_event.refresh_from_db()
    assert (past_event.outcome, past_event.outcome_at) == (Outcome.DEBATED, later)
    assert _state(scheduled) == (DebateState.DEBATED, timezone.localdate(soon), later)
    assert _state(future_petition)[0] == DebateState.SCHEDULED
    assert _state(other) == (DebateState.AWAITING, None, None)
    for event in (future_event, unscheduled, statement):
        event.refresh_from_db()
        assert event.outcome == ""
    audit = AuditLog.objects.get(action="event.mark_debated")
    assert (audit.actor, audit.object_id, audit.details) == (
        None,
        str(past_event.pk),
        {"petitions": [scheduled.pk]},
    )

    # Idempotent: a second run finds nothing.
    assert events_mark_debated(now=later + timedelta(hours=1)) == []
    assert AuditLog.objects.filter(action="event.mark_debated").count() == 1


def test_the_nightly_task_uses_the_clock(editor):
    petition = awaiting_petition()
    event = make_event(starts_at=timezone.now() + timedelta(days=2))
    event_schedule_debate(event=event, petitions=[petition], actor=editor)
    assert tasks.mark_past_debates_debated.delay().get() == []
    with time_machine.travel(event.starts_at + timedelta(hours=8)):
        assert tasks.mark_past_debates_debated.delay().get() == [event.pk]
        assert tasks.mark_past_debates_debated.delay().get() == []
    assert _state(petition)[0] == DebateState.DEBATED


@pytest.mark.django_db(transaction=True)
def test_two_nightly_runs_at_once_mark_each_debate_once(monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("row locks (SELECT … FOR UPDATE SKIP LOCKED) need PostgreSQL")
    import debates.services as services

    now = timezone.now()
    events = []
    for n in range(6):
        petition = OpenPetitionFactory(
            debate_state=DebateState.SCHEDULED,
            scheduled_debate_date=timezone.localdate(now) - timedelta(days=1),
        )
        events.append(make_event(starts_at=now - timedelta(days=1, minutes=n), petitions=[petition]))

    # Each run holds its locks a while, so the two really overlap.
    record = services.audit_log_record
    started = threading.Barrier(2)

    def slow_record(**kwargs):
        row = record(**kwargs)
        threading.Event().wait(0.05)
        return row

    monkeypatch.setattr(services, "audit_log_record", slow_record)
    monkeypatch.setattr(services, "MARK_DEBATED_BATCH", 2)
    results, errors = [], []

    def run():
        try:
            started.wait(timeout=10)
            results.append(events_mark_debated(now=now))
        except Exception as error:  # reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    marked = [pk for result in results for pk in result]
    assert sorted(marked) == sorted(e.pk for e in events)  # each once, by one run or the other
    assert AuditLog.objects.filter(action="event.mark_debated").count() == len(events)
    assert set(Petition.objects.values_list("debate_state", flat=True)) == {DebateState.DEBATED}


# --- The emails ----------------------------------------------------------------------------------------------

MALICIOUS = (
    "We **will** act.\n\n<script>alert('x')</script>\n\n<img src=x onerror=alert(1)>\n\n"
    "[click](javascript:alert(1)) and [the pack](https://commonslibrary.parliament.uk/cdp)"
)


def _assert_safe(text: str, html: str) -> None:
    for part in (text, html):
        assert "<script" not in part.lower()
        assert "javascript:" not in part.lower()
        assert "onerror" not in part.lower()
        assert "alert(" not in part


def _render(kind, source, signature):
    notice = Notice(
        petition=signature.petition,
        kind=kind,
        source_type=source._meta.label_lower,
        source_id=str(source.pk),
    )
    return notice_email_render(notice=notice, signature=signature)


@pytest.fixture
def creator():
    return ValidatedSignatureFactory(petition=awaiting_petition(), creator=True, name="Jo Creator")


def test_the_scheduled_email_says_when_in_the_seeds_style_and_renders_markdown_safely(creator):
    constituency = Constituency.objects.exclude(mp_name="").exclude(mp_name__contains="'").first()
    event = make_event(
        title="SEND workforce",
        starts_at=datetime(2023, 3, 6, 16, 30, tzinfo=LONDON),
        place="Westminster Hall",
        lead_mp=constituency,
        summary=MALICIOUS,
        evidence_deadline=datetime(2023, 3, 21, 12, 0, tzinfo=LONDON),
        evidence_url="https://committees.parliament.uk/send",
        video_url="https://parliamentlive.tv/Event/Index/1",
    )
    subject, text, html = _render(NoticeKind.DEBATE_SCHEDULED, event, creator)
    assert subject == f"Parliament will debate your petition “{creator.petition.action}”"
    for part in (text, html):
        assert "Parliament will debate this petition on Monday 6 March 2023." in part
        assert "Westminster Hall debate and starts at 4.30pm in Westminster Hall." in part
        assert f"{constituency.mp_name} MP will lead the debate." in part
        assert "by midday on Tuesday 21 March" in part
    _assert_safe(text, html)
    assert "We will act." in text and "**" not in text and "<strong>" not in text
    assert "the pack (https://commonslibrary.parliament.uk/cdp)" in text
    assert "We <strong>will</strong> act." in html
    assert "Watch the debate live:\nhttps://parliamentlive.tv/Event/Index/1" in text
    assert 'href="https://parliamentlive.tv/Event/Index/1"' in html
    assert (
        "https://committees.parliament.uk/send" in text
        and 'href="https://committees.parliament.uk/send"' in html
    )


def test_the_outcome_emails_link_the_video_and_transcript_when_present(creator):
    event = make_event(
        title="SEND provision and funding",
        starts_at=datetime(2024, 1, 11, 13, 0, tzinfo=LONDON),
        lead_mp_name="Sir David Davis MP",
        outcome=Outcome.DEBATED,
        overview=MALICIOUS,
        **LINKS,
    )
    subject, text, html = _render(NoticeKind.DEBATE_OUTCOME, event, creator)
    assert subject == f"Parliament debated your petition “{creator.petition.action}”"
    for part in (text, html):
        assert "Parliament debated this petition on Thursday 11 January 2024." in part
        assert "The debate was led by Sir David Davis MP." in part
    assert f"Watch the debate:\n{LINKS['video_url']}" in text
    assert f"Read the transcript:\n{LINKS['transcript_url']}" in text
    assert f'href="{LINKS["video_url"]}"' in html and f'href="{LINKS["transcript_url"]}"' in html
    _assert_safe(text, html)
    assert "We <strong>will</strong> act." in html and "We will act." in text

    ParliamentaryEvent.objects.filter(pk=event.pk).update(video_url="", transcript_url="", debate_pack_url="")
    event.refresh_from_db()
    _, text, html = _render(NoticeKind.DEBATE_OUTCOME, event, creator)
    assert "Watch the debate" not in text and "Read the transcript" not in text
    assert "Watch the debate" not in html and "Read the transcript" not in html

    ParliamentaryEvent.objects.filter(pk=event.pk).update(
        outcome=Outcome.NOT_DEBATED, outcome_reason="<script>alert('x')</script> Debated last month & more."
    )
    event.refresh_from_db()
    signer = ValidatedSignatureFactory(petition=creator.petition, notify_by_email=True, name="Sam Signer")
    subject, text, html = _render(NoticeKind.DEBATE_OUTCOME, event, signer)
    assert subject == f"Parliament didn't debate “{creator.petition.action}”"
    assert "decided not to debate the petition you signed" in text
    assert "&lt;script&gt;" in html and "<script" not in html and "Debated last month &amp; more." in html


def test_the_other_business_email_renders_markdown_safely(creator):
    item = OtherBusiness.objects.create(
        petition=creator.petition,
        subject="The committee wrote to the minister",
        body=MALICIOUS,
        occurred_on=date(2023, 3, 29),
    )
    subject, text, html = _render(NoticeKind.OTHER_BUSINESS, item, creator)
    assert subject == "The committee wrote to the minister"
    assert "Wednesday 29 March 2023" in text and "Wednesday 29 March 2023" in html
    _assert_safe(text, html)
    assert "We will act." in text and "**" not in text and "<" not in text
    assert "We <strong>will</strong> act." in html


def test_signers_get_the_schedule_by_email(editor, django_capture_on_commit_callbacks):
    cache.clear()  # the bulk email throttle's counters
    petition = awaiting_petition()
    ValidatedSignatureFactory(petition=petition, creator=True, email="creator@example.org")
    ValidatedSignatureFactory(petition=petition, notify_by_email=True, email="signer@example.org")
    ValidatedSignatureFactory(petition=petition, notify_by_email=False, email="quiet@example.org")
    event = make_event(summary=MALICIOUS)
    with django_capture_on_commit_callbacks(execute=True):
        event_schedule_debate(event=event, petitions=[petition], actor=editor, email_signers=True)
    assert sorted(a for m in mail.outbox for a in m.to) == ["creator@example.org", "signer@example.org"]
    day = event.starts_at.astimezone(LONDON)
    for message in mail.outbox:
        _assert_safe(message.body, message.alternatives[0][0])
        assert f"Parliament will debate this petition on {day:%A} {day.day} {day:%B %Y}." in message.body
    assert Notice.objects.get().state == NoticeState.COMPLETED
