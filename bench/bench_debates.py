"""Benchmark the pages MPs' offices browse: `/debates` with its filters and `/constituencies/<code>`.

Run from the repository root: ``.venv/bin/python bench/bench_debates.py`` (or ``make bench-debates``). Needs
PostgreSQL and Redis. It drops and recreates the database ``petitions_bench_debates`` on BENCH_POSTGRES_URL
(default postgres://postgres@127.0.0.1:5432) and flushes the Redis database BENCH_REDIS_URL (default
redis://127.0.0.1:6379/13), the site's cache.

Setup: schema, reference data (650 constituencies), the demo's departments, then with COPY: --petitions (default
50,000) petitions, mostly open or closed, with long-tailed signature counts (median about 30, a few over
100,000); for each petition with signatures, 5 to 50 ConstituencyPetitionJournal rows sharing most of its count;
--events (default 5,000) parliamentary events over three years back and six months ahead, each on 1 to 3
petitions (mostly the well signed ones). Then VACUUM ANALYZE, as a live database would have statistics.

Measurement: in this process, with Django's test Client against bench.settings (production settings: DEBUG off,
cached templates, persistent database connection, Redis cache), over https. Each page is warmed up first (every
scenario at least once; any answer but 200 stops the benchmark, with a clear message for a 404, meaning the view
is missing), then --requests (default 200) requests per page are timed one after another: `/debates` cycling
through no filter, a type, upcoming, a constituency, a text search, a minimum of signatures and a constituency
with a type; `/constituencies/<code>` for random constituencies. Each page stops early after --max-seconds.

The last line printed is ``BENCH debates {"browse_p95_ms": …, "constituency_p95_ms": …}`` (target: p95 ≤ 100 ms
for both); more detail goes to bench/results/debates.json. See docs/performance.md.
"""

import argparse
import contextlib
import enum
import json
import os
import platform
import random
import secrets
import signal
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bench.bench_signing import database_drop, database_url, ms, percentile, redis_flush  # noqa: E402
from bench.summary import results_meta, target_row  # noqa: E402

RESULTS_FILE = REPO_ROOT / "bench" / "results" / "debates.json"
VAR_DIR = REPO_ROOT / "var" / "bench" / "debates"
DATABASE = "petitions_bench_debates"
TARGET_P95_MS = 100
SEED = 2023
WARM_UP_ROUNDS = 2

#: Words petitions and events are about, so a text search finds some of them (each word in about 1 in 30).
TOPICS = [
    "schools",
    "teachers",
    "SEND",
    "autism",
    "nurses",
    "hospitals",
    "dentists",
    "doctors",
    "cancer",
    "vaccines",
    "carers",
    "disability",
    "pensions",
    "benefits",
    "housing",
    "rent",
    "tenants",
    "energy",
    "solar",
    "fuel",
    "rivers",
    "sewage",
    "beaches",
    "trees",
    "parks",
    "farming",
    "fishing",
    "badgers",
    "dogs",
    "cats",
    "horses",
    "buses",
    "trains",
    "roads",
    "potholes",
    "cycling",
    "police",
    "prisons",
    "knives",
    "immigration",
    "asylum",
    "visas",
    "voting",
    "elections",
    "broadband",
    "phones",
    "gambling",
    "alcohol",
    "vaping",
    "plastic",
    "recycling",
    "football",
    "festivals",
    "students",
    "tuition",
    "childcare",
    "wages",
]
VERBS = (
    "Ban",
    "Fund",
    "Protect",
    "Review",
    "Reform",
    "Support",
    "Stop cuts to",
    "Invest in",
    "Regulate",
    "Free",
)
EVENT_KINDS = (  # (kind, weight, place)
    ("westminster_hall_debate", 35, "Westminster Hall"),
    ("backbench_business_debate", 10, "House of Commons Chamber"),
    ("chamber_debate", 10, "House of Commons Chamber"),
    ("ministerial_statement", 15, "House of Commons Chamber"),
    ("select_committee_session", 15, "Committee Room 15, Palace of Westminster"),
    ("committee_report", 5, ""),
    ("call_for_evidence", 10, ""),
)
DEBATE_KINDS = {"westminster_hall_debate", "backbench_business_debate", "chamber_debate"}
TYPE_FILTERS = (
    "westminster_hall",
    "backbench_business",
    "chamber",
    "ministerial_statement",
    "select_committee",
)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    env = os.environ.get
    parser.add_argument("--petitions", type=int, default=int(env("BENCH_DEBATES_PETITIONS", 50_000)))
    parser.add_argument("--events", type=int, default=int(env("BENCH_DEBATES_EVENTS", 5_000)))
    parser.add_argument(
        "--requests",
        type=int,
        default=int(env("BENCH_DEBATES_REQUESTS", 200)),
        help="timed requests per page",
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=float(env("BENCH_DEBATES_MAX_SECONDS", 120)),
        help="stop timing a page after this long, even short of --requests",
    )
    parser.add_argument(
        "--postgres",
        default=env("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432"),
        help=f"server URL; the database {DATABASE} on it is dropped and recreated",
    )
    parser.add_argument(
        "--redis",
        default=env("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"),
        help="flushed before and after",
    )
    parser.add_argument("--keep-db", action="store_true", help=f"leave {DATABASE} behind for inspection")
    return parser.parse_args()


