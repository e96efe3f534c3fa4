"""Benchmark the read side: a petition with millions of signatures, its JSON, page and map, and browse and search.

Run from the repository root: ``.venv/bin/python bench/bench_read.py`` (or ``make bench-read``). Needs PostgreSQL
and Redis. It drops and recreates the database ``petitions_bench_read`` on BENCH_POSTGRES_URL (default
postgres://postgres@127.0.0.1:5432) and flushes the Redis database BENCH_REDIS_URL (default
redis://127.0.0.1:6379/14), the site's cache.

Setup: schema, reference data (650 constituencies, the countries), the demo's departments and topics, then with
COPY: --petitions (default 50,000) petitions in realistic states with long-tailed signature counts (as the
debates benchmark's), their constituency journals, topics and departments; one big open petition with
--big-signatures (default 6,000,000) validated signature rows over its 120 days so far, spread over all 650
constituencies and a few countries abroad, and a small open petition with --small-signatures (default 1,000).
The signature rows are generated here and streamed to COPY in chunks of a million, with the table's secondary
indexes and constraints dropped during the load and rebuilt after it, as a bulk load does. The petitions'
ConstituencyPetitionJournal, CountryPetitionJournal, signature counts and PetitionHourlyCount history are then
computed in SQL from those rows (INSERT … SELECT … GROUP BY), so they agree exactly, and checked. The big
petition has a published government response and a debate. Then VACUUM ANALYZE.

Measurement: in this process, with Django's test Client against bench.settings (production settings: DEBUG off,
cached templates, persistent database connection, Redis cache), over https, one request at a time. Each page is
warmed up first; a page that answers 404 is reported missing (null in the results) and the others are still
timed; any other answer but 200 stops the benchmark. Then --requests (default 200) requests per page are timed:
`/petitions/<big>.json`, `/petitions/<small>.json`, `/petitions/<big>`, `/petitions/<big>/map`,
`/petitions?state=open` (pages 1, 2 and 10 in turn) and `/petitions?state=open&q=<word>` (topic words in turn).

The last line printed is ``BENCH read {"petition_json_median_ms": …, "petition_json_small_median_ms": …,
"petition_page_median_ms": …, "map_median_ms": …, "list_p95_ms": …, "search_p95_ms": …}`` (targets: petition
JSON ≤ 30 ms median and within 1.5× of the small petition's; list and search p95 ≤ 100 ms); more detail goes to
bench/results/read.json. The exit status is 2 when a page was missing. --keep-db leaves the database behind and
--reuse-db times the pages again on it without the setup (for work on a page's speed). See docs/performance.md.
"""

import argparse
import contextlib
import itertools
import json
import math
import os
import platform
import random
import secrets
import signal
import sys
import time
from datetime import UTC, timedelta
from pathlib import Path
from urllib.parse import urlencode

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bench.bench_debates import copy_rows, journal_rows, petition_rows  # noqa: E402
from bench.bench_signing import database_drop, database_url, ms, percentile, redis_flush  # noqa: E402
from bench.summary import results_meta, target_row  # noqa: E402

