"""Redis stopped while people sign.

Signers sign continuously through the real form. After `before` seconds Redis (the broker and the cache) is
stopped for `outage` seconds, then started again on the same port with its data; signing goes on for `after`
seconds. Decided behaviour: signing needs only PostgreSQL. Every sign POST gets the thank-you page, whether or
not Redis is up (no 500s); every thank-you has its signature row; every signature's confirmation email arrives
exactly once: queued through Redis when it is up, sent by the web process itself when the broker cannot be
reached (petitions/services/emails.py).
"""

import time

from . import common

NAME = "redis_stopped_while_signing"


def run(env: common.Env, *, before: float = 10, outage: float = 10, after: float = 10, signers: int = 6,
        rate: float = 4.0) -> dict:  # fmt: skip
    site = env.site_start(NAME)
    env.mailbox.reset()
    petitions = [env.info["hot"], *env.info["others"][:10]]
    failures: list[str] = []
    try:
        load, threads = common.load_start(env, petitions=petitions, signers=signers, rate=rate, confirm=False)
        time.sleep(before)
        down_at = load.at()
        env.redis.stop()
        time.sleep(outage)
        env.redis.start()
        up_at = load.at()
        time.sleep(after)
        common.load_stop(load, threads)
        end_at = load.at()
        # The worker and beat reconnect by themselves. One that died instead is started again, as its
        # supervisor would, and reported.
        check(site.processes.running["gunicorn"].poll() is None, "gunicorn exited", failures)
        restarted = site.supervise()
        if restarted:
            print(f"  exited during the outage and restarted: {restarted}", flush=True)

        signs = [e for e in load.events if e["kind"] == "sign"]
        thanked = [e for e in signs if e["ok"]]
        emails = [e["email"] for e in signs]
        db = env.db()
        try:
            stored = dict(
                db.execute(
                    "SELECT canonical_email, state FROM petitions_signature WHERE canonical_email = ANY(%s)",
                    [emails],
                ).fetchall()
            )
        finally:
            db.close()
        missing_rows = [e for e in thanked if e["email"] not in stored]
        not_thanked = [e for e in signs if not e["ok"]]
        stored_not_thanked = [e for e in not_thanked if e["email"] in stored]

        # Every stored signature's confirmation, exactly once. Wait for the backlog, then a little longer for
        # anything sent twice.
        def all_arrived():
            counts = common.mailbox_counts(env.mailbox)
            return all(counts.get(email) for email in stored)

        try:
            common.wait_until(all_arrived, 90, 0.5, "every stored signature's confirmation email")
            drained_at = load.at()
        except TimeoutError:
            drained_at = None
        time.sleep(5)
        counts = common.mailbox_counts(env.mailbox)
        missing_emails = sum(1 for email in stored if not counts.get(email))
        duplicates = sum(counts.get(email, 0) - 1 for email in stored if counts.get(email, 0) > 1)
        first_at = {email: env.mailbox.first_at[email] - load.started for email in stored if email in counts}
        signed_during = [e["email"] for e in signs if down_at <= e["sent"] < up_at and e["email"] in stored]
        during_arrival = sorted(first_at[e] - down_at for e in signed_during if e in first_at)
        during = [e for e in signs if down_at <= e["sent"] < up_at]

        check(len(signs) > 0, "no sign request was made", failures)
        check(len(during) > 0, "no sign request was made while Redis was down", failures)
        check(not missing_rows, f"{len(missing_rows)} thank-you pages without a signature row", failures)
        check(not not_thanked, f"{len(not_thanked)} sign POSTs without the thank-you page "
              f"({common.status_counts(not_thanked)})", failures)  # fmt: skip
        check(missing_emails == 0, f"{missing_emails} stored signatures never got their confirmation email",
              failures)  # fmt: skip
        check(duplicates == 0, f"{duplicates} duplicate confirmation emails", failures)
    finally:
        env.site_stop()
        if not env.redis.process:
            env.redis.start()

    latencies_during = sorted(e["latency"] for e in during)
    result = {
        "scenario": NAME,
        "passed": not failures,
        "failures": failures,
        "timeline_s": {
            "redis_stopped": down_at,
            "redis_started": up_at,
            "load_stopped": end_at,
            "last_email_arrived": drained_at,
        },  # fmt: skip
        "restarted_after_outage": restarted,
        "sign_requests": len(signs),
        "sign_requests_while_down": len(during),
        "statuses": common.status_counts(signs),
        "statuses_while_down": common.status_counts(during),
        "thank_you_pages": len(thanked),
        "signature_rows": len(stored),
        "thank_you_without_row": len(missing_rows),
        "rows_without_thank_you": len(stored_not_thanked),
        "sign_p50_ms_while_down": round(latencies_during[len(latencies_during) // 2] * 1000)
        if latencies_during
        else None,
        "sign_max_ms_while_down": round(latencies_during[-1] * 1000) if latencies_during else None,
        "emails_missing": missing_emails,
        "emails_duplicated": duplicates,
        "signed_while_down_email_after_s": {
            "first": round(during_arrival[0], 1) if during_arrival else None,
            "last": round(during_arrival[-1], 1) if during_arrival else None,
        },
    }
    return result


check = common.check
