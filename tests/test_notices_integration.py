"""Bulk email notices end to end: a real Celery worker on Redis and a real SMTP server (aiosmtpd).

- a notice reaches every subscribed signer exactly once, and running it again sends nothing new;
- the broker unreachable at the staff action: the notice row waits, and the sweeper gets it delivered once;
- the worker SIGKILLed mid-run and restarted: the rest are delivered, each recipient once (at most the one
  message in flight at the kill is sent twice, with the same Message-ID; see petitions/services/notices.py).
"""

import logging
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.utils import timezone
from kombu import pools

from config.celery import app
from petitions import tasks
from petitions.models import (
    Country,
    DeliveryState,
    Notice,
    NoticeKind,
    NoticeState,
    Petition,
    PetitionState,
    Signature,
    SignatureState,
    SiteSettings,
)
from petitions.services import notice_create, notices_sweep
from tests.celery_worker import wait_for
from tests.notices_smtp import free_port, smtp_server_start
from tests.privacy_plugin import personal_data_in

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis (REDIS_URL) for a real worker"),
]

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def smtp_server():
    controller, mailbox = smtp_server_start()
    yield controller, mailbox
    controller.stop()


@pytest.fixture
def mailbox(smtp_server, settings):
    controller, box = smtp_server
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_USE_TLS, settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD = False, "", ""
    box.clear()
    return box


@pytest.fixture
def queued():
    """Tasks go to Redis (for a worker in another process) rather than running in this one."""
    app.conf.task_always_eager = False
    yield
    app.conf.task_always_eager = True


def _petition_with_signers(count: int) -> tuple[Petition, list[str]]:
    """An open petition, its creator (not subscribed: still a recipient) and `count` subscribed signers, plus
    signers who must get nothing. Returns the petition and the addresses that should each get one email."""
    gb, _ = Country.objects.get_or_create(code="GB", defaults={"name": "United Kingdom"})
    petition = Petition.objects.create(
        action="Plant more trees", background="Shade", state=PetitionState.OPEN
    )
    now = timezone.now()

    def signature(i, **fields):
        address = f"signer{i}@example.com"
        defaults = {"state": SignatureState.VALIDATED, "validated_at": now, "notify_by_email": True}
        return Signature(
            petition=petition,
            name=f"Signer {i}",
            email=address,
            canonical_email=address,
            country=gb,
            **{**defaults, **fields},
        )

    rows = [signature(0, creator=True, notify_by_email=False)]
    rows += [signature(i) for i in range(1, count + 1)]
    rows += [
        signature(count + 1, notify_by_email=False),
        signature(count + 2, notify_by_email=False, unsubscribed_at=now),
        signature(count + 3, state=SignatureState.PENDING, validated_at=None),
        signature(count + 4, anonymized_at=now),
        signature(count + 5, state=SignatureState.INVALIDATED),
    ]
    Signature.objects.bulk_create(rows)
    return petition, [f"signer{i}@example.com" for i in range(count + 1)]


def _staff_action(petition) -> Notice:
    with transaction.atomic():
        return notice_create(petition=petition, kind=NoticeKind.DEBATE_SCHEDULED)


def _completed(notice) -> bool:
    return Notice.objects.get(pk=notice.pk).state == NoticeState.COMPLETED


@pytest.mark.django_db(transaction=True)
def test_a_notice_reaches_every_subscribed_signer_exactly_once(real_worker, mailbox):
    petition, expected = _petition_with_signers(300)
    notice = _staff_action(petition)
    assert wait_for(lambda: _completed(notice)), Notice.objects.get(pk=notice.pk).state

    received = mailbox.per_recipient()
    assert sorted(received) == sorted(expected)
    assert set(received.values()) == {1}
    notice.refresh_from_db()
    assert (notice.total, notice.sent_count, notice.failed_count, notice.skipped_count) == (301, 301, 0, 0)
    message = mailbox.messages[0][1]
    assert message.get_body(preferencelist=("html",)) is not None
    assert message.get_body(preferencelist=("plain",)) is not None

    # Running the whole dispatch again, even with the fan-out started over, sends nothing new.
    Notice.objects.filter(pk=notice.pk).update(
        state=NoticeState.RUNNING, fanout_cursor=0, fanout_done_at=None
    )
    tasks.dispatch_notice.delay(notice.pk)
    assert wait_for(lambda: _completed(notice))
    time.sleep(1)
    assert mailbox.count() == 301
    assert Notice.objects.get(pk=notice.pk).sent_count == 301