RESULTS_FILE = REPO_ROOT / "bench" / "results" / "read.json"
VAR_DIR = REPO_ROOT / "var" / "bench" / "read"
#: What a --keep-db run set up, for --reuse-db.
SETUP_FILE = VAR_DIR / "setup.json"
DATABASE = "petitions_bench_read"
SEED = 2024
WARM_UP_ROUNDS = 3
COPY_CHUNK_ROWS = 1_000_000
WRITE_BATCH_ROWS = 20_000
BIG_DAYS_OPEN = 120
SMALL_DAYS_OPEN = 20
#: Share of signatures from abroad (no constituency), and the countries they come from with their weights.
ABROAD_SHARE = 0.03
ABROAD = (("US", 30), ("ES", 15), ("FR", 15), ("AU", 10), ("IE", 10), ("DE", 8), ("CA", 7), ("NZ", 5))
#: Every signature row gets these columns and no others (the table's required ones plus the tally's).
SIGNATURE_COLUMNS = (
    "petition_id",
    "name",
    "email",
    "canonical_email",
    "email_domain",
    "postcode",
    "country_id",
    "constituency_id",
    "state",
    "fraud_reason",
    "creator",
    "sponsor",
    "notify_by_email",
    "confirm_token",
    "unsubscribe_token",
    "email_count",
    "created_at",
    "updated_at",
    "validated_at",
    "counted_at",
    "email_failure",
)
SPONSORS = 5
LIST_PAGES = (1, 2, 10)
SEARCH_WORDS = ("sewage", "schools", "nurses", "housing", "trains", "badgers", "energy", "visas")
TARGET_PETITION_JSON_MEDIAN_MS = 30
TARGET_BIG_OVER_SMALL = 1.5
TARGET_LIST_P95_MS = 100
PAGES = ("petition_json", "petition_json_small", "petition_page", "map", "list", "search")
#: Which URL module serves each page, for the message when one answers 404.
PAGE_MODULES = {
    "petition_json": "petitions/urls.py (api.petition_json)",
    "petition_json_small": "petitions/urls.py (api.petition_json)",
    "petition_page": "petitions/urls.py (views.petition_detail)",
    "map": "petitions/urls.py (views.petition_map)",
    "list": "petitions/urls_browse.py",
    "search": "petitions/urls_browse.py",
}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    env = os.environ.get
    parser.add_argument("--petitions", type=int, default=int(env("BENCH_READ_PETITIONS", 50_000)))
    parser.add_argument(
        "--big-signatures",
        type=int,
        default=int(env("BENCH_READ_BIG_SIGNATURES", 6_000_000)),
        help="validated signature rows on the big petition",
    )
    parser.add_argument(
        "--small-signatures",
        type=int,
        default=int(env("BENCH_READ_SMALL_SIGNATURES", 1_000)),
        help="validated signature rows on the small petition",
    )
    parser.add_argument(
        "--requests",
        type=int,
        default=int(env("BENCH_READ_REQUESTS", 200)),
        help="timed requests per page",
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=float(env("BENCH_READ_MAX_SECONDS", 120)),
        help="stop timing a page after this long, even short of --requests",
    )
    parser.add_argument(
        "--postgres",
        default=env("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432"),
        help=f"server URL; the database {DATABASE} on it is dropped and recreated",
    )
    parser.add_argument(
        "--redis",
        default=env("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"),
        help="flushed before and after",
    )
    parser.add_argument(
        "--keep-db", action="store_true", help=f"leave {DATABASE} behind, for inspection or --reuse-db"
    )
    parser.add_argument(
        "--reuse-db",
        action="store_true",
        help=f"skip the setup and time the pages on the {DATABASE} a --keep-db run left (dropped after unless "
        "--keep-db again)",
    )
    args = parser.parse_args()
    if args.big_signatures < 1 + SPONSORS or args.small_signatures < 1 + SPONSORS:
        parser.error(f"each petition needs at least {1 + SPONSORS} signatures (its creator and sponsors)")
    return args


def environment(args) -> dict:
    return {
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DATABASE_URL": database_url(args.postgres, DATABASE),
        "REDIS_URL": args.redis,
        "SECRET_KEY": "bench-read-" + "x" * 50,
        "ALLOWED_HOSTS": "testserver,127.0.0.1,localhost",
        "SITE_URL": "https://petitions.example.org",
        "VAR_DIR": str(VAR_DIR),
        "LOG_LEVEL": "WARNING",
    }


# --- Setting up: the signature rows ----------------------------------------------------------------------------


def hourly_plan(rng: random.Random, total: int, first_hour, hours: int) -> list[tuple]:
    """(hour start, signatures) for each hour of a petition's life: a launch that fades over a week or two, a
    second wave when the press picks it up, a floor, and quiet nights (UK time, roughly UTC). The counts add
    up to `total` exactly (largest remainders)."""
    wave_day = rng.uniform(0.3, 0.7) * hours / 24
    weights = []
    for h in range(hours):
        day = h / 24
        level = 0.02 + math.exp(-day / 7) + 0.5 * math.exp(-(((day - wave_day) / 2) ** 2))
        clock = (first_hour + timedelta(hours=h)).hour
        weights.append(level * (0.12 if 1 <= clock <= 6 else 1.4 if 18 <= clock <= 21 else 1.0))
    scale = total / sum(weights)
    exact = [w * scale for w in weights]
    counts = [int(x) for x in exact]
    by_remainder = sorted(range(hours), key=lambda h: counts[h] - exact[h])
    for h in by_remainder[: total - sum(counts)]:
        counts[h] += 1
    return [(first_hour + timedelta(hours=h), n) for h, n in enumerate(counts) if n]


