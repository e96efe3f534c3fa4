"""Soak: signing at a steady half of the peak rate for 10 minutes; memory and latency must stay flat.

Run from the repository root: ``.venv/bin/python bench/soak.py`` (or ``make soak``). Needs PostgreSQL and Redis.
It drops and recreates the database ``petitions_bench_soak`` on BENCH_POSTGRES_URL (default
postgres://postgres@127.0.0.1:5432) and flushes the Redis database BENCH_SOAK_REDIS_URL (default
redis://127.0.0.1:6379/15), then starts the same stack as bench_signing.py, with its functions: gunicorn
(bench.settings, 2 workers x 4 threads), a Celery worker (concurrency 2) and beat (the tally every 2 s).

The load is open-loop: the k-th signer starts at start + k / rate whether or not earlier ones have finished,
so a slower site gets a queue (reported as the start delay) rather than less load; signers still queued when
the window closes are not started (and counted). The rate is --rate, by default half the peak:
bench/results/signing.json's signatures_per_s when present, else 103.8 (the recorded run in
docs/performance.md). A pool of --clients threads (bench_signing's Client: sign POST, token read from
PostgreSQL, confirm POST, over keep-alive connections) takes the signers in turn. A 1-minute warm-up comes
first, then --minutes (default 10) measured minutes.

Each minute it records the confirmed signatures, sign and confirm p50/p95, errors, the start delay, the RSS of
the gunicorn master and each worker, the Celery worker and each pool process, beat, and the total of the
PostgreSQL backends serving the site (their RSS less the shared buffers they have touched, averaged over the
minute's samples), and the tally lag (validated_at to counted_at of the rows confirmed that minute).

It passes when: no errors; counts exact at the end (every validated row counted, no drift, as many validated
rows as confirmations the clients saw); every process's RSS in the last minute ≤ its RSS in the first measured
minute × 1.10 + 10 MB, with the same pids; sign and confirm p95 in the last minute ≤ 1.5 × the first measured
minute's; the achieved rate ≥ 95% of the target. Otherwise it exits with status 1. The last line printed is
``BENCH soak {json}``; the per-minute rows and the verdict go to bench/results/soak.json. See docs/performance.md.
"""

import argparse
import itertools
import json
import os
import platform
import queue
import random
import signal
import statistics
import sys
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bench.bench_signing import (  # noqa: E402
    Client,
    Processes,
    database_drop,
    environment,
    exactness,
    free_port,
    machine_busy_ticks,
    ms,
    percentile,
    proc_ticks,
    queue_lengths,
    redis_flush,
    servers_start,
    servers_wait,
    site_prepare,
    stack_arguments_add,
    tally_wait,
)
from bench.summary import judged, results_meta, target_row  # noqa: E402

RESULTS_FILE = REPO_ROOT / "bench" / "results" / "soak.json"
SIGNING_RESULTS_FILE = REPO_ROOT / "bench" / "results" / "signing.json"
VAR_DIR = REPO_ROOT / "var" / "bench" / "soak"
DATABASE = "petitions_bench_soak"
#: Peak confirmed signatures/s when bench/results/signing.json is missing: run 4 in docs/performance.md.
RECORDED_PEAK_RATE = 103.8
WARM_UP_MINUTES = 1
SAMPLE_INTERVAL = 5.0
MINUTE = 60.0
# The pass criteria.
MEMORY_FACTOR = 1.10
MEMORY_SLACK_MB = 10.0
LATENCY_FACTOR = 1.5
RATE_SHARE = 0.95
POSTGRES = "postgres backends (sum, less shared memory)"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    env = os.environ.get
    parser.add_argument(
        "--minutes",
        type=int,
        default=int(env("BENCH_SOAK_MINUTES", 10)),
        help="measured, after a 1-minute warm-up",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=float(env("BENCH_SOAK_RATE", 0)) or None,
        help="signatures a second (default: half the peak signing rate)",
    )
    parser.add_argument(
        "--clients", type=int, default=int(env("BENCH_SOAK_CLIENTS", 32)), help="client threads"
    )
    stack_arguments_add(
        parser, database=DATABASE, redis_env="BENCH_SOAK_REDIS_URL", redis_default="redis://127.0.0.1:6379/15"
    )
    args = parser.parse_args(argv)
    if args.minutes < 1:
        parser.error("--minutes must be at least 1")
    return args


