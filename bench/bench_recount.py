"""Benchmark petition_recount: rebuilding a petition's count and journals from its signature rows.

Run from the repository root: ``.venv/bin/python bench/bench_recount.py``. It uses its own database: a fresh
SQLite file under var/bench/ unless BENCH_DATABASE_URL points at a PostgreSQL database it may fill and empty.
Median of 5 runs for 1,000, 10,000 and 100,000 validated signatures spread over all 650 constituencies.
The last line printed is ``BENCH recount {json}``; the same JSON is written to bench/results/recount.json.
"""

import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
(REPO_ROOT / "var" / "bench").mkdir(parents=True, exist_ok=True)
SQLITE = REPO_ROOT / "var" / "bench" / "recount.sqlite3"
if "BENCH_DATABASE_URL" not in os.environ:
    SQLITE.unlink(missing_ok=True)
os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL", f"sqlite:///{SQLITE}")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.summary import results_meta, target_row  # noqa: E402
from petitions.demo import SignatureFactory, _insert_signatures  # noqa: E402
from petitions.models import Petition, PetitionState  # noqa: E402
from petitions.services import petition_recount, reference_data_load  # noqa: E402

RUNS = 5
SIZES = (1_000, 10_000, 100_000)
RESULTS_FILE = REPO_ROOT / "bench" / "results" / "recount.json"


def main():
    call_command("migrate", verbosity=0)
    reference_data_load()
    factory = SignatureFactory(seed=7)
    now = timezone.now()
    results = {}
    for size in SIZES:
        petition = Petition.objects.create(action=f"Bench {size}", background="b", state=PetitionState.OPEN)
        for offset in range(0, size, 10_000):
            n = min(10_000, size - offset)
            _insert_signatures(
                factory.build(petition, n, now - timezone.timedelta(days=30), now, offset=offset)
            )
        timings = []
        for _ in range(RUNS):
            start = time.perf_counter()
            count = petition_recount(petition_id=petition.pk)
            timings.append(time.perf_counter() - start)
        assert count == size, (count, size)
        results[str(size)] = {"median_ms": round(statistics.median(timings) * 1000, 1), "runs": RUNS}
        print(
            f"recount of {size:>7,} signatures: median {results[str(size)]['median_ms']} ms over {RUNS} runs"
        )
        Petition.objects.filter(pk=petition.pk).delete()
    summary = {
        "database": connection.vendor,
        "python": platform.python_version(),
        "recount": results,
        "ms_per_1000_signatures_at_100k": round(results["100000"]["median_ms"] / 100, 2),
    }
    # No target was set for the recount; the figures are recorded so that a regression shows.
    figures = [
        target_row(
            f"recount of {size:,} signatures, ms (median)",
            results[str(size)]["median_ms"],
            key=f"recount.{size}",
        )
        for size in SIZES
    ]
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(json.dumps({**results_meta("recount", figures), **summary}, indent=2) + "\n")
    print("BENCH recount " + json.dumps(summary, separators=(",", ":")))


if __name__ == "__main__":
    main()