def environment(args) -> dict:
    return {
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DATABASE_URL": database_url(args.postgres, DATABASE),
        "REDIS_URL": args.redis,
        "SECRET_KEY": "bench-debates-" + "x" * 50,
        "ALLOWED_HOSTS": "testserver,127.0.0.1,localhost",
        "SITE_URL": "https://petitions.example.org",
        "VAR_DIR": str(VAR_DIR),
        "LOG_LEVEL": "WARNING",
    }


# --- Setting up: bulk rows with COPY ------------------------------------------------------------------------


def copy_rows(model, rows) -> int:
    """COPY `rows` (dicts by attname) into `model`'s table; a column a row leaves out gets the field's default
    (auto_now fields: now). Returns the number of rows."""
    from django.db import connection
    from django.utils import timezone

    now = timezone.now()
    fields = model._meta.concrete_fields
    defaults = {}
    for f in fields:
        default = (
            now if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False) else f.get_default()
        )
        defaults[f.attname] = default.value if isinstance(default, enum.Enum) else default
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    table = connection.ops.quote_name(model._meta.db_table)
    count = 0
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row.get(name, default) for name, default in defaults.items()])
            count += 1
    return count


def signature_count(rng: random.Random, state: str) -> int:
    if state == "rejected":
        return rng.randint(0, 5)
    # Long-tailed as on the real site: half under ~30, one in a hundred over ~5,000, a few over 100,000.
    return min(2_000_000, int(rng.lognormvariate(3.4, 2.3)))


def petition_rows(rng: random.Random, count: int, now):
    """Petition dicts with ids 1..count."""
    for pk in range(1, count + 1):
        draw = rng.random()
        state = "open" if draw < 0.35 else "closed" if draw < 0.9 else "rejected" if draw < 0.97 else "hidden"
        signatures = signature_count(rng, state)
        topic = rng.sample(TOPICS, 2)
        if state == "open":
            opened_at = now - timedelta(days=rng.uniform(1, 180))
        else:
            opened_at = now - timedelta(days=rng.uniform(190, 1_100))
        created_at = opened_at - timedelta(days=rng.uniform(2, 20))
        row = {
            "id": pk,
            "action": f"{rng.choice(VERBS)} {topic[0]} and {topic[1]} {pk}",
            "background": f"The Government should act on {topic[0]} and {topic[1]} now.",
            "state": state,
            "sponsor_token": secrets.token_urlsafe(32),
            "signature_count": signatures,
            "created_at": created_at,
            "moderation_threshold_reached_at": created_at + timedelta(hours=12),
        }
        if state == "rejected":
            row["rejected_at"] = created_at + timedelta(days=4)
        else:
            deadline = opened_at + timedelta(days=182)
            row.update(opened_at=opened_at, deadline_at=deadline, last_signed_at=min(now, deadline))
            if state in ("closed", "hidden"):
                row["closed_at"] = deadline
            if signatures >= 10_000:
                row["response_threshold_reached_at"] = opened_at + timedelta(days=10)
                responded = rng.random() < 0.8
                row["response_state"] = "responded" if responded else "awaiting"
                if responded:
                    row["government_response_at"] = opened_at + timedelta(days=60)
            if signatures >= 100_000:
                row["debate_threshold_reached_at"] = opened_at + timedelta(days=20)
                row["debate_state"] = rng.choices(
                    ("debated", "scheduled", "awaiting", "not_debated"), (50, 10, 30, 10)
                )[0]
        yield row