def peak_rate(path: Path = SIGNING_RESULTS_FILE) -> tuple[float, str]:
    """The peak confirmed signatures/s and where it came from."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))["summary"]["signatures_per_s"]
    except (OSError, ValueError, KeyError, TypeError):
        return RECORDED_PEAK_RATE, "docs/performance.md (run 4)"
    return float(value), str(path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path)


# --- The verdict (pure: tested on synthetic rows) -------------------------------------------------------------


def memory_limit_mb(first_mb: float) -> float:
    return first_mb * MEMORY_FACTOR + MEMORY_SLACK_MB


def verdict(rows: list[dict], *, target_rate: float, end: dict) -> dict:
    """Pass or fail, check by check. `rows` are the per-minute rows, warm-up first (``warm_up`` true); `end` has
    ``errors`` (found after the load: fraudulent or wrongly counted rows), ``drift``, ``confirmed`` (confirm
    POSTs that returned 302) and ``validated_rows``."""
    measured = [row for row in rows if not row["warm_up"]]
    checks: list[dict] = []

    def check(name: str, passed: bool, detail: str) -> None:
        checks.append({"check": name, "passed": bool(passed), "detail": detail})

    if not measured:
        check("measured minutes", False, "no minute after the warm-up")
        return {"passed": False, "checks": checks, "achieved_rate_per_s": None}
    first, last = measured[0], measured[-1]

    errors = sum(row["errors"] for row in rows) + end["errors"]
    check("no errors", errors == 0, f"{errors} errors")
    exact = end["drift"] == 0 and end["confirmed"] == end["validated_rows"]
    check(
        "counts exact",
        exact,
        f"drift {end['drift']}; {end['validated_rows']} validated rows for {end['confirmed']} confirmations",
    )

    for name, before in first["rss_mb"].items():
        after = last["rss_mb"].get(name)
        limit = memory_limit_mb(before)
        check(
            f"memory flat: {name}",
            after is not None and after <= limit,
            f"{after} MB in the last minute, {before} MB in the first (limit {limit:.1f})",
        )
    restarted = sorted(name for name, pid in first["pids"].items() if last["pids"].get(name) != pid)
    check("no process restarted", not restarted, ", ".join(restarted) or "same pids")

    for step in ("sign", "confirm"):
        before, after = first[f"{step}_ms"]["p95"], last[f"{step}_ms"]["p95"]
        check(
            f"latency flat: {step} p95",
            before is not None and after is not None and after <= LATENCY_FACTOR * before,
            f"{after} ms in the last minute, {before} ms in the first (limit {LATENCY_FACTOR}×)",
        )

    achieved = sum(row["signatures"] for row in measured) / (MINUTE * len(measured))
    check(
        "rate held",
        achieved >= RATE_SHARE * target_rate,
        f"{achieved:.1f}/s against {target_rate:.1f}/s (at least {RATE_SHARE:.0%})",
    )
    return {
        "passed": all(c["passed"] for c in checks),
        "checks": checks,
        "achieved_rate_per_s": round(achieved, 1),
    }


def memory_growth(rows: list[dict]) -> dict[str, float]:
    """MB each process grew from the first measured minute to the last."""
    measured = [row for row in rows if not row["warm_up"]]
    if not measured:
        return {}
    first, last = measured[0]["rss_mb"], measured[-1]["rss_mb"]
    return {name: round(last[name] - mb, 1) for name, mb in first.items() if name in last}


def p95_ratio(rows: list[dict], step: str) -> float | None:
    measured = [row for row in rows if not row["warm_up"]]
    if not measured:
        return None
    before, after = measured[0][f"{step}_ms"]["p95"], measured[-1][f"{step}_ms"]["p95"]
    return round(after / before, 2) if before and after is not None else None


def soak_targets(rows: list[dict], result: dict, target_rate: float, end: dict) -> list[dict]:
    memory_checks = [c for c in result["checks"] if c["check"].startswith("memory flat")]
    growth = memory_growth(rows)
    return [
        target_row(
            "achieved signatures/s",
            result["achieved_rate_per_s"],
            ">=",
            round(RATE_SHARE * target_rate, 1),
            key="achieved_rate_per_s",
        ),
        target_row("errors", sum(row["errors"] for row in rows) + end["errors"], "==", 0, key="errors"),
        target_row("drift (counts vs rows)", end["drift"], "==", 0, key="drift"),
        judged(
            "memory: largest growth, first → last minute, MB",
            max(growth.values()) if growth else None,
            f"each process ≤ first × {MEMORY_FACTOR} + {MEMORY_SLACK_MB:g} MB",
            all(c["passed"] for c in memory_checks) if memory_checks else None,
            key="rss_mb",
        ),
        target_row(
            "sign p95, last ÷ first minute", p95_ratio(rows, "sign"), "<=", LATENCY_FACTOR, key="sign_ms.p95"
        ),
        target_row(
            "confirm p95, last ÷ first minute",
            p95_ratio(rows, "confirm"),
            "<=",
            LATENCY_FACTOR,
            key="confirm_ms.p95",
        ),
    ]


# --- Per-minute rows from what was recorded ---------------------------------------------------------------------


def latency_rows(records: list[tuple], start: float, minutes: int) -> list[dict]:
    """Per minute, by the time each signer finished: (scheduled, started, finished, sign s, confirm s, error)."""
    buckets: list[list[tuple]] = [[] for _ in range(minutes)]
    for record in records:
        index = int((record[2] - start) // MINUTE)
        if 0 <= index < minutes:
            buckets[index].append(record)
    rows = []
    for index, bucket in enumerate(buckets):
        sign = [r[3] for r in bucket if r[3] is not None]
        confirm = [r[4] for r in bucket if r[4] is not None]
        delays = [max(0.0, r[1] - r[0]) for r in bucket]
        kinds: dict[str, int] = {}
        for r in bucket:
            if r[5] is not None:
                kinds[r[5]] = kinds.get(r[5], 0) + 1
        rows.append(
            {
                "minute": index,
                "warm_up": index < WARM_UP_MINUTES,
                "signatures": len(confirm),
                "rate_per_s": round(len(confirm) / MINUTE, 1),
                "sign_ms": {"p50": ms(percentile(sign, 50)), "p95": ms(percentile(sign, 95))},
                "confirm_ms": {"p50": ms(percentile(confirm, 50)), "p95": ms(percentile(confirm, 95))},
                "errors": sum(kinds.values()),
                "error_kinds": kinds,
                "start_delay_ms": {"p95": ms(percentile(delays, 95)), "max": ms(max(delays, default=None))},
            }
        )
    return rows


def rss_kb(pid: int) -> dict[str, int] | None:
    """VmRSS and its parts (RssAnon, RssFile, RssShmem) in kB, or None when the process is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    found = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
            found[key] = int(value.split()[0])
    return found if "VmRSS" in found else None