def signature_lines(rng: random.Random, *, petition_id: int, plan, places, cum_weights, first_number: int):
    """COPY text lines (SIGNATURE_COLUMNS) for one petition: validated and counted, the first its creator and
    the next SPONSORS its sponsors. `places` are "country<TAB>constituency" strings drawn by `cum_weights`.
    Numbers from `first_number` make the address and tokens unique across petitions."""
    number = first_number
    for hour, count in plan:
        prefix = hour.strftime("%Y-%m-%d %H:")
        for i, place in enumerate(rng.choices(places, cum_weights=cum_weights, k=count)):
            second = i * 3600 // count
            at = f"{prefix}{second // 60:02d}:{second % 60:02d}+00"
            rank = number - first_number
            creator = "t" if rank == 0 else "f"
            sponsor = "t" if 0 < rank <= SPONSORS else "f"
            notify = "t" if number % 3 else "f"
            yield (
                f"{petition_id}\tSigner {number}\ts{number}@example.com\ts{number}@example.com\texample.com\t\t"
                f"{place}\tvalidated\t\t{creator}\t{sponsor}\t{notify}\tc{number}\tu{number}\t0\t"
                f"{at}\t{at}\t{at}\t{at}\t\n"
            )
            number += 1


def signature_places(rng: random.Random, constituency_ids: list[int], countries: dict[str, int]):
    """The places signatures come from with cumulative weights: every constituency (unevenly: the busiest has
    a few times the quietest's share), and ABROAD_SHARE from a few countries."""
    gb = countries["GB"]
    home = [(f"{gb}\t{pk}", rng.random() ** 2 + 0.25) for pk in constituency_ids]
    home_total = sum(w for _, w in home)
    abroad_total = sum(w for _, w in ABROAD)
    weighted = [(place, (1 - ABROAD_SHARE) * w / home_total) for place, w in home]
    weighted += [(f"{countries[code]}\t\\N", ABROAD_SHARE * w / abroad_total) for code, w in ABROAD]
    return [p for p, _ in weighted], list(itertools.accumulate(w for _, w in weighted))


def signature_table_constraints_drop() -> list[str]:
    """Drop the signature table's secondary indexes and its unique and foreign key constraints (not the primary
    key); returns the statements that rebuild them, indexes first."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid), contype FROM pg_constraint "
            "WHERE conrelid = 'petitions_signature'::regclass AND contype IN ('u', 'f') ORDER BY contype DESC"
        )
        constraints = cursor.fetchall()
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'petitions_signature' "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint "
            "WHERE conrelid = 'petitions_signature'::regclass)"
        )
        indexes = cursor.fetchall()
        for name, _, _ in constraints:
            cursor.execute(f'ALTER TABLE petitions_signature DROP CONSTRAINT "{name}"')
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
    rebuild = [definition for _, definition in indexes]
    rebuild += [f'ALTER TABLE petitions_signature ADD CONSTRAINT "{n}" {d}' for n, d, _ in constraints]
    return rebuild


def signatures_copy(lines, *, label: str) -> int:
    """COPY `lines` into the signature table, one COPY (and transaction) per COPY_CHUNK_ROWS rows."""
    from django.db import connection, transaction

    columns = ", ".join(SIGNATURE_COLUMNS)
    total = 0
    started = time.monotonic()
    while True:
        chunk = 0
        with (
            transaction.atomic(),
            connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY petitions_signature ({columns}) FROM STDIN") as copy,
        ):
            for batch in iter(lambda: list(itertools.islice(lines, WRITE_BATCH_ROWS)), []):
                copy.write("".join(batch))
                chunk += len(batch)
                if chunk >= COPY_CHUNK_ROWS:
                    break
        total += chunk
        if chunk:
            print(f"    {label}: {total:,} rows ({time.monotonic() - started:.0f} s)", flush=True)
        if chunk < COPY_CHUNK_ROWS:
            return total


TALLY_SQL = (
    # Per constituency and per country, from the validated rows, as the tally job keeps them.
    """INSERT INTO petitions_constituencypetitionjournal (petition_id, constituency_id, signature_count,
           last_signed_at)
       SELECT petition_id, constituency_id, COUNT(*), MAX(validated_at) FROM petitions_signature
       WHERE petition_id = ANY(%(ids)s) AND state = 'validated' AND constituency_id IS NOT NULL
       GROUP BY petition_id, constituency_id""",
    """INSERT INTO petitions_countrypetitionjournal (petition_id, country_id, signature_count, last_signed_at)
       SELECT petition_id, country_id, COUNT(*), MAX(validated_at) FROM petitions_signature
       WHERE petition_id = ANY(%(ids)s) AND state = 'validated'
       GROUP BY petition_id, country_id""",
    # Signatures gained in each UTC hour: the history and the trending figure.
    """INSERT INTO petitions_petitionhourlycount (petition_id, hour, signature_count)
       SELECT petition_id, date_trunc('hour', validated_at, 'UTC'), COUNT(*) FROM petitions_signature
       WHERE petition_id = ANY(%(ids)s) AND state = 'validated'
       GROUP BY 1, 2""",
    """UPDATE petitions_petition p
       SET signature_count = s.n, last_signed_at = s.last, signature_count_validated_at = NOW()
       FROM (SELECT petition_id, COUNT(*) AS n, MAX(validated_at) AS last FROM petitions_signature
             WHERE petition_id = ANY(%(ids)s) AND state = 'validated' GROUP BY petition_id) s
       WHERE p.id = s.petition_id""",
)

#: Each petition's count against its rows, journals and history; every difference must be 0.
CONSISTENCY_SQL = """
    SELECT p.id, p.signature_count,
           (SELECT COUNT(*) FROM petitions_signature s WHERE s.petition_id = p.id AND s.state = 'validated'),
           (SELECT COALESCE(SUM(signature_count), 0) FROM petitions_countrypetitionjournal j
            WHERE j.petition_id = p.id),
           (SELECT COALESCE(SUM(signature_count), 0) FROM petitions_constituencypetitionjournal j
            WHERE j.petition_id = p.id)
           + (SELECT COUNT(*) FROM petitions_signature s
              WHERE s.petition_id = p.id AND s.state = 'validated' AND s.constituency_id IS NULL),
           (SELECT COALESCE(SUM(signature_count), 0) FROM petitions_petitionhourlycount h
            WHERE h.petition_id = p.id),
           (SELECT COUNT(*) FROM petitions_constituencypetitionjournal j WHERE j.petition_id = p.id)
    FROM petitions_petition p WHERE p.id = ANY(%(ids)s) ORDER BY p.id
