"""The tally job killed in the middle of a run.

`rows` validated, not yet counted signatures are written with COPY over `petitions` new open petitions, spread
over CONSTITUENCIES constituencies and 21 countries (what a burst of confirmations leaves for the tally). A worker and beat
start; beat queues `tally_signatures` every 2 s, and each run takes batches of 10,000 rows, one transaction
each (`SELECT … FOR UPDATE SKIP LOCKED`, the counts moved with F() updates, `counted_at` set), for up to 3 s.
Once some batches have committed and another is open in PostgreSQL, the worker's process group is SIGKILLed.

Decided behaviour: the open batch rolls back with the dead connection, so at every moment the counts equal the
counted rows; after a new worker starts, the tally carries on and the petition, constituency and country
counts equal the validated rows exactly.
"""

import random
import time

from . import common

NAME = "tally_killed_mid_run"
#: Signers from this many constituencies: the tally's cost per batch grows with the journal rows it touches.
CONSTITUENCIES = 200

BATCH_SQL = """
SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL
  AND backend_type = 'client backend' AND application_name <> 'faults-harness'
"""

COUNTED_SQL = """
SELECT
  (SELECT count(*) FROM petitions_signature WHERE petition_id = ANY(%(p)s) AND counted_at IS NOT NULL),
  (SELECT COALESCE(sum(signature_count), 0) FROM petitions_petition WHERE id = ANY(%(p)s)),
  (SELECT COALESCE(sum(signature_count), 0) FROM petitions_countrypetitionjournal WHERE petition_id = ANY(%(p)s))
"""


def rows_insert(count: int, petitions: int) -> list[int]:
    """`petitions` open petitions and `count` validated, uncounted signatures on them (COPY)."""
    from django.db import connection
    from django.utils import timezone

    from petitions.demo import SIGNATURE_COLUMNS
    from petitions.models import Constituency, Country, Petition, PetitionState, Signature, SignatureState
    from petitions.models import new_token as token

    now = timezone.now()
    ids = [
        Petition.objects.create(
            action=f"Fault petition {n} for the tally",
            background="A petition for the tally fault scenario.",
            state=PetitionState.OPEN,
            opened_at=now,
            deadline_at=now + timezone.timedelta(days=60),
        ).pk
        for n in range(petitions)
    ]
    constituencies = list(Constituency.objects.order_by("pk").values_list("pk", flat=True)[:CONSTITUENCIES])
    gb = Country.objects.get(code="GB").pk
    abroad = list(Country.objects.exclude(code="GB").values_list("pk", flat=True)[:20])
    rng = random.Random(4)
    sql = f"COPY {Signature._meta.db_table} ({', '.join(SIGNATURE_COLUMNS)}) FROM STDIN"  # noqa: S608
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for i in range(count):
            uk = rng.random() < 0.9
            email = f"tally{i}@example.org"
            row = {
                "petition_id": ids[i % petitions],
                "name": f"Tally Signer {i}",
                "email": email,
                "canonical_email": email,
                "email_domain": "example.org",
                "fraud_reason": "",
                "email_failure": "",
                "postcode": "",
                "country_id": gb if uk else rng.choice(abroad),
                "constituency_id": rng.choice(constituencies) if uk else None,
                "state": SignatureState.VALIDATED,
                "creator": False,
                "sponsor": False,
                "notify_by_email": False,
                "confirm_token": token(),
                "unsubscribe_token": token(),
                "email_count": 1,
                "created_at": now,
                "updated_at": now,
                "validated_at": now,
            }
            copy.write_row([row[c] for c in SIGNATURE_COLUMNS])
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Signature._meta.db_table}")  # noqa: S608
    connection.close()
    return ids


def run(env: common.Env, *, rows: int = 100_000, petitions: int = 4) -> dict:
    bench_signing = common.bench_signing
    failures: list[str] = []
    check = common.check
    started = time.monotonic()
    ids = rows_insert(rows, petitions)
    setup_s = time.monotonic() - started
    db = env.db()
    site = None
    try:
        site = env.site_start(NAME, web=False, beat=True)

        # Mid-run: some batches committed, and a batch open in PostgreSQL right now.
        def mid_run() -> int:
            counted = db.execute(COUNTED_SQL, {"p": ids}).fetchone()[0]
            open_batches = db.execute(BATCH_SQL).fetchone()[0]
            return open_batches if 0 < counted < rows * 0.8 else 0

        open_at_kill = common.wait_until(mid_run, 120, 0.05, "the tally mid-run")
        site.worker.kill()
        killed_at = time.monotonic()
        # The dead worker's backend notices the closed socket and rolls its batch back.
        common.wait_until(lambda: db.execute(BATCH_SQL).fetchone()[0] == 0, 30, 0.1, "the killed batch gone")
        counted_at_kill, petition_sum, country_sum = db.execute(COUNTED_SQL, {"p": ids}).fetchone()
        drift_after_kill = abs(petition_sum - counted_at_kill) + abs(country_sum - counted_at_kill)
        time.sleep(3)  # nothing moves without a worker
        still = db.execute(COUNTED_SQL, {"p": ids}).fetchone()[0]
        print(f"  worker SIGKILLed with {counted_at_kill} of {rows} rows counted; restarting it", flush=True)
        site.worker_start()
        catch_up = common.tally_wait(db, timeout=180)
        recovered_s = time.monotonic() - killed_at
        exact = bench_signing.exactness(db)
        per_petition = db.execute(
            "SELECT count(*) FROM petitions_petition p WHERE p.id = ANY(%s) AND p.signature_count <> "
            "(SELECT count(*) FROM petitions_signature s WHERE s.petition_id = p.id AND s.state = 'validated')",
            [ids],
        ).fetchone()[0]
        total = db.execute(
            "SELECT sum(signature_count) FROM petitions_petition WHERE id = ANY(%s)", [ids]
        ).fetchone()[0]
    finally:
        db.close()
        env.site_stop()
    drift = (
        exact["drift_petition_counts"]
        + exact["drift_constituency_journals"]
        + exact["drift_country_journals"]
    )
    check(
        0 < counted_at_kill < rows, f"killed with {counted_at_kill} of {rows} counted: not mid-run", failures
    )
    check(drift_after_kill == 0, f"after the kill the counts differ from the counted rows by {drift_after_kill}",
          failures)  # fmt: skip
    check(still == counted_at_kill, "rows were counted with no worker running", failures)
    check(drift == 0, f"counts drift from the validated rows by {drift} ({exact})", failures)
    check(per_petition == 0, f"{per_petition} petitions' counts differ from their rows", failures)
    check(total == rows, f"the petitions count {total}, not {rows}", failures)
    check(exact["counted_but_not_validated"] == 0, "counted rows that are not validated", failures)
    return {
        "scenario": NAME,
        "passed": not failures,
        "failures": failures,
        "rows": rows,
        "petitions": petitions,
        "setup_s": round(setup_s, 1),
        "counted_at_kill": counted_at_kill,
        "tally_transactions_open_at_kill": open_at_kill,
        "drift_after_kill": drift_after_kill,
        "caught_up_after_restart_s": round(catch_up, 1),
        "recovered_after_kill_s": round(recovered_s, 1),
        "counted_total": total,
        "drift_final": drift,
        "drift_detail": {
            k: exact[k]
            for k in ("drift_petition_counts", "drift_constituency_journals", "drift_country_journals")
        },  # fmt: skip
    }