def site_processes(processes: Processes) -> dict[str, int]:
    """{name: pid} of the site's processes: gunicorn's master and workers, Celery's worker and pool, beat."""
    table = proc_ticks()
    children: dict[int, list[int]] = {}
    for pid, (ppid, *_) in table.items():
        children.setdefault(ppid, []).append(pid)
    found = {}
    for name, key, child in (
        ("gunicorn master", "gunicorn", "gunicorn worker"),
        ("celery worker", "worker", "celery pool process"),
        ("celery beat", "beat", None),
    ):
        pid = processes.pid(key)
        found[name] = pid
        if child:
            for n, child_pid in enumerate(sorted(children.get(pid, [])), start=1):
                found[f"{child} {n}"] = child_pid
    return found


def postgres_backends(database: str, harness_pids: set[int]) -> list[dict[str, int]]:
    """Memory of each PostgreSQL backend connected to `database` for the site (the harness's own left out)."""
    found = []
    marker = f" {database} ".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in harness_pids:
            continue
        try:
            # The process title of a backend: "postgres: 15/main: user database host(port) state".
            if marker not in Path(f"/proc/{entry}/cmdline").read_bytes():
                continue
        except OSError:
            continue
        memory = rss_kb(int(entry))
        if memory is not None:
            found.append(memory)
    return found


