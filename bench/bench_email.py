"""Benchmark bulk email (notices) end to end: real Celery worker, real SMTP server, exactly once per recipient.

Run from the repository root: ``.venv/bin/python bench/bench_email.py`` (or ``make bench-email``). Needs
PostgreSQL and Redis. It drops and recreates the database ``petitions_bench_email`` on BENCH_POSTGRES_URL
(default postgres://postgres@127.0.0.1:5432) and flushes the Redis database BENCH_REDIS_URL (default
redis://127.0.0.1:6379/8).

Setup: schema, reference data, one open petition and --signers (default 200,000) validated signers who asked for
email, inserted with COPY. SiteSettings.bulk_email_rate is raised to --rate (default 100,000 a second) so the
throttle does not cap the measurement: the figure is what the machine can do, not the configured limit.
An aiosmtpd server runs in a thread of this process and counts messages per envelope recipient. One Celery
worker (prefork, --concurrency 2) runs as a subprocess with bench.settings_email (production settings, SMTP to
that server). No beat: the benchmark runs the sweeper itself where one is needed.

Pass 1: a notice is created with notice_create inside a transaction (as a staff action does); the clock runs
from just before that transaction to the last message received. emails/s = signers / elapsed; duplicates = sum
of (copies - 1) over recipients; missing = signers who received nothing.

Pass 2: a second notice to the same signers. When about half are received the worker's process group is
SIGKILLed. The task it was running is lost with it (unacknowledged in Redis until the 6-hour visibility
timeout), so after restarting the worker the benchmark runs notices_sweep with its clock 3 minutes ahead, as
the beat's sweeper would once the notice has been stalled for 2 minutes; then it counts again.

The last line printed is ``BENCH email {json}``; more detail goes to bench/results/email.json.
See docs/performance.md.
"""

import argparse
import contextlib
import io
import json
import logging
import os
import platform
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bench.bench_signing import database_drop, database_url, free_port, redis_flush  # noqa: E402
from bench.summary import results_meta, target_row  # noqa: E402

BIN = Path(sys.executable).parent
RESULTS_FILE = REPO_ROOT / "bench" / "results" / "email.json"
VAR_DIR = REPO_ROOT / "var" / "bench" / "email"
DATABASE = "petitions_bench_email"
COPY_BATCH = 50_000
#: No new message for this long while some are still missing: the run has stalled.
STALL_TIMEOUT = 120.0
MESSAGE_ID_RE = re.compile(rb"^Message-ID:\s*(\S+)", re.IGNORECASE | re.MULTILINE)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    env = os.environ.get
    parser.add_argument("--signers", type=int, default=int(env("BENCH_EMAIL_SIGNERS", 200_000)))
    parser.add_argument("--concurrency", type=int, default=int(env("BENCH_CELERY_CONCURRENCY", 2)))
    parser.add_argument(
        "--rate",
        type=int,
        default=int(env("BENCH_EMAIL_RATE", 100_000)),
        help="SiteSettings.bulk_email_rate for the run (emails a second); high, so the throttle never bites",
    )
    parser.add_argument(
        "--postgres",
        default=env("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432"),
        help=f"server URL; the database {DATABASE} on it is dropped and recreated",
    )
    parser.add_argument(
        "--redis", default=env("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8"), help="flushed before and after"
    )
    parser.add_argument(
        "--extra-tasks",
        type=int,
        default=int(env("BENCH_EMAIL_EXTRA_TASKS", 0)),
        help="an experiment, off by default: queue this many more dispatch_notice tasks per notice than the "
        "site's NOTICE_SENDERS (2), so that more worker processes send one notice at once",
    )
    parser.add_argument("--keep-db", action="store_true", help=f"leave {DATABASE} behind for inspection")
    return parser.parse_args()