def journal_rows(rng: random.Random, counts: list[int], constituency_ids: list[int]):
    """For each petition with signatures, 5 to 50 constituencies (fewer when it has fewer signatures) sharing
    95% of them, unevenly."""
    pk = 0
    for petition_id, total in enumerate(counts, start=1):
        if total == 0:
            continue
        chosen = rng.sample(constituency_ids, min(rng.randint(5, 50), max(1, total)))
        weights = [rng.random() ** 3 + 0.01 for _ in chosen]
        scale = total * 0.95 / sum(weights)
        for constituency_id, weight in zip(chosen, weights, strict=True):
            pk += 1
            yield {
                "id": pk,
                "petition_id": petition_id,
                "constituency_id": constituency_id,
                "signature_count": int(weight * scale),
            }


def event_rows(rng: random.Random, count: int, now, constituency_ids: list[int], department_ids: list[int]):
    kinds = [k for k, _, _ in EVENT_KINDS]
    weights = [w for _, w, _ in EVENT_KINDS]
    places = {k: p for k, _, p in EVENT_KINDS}
    for pk in range(1, count + 1):
        kind = rng.choices(kinds, weights)[0]
        # Three years back to six months ahead: about one in seven is upcoming.
        starts_at = now + timedelta(days=rng.uniform(-1_095, 182), minutes=rng.choice((0, 30)))
        topic = rng.sample(TOPICS, 2)
        row = {
            "id": pk,
            "kind": kind,
            "title": f"MPs consider {topic[0]} and {topic[1]}",
            "starts_at": starts_at,
            "place": places[kind],
            "summary": f"MPs will look at **{topic[0]}** and {topic[1]}.\n\nPeople who signed petitions were heard.",
            "department_id": rng.choice(department_ids),
            "created_at": starts_at - timedelta(days=14),
        }
        if kind in DEBATE_KINDS:
            row["lead_mp_id"] = rng.choice(constituency_ids)
            row["debate_pack_url"] = f"https://commonslibrary.parliament.uk/research-briefings/cdp-{pk}/"
            if starts_at < now:
                debated = rng.random() < 0.9
                row.update(
                    outcome="debated" if debated else "not_debated",
                    outcome_at=starts_at + timedelta(days=1),
                    outcome_reason="" if debated else "The House did not sit.",
                )
                if debated:
                    row["video_url"] = f"https://parliamentlive.tv/event/index/{pk}"
                    row["transcript_url"] = f"https://hansard.parliament.uk/commons/debates/{pk}"
                    row["overview"] = f"MPs debated {topic[0]}."
        elif kind == "ministerial_statement":
            row["lead_mp_name"] = "The Secretary of State"
        elif kind in ("select_committee_session", "committee_report"):
            row["lead_mp_name"] = "Petitions Committee"
        else:
            row["evidence_deadline"] = starts_at + timedelta(days=21)
            row["evidence_url"] = f"https://committees.parliament.uk/call-for-evidence/{pk}/"
        yield row