def memory_sample(processes: Processes, harness_pids: set[int]) -> dict:
    pids = site_processes(processes)
    rss = {}
    for name, pid in pids.items():
        memory = rss_kb(pid)
        if memory is not None:
            rss[name] = memory["VmRSS"]
    backends = postgres_backends(DATABASE, harness_pids)
    return {
        "pids": pids,
        "rss_kb": rss,
        "postgres_backends": len(backends),
        "postgres_rss_kb": sum(b["VmRSS"] for b in backends),
        "postgres_private_kb": sum(b["VmRSS"] - b.get("RssShmem", 0) for b in backends),
    }


def memory_row(samples: list[dict]) -> dict:
    """A minute's memory: each process's RSS at the minute's last sample; PostgreSQL's averaged over the
    minute, because its backends come and go (CONN_MAX_AGE) and a new one starts small."""
    last = samples[-1]
    rss_mb = {name: round(kb / 1024, 1) for name, kb in last["rss_kb"].items()}
    rss_mb[POSTGRES] = round(statistics.mean(s["postgres_private_kb"] for s in samples) / 1024, 1)
    return {
        "rss_mb": rss_mb,
        "pids": {name: pid for name, pid in last["pids"].items() if name in last["rss_kb"]},
        "postgres": {
            "backends_mean": round(statistics.mean(s["postgres_backends"] for s in samples), 1),
            "rss_mb_mean_with_shared": round(
                statistics.mean(s["postgres_rss_kb"] for s in samples) / 1024, 1
            ),
        },
    }


TALLY_LAG_SQL = """
SELECT FLOOR((EXTRACT(EPOCH FROM validated_at) - %s) / 60)::int AS minute, COUNT(*),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY d), percentile_cont(0.99) WITHIN GROUP (ORDER BY d), MAX(d)
FROM (SELECT validated_at, EXTRACT(EPOCH FROM counted_at - validated_at) AS d
      FROM petitions_signature WHERE state = 'validated') t
GROUP BY 1
"""


def tally_lag_by_minute(db, start_epoch: float) -> dict[int, dict]:
    return {
        minute: {
            "rows": n,
            "p50_s": round(float(p50), 2),
            "p99_s": round(float(p99), 2),
            "max_s": round(float(top), 2),
        }
        for minute, n, p50, p99, top in db.execute(TALLY_LAG_SQL, [start_epoch]).fetchall()
    }


# --- The load -----------------------------------------------------------------------------------------------


class Load:
    """What bench_signing's Client reads from its bench (port, petitions, postcodes, sequence), plus the
    schedule's queue and what the clients record."""

    def __init__(self, port: int, info: dict, db_url: str):
        self.port = port
        self.hot = info["hot"]
        self.others = info["others"]
        self.postcodes = info["postcodes"]
        self.gb_id = info["gb_id"]
        self.fill_wait = info["minimum_fill_seconds"] + 0.25
        self.db_url = db_url
        self.run = f"{random.randrange(16**6):06x}"
        self.sequence = itertools.count(1)
        self.queue: queue.Queue = queue.Queue()
        self.records: list[tuple] = []
        self.lock = threading.Lock()
        self.harness_pids: set[int] = set()
        # Set when the window ends: signers still queued then (a site that fell behind) are not started.
        self.closed = threading.Event()
        self.not_started = 0

    def record(self, record: tuple) -> None:
        with self.lock:
            self.records.append(record)