"""


# --- Setting up: petitions ------------------------------------------------------------------------------------


def topic_rows(rng: random.Random, count: int, topic_ids: list[int]):
    pk = 0
    for petition_id in range(1, count + 1):
        for topic_id in rng.sample(topic_ids, rng.choice((0, 1, 1, 2))):
            pk += 1
            yield {"id": pk, "petition_id": petition_id, "topic_id": topic_id}


def department_rows(rng: random.Random, petitions: list[dict], department_ids: list[int]):
    """A department for each petition the government responded to or is to respond to."""
    pk = 0
    for petition in petitions:
        if petition.get("response_state") in ("awaiting", "responded"):
            pk += 1
            yield {"id": pk, "petition_id": petition["id"], "department_id": rng.choice(department_ids)}


def featured_petition_rows(first_id: int, now) -> tuple[dict, dict]:
    """The big petition (responded to and debated) and the small one, both open."""
    big_opened = (now - timedelta(days=BIG_DAYS_OPEN)).replace(minute=0, second=0, microsecond=0)
    small_opened = (now - timedelta(days=SMALL_DAYS_OPEN)).replace(minute=0, second=0, microsecond=0)
    big = {
        "id": first_id,
        "action": "Stop water companies dumping sewage in rivers and on beaches",
        "background": (
            "Water companies released untreated sewage into rivers and the sea hundreds of thousands of times "
            "last year. The Government should set legally binding targets and fine companies that miss them."
        ),
        "additional_details": (
            "Sewage spills harm wildlife, close beaches in summer and make swimmers ill. Storm overflows "
            "are meant for exceptional rainfall but are used routinely.\n\nWe ask for:\n\n"
            "- monitoring of every overflow, published live\n- fines that go to river restoration\n"
            "- a ban on bonuses while targets are missed"
        ),
        "state": "open",
        "sponsor_token": secrets.token_urlsafe(32),
        "created_at": big_opened - timedelta(days=9),
        "moderation_threshold_reached_at": big_opened - timedelta(days=8),
        "opened_at": big_opened,
        "deadline_at": big_opened + timedelta(days=182),
        "response_threshold_reached_at": big_opened + timedelta(hours=6),
        "response_state": "responded",
        "government_response_at": big_opened + timedelta(days=21),
        "debate_threshold_reached_at": big_opened + timedelta(days=1),
        "debate_state": "debated",
        "debate_outcome_at": big_opened + timedelta(days=60),
        "scheduled_debate_date": (big_opened + timedelta(days=59)).date(),
    }
    small = {
        "id": first_id + 1,
        "action": "Fund more rural buses so villages are not cut off",
        "background": "Many villages have lost their only bus. The Government should fund rural routes.",
        "state": "open",
        "sponsor_token": secrets.token_urlsafe(32),
        "created_at": small_opened - timedelta(days=6),
        "moderation_threshold_reached_at": small_opened - timedelta(days=5),
        "opened_at": small_opened,
        "deadline_at": small_opened + timedelta(days=182),
    }
    return big, small


def featured_extras(big: dict, constituency_ids: list[int], department_ids: list[int]) -> None:
    """The big petition's published government response, department, topic and debate."""
    from debates.models import EventKind, Outcome, ParliamentaryEvent
    from petitions.models import Petition, Topic
    from responses.models import GovernmentResponse, ResponseStatus

    petition = Petition.objects.get(pk=big["id"])
    petition.departments.add(department_ids[0])
    petition.topics.add(*Topic.objects.filter(code="environment"))
    GovernmentResponse.objects.create(
        petition=petition,
        responded_on=big["government_response_at"].date(),
        summary="The Government is taking action to cut sewage spills, with the toughest targets yet.",
        details="We have set targets for storm overflows.\n\n" * 20,
        department_id=department_ids[0],
        status=ResponseStatus.PUBLISHED,
        published_at=big["government_response_at"],
    )
    event = ParliamentaryEvent.objects.create(
        kind=EventKind.WESTMINSTER_HALL_DEBATE,
        title="Sewage in rivers and on beaches",
        starts_at=big["debate_outcome_at"] - timedelta(days=1),
        place="Westminster Hall",
        summary="MPs debated e-petition about sewage.",
        lead_mp_id=constituency_ids[0],
        outcome=Outcome.DEBATED,
        outcome_at=big["debate_outcome_at"],
        overview="MPs from all parties spoke.",
        video_url="https://parliamentlive.tv/event/index/1",
        transcript_url="https://hansard.parliament.uk/commons/debates/1",
        debate_pack_url="https://commonslibrary.parliament.uk/research-briefings/cdp-1/",
    )
    event.petitions.add(petition)


