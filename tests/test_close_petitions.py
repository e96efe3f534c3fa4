"""Closing at the deadline: closed_at is the deadline, missed nights are caught up, and two runs at once close
each petition once and email its creator once."""

import io
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection, connections

from petitions import tasks
from petitions.models import Country, Petition, PetitionState
from petitions.services import petition_close, petitions_close_expired

from .factories import OpenPetitionFactory, PendingSignatureFactory, ValidatedSignatureFactory

BASE_DIR = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 3, 11, 0, 1, tzinfo=UTC)
YESTERDAY_END = datetime(2026, 3, 10, 23, 59, 59, 999999, tzinfo=UTC)


def _open(deadline, **extra):
    return OpenPetitionFactory(deadline_at=deadline, opened_at=deadline - timedelta(days=180), **extra)


@pytest.mark.django_db
def test_closes_only_open_petitions_past_their_deadline_with_closed_at_the_deadline():
    due = _open(YESTERDAY_END)
    not_yet = _open(YESTERDAY_END + timedelta(days=1))
    exactly_now = _open(NOW)
    pending = OpenPetitionFactory(state=PetitionState.SPONSORED, deadline_at=YESTERDAY_END)
    rejected = OpenPetitionFactory(state=PetitionState.REJECTED, deadline_at=YESTERDAY_END)

    assert petitions_close_expired(now=NOW) == 1

    due.refresh_from_db()
    assert due.state == PetitionState.CLOSED
    assert due.closed_at == YESTERDAY_END  # the deadline, not the run time
    for untouched, state in [
        (not_yet, PetitionState.OPEN),
        (exactly_now, PetitionState.OPEN),
        (pending, PetitionState.SPONSORED),
        (rejected, PetitionState.REJECTED),
    ]:
        untouched.refresh_from_db()
        assert untouched.state == state and untouched.closed_at is None


@pytest.mark.django_db
def test_catches_up_after_missed_nights():
    deadlines = [YESTERDAY_END - timedelta(days=days) for days in (0, 1, 5, 40)]
    petitions = [_open(deadline) for deadline in deadlines]

    assert petitions_close_expired(now=NOW) == 4

    for petition, deadline in zip(petitions, deadlines, strict=True):
        petition.refresh_from_db()
        assert (petition.state, petition.closed_at) == (PetitionState.CLOSED, deadline)


@pytest.mark.django_db
def test_the_creator_is_emailed_once_with_the_final_count(mailoutbox, django_capture_on_commit_callbacks):
    petition = _open(YESTERDAY_END, action="Plant more trees & hedges")
    creator = ValidatedSignatureFactory(petition=petition, creator=True, name="Ada Lovelace")
    ValidatedSignatureFactory.create_batch(3, petition=petition)
    PendingSignatureFactory(petition=petition)  # not counted

    with django_capture_on_commit_callbacks(execute=True):
        assert petitions_close_expired(now=NOW) == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert petitions_close_expired(now=NOW) == 0

    assert len(mailoutbox) == 1
    email = mailoutbox[0]
    assert email.to == [creator.email]
    assert email.subject == "Your petition has closed"
    assert "Dear Ada Lovelace" in email.body
    assert "“Plant more trees & hedges” has closed" in email.body  # plain text, not HTML-escaped
    assert "with 4 signatures" in email.body
    assert "11.59pm on Tuesday 10 March 2026" in email.body
    assert f"http://testserver/petitions/{petition.pk}" in email.body
    petition.refresh_from_db()
    assert petition.signature_count == 4


@pytest.mark.django_db
def test_running_twice_transitions_and_emails_once(mailoutbox, django_capture_on_commit_callbacks):
    petitions = [_open(YESTERDAY_END - timedelta(hours=i)) for i in range(3)]
    for petition in petitions:
        ValidatedSignatureFactory(petition=petition, creator=True)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        first = petitions_close_expired(now=NOW)
        second = petitions_close_expired(now=NOW)
        # A run that raced the first one to a petition it had already closed: the locked re-check says no.
        assert petition_close(petition_id=petitions[0].pk, now=NOW) is False

    assert (first, second) == (3, 0)
    assert len(callbacks) == 3
    assert len(mailoutbox) == 3
    assert sorted(m.to[0] for m in mailoutbox) == sorted(p.creator.email for p in petitions)
    assert Petition.objects.filter(state=PetitionState.CLOSED).count() == 3


@pytest.mark.django_db
def test_a_petition_without_a_creator_closes_without_an_email(mailoutbox, django_capture_on_commit_callbacks):
    petition = _open(YESTERDAY_END)
    with django_capture_on_commit_callbacks(execute=True):
        assert petitions_close_expired(now=NOW) == 1
    petition.refresh_from_db()
    assert petition.state == PetitionState.CLOSED
    assert mailoutbox == []


