"""The Celery worker killed in the middle of a bulk email (a notice's fan-out and sending).

`signers` subscribed, validated signers on one petition (bench_email's COPY); a notice is created as a staff
action does (`notice_create` in a transaction, its tasks queued after commit). When about half the emails have
arrived at the SMTP sink, the worker's whole process group is SIGKILLed (no clean-up, its unacknowledged tasks
stay in Redis until the 6-hour visibility timeout) and a new worker is started. Beat's `sweep_notices` queues
a notice no task has touched for NOTICE_STALL_AFTER (2 minutes); by default the scenario runs that sweep itself
with its clock moved on by 3 minutes, as bench_email does (`--real-sweeper` waits for beat instead).

Decided behaviour: every signer gets the email; a duplicate is possible only for a message the server had
accepted when the worker died, before its "sent" UPDATE committed (at most one per sender in flight), and it
carries the same Message-ID.
"""

import time
from datetime import timedelta
from types import SimpleNamespace

from . import common

NAME = "worker_killed_mid_fanout"


def run(env: common.Env, *, signers: int = 5000, real_sweeper: bool = False) -> dict:
    bench_email = common.bench_email
    from django.conf import settings
    from django.utils import timezone

    from petitions.services import notices_sweep

    failures: list[str] = []
    # bench_email's setup: one open petition and `signers` validated, subscribed signers (signer<i>@example.com).
    petition_id = bench_email.site_prepare(SimpleNamespace(signers=signers, rate=100_000))
    site = env.site_start(NAME, web=False, beat=real_sweeper)
    env.mailbox.reset()
    try:
        started = time.monotonic()
        notice_id = bench_email.notice_new(petition_id)
        reached = bench_email.wait_received(env.mailbox, site.worker, signers // 2, NAME)
        site.worker.kill()
        killed_after, _ = env.mailbox.snapshot()
        killed_s = time.monotonic() - started
        time.sleep(1)
        at_kill = bench_email.notice_row(notice_id)
        print(f"  worker SIGKILLed after {killed_after} of {signers} emails ({killed_s:.1f} s); restarting it",
              flush=True)  # fmt: skip
        site.worker_start()
        restarted_s = time.monotonic() - started
        swept = None
        if not real_sweeper:
            # What beat's sweeper does once the notice has been untouched for NOTICE_STALL_AFTER.
            swept = notices_sweep(now=timezone.now() + timedelta(minutes=3))
        complete = bench_email.wait_received(env.mailbox, site.worker, signers, NAME)
        _, last_at = env.mailbox.snapshot()
        state = bench_email.wait_completed(notice_id)
        time.sleep(2)  # anything sent twice arrives now
        tallied = bench_email.tally(env.mailbox, signers)
        counters = bench_email.notice_row(notice_id)
        env.django_close()

        check = common.check
        check(reached, "half the emails never arrived before the kill", failures)
        check(killed_after < signers, "the worker was killed after every email had been sent", failures)
        check(complete, "not every email arrived after the restart", failures)
        check(tallied["missing"] == 0, f"{tallied['missing']} signers got no email", failures)
        check(tallied["unexpected_recipients"] == 0, "emails to addresses that are not signers", failures)
        # At most the messages in flight when the worker died: one per sender.
        limit = settings.NOTICE_SENDERS if hasattr(settings, "NOTICE_SENDERS") else 2
        check(tallied["duplicates"] <= limit,
              f"{tallied['duplicates']} duplicates, more than the {limit} possibly in flight", failures)  # fmt: skip
        check(tallied["duplicates"] == tallied["duplicates_with_the_same_message_id"],
              "a duplicate with a different Message-ID", failures)  # fmt: skip
        check(state == "completed", f"the notice ended {state}, not completed", failures)
    finally:
        env.site_stop()

    return {
        "scenario": NAME,
        "passed": not failures,
        "failures": failures,
        "signers": signers,
        "killed_after_emails": killed_after,
        "killed_after_s": round(killed_s, 2),
        "worker_back_after_s": round(restarted_s - killed_s, 2),
        "notice_state_after_kill": at_kill["state"],
        "sweeper": "beat" if real_sweeper else "run by the script, clock +3 min",
        "swept": swept,
        "all_received_after_s": round(last_at - started, 2) if last_at else None,
        "notice_state": state,
        "notice_counters": counters,
        **tallied,
    }