def site_prepare(args) -> dict:
    """Schema, reference data and the bulk rows. Returns what the requests need and the row counts."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.core.management.color import no_style
    from django.db import connection, transaction
    from django.utils import timezone

    from petitions.demo import DEPARTMENTS
    from petitions.demo import TOPICS as DEMO_TOPICS
    from petitions.models import (
        Constituency,
        ConstituencyPetitionJournal,
        Country,
        Department,
        Petition,
        Signature,
        SiteSettings,
        Topic,
    )
    from petitions.services import reference_data_load

    required = {f.attname for f in Signature._meta.concrete_fields if not f.null and not f.primary_key}
    if lacking := sorted(required - set(SIGNATURE_COLUMNS)):
        raise SystemExit(f"bench-read: add {lacking} to SIGNATURE_COLUMNS and signature_lines()")

    timings: dict[str, float] = {}
    counts: dict[str, int] = {}

    def step(name: str, started: float) -> None:
        timings[name] = time.monotonic() - started
        print(f"  {name.removesuffix('_s')}: {timings[name]:.0f} s", flush=True)

    started = time.monotonic()
    call_command("migrate", verbosity=0)
    reference_data_load()
    SiteSettings.load()
    for acronym, name, url in DEPARTMENTS:
        Department.objects.update_or_create(acronym=acronym, defaults={"name": name, "url": url})
    for code, name in DEMO_TOPICS:
        Topic.objects.update_or_create(code=code, defaults={"name": name})
    step("migrate_and_reference_data_s", started)

    rng = random.Random(SEED)
    now = timezone.now()
    constituency_ids = list(Constituency.objects.order_by("gss_code").values_list("pk", flat=True))
    countries = dict(Country.objects.values_list("code", "pk"))
    department_ids = list(Department.objects.order_by("pk").values_list("pk", flat=True))
    topic_ids = list(Topic.objects.order_by("pk").values_list("pk", flat=True))

    started = time.monotonic()
    with transaction.atomic():
        petitions = list(petition_rows(rng, args.petitions, now))
        big, small = featured_petition_rows(args.petitions + 1, now)
        counts["petitions"] = copy_rows(Petition, [*petitions, big, small])
        counts["constituency_journals_of_others"] = copy_rows(
            ConstituencyPetitionJournal,
            journal_rows(rng, [p["signature_count"] for p in petitions], constituency_ids),
        )
        counts["petition_topics"] = copy_rows(
            Petition.topics.through, topic_rows(rng, args.petitions, topic_ids)
        )
        counts["petition_departments"] = copy_rows(
            Petition.departments.through, department_rows(rng, petitions, department_ids)
        )
        with connection.cursor() as cursor:
            for sql in connection.ops.sequence_reset_sql(
                no_style(),
                [
                    Petition,
                    ConstituencyPetitionJournal,
                    Petition.topics.through,
                    Petition.departments.through,
                ],
            ):
                cursor.execute(sql)
        featured_extras(big, constituency_ids, department_ids)
    step("petitions_s", started)

    started = time.monotonic()
    rebuild = signature_table_constraints_drop()
    places, cum_weights = signature_places(rng, constituency_ids, countries)
    now_hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    number = 1
    for petition, total, label in (
        (big, args.big_signatures, "big"),
        (small, args.small_signatures, "small"),
    ):
        first_hour = petition["opened_at"].astimezone(UTC)
        plan = hourly_plan(rng, total, first_hour, int((now_hour - first_hour).total_seconds() // 3600))
        lines = signature_lines(
            rng,
            petition_id=petition["id"],
            plan=plan,
            places=places,
            cum_weights=cum_weights,
            first_number=number,
        )
        counts[f"signatures_{label}"] = signatures_copy(lines, label=f"{label} petition's signatures")
        number += total
    step("signatures_copy_s", started)

    started = time.monotonic()
    ids = {"ids": [big["id"], small["id"]]}
    with transaction.atomic(), connection.cursor() as cursor:
        for sql in TALLY_SQL:
            cursor.execute(sql, ids)
    step("tallies_s", started)

    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '256MB'")
        for sql in rebuild:
            cursor.execute(sql)
        cursor.execute("RESET maintenance_work_mem")
    counts["signature_indexes_and_constraints_rebuilt"] = len(rebuild)
    step("signature_indexes_s", started)

    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    step("vacuum_analyze_s", started)

    with connection.cursor() as cursor:
        cursor.execute(CONSISTENCY_SQL, ids)
        checks = cursor.fetchall()
        cursor.execute("SELECT pg_size_pretty(pg_total_relation_size('petitions_signature'))")
        signature_table_size = cursor.fetchone()[0]
        cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        database_size = cursor.fetchone()[0]
    consistency = {}
    for pk, count, rows, by_country, by_constituency_and_abroad, hourly, constituencies in checks:
        label = "big" if pk == big["id"] else "small"
        if not count == rows == by_country == by_constituency_and_abroad == hourly:
            raise SystemExit(
                f"bench-read: the {label} petition's tallies disagree: count {count}, rows {rows}, "
                f"countries {by_country}, constituencies and abroad {by_constituency_and_abroad}, hourly {hourly}"
            )
        consistency[label] = {"signature_count": count, "constituencies_with_signatures": constituencies}
    electorates = Constituency.objects.filter(electorate__isnull=False).count()
    return {
        "big": big["id"],
        "small": small["id"],
        "rows": counts,
        "petitions_checked": consistency,
        "constituencies_with_electorate": electorates,
        "signature_table_size": signature_table_size,
        "database_size": database_size,
        "setup_timings_s": {k: round(v, 1) for k, v in timings.items()},
    }


# --- Measuring ------------------------------------------------------------------------------------------------


def page_paths(page: str, big: int, small: int):
    """Endless (scenario, path) pairs for one page."""
    if page == "petition_json":
        return itertools.repeat(("big petition", f"/petitions/{big}.json"))
    if page == "petition_json_small":
        return itertools.repeat(("small petition", f"/petitions/{small}.json"))
    if page == "petition_page":
        return itertools.repeat(("big petition", f"/petitions/{big}"))
    if page == "map":
        return itertools.repeat(("big petition", f"/petitions/{big}/map"))
    if page == "list":
        return itertools.cycle(
            [
                (
                    f"open, page {n}",
                    "/petitions?" + urlencode({"state": "open"} | ({"page": n} if n > 1 else {})),
                )
                for n in LIST_PAGES
            ]
        )
    if page == "search":
        return itertools.cycle(
            [(f"q={word}", "/petitions?" + urlencode({"state": "open", "q": word})) for word in SEARCH_WORDS]
        )
    raise ValueError(page)


class PageMissing(Exception):
    pass


def fetch(client, page: str, path: str):
    response = client.get(path, secure=True)
    if response.status_code == 404:
        raise PageMissing(f"GET {path} answered 404: the page does not exist yet; check {PAGE_MODULES[page]}")
    if response.status_code != 200:
        raise SystemExit(f"bench-read: GET {path} answered {response.status_code}, not 200")
    return response


def measure(client, page: str, paths, *, scenarios: int, requests: int, max_seconds: float) -> dict:
    """Warm up (every scenario WARM_UP_ROUNDS times, counting queries), then time `requests` GETs one after
    another."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    queries: dict[str, set[int]] = {}
    sizes: dict[str, set[int]] = {}
    urls: dict[str, str] = {}
    for _ in range(scenarios * WARM_UP_ROUNDS):
        name, path = next(paths)
        urls[name] = path
        with CaptureQueriesContext(connection) as context:
            response = fetch(client, page, path)
        queries.setdefault(name, set()).add(len(context))
        sizes.setdefault(name, set()).add(len(response.content))
    timings: dict[str, list[float]] = {}
    started = time.monotonic()
    for _ in range(requests):
        name, path = next(paths)
        t0 = time.perf_counter()
        fetch(client, page, path)
        timings.setdefault(name, []).append(time.perf_counter() - t0)
        if time.monotonic() - started > max_seconds:
            break
    every = [t for values in timings.values() for t in values]
    return {
        "requests": len(every),
        "elapsed_s": round(time.monotonic() - started, 1),
        "median_ms": ms(percentile(every, 50)),
        "p95_ms": ms(percentile(every, 95)),
        "max_ms": ms(max(every)),
        "mean_ms": ms(sum(every) / len(every)),
        "scenarios": {
            name: {
                "path": urls[name],
                "requests": len(values),
                "median_ms": ms(percentile(values, 50)),
                "p95_ms": ms(percentile(values, 95)),
                "queries": sorted(queries.get(name, ())),
                "bytes": sorted(sizes.get(name, ())),
            }
            for name, values in timings.items()
        },
    }