def environment(args, smtp_port: int) -> dict:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="bench.settings_email",
        DATABASE_URL=database_url(args.postgres, DATABASE),
        REDIS_URL=args.redis,
        SECRET_KEY="bench-email-" + "x" * 50,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SITE_URL="https://petitions.example.org",
        VAR_DIR=str(VAR_DIR),
        BENCH_SMTP_PORT=str(smtp_port),
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    return env


def address(i: int) -> str:
    return f"signer{i}@example.com"


# --- The SMTP server: counts per envelope recipient ----------------------------------------------------------


class Mailbox:
    """What the server received. The handler only counts (and keeps each recipient's first Message-ID, to
    tell whether a duplicate is the same message sent again), so that the server is not the bottleneck."""

    def __init__(self):
        self.lock = threading.Lock()
        self.per_recipient: Counter = Counter()
        self.first_message_id: dict[str, bytes] = {}
        self.repeat_same_id = 0
        self.total = 0
        self.last_at = 0.0

    def reset(self) -> None:
        with self.lock:
            self.per_recipient.clear()
            self.first_message_id.clear()
            self.repeat_same_id = 0
            self.total = 0
            self.last_at = 0.0

    def add(self, recipients: list[str], content: bytes) -> None:
        head = content[: content.find(b"\r\n\r\n") + 1 or 4096]
        match = MESSAGE_ID_RE.search(head)
        message_id = match.group(1) if match else b""
        with self.lock:
            for rcpt in recipients:
                self.per_recipient[rcpt] += 1
                first = self.first_message_id.setdefault(rcpt, message_id)
                if self.per_recipient[rcpt] > 1 and first == message_id:
                    self.repeat_same_id += 1
            self.total += len(recipients)
            self.last_at = time.monotonic()

    def snapshot(self) -> tuple[int, float]:
        with self.lock:
            return self.total, self.last_at


class Handler:
    def __init__(self, mailbox: Mailbox):
        self.mailbox = mailbox

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.mailbox.add(envelope.rcpt_tos, envelope.original_content or b"")
        return "250 Message accepted for delivery"


def smtp_server_start(port: int, mailbox: Mailbox):
    from aiosmtpd.controller import Controller

    # aiosmtpd logs every envelope's addresses at INFO; the benchmark's output must carry none.
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    controller = Controller(Handler(mailbox), hostname="127.0.0.1", port=port, server_hostname="bench-smtp")
    controller.start()
    return controller


# --- Database: site, petition, signers ------------------------------------------------------------------------


