"""Benchmark petitions.postcodes: table load time and 100k lookups (median of 5 runs).

Run from the repository root: ``.venv/bin/python bench/bench_postcodes.py``. Does not import Django.
The last line printed is ``BENCH postcodes {json}``; the same JSON is written to bench/results/postcodes.json.
"""

import csv
import json
import platform
import statistics
import sys
import time
import tracemalloc
from itertools import cycle, islice
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bench.summary import results_meta, target_row  # noqa: E402
from petitions import postcodes  # noqa: E402

RUNS = 5
LOOKUPS = 100_000
RESULTS_FILE = REPO_ROOT / "bench" / "results" / "postcodes.json"


def example_postcodes() -> list[str]:
    with postcodes.EXAMPLES_CSV.open(newline="", encoding="utf-8") as handle:
        return [row["postcode"] for row in csv.DictReader(handle)]


def time_load() -> float:
    postcodes.load_tables.cache_clear()
    start = time.perf_counter()
    postcodes.load_tables()
    return time.perf_counter() - start


def time_lookups(inputs: list[str]) -> float:
    lookup = postcodes.lookup
    start = time.perf_counter()
    for raw in inputs:
        lookup(raw)
    return time.perf_counter() - start


def table_memory_bytes() -> int:
    postcodes.load_tables.cache_clear()
    tracemalloc.start()
    postcodes.load_tables()
    size, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return size


def main() -> None:
    examples = example_postcodes()
    # Lower-cased and unspaced, so every lookup also pays for normalisation.
    inputs = list(islice(cycle(p.lower().replace(" ", "") for p in examples), LOOKUPS))

    load_runs, lookup_runs = [], []
    for _ in range(RUNS):
        load_runs.append(time_load())  # leaves the tables loaded for the lookups
        lookup_runs.append(time_lookups(inputs))

    load_s = statistics.median(load_runs)
    lookups_s = statistics.median(lookup_runs)
    tables = postcodes.load_tables()
    match = postcodes.example_match_share()
    result = {
        "python": platform.python_version(),
        "runs": RUNS,
        "lookups": LOOKUPS,
        "distinct_postcodes": len(examples),
        "load_ms": round(load_s * 1000, 2),
        "lookups_ms": round(lookups_s * 1000, 2),
        "lookup_us": round(lookups_s / LOOKUPS * 1e6, 3),
        "lookups_per_s": round(LOOKUPS / lookups_s),
        "load_plus_lookups_ms": round((load_s + lookups_s) * 1000, 2),
        "table_memory_mb": round(table_memory_bytes() / 1e6, 2),
        "rows": {
            "exceptions": len(tables.exceptions),
            "sectors": len(tables.sectors),
            "districts": len(tables.districts),
        },
        "example_match": {"matched": match.matched, "total": match.total, "share": round(match.share, 4)},
    }

    # No target was set for the lookup; the figures are recorded so that a regression shows.
    figures = [
        target_row("table load ms (median)", result["load_ms"], key="load_ms"),
        target_row("one lookup µs", result["lookup_us"], key="lookup_us"),
        target_row("example postcodes matched", result["example_match"]["share"], key="example_match.share"),
    ]
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(
        json.dumps({**results_meta("postcodes", figures), **result}, indent=2) + "\n", encoding="utf-8"
    )
    print(f"load: median {result['load_ms']} ms of {RUNS} runs")
    print(f"{LOOKUPS} lookups: median {result['lookups_ms']} ms ({result['lookup_us']} us each)")
    print(f"BENCH postcodes {json.dumps(result, separators=(',', ':'))}")


if __name__ == "__main__":
    main()
