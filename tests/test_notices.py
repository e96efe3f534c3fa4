"""Bulk email notices (issue 5): the outbox, fan-out, sending exactly once, retries, failures, throttle, night
window, staff controls and the sweeper. Unit tests: locmem email and eager Celery (see
tests/test_notices_integration.py for a real worker and a real SMTP server)."""

import re
import smtplib
import socket
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core import mail
from django.core.cache import cache
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from debates.models import EventKind, OtherBusiness, Outcome, ParliamentaryEvent
from petitions import selectors, tasks
from petitions.models import (
    AuditLog,
    DeliveryState,
    Notice,
    NoticeKind,
    NoticeState,
    SignatureState,
    SiteSettings,
)
from petitions.services import (
    NotAllowed,
    NoticeStateError,
    notice_cancel,
    notice_create,
    notice_dispatch,
    notice_email_render,
    notice_fanout_chunk,
    notice_pause,
    notice_preview_send,
    notice_rate_take,
    notice_resume,
    notice_send_batch,
    notices_sweep,
)
from petitions.services import notices as notices_module
from responses.models import GovernmentResponse
from tests.factories import (
    FraudulentSignatureFactory,
    InvalidatedSignatureFactory,
    OpenPetitionFactory,
    PendingSignatureFactory,
    ValidatedSignatureFactory,
)

pytestmark = pytest.mark.django_db
LONDON = ZoneInfo("Europe/London")
URL_RE = re.compile(r"https?://[^\s\"'<>]+")


# --- Test mail backends: fail on purpose, then behave like locmem ----------------------------------------------


class FlakyBackend(LocmemBackend):
    """Raises the queued errors (one per message, for the addresses they name or any), then delivers."""

    errors: list = []

    def send_messages(self, messages):
        for message in messages:
            for i, (to, error) in enumerate(FlakyBackend.errors):
                if to is None or to in message.to:
                    del FlakyBackend.errors[i]
                    raise error
        return super().send_messages(messages)


@pytest.fixture
def flaky(settings):
    settings.EMAIL_BACKEND = "tests.test_notices.FlakyBackend"
    FlakyBackend.errors = []
    yield FlakyBackend.errors
    FlakyBackend.errors = []


# --- Data ------------------------------------------------------------------------------------------------------


@pytest.fixture
def petition():
    return OpenPetitionFactory(action="Plant more trees in towns")


@pytest.fixture
def creator(petition):
    return ValidatedSignatureFactory(petition=petition, creator=True, notify_by_email=False)


@pytest.fixture
def signers(petition):
    return ValidatedSignatureFactory.create_batch(5, petition=petition, notify_by_email=True)


@pytest.fixture
def staff(db):
    return User.objects.create_superuser("editor", "editor@parliament.example", "pw")


@pytest.fixture(autouse=True)
def _fresh_throttle():
    cache.clear()


def _create(petition, kind=NoticeKind.RESPONSE_PUBLISHED, source=None, actor=None, run=False, capture=None):
    """notice_create inside a transaction, as a staff action calls it; `run` executes the on-commit dispatch
    (eager Celery: the whole notice is sent before this returns)."""
    with capture(execute=run), transaction.atomic():
        return notice_create(petition=petition, kind=kind, source=source, actor=actor)


def _sources(petition):
    response = GovernmentResponse.objects.create(
        petition=petition,
        responded_on=date(2026, 3, 9),
        summary="We will plant a million trees.",
        details="The **department** will fund councils.",
        status="published",
    )
    scheduled = ParliamentaryEvent.objects.create(
        kind=EventKind.WESTMINSTER_HALL_DEBATE,
        title="Trees in towns",
        starts_at=timezone.make_aware(datetime(2026, 6, 1, 16, 30)),
        place="Westminster Hall",
        video_url="https://parliamentlive.tv/event/1",
    )
    debated = ParliamentaryEvent.objects.create(
        kind=EventKind.WESTMINSTER_HALL_DEBATE,
        title="Trees in towns, debated",
        starts_at=timezone.make_aware(datetime(2026, 6, 1, 16, 30)),
        outcome=Outcome.DEBATED,
        transcript_url="https://hansard.parliament.uk/debate/1",
    )
    other = OtherBusiness.objects.create(
        petition=petition, subject="The committee wrote to the minister", body="Read the *letter*."
    )
    return {
        NoticeKind.RESPONSE_PUBLISHED: response,
        NoticeKind.DEBATE_SCHEDULED: scheduled,
        NoticeKind.DEBATE_OUTCOME: debated,
        NoticeKind.OTHER_BUSINESS: other,
    }


def _recipients(outbox) -> list[str]:
    return sorted(address for message in outbox for address in message.to)


# --- The outbox ------------------------------------------------------------------------------------------------