def site_prepare(args) -> int:
    """Schema, reference data, the rate raised, one open petition with `args.signers` subscribed signers.
    Returns the petition's id."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from petitions.demo import SIGNATURE_COLUMNS
    from petitions.models import Country, Petition, PetitionState, Signature, SignatureState, SiteSettings
    from petitions.models import new_token as token
    from petitions.services import reference_data_load

    call_command("migrate", verbosity=0)
    reference_data_load()
    site = SiteSettings.load()
    site.bulk_email_rate = args.rate
    site.bulk_email_night_only = False
    site.disable_notifications = False
    site.save()
    now = timezone.now()
    petition = Petition.objects.create(
        action="Benchmark petition for bulk email",
        background="A petition for the bulk email benchmark.",
        state=PetitionState.OPEN,
        opened_at=now,
        deadline_at=now + timedelta(days=60),
    )
    gb = Country.objects.get(code="GB").pk
    constant = {
        "petition_id": petition.pk,
        "fraud_reason": "",
        "email_failure": "",
        "postcode": "",
        "country_id": gb,
        "constituency_id": None,
        "state": SignatureState.VALIDATED,
        "creator": False,
        "sponsor": False,
        "notify_by_email": True,
        "email_count": 1,
        "created_at": now,
        "updated_at": now,
        "validated_at": now,
    }
    columns = ", ".join(SIGNATURE_COLUMNS)
    sql = f"COPY {Signature._meta.db_table} ({columns}) FROM STDIN"  # noqa: S608 - our own identifiers
    for start in range(0, args.signers, COPY_BATCH):
        with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
            for i in range(start, min(args.signers, start + COPY_BATCH)):
                email = address(i)
                row = {
                    **constant,
                    "name": f"Signer {i}",
                    "email": email,
                    "canonical_email": email,
                    "email_domain": "example.com",
                    "confirm_token": token(),
                    "unsubscribe_token": token(),
                }
                copy.write_row([row[c] for c in SIGNATURE_COLUMNS])
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Signature._meta.db_table}")  # noqa: S608
    connection.close()
    return petition.pk


# --- The worker ---------------------------------------------------------------------------------------------


class Worker:
    """The Celery worker subprocess, in its own process group (SIGKILL takes its pool children too)."""

    def __init__(self, env: dict, concurrency: int):
        self.env, self.concurrency = env, concurrency
        self.process: subprocess.Popen | None = None
        self.starts = 0
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        self.log_path = VAR_DIR / "worker.log"
        self.log_path.write_bytes(b"")

    def start(self) -> None:
        self.starts += 1
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 -- our own executable, fixed arguments
                [
                    str(BIN / "celery"),
                    "-A",
                    "config",
                    "worker",
                    "--pool=prefork",
                    f"--concurrency={self.concurrency}",
                    "--without-heartbeat",
                    "--without-gossip",
                    "--without-mingle",
                    "--loglevel=WARNING",
                    f"--hostname=bench-email-{self.starts}@%h",
                ],
                cwd=REPO_ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, app, timeout: float = 60) -> None:
        """Until the worker answers a ping (its consumer is up and reading the queue)."""
        deadline = time.monotonic() + timeout
        hostname = f"bench-email-{self.starts}@"
        while time.monotonic() < deadline:
            self.check()
            replies = app.control.ping(timeout=0.5) or []
            if any(name.startswith(hostname) for reply in replies for name in reply):
                return
        raise RuntimeError(f"the Celery worker did not come up within {timeout:.0f} s (see {self.log_path})")

    def check(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the Celery worker exited with {self.process.returncode}:\n{tail}")

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=20)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # whatever is left of the group
        self.process.wait()
        self.process = None


# --- The passes -----------------------------------------------------------------------------------------------


def notice_new(petition_id: int, extra_tasks: int = 0) -> int:
    """A staff action: the notice commits with its transaction and its task is queued after the commit."""
    from django.db import transaction

    from petitions.models import NoticeKind, Petition
    from petitions.services import notice_create
    from petitions.tasks import dispatch_notice

    with transaction.atomic():
        petition = Petition.objects.get(pk=petition_id)
        notice_id = notice_create(petition=petition, kind=NoticeKind.DEBATE_SCHEDULED).pk
    for _ in range(extra_tasks):
        dispatch_notice.delay(notice_id)
    return notice_id


def notice_row(notice_id: int) -> dict:
    from petitions.models import Notice

    return Notice.objects.filter(pk=notice_id).values(
        "state", "total", "sent_count", "failed_count", "skipped_count"
    )[0]


def wait_received(mailbox: Mailbox, worker: Worker, count: int, label: str) -> bool:
    """Until `count` messages have arrived; False when none arrives for STALL_TIMEOUT seconds first."""
    seen, changed = -1, time.monotonic()
    next_report = time.monotonic() + 10
    while True:
        worker.check()
        total, _ = mailbox.snapshot()
        now = time.monotonic()
        if total >= count:
            return True
        if total != seen:
            seen, changed = total, now
        elif now - changed > STALL_TIMEOUT:
            print(f"  {label}: no message for {STALL_TIMEOUT:.0f} s at {total}; giving up", flush=True)
            return False
        if now >= next_report:
            print(f"  {label}: {total} received", flush=True)
            next_report = now + 10
        time.sleep(0.05)


def wait_completed(notice_id: int, timeout: float = 60) -> str:
    """The notice's state once it is completed (its task's last loop marks it so), or whatever it is after
    `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        state = notice_row(notice_id)["state"]
        if state == "completed" or time.monotonic() > deadline:
            return state
        time.sleep(0.2)


def tally(mailbox: Mailbox, signers: int) -> dict:
    with mailbox.lock:
        counts = dict(mailbox.per_recipient)
        repeat_same_id = mailbox.repeat_same_id
        total = mailbox.total
    expected = {address(i) for i in range(signers)}
    return {
        "received": total,
        "distinct_recipients": len(counts),
        "duplicates": sum(max(0, n - 1) for n in counts.values()),
        "duplicates_with_the_same_message_id": repeat_same_id,
        "missing": sum(1 for rcpt in expected if rcpt not in counts),
        "unexpected_recipients": sum(1 for rcpt in counts if rcpt not in expected),
    }


def pass_plain(petition_id: int, signers: int, mailbox: Mailbox, worker: Worker, extra_tasks: int) -> dict:
    mailbox.reset()
    started = time.monotonic()
    notice_id = notice_new(petition_id, extra_tasks)
    complete = wait_received(mailbox, worker, signers, "pass 1")
    _, last_at = mailbox.snapshot()
    elapsed = (last_at or time.monotonic()) - started
    state = wait_completed(notice_id)
    time.sleep(1)  # anything sent twice would arrive now
    result = tally(mailbox, signers)
    return {
        "notice": notice_id,
        "complete": complete,
        "elapsed_s": round(elapsed, 2),
        "emails_per_s": round(signers / elapsed, 1) if complete and elapsed > 0 else None,
        "notice_state": state,
        "notice_counters": notice_row(notice_id),
        **result,
    }


def pass_killed(
    petition_id: int, signers: int, mailbox: Mailbox, worker: Worker, app, extra_tasks: int
) -> dict:
    from django.utils import timezone

    from petitions.services import notices_sweep

    mailbox.reset()
    started = time.monotonic()
    notice_id = notice_new(petition_id, extra_tasks)
    wait_received(mailbox, worker, signers // 2, "pass 2")
    worker.kill()
    killed_at, _ = mailbox.snapshot()
    killed_after = time.monotonic() - started
    print(f"  pass 2: worker SIGKILLed after {killed_at} of {signers} emails; restarting it", flush=True)
    time.sleep(1)
    state_at_kill = notice_row(notice_id)["state"]
    worker.start()
    worker.wait_ready(app)
    # The killed task is unacknowledged in Redis for hours: the sweeper, 2+ minutes on, queues the notice again.
    swept = notices_sweep(now=timezone.now() + timedelta(minutes=3))
    complete = wait_received(mailbox, worker, signers, "pass 2")
    _, last_at = mailbox.snapshot()
    state = wait_completed(notice_id)
    time.sleep(1)
    result = tally(mailbox, signers)
    return {
        "notice": notice_id,
        "complete": complete,
        "killed_after_emails": killed_at,
        "killed_after_s": round(killed_after, 2),
        "notice_state_after_kill": state_at_kill,
        "swept": swept,
        "elapsed_s_including_restart": round((last_at or time.monotonic()) - started, 2),
        "notice_state": state,
        "notice_counters": notice_row(notice_id),
        **result,
    }


# --- Main ---------------------------------------------------------------------------------------------------


def interrupted(signum, frame):
    raise KeyboardInterrupt


def main() -> None:
    args = parse_args()
    signal.signal(signal.SIGTERM, interrupted)
    smtp_port = free_port()
    env = environment(args, smtp_port)
    os.environ.update(env)

    print(f"setting up {DATABASE}: migrate, reference data, 1 petition, {args.signers} subscribed signers")
    sys.stdout.flush()
    database_drop(args.postgres, DATABASE, create=True)
    redis_flush(args.redis)
    mailbox = Mailbox()
    controller = None
    worker = Worker(env, args.concurrency)
    try:
        setup_started = time.monotonic()
        petition_id = site_prepare(args)
        print(f"  set up in {time.monotonic() - setup_started:.0f} s", flush=True)
        from config.celery import app

        controller = smtp_server_start(smtp_port, mailbox)
        worker.start()
        worker.wait_ready(app)
        print(
            f"pass 1: one notice to {args.signers} signers, worker prefork x {args.concurrency}", flush=True
        )
        plain = pass_plain(petition_id, args.signers, mailbox, worker, args.extra_tasks)
        print("pass 2: a second notice, the worker SIGKILLed halfway and restarted", flush=True)
        killed = pass_killed(petition_id, args.signers, mailbox, worker, app, args.extra_tasks)
    finally:
        worker.stop()
        if controller is not None:
            controller.stop()
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        redis_flush(args.redis)
        if not args.keep_db:
            database_drop(args.postgres, DATABASE)

    from django.conf import settings

    summary = {
        "emails_per_s": plain["emails_per_s"],
        "duplicates": plain["duplicates"],
        "missing": plain["missing"],
        "duplicates_after_kill": killed["duplicates"],
        "missing_after_kill": killed["missing"],
    }
    detail = {
        **results_meta("email", email_targets(summary)),
        "summary": summary,
        "config": {
            "signers": args.signers,
            "bulk_email_rate": args.rate,
            "dispatch_tasks_per_notice": settings.NOTICE_SENDERS + args.extra_tasks,
            "celery_worker": f"prefork, concurrency {args.concurrency}",
            "smtp_server": "aiosmtpd in the benchmark process (a thread)",
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_end": os.getloadavg(),
        },
        "pass_1": plain,
        "pass_2_killed": killed,
    }
    report(detail)
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(json.dumps(detail, indent=2) + "\n")
    print("BENCH email " + json.dumps(summary, separators=(",", ":")))


def email_targets(summary: dict) -> list[dict]:
    return [
        target_row("emails/s (pass 1)", summary["emails_per_s"], ">=", 500, key="emails_per_s"),
        target_row("duplicates", summary["duplicates"], "==", 0, key="duplicates"),
        target_row("missing", summary["missing"], "==", 0, key="missing"),
        target_row(
            "duplicates after the kill",
            summary["duplicates_after_kill"],
            "==",
            0,
            key="duplicates_after_kill",
        ),
        target_row(
            "missing after the kill", summary["missing_after_kill"], "==", 0, key="missing_after_kill"
        ),
    ]


def report(detail: dict) -> None:
    s, plain, killed = detail["summary"], detail["pass_1"], detail["pass_2_killed"]
    signers = detail["config"]["signers"]
    rows = [
        ("signers (recipients)", f"{signers}", ""),
        ("pass 1: emails/s, notice created → last received", f"{s['emails_per_s']}", "≥ 500"),
        ("pass 1: elapsed s", f"{plain['elapsed_s']}", ""),
        ("pass 1: duplicates / missing", f"{s['duplicates']} / {s['missing']}", "0 / 0"),
        ("pass 1: notice state", plain["notice_state"], "completed"),
        ("pass 2: worker SIGKILLed after emails", f"{killed['killed_after_emails']}", ""),
        ("pass 2: elapsed s, restart and sweep included", f"{killed['elapsed_s_including_restart']}", ""),
        (
            "pass 2: duplicates / missing",
            f"{s['duplicates_after_kill']} / {s['missing_after_kill']}",
            "0 / 0",
        ),
        ("  of the duplicates, same Message-ID", f"{killed['duplicates_with_the_same_message_id']}", ""),
        ("pass 2: notice state", killed["notice_state"], "completed"),
    ]
    width = max(len(r[0]) for r in rows)
    out = io.StringIO()
    out.write("\n")
    for label, value, target in rows:
        out.write(f"{label:<{width}}  {value:<12} {('target ' + target) if target else ''}".rstrip() + "\n")
    print(out.getvalue())


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted; the worker and the SMTP server were stopped")