def report(page: str, result: dict | None) -> None:
    if result is None:
        print(f"  {page:<20} missing (404)", flush=True)
        return
    print(
        f"  {page:<20} n={result['requests']:<4} median {result['median_ms']:>7} ms  p95 {result['p95_ms']:>7} ms"
        f"  max {result['max_ms']:>7} ms",
        flush=True,
    )
    for name, scenario in result["scenarios"].items():
        print(
            f"    {name:<18} {scenario['path']:<40} n={scenario['requests']:<4} median {scenario['median_ms']:>7} ms"
            f"  p95 {scenario['p95_ms']:>7} ms  queries {scenario['queries']}  bytes {scenario['bytes']}",
            flush=True,
        )


def targets(summary: dict) -> dict:
    big, small = summary["petition_json_median_ms"], summary["petition_json_small_median_ms"]
    return {
        "petition_json_median_ms <= 30": (None if big is None else big <= TARGET_PETITION_JSON_MEDIAN_MS),
        "petition_json within 1.5x of small": (
            None if big is None or not small else big <= TARGET_BIG_OVER_SMALL * small
        ),
        "list_p95_ms <= 100": None
        if summary["list_p95_ms"] is None
        else summary["list_p95_ms"] <= TARGET_LIST_P95_MS,
        "search_p95_ms <= 100": (
            None if summary["search_p95_ms"] is None else summary["search_p95_ms"] <= TARGET_LIST_P95_MS
        ),
    }