class SoakClient(Client):
    """bench_signing's Client, taking signers from the schedule instead of looping flat out."""

    def __init__(self, n: int, load: Load):
        super().__init__(n, load)
        self.ready = threading.Event()
        self.last_error: str | None = None

    def error(self, kind: str) -> None:
        super().error(kind)
        self.last_error = kind

    def run(self) -> None:
        import psycopg

        load = self.bench
        try:
            self.db = psycopg.connect(load.db_url, autocommit=True, application_name="bench-harness")
            load.harness_pids.add(self.db.info.backend_pid)
            self.get_form()
            # A form sent back sooner than minimum_fill_seconds after it was shown is taken for a bot.
            time.sleep(max(0.0, self.form_shown_at + load.fill_wait - time.monotonic()))
            self.ready.set()
            while (scheduled := load.queue.get()) is not None:
                if load.closed.is_set():
                    with load.lock:
                        load.not_started += 1
                    continue
                started = time.perf_counter()
                self.last_error = None
                self.sign_and_confirm(measured=True)
                finished = time.perf_counter()
                sign = self.sign_latencies.pop() if self.sign_latencies else None
                confirm = self.confirm_latencies.pop() if self.confirm_latencies else None
                self.hot_confirmed_at.clear()
                load.record((scheduled, started, finished, sign, confirm, self.last_error))
        except BaseException as error:  # reported by the main thread
            self.failure = error
            self.ready.set()
        finally:
            self.conn.close()
            if getattr(self, "db", None) is not None:
                self.db.close()


def schedule(
    load: Load, rate: float, start: float, end: float, clients: int, stopping: threading.Event
) -> None:
    """Open loop: the k-th signer is due at start + k / rate, however the earlier ones are doing."""
    for k in itertools.count():
        due = start + k / rate
        if due >= end or stopping.wait(max(0.0, due - time.perf_counter())):
            break
        load.queue.put(due)
    for _ in range(clients):
        load.queue.put(None)


# --- Main ---------------------------------------------------------------------------------------------------


def interrupted(signum, frame):
    raise KeyboardInterrupt


def minute_line(row: dict) -> str:
    rss = row["rss_mb"]
    gunicorn = "/".join(str(v) for k, v in rss.items() if k.startswith("gunicorn worker"))
    pool = "/".join(str(v) for k, v in rss.items() if k.startswith("celery pool"))
    return (
        f"minute {row['minute']}{' (warm-up)' if row['warm_up'] else ''}: {row['signatures']} signatures "
        f"({row['rate_per_s']}/s), sign p50/p95 {row['sign_ms']['p50']}/{row['sign_ms']['p95']} ms, confirm "
        f"{row['confirm_ms']['p50']}/{row['confirm_ms']['p95']} ms, start delay p95 {row['start_delay_ms']['p95']} ms, "
        f"errors {row['errors']}; RSS MB gunicorn workers {gunicorn}, celery worker {rss.get('celery worker')} "
        f"pool {pool}, postgres {rss[POSTGRES]} ({row['postgres']['backends_mean']} backends); "
        f"uncounted {row['uncounted_at_end']}; load {row['load_average']}"
    )