def event_petition_rows(rng: random.Random, events: int, counts: list[int]):
    """Each event on 1 to 3 petitions: seven times in ten among the 5% most signed, as debates are."""
    ranked = sorted(range(1, len(counts) + 1), key=lambda pk: -counts[pk - 1])
    top = ranked[: max(1, len(ranked) // 20)]
    pk = 0
    for event_id in range(1, events + 1):
        chosen = set()
        for _ in range(rng.choices((1, 2, 3), (70, 20, 10))[0]):
            chosen.add(rng.choice(top) if rng.random() < 0.7 else rng.randint(1, len(counts)))
        for petition_id in sorted(chosen):
            pk += 1
            yield {"id": pk, "parliamentaryevent_id": event_id, "petition_id": petition_id}


def site_prepare(args) -> dict:
    """Schema, reference data and the bulk rows. Returns what the requests choose from and the row counts."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.core.management.color import no_style
    from django.db import connection, transaction
    from django.utils import timezone

    from debates.models import ParliamentaryEvent
    from petitions.demo import DEPARTMENTS
    from petitions.models import Constituency, ConstituencyPetitionJournal, Department, Petition, SiteSettings
    from petitions.services import reference_data_load

    call_command("migrate", verbosity=0)
    reference_data_load()
    SiteSettings.load()
    for acronym, name, url in DEPARTMENTS:
        Department.objects.update_or_create(acronym=acronym, defaults={"name": name, "url": url})
    rng = random.Random(SEED)
    now = timezone.now()
    constituencies = list(Constituency.objects.order_by("gss_code").values_list("pk", "gss_code"))
    constituency_ids = [pk for pk, _ in constituencies]
    department_ids = list(Department.objects.order_by("pk").values_list("pk", flat=True))
    through = ParliamentaryEvent.petitions.through
    counts: dict[str, int] = {}
    timings: dict[str, float] = {}
    with transaction.atomic():
        started = time.monotonic()
        petitions = list(petition_rows(rng, args.petitions, now))
        counts["petitions"] = copy_rows(Petition, petitions)
        signature_counts = [p["signature_count"] for p in petitions]
        timings["petitions_s"] = time.monotonic() - started
        started = time.monotonic()
        counts["journals"] = copy_rows(
            ConstituencyPetitionJournal, journal_rows(rng, signature_counts, constituency_ids)
        )
        timings["journals_s"] = time.monotonic() - started
        started = time.monotonic()
        counts["events"] = copy_rows(
            ParliamentaryEvent, event_rows(rng, args.events, now, constituency_ids, department_ids)
        )
        counts["event_petitions"] = copy_rows(
            through, event_petition_rows(rng, args.events, signature_counts)
        )
        timings["events_s"] = time.monotonic() - started
        with connection.cursor() as cursor:
            for sql in connection.ops.sequence_reset_sql(
                no_style(), [Petition, ConstituencyPetitionJournal, ParliamentaryEvent, through]
            ):
                cursor.execute(sql)
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    timings["vacuum_analyze_s"] = time.monotonic() - started
    return {
        "constituency_codes": [code for _, code in constituencies],
        "rows": counts,
        "setup_timings_s": {k: round(v, 1) for k, v in timings.items()},
    }


# --- Measuring ----------------------------------------------------------------------------------------------


def browse_scenarios(rng: random.Random, codes: list[str]):
    """Endless (scenario, path) pairs for `/debates`, cycling through the filters."""
    makers = (
        ("no filter", dict),
        ("type", lambda: {"type": rng.choice(TYPE_FILTERS)}),
        ("upcoming", lambda: {"when": "upcoming"}),
        ("constituency", lambda: {"constituency": rng.choice(codes)}),
        ("text", lambda: {"text": rng.choice(TOPICS)}),
        ("min_signatures", lambda: {"min_signatures": rng.choice((1_000, 10_000, 100_000))}),
        ("constituency+type", lambda: {"constituency": rng.choice(codes), "type": rng.choice(TYPE_FILTERS)}),
    )
    while True:
        for name, make in makers:
            query = make()
            yield name, "/debates" + (f"?{urlencode(query)}" if query else "")


def constituency_paths(rng: random.Random, codes: list[str]):
    while True:
        yield "constituency", f"/constituencies/{rng.choice(codes)}"


class PageMissing(Exception):
    pass


def fetch(client, path: str):
    response = client.get(path, secure=True)
    if response.status_code == 404:
        raise PageMissing(
            f"GET {path} answered 404: the page does not exist yet (or the constituency is unknown). "
            "Check debates/urls_browse.py and debates/urls_constituencies.py route it to a view."
        )
    if response.status_code != 200:
        raise PageMissing(f"GET {path} answered {response.status_code}, not 200")
    return response


def measure(client, paths, *, warm_up: int, requests: int, max_seconds: float) -> dict:
    """Warm up (checking answers and counting queries), then time `requests` GETs one after another."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    queries: dict[str, list[int]] = {}
    for _ in range(warm_up):
        name, path = next(paths)
        with CaptureQueriesContext(connection) as context:
            fetch(client, path)
        queries.setdefault(name, []).append(len(context))
    timings: dict[str, list[float]] = {}
    started = time.monotonic()
    for _ in range(requests):
        name, path = next(paths)
        t0 = time.perf_counter()
        fetch(client, path)
        timings.setdefault(name, []).append(time.perf_counter() - t0)
        if time.monotonic() - started > max_seconds:
            break
    every = [t for values in timings.values() for t in values]
    return {
        "requests": len(every),
        "elapsed_s": round(time.monotonic() - started, 1),
        "p50_ms": ms(percentile(every, 50)),
        "p95_ms": ms(percentile(every, 95)),
        "max_ms": ms(max(every)),
        "mean_ms": ms(sum(every) / len(every)),
        "scenarios": {
            name: {
                "requests": len(values),
                "p50_ms": ms(percentile(values, 50)),
                "p95_ms": ms(percentile(values, 95)),
                "queries": sorted(set(queries.get(name, []))),
            }
            for name, values in timings.items()
        },
    }


def report(label: str, result: dict) -> None:
    print(
        f"  {label}: {result['requests']} requests in {result['elapsed_s']} s, p50 {result['p50_ms']} ms, "
        f"p95 {result['p95_ms']} ms, max {result['max_ms']} ms",
        flush=True,
    )
    for name, scenario in result["scenarios"].items():
        print(
            f"    {name:<18} n={scenario['requests']:<4} p50 {scenario['p50_ms']:>7} ms  p95 {scenario['p95_ms']:>7} ms"
            f"  queries {scenario['queries']}",
            flush=True,
        )


def interrupted(signum, frame):
    raise KeyboardInterrupt


def main() -> None:
    args = parse_args()
    signal.signal(signal.SIGTERM, interrupted)
    os.environ.update(environment(args))
    (VAR_DIR / "staticfiles").mkdir(parents=True, exist_ok=True)
    print(
        f"setting up {DATABASE}: migrate, reference data, {args.petitions} petitions with constituency journals, "
        f"{args.events} events",
        flush=True,
    )
    database_drop(args.postgres, DATABASE, create=True)
    redis_flush(args.redis)
    try:
        setup_started = time.monotonic()
        info = site_prepare(args)
        setup_s = time.monotonic() - setup_started
        print(f"  set up in {setup_s:.0f} s: {info['rows']} {info['setup_timings_s']}", flush=True)

        from django.test import Client

        client = Client()
        rng = random.Random(SEED + 1)
        codes = info["constituency_codes"]
        print(f"/debates: {args.requests} requests, filters cycled", flush=True)
        browse = measure(
            client,
            browse_scenarios(rng, codes),
            warm_up=7 * WARM_UP_ROUNDS,
            requests=args.requests,
            max_seconds=args.max_seconds,
        )
        report("/debates", browse)
        print(f"/constituencies/<code>: {args.requests} requests, random constituencies", flush=True)
        constituency = measure(
            client,
            constituency_paths(rng, codes),
            warm_up=7 * WARM_UP_ROUNDS,
            requests=args.requests,
            max_seconds=args.max_seconds,
        )
        report("/constituencies/<code>", constituency)
    except PageMissing as error:
        print(f"bench-debates: {error}", file=sys.stderr, flush=True)
        sys.exit(2)
    finally:
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        redis_flush(args.redis)
        if not args.keep_db:
            database_drop(args.postgres, DATABASE)

    summary = {"browse_p95_ms": browse["p95_ms"], "constituency_p95_ms": constituency["p95_ms"]}
    figures = [
        target_row("/debates p95 ms", summary["browse_p95_ms"], "<=", TARGET_P95_MS, key="browse_p95_ms"),
        target_row(
            "/constituencies/<code> p95 ms",
            summary["constituency_p95_ms"],
            "<=",
            TARGET_P95_MS,
            key="constituency_p95_ms",
        ),
    ]
    detail = {
        **results_meta("debates", figures),
        "summary": summary,
        "target_p95_ms": TARGET_P95_MS,
        "met": all(v is not None and v <= TARGET_P95_MS for v in summary.values()),
        "browse": browse,
        "constituency": constituency,
        "config": {
            "rows": info["rows"],
            "setup_s": round(setup_s, 1),
            "setup_timings_s": info["setup_timings_s"],
            "requests_per_page": args.requests,
            "client": "django.test.Client in process, one request at a time, https",
            "settings": "bench.settings (production: DEBUG off, cached templates, CONN_MAX_AGE, Redis cache)",
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_end": os.getloadavg(),
        },
    }
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(json.dumps(detail, indent=2) + "\n", encoding="utf-8")
    print(f"details in {RESULTS_FILE.relative_to(REPO_ROOT)}")
    print("BENCH debates " + json.dumps(summary, separators=(",", ":")), flush=True)


if __name__ == "__main__":
    main()