@pytest.mark.django_db(transaction=True)
def test_broker_down_at_the_staff_action_is_delivered_once_it_is_back(real_worker, mailbox):
    petition, expected = _petition_with_signers(20)
    # (The in-process worker sets the root logger to ERROR, so listen on the service's own logger.)
    warnings = []
    handler = logging.Handler()
    handler.emit = lambda record: warnings.append(record.getMessage())
    logger = logging.getLogger("petitions.services.notices")
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    # Redis "stopped": the app publishes through a connection to a port nothing listens on.
    working_pool = app.amqp.producer_pool
    app.amqp._producer_pool = pools.producers[app.connection_for_write(f"redis://127.0.0.1:{free_port()}/0")]
    try:
        notice = _staff_action(petition)
    finally:
        app.amqp._producer_pool = working_pool
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
    assert warnings == [f"Notice {notice.pk}: could not queue its task (OperationalError); the sweeper will."]

    # The staff action committed; the notice waits in the database and nothing is sent.
    time.sleep(2)
    notice.refresh_from_db()
    assert (notice.state, notice.dispatched_at, mailbox.count()) == (NoticeState.PENDING, None, 0)

    # Redis is back: the beat's sweeper (run here) queues it, and the worker delivers it, once each.
    assert notices_sweep() == [notice.pk]
    assert wait_for(lambda: _completed(notice))
    received = mailbox.per_recipient()
    assert sorted(received) == sorted(expected)
    assert set(received.values()) == {1}


def _worker_process(log_path: Path, smtp_port: int) -> subprocess.Popen:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    database_url = (
        f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.notices_worker_settings",
        "DATABASE_URL": database_url,
        "NOTICES_SMTP_PORT": str(smtp_port),
    }
    log = log_path.open("ab")
    return subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=INFO",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _stop(process: subprocess.Popen, sig=signal.SIGTERM) -> None:
    if process.poll() is None:
        os.killpg(process.pid, sig)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the worker subprocess needs a shared database")
def test_a_worker_killed_mid_run_delivers_the_rest_once_after_a_restart(
    smtp_server, mailbox, tmp_path, queued
):
    controller, _ = smtp_server
    site = SiteSettings.load()
    site.bulk_email_rate = 50  # slow enough that the kill lands mid-run
    site.save()
    petition, expected = _petition_with_signers(300)
    log_path = tmp_path / "worker.log"

    worker = _worker_process(log_path, controller.port)
    try:
        notice = _staff_action(petition)
        assert mailbox.wait_for_count(80, timeout=90), log_path.read_text()
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
        killed_at = mailbox.count()
        notice.refresh_from_db()
        assert notice.state == NoticeState.RUNNING
        assert killed_at < 301, "the kill came too late to test anything"

        # The killed worker's task is lost with it (unacknowledged in Redis for hours); after the restart the
        # beat's sweeper, two minutes on, queues the notice again.
        worker = _worker_process(log_path, controller.port)
        time.sleep(1)
        assert notices_sweep(now=timezone.now() + timedelta(minutes=3)) == [notice.pk]
        assert wait_for(lambda: _completed(notice), timeout=120), log_path.read_text()
    finally:
        _stop(worker)

    received = mailbox.per_recipient()
    print(f"killed after {killed_at} of 301 emails; {mailbox.count()} received in all")  # noqa: T201
    assert sorted(received) == sorted(expected)
    duplicates = {rcpt: n for rcpt, n in received.items() if n > 1}
    # At most the one message in flight when the worker died (accepted by the server, not yet committed as
    # sent) goes twice, and its copies carry the same Message-ID.
    assert sum(n - 1 for n in duplicates.values()) <= 1, duplicates
    for rcpt in duplicates:
        assert len(set(mailbox.message_ids(rcpt))) == 1
    notice.refresh_from_db()
    assert notice.sent_count == 301
    assert set(notice.deliveries.values_list("state", flat=True)) == {DeliveryState.SENT}
    # Nothing the worker logged carries an address.
    leaks = [
        line
        for line in log_path.read_text().splitlines()
        if personal_data_in(line, {"no-reply@petitions.localhost"})
    ]
    assert leaks == []