@pytest.mark.django_db
def test_the_nightly_task_closes_petitions_past_their_deadline():
    petition = _open(YESTERDAY_END)
    with time_machine.travel(NOW, tick=False):
        assert tasks.close_petitions.delay().get() == 1
    petition.refresh_from_db()
    assert petition.state == PetitionState.CLOSED


@pytest.mark.django_db
def test_command_closes_as_of_now_given_in_iso_8601():
    due = _open(YESTERDAY_END)
    later = _open(YESTERDAY_END + timedelta(days=2))
    out = io.StringIO()

    call_command("close_petitions", "--now", "2026-03-11T00:01:00Z", stdout=out)

    assert out.getvalue().strip() == "Closed 1 petition."
    due.refresh_from_db()
    later.refresh_from_db()
    assert (due.state, due.closed_at) == (PetitionState.CLOSED, YESTERDAY_END)
    assert later.state == PetitionState.OPEN


@pytest.mark.django_db
def test_command_reads_a_time_without_an_offset_as_london_time():
    # 23:59:59.999999 BST on 1 July is 22:59:59.999999 UTC: "2026-07-01T23:30" London is before it.
    summer_end = datetime(2026, 7, 1, 22, 59, 59, 999999, tzinfo=UTC)
    petition = _open(summer_end)
    out = io.StringIO()
    call_command("close_petitions", "--now", "2026-07-01T23:30", stdout=out)
    assert out.getvalue().strip() == "Closed 0 petitions."
    call_command("close_petitions", "--now", "2026-07-02T00:00:30", stdout=out)
    petition.refresh_from_db()
    assert petition.state == PetitionState.CLOSED


@pytest.mark.django_db
def test_command_without_now_uses_the_current_time():
    petition = _open(YESTERDAY_END)
    out = io.StringIO()
    with time_machine.travel(NOW, tick=False):
        call_command("close_petitions", stdout=out)
    assert out.getvalue().strip() == "Closed 1 petition."
    petition.refresh_from_db()
    assert petition.state == PetitionState.CLOSED


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["tomorrow", "2026-13-01T00:00", "", "2026-03-11 25:00"])
def test_command_rejects_a_bad_now_with_a_clear_message(value):
    petition = _open(YESTERDAY_END)
    with pytest.raises(CommandError, match="--now must be an ISO 8601 date and time"):
        call_command("close_petitions", "--now", value)
    petition.refresh_from_db()
    assert petition.state == PetitionState.OPEN


def test_command_with_a_bad_now_prints_an_error_not_a_traceback():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    result = subprocess.run(  # noqa: S603 - our own manage.py, fixed arguments
        [sys.executable, "manage.py", "close_petitions", "--now", "last tuesday"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "CommandError: --now must be an ISO 8601 date and time" in result.stderr
    assert "Traceback" not in result.stderr


# --- Two runs at once, for real, on PostgreSQL ----------------------------------------------------


@pytest.fixture(scope="module")
def reference_data_restored(django_db_blocker):
    """A transactional test empties every table when it ends; put the shared reference data back afterwards."""
    yield
    from petitions.services import reference_data_load

    with django_db_blocker.unblock():
        reference_data_load()


@pytest.mark.skipif(
    connection.vendor == "sqlite",
    reason="SQLite has no row locks (SELECT … FOR UPDATE SKIP LOCKED); its IMMEDIATE transactions serialise "
    "writers instead. This test needs PostgreSQL: set DATABASE_URL.",
)
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_runs_close_each_petition_once_and_email_once(reference_data_restored, mailoutbox):
    gb, _ = Country.objects.get_or_create(code="GB", defaults={"name": "United Kingdom"})
    petitions = [_open(YESTERDAY_END - timedelta(minutes=i)) for i in range(30)]
    for petition in petitions:
        ValidatedSignatureFactory(petition=petition, creator=True, country=gb, constituency=None)
        ValidatedSignatureFactory.create_batch(2, petition=petition, country=gb, constituency=None)

    start = threading.Barrier(2)
    closed_by_run: list[int] = []
    errors: list[BaseException] = []

    def run():
        try:
            start.wait(timeout=10)
            closed_by_run.append(petitions_close_expired(now=NOW))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            connections.close_all()  # this thread's own connection

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert len(closed_by_run) == 2 and sum(closed_by_run) == len(petitions)
    assert Petition.objects.filter(state=PetitionState.CLOSED).count() == len(petitions)
    for petition in Petition.objects.filter(pk__in=[p.pk for p in petitions]):
        assert petition.closed_at == petition.deadline_at
        assert petition.signature_count == 3
    assert len(mailoutbox) == len(petitions)
    assert sorted(m.to[0] for m in mailoutbox) == sorted(p.creator.email for p in petitions)
