"""PostgreSQL restarted under signing load.

Signers sign and confirm through the real forms at a moderate pace. After `before` seconds the run's own
cluster is restarted with `pg_ctl restart -m fast` (every connection cut, the server down until it has started
again); the load goes on for `after` seconds. Decided behaviour: requests that need the database while it is
down fail (500: the site has nothing to serve them from); none fails before the restart or after the server is
back, beyond a short grace for connections that were cut (Django's CONN_HEALTH_CHECKS reopens them on the next
request); every signature confirmed before the restart is still validated and, once the tally has caught up,
counted exactly. Reported: the status codes in the outage, the time from the restart command to the first
successful sign, and to the last error.
"""

import contextlib
import time

from . import common

NAME = "postgres_restarted_under_load"
GRACE_S = 5.0


def run(env: common.Env, *, before: float = 12, after: float = 25, signers: int = 6, rate: float = 2.0,
        mode: str = "fast") -> dict:  # fmt: skip
    bench_signing = common.bench_signing
    site = env.site_start(NAME)
    env.mailbox.reset()
    petitions = [env.info["hot"], *env.info["others"][20:30]]
    failures: list[str] = []
    check = common.check
    try:
        load, threads = common.load_start(env, petitions=petitions, signers=signers, rate=rate, confirm=True)
        time.sleep(before)
        restart_at = load.at()
        restart_took = env.cluster.restart(mode)
        back_at = load.at()
        time.sleep(after)
        common.load_stop(load, threads)
        end_at = load.at()
        env.django_close()  # the harness's own connection was cut too
        site.processes.check()
        site.worker.check()

        events = sorted(load.events, key=lambda e: e["at"])
        signs = [e for e in events if e["kind"] == "sign"]
        errors = [e for e in events if not e["ok"]]
        before_restart = [e for e in errors if e["at"] < restart_at]
        outside = [e for e in errors if e["at"] < restart_at or e["sent"] > back_at + GRACE_S]
        first_ok_sign = next((e for e in signs if e["ok"] and e["sent"] >= restart_at), None)
        last_error = max((e["at"] for e in errors), default=None)
        confirmed_before = {e["signature"] for e in events if e["kind"] == "confirm" and e["ok"]
                            and e["at"] < restart_at}  # fmt: skip
        confirmed_all = {e["signature"] for e in events if e["kind"] == "confirm" and e["ok"]}
        thanked = {e["email"] for e in signs if e["ok"]}

        db = env.db()
        try:
            validated = {
                row[0]
                for row in db.execute(
                    "SELECT id FROM petitions_signature WHERE state = 'validated' AND id = ANY(%s)",
                    [list(confirmed_all)],
                ).fetchall()
            }
            stored = {
                row[0]
                for row in db.execute(
                    "SELECT canonical_email FROM petitions_signature WHERE canonical_email = ANY(%s)",
                    [[e["email"] for e in signs]],
                ).fetchall()
            }
            catch_up = common.tally_wait(db)
            exact = bench_signing.exactness(db)
        finally:
            db.close()
        drift = (
            exact["drift_petition_counts"]
            + exact["drift_constituency_journals"]
            + exact["drift_country_journals"]
        )
        lost_before = len(confirmed_before - validated)
        lost_all = len(confirmed_all - validated)

        # Confirmation emails: every stored signature's, once (reported, and checked).
        with contextlib.suppress(TimeoutError):
            common.wait_until(lambda: all(common.mailbox_counts(env.mailbox).get(e) for e in stored), 60, 0.5,
                              "every stored signature's confirmation email")  # fmt: skip
        time.sleep(2)
        counts = common.mailbox_counts(env.mailbox)
        emails_missing = sum(1 for e in stored if not counts.get(e))
        emails_duplicated = sum(counts[e] - 1 for e in stored if counts.get(e, 0) > 1)

        check(len(confirmed_before) > 0, "nothing was confirmed before the restart", failures)
        check(not before_restart, f"{len(before_restart)} errors before the restart", failures)
        check(not outside, f"{len(outside)} errors more than {GRACE_S:.0f} s after the server was back "
              f"({common.status_counts(outside)})", failures)  # fmt: skip
        check(first_ok_sign is not None, "no successful sign after the restart", failures)
        check(lost_before == 0, f"{lost_before} signatures confirmed before the restart are not validated",
              failures)  # fmt: skip
        check(lost_all == 0, f"{lost_all} confirmed signatures are not validated", failures)
        check(not (thanked - stored), f"{len(thanked - stored)} thank-you pages without a row", failures)
        check(drift == 0, f"counts drift from the rows by {drift}", failures)
        check(emails_missing == 0, f"{emails_missing} stored signatures never got their confirmation email",
              failures)  # fmt: skip
        check(emails_duplicated == 0, f"{emails_duplicated} duplicate confirmation emails", failures)
    finally:
        env.site_stop()

    outage = [e for e in events if restart_at <= e["at"] and e["sent"] <= back_at + GRACE_S]
    return {
        "scenario": NAME,
        "passed": not failures,
        "failures": failures,
        "pg_ctl_restart_mode": mode,
        "timeline_s": {"restart_command": restart_at, "server_back": back_at, "load_stopped": end_at},
        "restart_command_s": round(restart_took, 2),
        "sign_requests": len(signs),
        "requests": len(events),
        "statuses": common.status_counts(events),
        "statuses_during_outage": common.status_counts(outage),
        "errors": len(errors),
        "errors_outside_outage": len(outside),
        "recovery_s": {
            "first_success": round(first_ok_sign["at"] - restart_at, 2) if first_ok_sign else None,
            "last_error": round(last_error - restart_at, 2) if last_error is not None else 0.0,
        },
        "confirmed_before_restart": len(confirmed_before),
        "confirmed_before_restart_lost": lost_before,
        "confirmed_total": len(confirmed_all),
        "confirmed_lost": lost_all,
        "tally_catch_up_s": round(catch_up, 2),
        "drift": drift,
        "emails_missing": emails_missing,
        "emails_duplicated": emails_duplicated,
    }