def test_the_notice_is_stored_in_the_staff_actions_transaction_and_rolled_back_with_it(
    petition, signers, staff, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks(execute=False) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        notice_create(petition=petition, kind=NoticeKind.RESPONSE_PUBLISHED, actor=staff)
        assert Notice.objects.count() == 1
        raise RuntimeError("the staff action failed")
    assert Notice.objects.count() == 0
    assert not AuditLog.objects.filter(action="notice.create").exists()
    assert callbacks == []

    notice = _create(petition, actor=staff, capture=django_capture_on_commit_callbacks)
    notice.refresh_from_db()
    assert notice.state == NoticeState.PENDING
    assert notice.created_by == staff
    assert AuditLog.objects.filter(action="notice.create", object_id=str(notice.pk), actor=staff).exists()
    assert mail.outbox == []


def test_pressing_save_and_email_twice_makes_one_notice(
    petition, signers, django_capture_on_commit_callbacks
):
    source = _sources(petition)[NoticeKind.RESPONSE_PUBLISHED]
    first = _create(petition, source=source, capture=django_capture_on_commit_callbacks)
    second = _create(petition, source=source, capture=django_capture_on_commit_callbacks)
    assert first.pk == second.pk
    assert (first.source_type, first.source_id) == ("responses.governmentresponse", str(source.pk))


def test_an_unknown_kind_is_refused(petition):
    with pytest.raises(ValueError, match="Unknown notice kind"):
        notice_create(petition=petition, kind="newsletter")


def test_redis_down_at_the_staff_action_keeps_the_notice_for_the_sweeper(
    petition, creator, signers, monkeypatch, django_capture_on_commit_callbacks
):
    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to the broker. Connection refused.")

    with monkeypatch.context() as patched:
        patched.setattr(tasks.dispatch_notice, "delay", broker_down)
        notice = _create(petition, run=True, capture=django_capture_on_commit_callbacks)
    notice.refresh_from_db()
    assert notice.state == NoticeState.PENDING and notice.dispatched_at is None
    assert mail.outbox == []

    with django_capture_on_commit_callbacks(execute=True):
        assert notices_sweep() == [notice.pk]
    notice.refresh_from_db()
    assert notice.state == NoticeState.COMPLETED
    assert _recipients(mail.outbox) == sorted(s.email for s in [creator, *signers])


# --- Fan-out ---------------------------------------------------------------------------------------------------


def test_fan_out_goes_in_chunks_from_the_cursor_and_a_second_run_adds_nothing(
    petition, creator, signers, django_capture_on_commit_callbacks
):
    ValidatedSignatureFactory(petition=petition, notify_by_email=True)
    notice = _create(petition, capture=django_capture_on_commit_callbacks)
    ids = sorted(s.pk for s in petition.signatures.all())

    assert notice_fanout_chunk(notice_id=notice.pk, chunk_size=3) == {
        "state": "running",
        "queued": 3,
        "done": False,
    }
    notice.refresh_from_db()
    assert (notice.fanout_cursor, notice.total, notice.fanout_done_at) == (ids[2], 3, None)
    assert notice.started_at is not None
    assert notice_fanout_chunk(notice_id=notice.pk, chunk_size=3)["queued"] == 3
    assert notice_fanout_chunk(notice_id=notice.pk, chunk_size=3) == {
        "state": "running",
        "queued": 1,
        "done": True,
    }
    notice.refresh_from_db()
    assert notice.total == 7 and notice.fanout_done_at is not None
    assert sorted(notice.deliveries.values_list("signature_id", flat=True)) == ids

    assert notice_fanout_chunk(notice_id=notice.pk, chunk_size=3)["queued"] == 0
    # Even from the start again (a lost cursor), existing deliveries are neither duplicated nor counted twice.
    Notice.objects.filter(pk=notice.pk).update(fanout_cursor=0, fanout_done_at=None)
    while not notice_fanout_chunk(notice_id=notice.pk, chunk_size=3)["done"]:
        pass
    notice.refresh_from_db()
    assert notice.total == 7
    assert notice.deliveries.count() == 7


def test_recipients_are_validated_subscribed_signers_and_the_creator(petition, creator):
    now = timezone.now()
    subscribed = ValidatedSignatureFactory(petition=petition, notify_by_email=True)
    ValidatedSignatureFactory(petition=petition, notify_by_email=False)
    PendingSignatureFactory(petition=petition, notify_by_email=True)
    FraudulentSignatureFactory(petition=petition, notify_by_email=True)
    InvalidatedSignatureFactory(petition=petition, notify_by_email=True)
    ValidatedSignatureFactory(petition=petition, notify_by_email=True, state=SignatureState.WITHDRAWN)
    ValidatedSignatureFactory(petition=petition, notify_by_email=False, unsubscribed_at=now)
    ValidatedSignatureFactory(petition=petition, notify_by_email=True, anonymized_at=now)
    ValidatedSignatureFactory(notify_by_email=True)  # another petition
    notice = Notice.objects.create(petition=petition, kind=NoticeKind.DEBATE_SCHEDULED)

    assert set(selectors.notice_recipients(notice=notice)) == {creator, subscribed}
    notice_fanout_chunk(notice_id=notice.pk)
    assert set(notice.deliveries.values_list("signature_id", flat=True)) == {creator.pk, subscribed.pk}


def test_an_anonymised_creator_gets_nothing(petition, creator, signers):
    creator.anonymized_at = timezone.now()
    creator.save()
    notice = Notice.objects.create(petition=petition, kind=NoticeKind.DEBATE_SCHEDULED)
    notice_fanout_chunk(notice_id=notice.pk)
    assert creator.pk not in set(notice.deliveries.values_list("signature_id", flat=True))


# --- Sending exactly once --------------------------------------------------------------------------------------


def test_every_recipient_gets_exactly_one_email_and_running_again_sends_nothing(
    petition, creator, signers, django_capture_on_commit_callbacks
):
    notice = _create(petition, run=True, capture=django_capture_on_commit_callbacks)
    expected = sorted(s.email for s in [creator, *signers])
    assert _recipients(mail.outbox) == expected
    notice.refresh_from_db()
    assert notice.state == NoticeState.COMPLETED and notice.completed_at is not None
    assert (notice.total, notice.sent_count, notice.failed_count, notice.skipped_count) == (6, 6, 0, 0)
    assert set(notice.deliveries.values_list("state", flat=True)) == {DeliveryState.SENT}
    completed = AuditLog.objects.get(action="notice.complete", object_id=str(notice.pk))
    assert completed.actor is None and completed.details["sent"] == 6

    tasks.dispatch_notice.delay(notice.pk)
    # Even if the notice were somehow running again from the very start, nobody gets a second email.
    Notice.objects.filter(pk=notice.pk).update(
        state=NoticeState.RUNNING, fanout_cursor=0, fanout_done_at=None
    )
    notice_dispatch(notice_id=notice.pk)
    assert _recipients(mail.outbox) == expected
    notice.refresh_from_db()
    assert notice.sent_count == 6 and notice.state == NoticeState.COMPLETED


@pytest.mark.parametrize("kind", NoticeKind.values)
def test_each_kind_is_multipart_with_one_click_unsubscribe_and_no_address_in_any_url(petition, creator, kind):
    signer = ValidatedSignatureFactory(
        petition=petition, notify_by_email=True, email="ann.other+x@example.org"
    )
    source = _sources(petition)[kind]
    notice = Notice.objects.create(
        petition=petition, kind=kind, source_type=source._meta.label_lower, source_id=str(source.pk)
    )
    notice_fanout_chunk(notice_id=notice.pk)
    notice_send_batch(notice_id=notice.pk)
    assert len(mail.outbox) == 2
    to_signer = next(m for m in mail.outbox if m.to == [signer.email])
    to_creator = next(m for m in mail.outbox if m.to == [creator.email])

    for message in (to_signer, to_creator):
        assert petition.action in (message.subject if kind != NoticeKind.OTHER_BUSINESS else message.body)
        assert [mimetype for _, mimetype in message.alternatives] == ["text/html"]
        html = message.alternatives[0][0]
        assert '<html lang="en">' in html
        assert f"http://testserver/petitions/{petition.pk}" in message.body
        assert f"http://testserver/petitions/{petition.pk}" in html
        assert (
            message.extra_headers["Message-ID"]
            == f"<notice.{notice.pk}.{message_signature(message, signer, creator)}@petitions.localhost>"
        )
        for url in (
            URL_RE.findall(message.body) + URL_RE.findall(html) + URL_RE.findall(str(message.extra_headers))
        ):
            assert "@" not in url and "%40" not in url, url

    unsubscribe = f"http://testserver/signatures/{signer.pk}/unsubscribe?token={signer.unsubscribe_token}"
    assert to_signer.extra_headers["List-Unsubscribe"] == f"<{unsubscribe}>"
    assert to_signer.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert unsubscribe in to_signer.body
    assert f'href="{unsubscribe}"' in to_signer.alternatives[0][0]
    # The creator cannot unsubscribe from news of their own petition, so their email offers no link.
    assert "List-Unsubscribe" not in to_creator.extra_headers
    assert "unsubscribe" not in to_creator.body.lower()
    assert "your petition" in to_creator.body and "the petition you signed" in to_signer.body


def message_signature(message, signer, creator) -> int:
    return signer.pk if message.to == [signer.email] else creator.pk


def test_the_emails_say_what_happened(petition, creator):
    sources = _sources(petition)
    expectations = {
        NoticeKind.RESPONSE_PUBLISHED: (
            "The government responded to your petition",
            "We will plant a million trees.",
        ),
        NoticeKind.DEBATE_SCHEDULED: ("Parliament will debate your petition", "Westminster Hall"),
        NoticeKind.DEBATE_OUTCOME: (
            "Parliament debated your petition",
            "https://hansard.parliament.uk/debate/1",
        ),
        NoticeKind.OTHER_BUSINESS: ("The committee wrote to the minister", "Read the letter."),
    }
    for kind, (subject, text) in expectations.items():
        notice = Notice.objects.create(
            petition=petition,
            kind=kind,
            source_type=sources[kind]._meta.label_lower,
            source_id=str(sources[kind].pk),
        )
        rendered_subject, body, html = notice_email_render(notice=notice, signature=creator)
        assert rendered_subject.startswith(subject)
        assert text in body
    details_html = notice_email_render(
        notice=Notice(
            petition=petition,
            kind=NoticeKind.RESPONSE_PUBLISHED,
            source_type="responses.governmentresponse",
            source_id=str(sources[NoticeKind.RESPONSE_PUBLISHED].pk),
        ),
        signature=creator,
    )[2]
    assert "<strong>department</strong>" in details_html

    event = sources[NoticeKind.DEBATE_OUTCOME]
    event.outcome, event.outcome_reason = (
        Outcome.NOT_DEBATED,
        "The committee held an evidence session instead.",
    )
    event.save()
    notice = Notice(
        petition=petition,
        kind=NoticeKind.DEBATE_OUTCOME,
        source_type="debates.parliamentaryevent",
        source_id=str(event.pk),
    )
    subject, body, html = notice_email_render(notice=notice, signature=creator)
    assert subject.startswith("Parliament didn't debate your petition")
    assert "evidence session instead" in body and "evidence session instead" in html


def test_a_signer_who_unsubscribes_withdraws_or_is_anonymised_meanwhile_is_skipped(
    petition, creator, signers
):
    notice = Notice.objects.create(petition=petition, kind=NoticeKind.DEBATE_SCHEDULED)
    notice_fanout_chunk(notice_id=notice.pk)
    now = timezone.now()
    unsubscribed, withdrawn, anonymised, invalidated, *rest = signers
    type(unsubscribed).objects.filter(pk=unsubscribed.pk).update(notify_by_email=False, unsubscribed_at=now)
    type(withdrawn).objects.filter(pk=withdrawn.pk).update(state=SignatureState.WITHDRAWN, withdrawn_at=now)
    type(anonymised).objects.filter(pk=anonymised.pk).update(anonymized_at=now)
    type(invalidated).objects.filter(pk=invalidated.pk).update(state=SignatureState.INVALIDATED)

    result = notice_send_batch(notice_id=notice.pk)
    assert (result["sent"], result["skipped"]) == (2, 4)
    assert _recipients(mail.outbox) == sorted(s.email for s in [creator, *rest])
    notice.refresh_from_db()
    assert (notice.sent_count, notice.skipped_count) == (2, 4)
    skipped = set(
        notice.deliveries.filter(state=DeliveryState.SKIPPED).values_list("signature_id", flat=True)
    )
    assert skipped == {unsubscribed.pk, withdrawn.pk, anonymised.pk, invalidated.pk}


# --- Failures --------------------------------------------------------------------------------------------------


def test_a_dropped_connection_is_retried_later_and_then_delivered_once(petition, creator, signers, flaky):
    flaky.append((None, smtplib.SMTPServerDisconnected("Connection unexpectedly closed")))
    notice = Notice.objects.create(petition=petition, kind=NoticeKind.DEBATE_SCHEDULED)
    notice_fanout_chunk(notice_id=notice.pk)

    result = notice_send_batch(notice_id=notice.pk)
    assert (result["held"], result["retrying"], result["sent"]) == ("connection", 1, 0)
    retried = notice.deliveries.get(attempts=1)
    assert retried.state == DeliveryState.QUEUED
    assert timedelta(seconds=25) < retried.next_attempt_at - timezone.now() <= timedelta(seconds=30)

    # The others go at once; the failed one waits for its retry time.
    assert notice_send_batch(notice_id=notice.pk)["sent"] == 5
    assert notice_dispatch(notice_id=notice.pk)["again_at"] >= retried.next_attempt_at
    with time_machine.travel(timezone.now() + timedelta(seconds=31)):
        assert notice_dispatch(notice_id=notice.pk)["state"] == NoticeState.COMPLETED
    assert _recipients(mail.outbox) == sorted(s.email for s in [creator, *signers])
    retried.refresh_from_db()
    assert (retried.state, retried.attempts) == (DeliveryState.SENT, 2)


def test_a_451_for_one_recipient_is_retried_without_holding_up_the_rest(petition, creator, signers, flaky):
    flaky.append((signers[0].email, smtplib.SMTPResponseException(451, b"4.7.1 Try again later")))
    notice = Notice.objects.create(petition=petition, kind=NoticeKind.DEBATE_SCHEDULED)
    notice_fanout_chunk(notice_id=notice.pk)
    result = notice_send_batch(notice_id=notice.pk)
    assert (result["sent"], result["retrying"], result["held"]) == (5, 1, "")
    delivery = notice.deliveries.get(signature=signers[0])
    assert (delivery.attempts, delivery.error) == (1, "451 4.7.1 Try again later")
    with time_machine.travel(timezone.now() + timedelta(minutes=1)):
        assert notice_send_batch(notice_id=notice.pk)["sent"] == 1
    assert _recipients(mail.outbox).count(signers[0].email) == 1


def test_temporary_failures_give_up_after_the_last_attempt(petition, creator, flaky, monkeypatch):
    monkeypatch.setattr(notices_module, "MAX_ATTEMPTS", 3)
    flaky.extend([(creator.email, smtplib.SMTPResponseException(421, b"busy"))] * 3)
    notice = Notice.objects.create(petition=petition, kind=NoticeKind.DEBATE_SCHEDULED)
    notice_fanout_chunk(notice_id=notice.pk)
    start = timezone.now()
    for minutes in (0, 1, 3):
        with time_machine.travel(start + timedelta(minutes=minutes, seconds=1)):
            notice_send_batch(notice_id=notice.pk)
    delivery = notice.deliveries.get()
    assert (delivery.state, delivery.attempts) == (DeliveryState.FAILED, 3)
    notice.refresh_from_db()
    assert notice.failed_count == 1
    assert notice_dispatch(notice_id=notice.pk)["state"] == NoticeState.COMPLETED
    assert mail.outbox == []


def test_a_permanent_550_is_recorded_against_the_signature_without_the_address(
    petition, creator, signers, flaky
):
    bounced = signers[2]
    flaky.append(
        (
            bounced.email,
            smtplib.SMTPRecipientsRefused(
                {bounced.email: (550, f"5.1.1 <{bounced.email}>: Recipient address rejected".encode())}
            ),
        )
    )
    notice = Notice.objects.create(petition=petition, kind=NoticeKind.DEBATE_SCHEDULED)
    notice_fanout_chunk(notice_id=notice.pk)
    assert notice_dispatch(notice_id=notice.pk)["state"] == NoticeState.COMPLETED

    delivery = notice.deliveries.get(signature=bounced)
    assert (delivery.state, delivery.attempts) == (DeliveryState.FAILED, 1)
    assert delivery.error == "550 5.1.1 <address>: Recipient address rejected"
    bounced.refresh_from_db()
    assert bounced.email_failed_at is not None
    assert bounced.email_failure == "550 5.1.1 <address>: Recipient address rejected"
    notice.refresh_from_db()
    assert (notice.sent_count, notice.failed_count) == (5, 1)
    assert bounced.email not in _recipients(mail.outbox)


def test_an_unreachable_mail_server_holds_the_batch(petition, creator, signers, settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", closed_port, 5
    notice = Notice.objects.create(petition=petition, kind=NoticeKind.DEBATE_SCHEDULED)
    notice_fanout_chunk(notice_id=notice.pk)
    result = notice_send_batch(notice_id=notice.pk)
    assert (result["held"], result["claimed"], result["sent"]) == ("connection", 1, 0)
    assert notice.deliveries.filter(attempts=1).count() == 1
    assert notice.deliveries.filter(attempts=0).count() == 5
    assert notice_dispatch(notice_id=notice.pk)["again_at"] > timezone.now()


# --- Staff controls --------------------------------------------------------------------------------------------


def test_pause_stops_sending_and_resume_carries_on(
    petition, creator, signers, staff, django_capture_on_commit_callbacks
):
    notice = _create(petition, capture=django_capture_on_commit_callbacks)
    notice_fanout_chunk(notice_id=notice.pk)
    notice_send_batch(notice_id=notice.pk, batch_size=2)
    notice = notice_pause(notice=notice, actor=staff)
    assert notice.state == NoticeState.PAUSED and notice.paused_at is not None
    assert notice_dispatch(notice_id=notice.pk) == {
        "state": NoticeState.PAUSED,
        "done": True,
        "again_at": None,
    }
    assert notice_send_batch(notice_id=notice.pk)["sent"] == 0
    assert len(mail.outbox) == 2
    with django_capture_on_commit_callbacks(execute=True):
        assert notices_sweep(now=timezone.now() + timedelta(hours=1)) == []

    with django_capture_on_commit_callbacks(execute=True):
        notice_resume(notice=notice, actor=staff)
    notice.refresh_from_db()
    assert notice.state == NoticeState.COMPLETED
    assert _recipients(mail.outbox) == sorted(s.email for s in [creator, *signers])
    actions = list(AuditLog.objects.filter(object_id=str(notice.pk)).values_list("action", flat=True))
    assert {"notice.pause", "notice.resume", "notice.complete"} <= set(actions)
    with pytest.raises(NoticeStateError):
        notice_resume(notice=notice, actor=staff)


def test_cancel_stops_sending_for_good(petition, creator, signers, staff, django_capture_on_commit_callbacks):
    notice = _create(petition, capture=django_capture_on_commit_callbacks)
    notice_fanout_chunk(notice_id=notice.pk)
    notice_send_batch(notice_id=notice.pk, batch_size=2)
    notice = notice_cancel(notice=notice, actor=staff)
    assert notice.state == NoticeState.CANCELLED and notice.cancelled_at is not None
    assert notice_dispatch(notice_id=notice.pk)["done"] is True
    with django_capture_on_commit_callbacks(execute=True):
        assert notices_sweep(now=timezone.now() + timedelta(hours=1)) == []
    assert len(mail.outbox) == 2
    assert selectors.notice_progress(notice=notice) == {
        "state": NoticeState.CANCELLED,
        "total": 6,
        "sent": 2,
        "failed": 0,
        "skipped": 0,
        "queued": 4,
        "percent": 33,
        "fanout_done": True,
    }
    assert AuditLog.objects.filter(action="notice.cancel", actor=staff, object_id=str(notice.pk)).exists()
    with pytest.raises(NoticeStateError):
        notice_cancel(notice=notice, actor=staff)
    with pytest.raises(NoticeStateError):
        notice_pause(notice=notice, actor=staff)


def test_only_staff_who_may_change_notices_steer_them(petition, creator, signers):
    notice = Notice.objects.create(petition=petition, kind=NoticeKind.DEBATE_SCHEDULED)
    clerk = User.objects.create_user("clerk", "clerk@parliament.example", "pw", is_staff=True)
    for action in (notice_pause, notice_cancel, notice_preview_send):
        with pytest.raises(NotAllowed):
            action(notice=notice, actor=clerk)
    Notice.objects.filter(pk=notice.pk).update(state=NoticeState.PAUSED)
    with pytest.raises(NotAllowed):
        notice_resume(notice=notice, actor=clerk)
    assert mail.outbox == []


def test_the_pause_bulk_email_switch_holds_every_notice_until_it_is_off(
    petition, creator, signers, django_capture_on_commit_callbacks
):
    site = SiteSettings.load()
    site.disable_notifications = True
    site.save()
    notice = _create(petition, run=True, capture=django_capture_on_commit_callbacks)
    assert mail.outbox == []
    assert notice_send_batch(notice_id=notice.pk)["held"] == "paused"
    with django_capture_on_commit_callbacks(execute=True):
        assert notices_sweep(now=timezone.now() + timedelta(minutes=5)) == []

    site.disable_notifications = False
    site.save()
    with django_capture_on_commit_callbacks(execute=True):
        assert notices_sweep(now=timezone.now() + timedelta(minutes=5)) == [notice.pk]
    assert len(mail.outbox) == 6


def test_a_rate_of_zero_holds_sending(petition, creator, signers):
    site = SiteSettings.load()
    site.bulk_email_rate = 0
    site.save()
    notice = Notice.objects.create(petition=petition, kind=NoticeKind.DEBATE_SCHEDULED)
    assert notice_dispatch(notice_id=notice.pk) == {
        "state": NoticeState.RUNNING,
        "done": False,
        "again_at": None,
    }
    assert mail.outbox == []


# --- Night window and throttle ---------------------------------------------------------------------------------


def _london(*args) -> datetime:
    return datetime(*args, tzinfo=LONDON)


@pytest.mark.parametrize(
    ("starts", "ends", "now", "opens"),
    [
        (0, 4, _london(2026, 7, 1, 14, 0), _london(2026, 7, 2, 0, 0)),
        (0, 4, _london(2026, 7, 1, 1, 30), None),
        (0, 4, _london(2026, 7, 1, 4, 0), _london(2026, 7, 2, 0, 0)),
        (22, 4, _london(2026, 7, 1, 23, 0), None),
        (22, 4, _london(2026, 7, 1, 3, 59), None),
        (22, 4, _london(2026, 7, 1, 21, 0), _london(2026, 7, 1, 22, 0)),
        (22, 4, _london(2026, 7, 1, 4, 0), _london(2026, 7, 1, 22, 0)),
        # The clocks go forward at 01:00 on 29 March 2026: the window still opens at 00:00 London time.
        (0, 4, _london(2026, 3, 28, 12, 0), _london(2026, 3, 29, 0, 0)),
    ],
)
def test_night_window(starts, ends, now, opens):
    site = SiteSettings(
        bulk_email_night_only=True, bulk_email_night_starts=starts, bulk_email_night_ends=ends
    )
    assert notices_module.notice_night_window_wait(site=site, now=now) == opens
    site.bulk_email_night_only = False
    assert notices_module.notice_night_window_wait(site=site, now=now) is None


def test_night_only_sending_waits_for_the_window(
    petition, creator, signers, django_capture_on_commit_callbacks
):
    site = SiteSettings.load()
    site.bulk_email_night_only, site.bulk_email_night_starts, site.bulk_email_night_ends = True, 0, 4
    site.save()
    with time_machine.travel(_london(2026, 7, 1, 14, 0), tick=False):
        notice = _create(petition, run=True, capture=django_capture_on_commit_callbacks)
        assert mail.outbox == []
        notice.refresh_from_db()
        # Fanned out already; the task comes back within the hour (never further ahead, for Redis' sake).
        assert notice.total == 6 and notice.fanout_done_at is not None
        assert notice.dispatched_at == _london(2026, 7, 1, 15, 0)
        with django_capture_on_commit_callbacks(execute=True):
            assert notices_sweep() == []
        result = notice_send_batch(notice_id=notice.pk)
        assert (result["held"], result["wait_until"]) == ("night", _london(2026, 7, 2, 0, 0))
    with time_machine.travel(_london(2026, 7, 2, 0, 5)), django_capture_on_commit_callbacks(execute=True):
        assert notices_sweep() == [notice.pk]
    assert len(mail.outbox) == 6


def test_the_rate_bucket_grants_at_most_the_rate_per_second():
    second = 2_000_000_000.25
    assert [notice_rate_take(rate=3, now=second) for _ in range(5)] == [1, 1, 1, 0, 0]
    assert notice_rate_take(rate=3, now=second + 1) == 1
    assert notice_rate_take(rate=3, wanted=5, now=second + 2) == 3
    assert notice_rate_take(rate=3, wanted=5, now=second + 2) == 0
    assert notice_rate_take(rate=0, now=second + 3) == 0


def test_a_batch_never_sends_more_than_the_rate_allows_in_a_second(petition, creator, signers):
    site = SiteSettings.load()
    site.bulk_email_rate = 2
    site.save()
    notice = Notice.objects.create(petition=petition, kind=NoticeKind.DEBATE_SCHEDULED)
    notice_fanout_chunk(notice_id=notice.pk)
    with time_machine.travel(_london(2026, 7, 1, 12, 0, 0), tick=False):
        result = notice_send_batch(notice_id=notice.pk)
        assert (result["sent"], result["held"]) == (2, "throttled")
        assert result["wait_until"] == _london(2026, 7, 1, 12, 0, 1)
        # A second worker in the same second gets nothing either.
        assert notice_send_batch(notice_id=notice.pk)["sent"] == 0
    with time_machine.travel(_london(2026, 7, 1, 12, 0, 1), tick=False):
        assert notice_send_batch(notice_id=notice.pk)["sent"] == 2
    assert len(mail.outbox) == 4

    # The task's loop waits for the next second rather than sending faster.
    site.bulk_email_rate = 1
    site.save()
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        traveller.shift(timedelta(seconds=1))

    with time_machine.travel(_london(2026, 7, 1, 12, 0, 5), tick=False) as traveller:
        assert notice_dispatch(notice_id=notice.pk, sleep=sleep)["state"] == NoticeState.COMPLETED
    assert len(slept) == 1
    assert len(mail.outbox) == 6


# --- Preview, sweeper, progress, queries -----------------------------------------------------------------------


def test_a_preview_goes_only_to_the_staff_member(petition, creator, signers, staff):
    source = _sources(petition)[NoticeKind.OTHER_BUSINESS]
    notice = Notice.objects.create(
        petition=petition,
        kind=NoticeKind.OTHER_BUSINESS,
        source_type="debates.otherbusiness",
        source_id=str(source.pk),
    )
    notice = notice_preview_send(notice=notice, actor=staff)
    assert [m.to for m in mail.outbox] == [[staff.email]]
    message = mail.outbox[0]
    assert message.subject == "[Preview] The committee wrote to the minister"
    assert "Dear Sam Signer" in message.body and "[Preview: each signer" in message.body
    assert "token=" not in message.body and "List-Unsubscribe" not in message.extra_headers
    assert message.alternatives[0][1] == "text/html"
    assert notice.preview_sent_at is not None and notice.state == NoticeState.PENDING
    assert not notice.deliveries.exists()
    assert AuditLog.objects.filter(action="notice.preview", actor=staff).exists()


def test_the_sweeper_queues_a_notice_whose_task_was_never_queued(
    petition, creator, signers, django_capture_on_commit_callbacks
):
    notice = _create(petition, run=False, capture=django_capture_on_commit_callbacks)
    recent = Notice.objects.create(
        petition=petition, kind=NoticeKind.OTHER_BUSINESS, dispatched_at=timezone.now()
    )
    paused = Notice.objects.create(
        petition=petition, kind=NoticeKind.DEBATE_OUTCOME, state=NoticeState.PAUSED
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.sweep_notices.delay().get() == [notice.pk]
    notice.refresh_from_db()
    assert notice.state == NoticeState.COMPLETED
    assert len(mail.outbox) == 6
    # Once swept it is not swept again straight away; a stalled one is, two minutes on.
    running = Notice.objects.create(
        petition=petition, kind=NoticeKind.DEBATE_SCHEDULED, state=NoticeState.RUNNING
    )
    Notice.objects.filter(pk=running.pk).update(dispatched_at=timezone.now() - timedelta(minutes=3))
    with django_capture_on_commit_callbacks(execute=False):
        assert notices_sweep() == [running.pk]
        assert notices_sweep() == []
    assert not Notice.objects.filter(
        pk__in=[recent.pk, paused.pk], dispatched_at__lt=recent.dispatched_at
    ).exists()


def test_progress_counts(petition):
    notice = Notice(
        petition=petition,
        kind=NoticeKind.DEBATE_SCHEDULED,
        total=200,
        sent_count=90,
        failed_count=5,
        skipped_count=5,
    )
    assert selectors.notice_progress(notice=notice) == {
        "state": NoticeState.PENDING,
        "total": 200,
        "sent": 90,
        "failed": 5,
        "skipped": 5,
        "queued": 100,
        "percent": 50,
        "fanout_done": False,
    }
    notice.fanout_done_at = timezone.now()
    notice.total = notice.sent_count = notice.failed_count = notice.skipped_count = 0
    assert selectors.notice_progress(notice=notice)["percent"] == 100


def test_a_send_batch_makes_a_bounded_number_of_queries_per_email(
    petition, creator, django_assert_max_num_queries
):
    ValidatedSignatureFactory.create_batch(20, petition=petition, notify_by_email=True)
    source = _sources(petition)[NoticeKind.RESPONSE_PUBLISHED]
    notice = Notice.objects.create(
        petition=petition,
        kind=NoticeKind.RESPONSE_PUBLISHED,
        source_type="responses.governmentresponse",
        source_id=str(source.pk),
    )
    notice_fanout_chunk(notice_id=notice.pk)
    SiteSettings.cached()
    # Per batch, whatever its size: the notice, the site settings, expired leases, the claim (select, update and
    # a savepoint pair in a test), the deliveries, the source, the counters. Per email: ONE update marking it sent.
    with django_assert_max_num_queries(10 + 21):
        assert notice_send_batch(notice_id=notice.pk)["sent"] == 21
    assert len(mail.outbox) == 21


# --- Claims and leases -----------------------------------------------------------------------------------------


def _fanned_out(petition, kind=NoticeKind.DEBATE_SCHEDULED):
    notice = Notice.objects.create(petition=petition, kind=kind)
    notice_fanout_chunk(notice_id=notice.pk)
    return notice


def test_two_senders_claim_different_deliveries(petition, creator, signers):
    notice = _fanned_out(petition)
    first = notices_module.notice_deliveries_claim(notice_id=notice.pk, limit=4)
    second = notices_module.notice_deliveries_claim(notice_id=notice.pk, limit=4)
    assert len(first) == 4 and len(second) == 2 and not set(first) & set(second)
    assert notice.deliveries.filter(state=DeliveryState.SENDING).count() == 6
    # Claimed deliveries are nobody else's: a third sender gets nothing and sends nothing.
    assert notice_send_batch(notice_id=notice.pk)["sent"] == 0
    assert mail.outbox == []


def test_a_dead_senders_claims_go_back_to_the_queue_when_the_lease_runs_out(petition, creator, signers):
    notice = _fanned_out(petition)
    claimed = notices_module.notice_deliveries_claim(notice_id=notice.pk, limit=3)  # then the worker dies
    assert notice_send_batch(notice_id=notice.pk)["sent"] == 3  # the other three
    assert not notices_module.notice_complete(notice_id=notice.pk)  # three are still claimed
    with time_machine.travel(timezone.now() + notices_module.DELIVERY_LEASE - timedelta(seconds=5)):
        assert notice_send_batch(notice_id=notice.pk)["sent"] == 0
    with time_machine.travel(timezone.now() + notices_module.DELIVERY_LEASE + timedelta(seconds=1)):
        assert notice_send_batch(notice_id=notice.pk)["sent"] == 3
    assert sorted(notice.deliveries.filter(state=DeliveryState.SENT).values_list("pk", flat=True)) == sorted(
        notice.deliveries.values_list("pk", flat=True)
    )
    assert set(claimed) <= set(notice.deliveries.values_list("pk", flat=True))
    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        notice.deliveries.values_list("signature__email", flat=True)
    )


def test_the_task_comes_back_when_another_senders_lease_would_run_out(petition, creator, signers):
    notice = _fanned_out(petition)
    notices_module.notice_deliveries_claim(notice_id=notice.pk, limit=2)
    started = timezone.now()
    result = notice_dispatch(notice_id=notice.pk)
    assert result["done"] is False and len(mail.outbox) == 4
    assert (
        started + notices_module.DELIVERY_LEASE
        < result["again_at"]
        < started + notices_module.DELIVERY_LEASE + (timedelta(seconds=10))
    )


def test_a_sender_past_its_send_window_puts_the_rest_back(petition, creator, signers, monkeypatch):
    notice = _fanned_out(petition)
    monkeypatch.setattr(notices_module, "DELIVERY_SEND_WINDOW", timedelta(seconds=-1))
    assert notice_send_batch(notice_id=notice.pk)["sent"] == 0
    assert set(notice.deliveries.values_list("state", flat=True)) == {DeliveryState.QUEUED}
    monkeypatch.undo()
    assert notice_send_batch(notice_id=notice.pk)["sent"] == 6


def test_completion_recounts_the_progress_counters_from_the_deliveries(petition, creator, signers):
    notice = _fanned_out(petition)
    assert notice_send_batch(notice_id=notice.pk)["sent"] == 6
    # As if a worker had died between sending and adding its batch to the counters.
    Notice.objects.filter(pk=notice.pk).update(sent_count=2)
    assert notices_module.notice_complete(notice_id=notice.pk)
    notice.refresh_from_db()
    assert (notice.state, notice.sent_count, notice.failed_count, notice.skipped_count) == (
        NoticeState.COMPLETED,
        6,
        0,
        0,
    )