def main() -> None:
    args = parse_args()
    signal.signal(signal.SIGTERM, interrupted)
    peak, peak_source = peak_rate()
    rate = args.rate or round(peak / 2, 1)
    total_minutes = WARM_UP_MINUTES + args.minutes
    port = free_port()
    env = environment(args, port, database=DATABASE, var_dir=VAR_DIR)
    os.environ.update(env)
    db_url = env["DATABASE_URL"]

    import psycopg

    print(f"setting up {DATABASE} (migrate, reference data, petitions)", flush=True)
    database_drop(args.postgres, DATABASE, create=True)
    redis_flush(args.redis)
    info = site_prepare()
    processes = Processes(env, VAR_DIR)
    db = psycopg.connect(db_url, autocommit=True, application_name="bench-harness")
    load = Load(port, info, db_url)
    load.harness_pids.add(db.info.backend_pid)
    stopping = threading.Event()
    clients: list[SoakClient] = []
    dispatcher = None
    samples: list[tuple[float, dict]] = []
    live: list[dict] = []  # per minute: backlog, queues, load, CPU at the minute's end
    try:
        servers_start(processes, args, port)
        servers_wait(processes, port, info["hot"], db)
        clients = [SoakClient(n, load) for n in range(args.clients)]
        for client in clients:
            client.start()
        for client in clients:
            client.ready.wait(timeout=120)
        failures = [c.failure for c in clients if c.failure is not None]
        if failures:
            raise RuntimeError(f"a client failed: {failures[0]!r}")

        print(
            f"soak: {rate}/s (half of {peak}/s from {peak_source})" if not args.rate else f"soak: {rate}/s",
            f"for {WARM_UP_MINUTES} + {args.minutes} minutes; {args.clients} clients; gunicorn "
            f"{args.web_workers} x {args.web_threads} (gthread); Celery worker concurrency {args.celery_concurrency}",
            flush=True,
        )
        start = time.perf_counter() + 0.5
        start_epoch = time.time() + (start - time.perf_counter())
        end = start + total_minutes * MINUTE
        dispatcher = threading.Thread(
            target=schedule,
            args=(load, rate, start, end, args.clients, stopping),
            name="schedule",
            daemon=True,
        )
        dispatcher.start()
        busy_before = machine_busy_ticks()
        ticks_per_minute = MINUTE * (os.cpu_count() or 1) * os.sysconf("SC_CLK_TCK")
        for n in range(1, int(total_minutes * MINUTE / SAMPLE_INTERVAL) + 1):
            due = start + n * SAMPLE_INTERVAL
            while (left := due - time.perf_counter()) > 0:
                processes.check()
                failures = [c.failure for c in clients if c.failure is not None]
                if failures:
                    raise RuntimeError(f"a client failed: {failures[0]!r}")
                time.sleep(min(0.5, left))
            samples.append((due, memory_sample(processes, load.harness_pids)))
            if n % round(MINUTE / SAMPLE_INTERVAL) == 0:
                busy = machine_busy_ticks()
                live.append(
                    {
                        "uncounted_at_end": db.execute(
                            "SELECT COUNT(*) FROM petitions_signature "
                            "WHERE state = 'validated' AND counted_at IS NULL"
                        ).fetchone()[0],
                        "queues_at_end": queue_lengths(args.redis),
                        "load_average": round(os.getloadavg()[0], 2),
                        "machine_cpu_busy_pct": round(100 * (busy - busy_before) / ticks_per_minute, 1),
                    }
                )
                busy_before = busy
                minute = len(live) - 1
                with load.lock:
                    records = list(load.records)
                row = latency_rows(records, start, minute + 1)[minute]
                row.update(memory_row([s for t, s in samples if t > start + minute * MINUTE]))
                row.update(live[minute])
                print(minute_line(row), flush=True)

        load.closed.set()
        for client in clients:
            client.join(timeout=120)
        failures = [c.failure for c in clients if c.failure is not None]
        if failures:
            raise RuntimeError(f"a client failed: {failures[0]!r}")
        drained = time.perf_counter() - end
        print("load stopped; waiting for the tally to count every confirmed signature", flush=True)
        catch_up = tally_wait(db, None)
        checks = exactness(db)
        validated_rows = checks["rows_by_state"].get("validated", 0)
        lag = tally_lag_by_minute(db, start_epoch)
    finally:
        stopping.set()
        if dispatcher is not None:
            dispatcher.join(timeout=10)
        processes.stop()
        db.close()
        redis_flush(args.redis)
        if not args.keep_db:
            database_drop(args.postgres, DATABASE)

    records = load.records
    rows = latency_rows(records, start, total_minutes)
    for minute, row in enumerate(rows):
        row.update(
            memory_row(
                [s for t, s in samples if start + minute * MINUTE < t <= start + (minute + 1) * MINUTE]
            )
        )
        row.update(live[minute])
        row["tally_lag_s"] = lag.get(minute)
    after_window = [r for r in records if r[2] >= end]
    end_state = {
        "errors": checks["fraudulent"]
        + checks["counted_but_not_validated"]
        + sum(1 for r in after_window if r[5]),
        "drift": checks["drift_petition_counts"]
        + checks["drift_constituency_journals"]
        + checks["drift_country_journals"],
        "confirmed": sum(1 for r in records if r[4] is not None),
        "validated_rows": validated_rows,
    }
    result = verdict(rows, target_rate=rate, end=end_state)
    measured = [row for row in rows if not row["warm_up"]]
    summary = {
        "minutes": args.minutes,
        "target_rate_per_s": rate,
        "achieved_rate_per_s": result["achieved_rate_per_s"],
        "errors": sum(row["errors"] for row in rows) + end_state["errors"],
        "drift": end_state["drift"],
        "sign_p95_ms_first_last": [measured[0]["sign_ms"]["p95"], measured[-1]["sign_ms"]["p95"]],
        "confirm_p95_ms_first_last": [measured[0]["confirm_ms"]["p95"], measured[-1]["confirm_ms"]["p95"]],
        "rss_growth_mb_max": max(memory_growth(rows).values(), default=None),
        "passed": result["passed"],
    }
    detail = {
        **results_meta("soak", soak_targets(rows, result, rate, end_state)),
        "summary": summary,
        "verdict": result,
        "criteria": {
            "warm_up_minutes": WARM_UP_MINUTES,
            "memory": f"each process's RSS in the last minute ≤ the first measured minute's × {MEMORY_FACTOR} "
            f"+ {MEMORY_SLACK_MB:g} MB, same pids; PostgreSQL: the site's backends' RSS less shared memory, summed, "
            "averaged over the minute's samples",
            "latency": f"sign and confirm p95 in the last minute ≤ {LATENCY_FACTOR} × the first measured minute's",
            "rate": f"confirmed signatures in the measured minutes ≥ {RATE_SHARE:.0%} of the target rate",
            "errors": "0, counting fraudulent and counted-but-not-validated rows",
            "counts": "no drift, and as many validated rows as confirmations the clients saw",
        },
        "minutes": rows,
        "end": {
            **end_state,
            "completed_after_the_window": len(after_window),
            "not_started_when_the_window_closed": load.not_started,
            "drain_s": round(drained, 2),
            "tally_catch_up_s": round(catch_up, 2),
            "exactness": checks,
        },
        "config": {
            "rate_per_s": rate,
            "peak_rate_per_s": peak,
            "peak_source": peak_source if not args.rate else "--rate given",
            "clients": args.clients,
            "gunicorn": f"gthread, {args.web_workers} workers x {args.web_threads} threads",
            "celery_worker_concurrency": args.celery_concurrency,
            "sample_interval_s": SAMPLE_INTERVAL,
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
    }
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(json.dumps(detail, indent=2) + "\n", encoding="utf-8")
    print()
    for c in result["checks"]:
        print(f"{'PASS' if c['passed'] else 'FAIL'}  {c['check']}: {c['detail']}")
    print(f"details in {RESULTS_FILE.relative_to(REPO_ROOT)}")
    print("BENCH soak " + json.dumps(summary, separators=(",", ":")), flush=True)
    if not result["passed"]:
        sys.exit(1)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted; the servers were stopped")