def read_targets(summary: dict) -> list[dict]:
    big, small = summary["petition_json_median_ms"], summary["petition_json_small_median_ms"]
    return [
        target_row(
            "petition JSON median ms (big petition)",
            big,
            "<=",
            TARGET_PETITION_JSON_MEDIAN_MS,
            key="petition_json_median_ms",
        ),
        target_row(
            "petition JSON, big ÷ small petition",
            None if big is None or not small else round(big / small, 3),
            "<=",
            TARGET_BIG_OVER_SMALL,
            key="petition_json_median_ms / petition_json_small_median_ms",
            unit="×",
        ),
        target_row(
            "petition page median ms", summary["petition_page_median_ms"], key="petition_page_median_ms"
        ),
        target_row("map median ms", summary["map_median_ms"], key="map_median_ms"),
        target_row("list p95 ms", summary["list_p95_ms"], "<=", TARGET_LIST_P95_MS, key="list_p95_ms"),
        target_row("search p95 ms", summary["search_p95_ms"], "<=", TARGET_LIST_P95_MS, key="search_p95_ms"),
    ]


def interrupted(signum, frame):
    raise KeyboardInterrupt


def database_reuse(args) -> dict:
    """The setup a --keep-db run left behind, brought up to the current migrations."""
    import django

    if not SETUP_FILE.exists():
        raise SystemExit(f"bench-read: no {SETUP_FILE.relative_to(REPO_ROOT)}; run once with --keep-db first")
    info = json.loads(SETUP_FILE.read_text(encoding="utf-8"))
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return info


def main() -> None:
    args = parse_args()
    signal.signal(signal.SIGTERM, interrupted)
    os.environ.update(environment(args))
    (VAR_DIR / "staticfiles").mkdir(parents=True, exist_ok=True)
    if args.reuse_db:
        print(f"reusing {DATABASE} as the last --keep-db run left it", flush=True)
    else:
        print(
            f"setting up {DATABASE}: migrate, reference data, {args.petitions:,} petitions, a big petition with "
            f"{args.big_signatures:,} signatures and a small one with {args.small_signatures:,}",
            flush=True,
        )
        SETUP_FILE.unlink(missing_ok=True)
        database_drop(args.postgres, DATABASE, create=True)
    redis_flush(args.redis)
    results: dict[str, dict | None] = {}
    missing: list[str] = []
    try:
        if args.reuse_db:
            info = database_reuse(args)
        else:
            setup_started = time.monotonic()
            info = site_prepare(args)
            info["setup_s"] = round(time.monotonic() - setup_started, 1)
            print(f"  set up in {info['setup_s']:.0f} s: {info['rows']}", flush=True)
            if args.keep_db:
                SETUP_FILE.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")

        from django.test import Client

        client = Client()
        load_before = os.getloadavg()
        print(
            f"timing {args.requests} requests per page, one at a time, after a warm-up "
            f"(load average {load_before[0]:.2f})",
            flush=True,
        )
        for page in PAGES:
            paths = page_paths(page, info["big"], info["small"])
            scenarios = {"list": len(LIST_PAGES), "search": len(SEARCH_WORDS)}.get(page, 1)
            try:
                results[page] = measure(
                    client,
                    page,
                    paths,
                    scenarios=scenarios,
                    requests=args.requests,
                    max_seconds=args.max_seconds,
                )
            except PageMissing as error:
                print(f"bench-read: {error}", file=sys.stderr, flush=True)
                results[page] = None
                missing.append(page)
            report(page, results[page])
    finally:
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        redis_flush(args.redis)
        if not args.keep_db:
            database_drop(args.postgres, DATABASE)
            SETUP_FILE.unlink(missing_ok=True)

    def figure(page: str, key: str):
        return results[page][key] if results.get(page) else None

    summary = {
        "petition_json_median_ms": figure("petition_json", "median_ms"),
        "petition_json_small_median_ms": figure("petition_json_small", "median_ms"),
        "petition_page_median_ms": figure("petition_page", "median_ms"),
        "map_median_ms": figure("map", "median_ms"),
        "list_p95_ms": figure("list", "p95_ms"),
        "search_p95_ms": figure("search", "p95_ms"),
    }
    met = targets(summary)
    detail = {
        **results_meta("read", read_targets(summary)),
        "summary": summary,
        "targets_met": met,
        "missing_pages": missing,
        "pages": results,
        "config": {
            "rows": info["rows"],
            "petitions_checked": info["petitions_checked"],
            "big_petition_id": info["big"],
            "small_petition_id": info["small"],
            "constituencies_with_electorate": info["constituencies_with_electorate"],
            "signature_table_size": info["signature_table_size"],
            "database_size": info["database_size"],
            "setup_s": info["setup_s"],
            "database_reused": args.reuse_db,
            "setup_timings_s": info["setup_timings_s"],
            "requests_per_page": args.requests,
            "client": "django.test.Client in process, one request at a time, https",
            "settings": "bench.settings (production: DEBUG off, cached templates, CONN_MAX_AGE, Redis cache)",
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_before_timing": load_before,
            "load_average_at_end": os.getloadavg(),
        },
    }
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(json.dumps(detail, indent=2) + "\n", encoding="utf-8")
    print(f"targets: {met}")
    print(f"details in {RESULTS_FILE.relative_to(REPO_ROOT)}")
    print("BENCH read " + json.dumps(summary, separators=(",", ":")), flush=True)
    if missing:
        sys.exit(2)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted")
