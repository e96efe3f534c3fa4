"""The benchmark scripts' pure parts: they import, the results table renders, the soak's verdict judges.

The benchmarks themselves need PostgreSQL, Redis and minutes of load (make bench, make soak); these tests
need neither.
"""

import importlib
import json

import pytest

from bench import soak, summary

BENCH_MODULES = ["bench_signing", "bench_email", "bench_debates", "bench_read", "bench_postcodes", "soak"]


@pytest.mark.parametrize("name", BENCH_MODULES)
def test_bench_modules_import(name):
    module = importlib.import_module(f"bench.{name}")
    assert callable(module.main)


def test_faults_helpers_keep_their_names():
    """scripts/faults imports these from the signing and email benchmarks."""
    from bench import bench_email, bench_signing

    for name in ("database_drop", "database_url", "free_port", "redis_flush", "environment", "Processes"):
        assert callable(getattr(bench_signing, name))
    for name in ("database_drop", "database_url", "free_port", "redis_flush"):
        assert getattr(bench_email, name) is getattr(bench_signing, name)


def test_target_row_judges_each_operator():
    assert summary.target_row("rate", 310.0, ">=", 300)["met"] is True
    assert summary.target_row("rate", 103.8, ">=", 300) == {
        "figure": "rate",
        "key": "",
        "value": 103.8,
        "target": "≥ 300",
        "met": False,
    }
    assert summary.target_row("p95", 100, "<=", 100, unit=" ms")["target"] == "≤ 100 ms"
    assert summary.target_row("p95", 100.1, "<=", 100)["met"] is False
    assert summary.target_row("errors", 1, "==", 0)["met"] is False
    assert summary.target_row("p95", None, "<=", 100)["met"] is None
    assert summary.target_row("lookup", 14.5)["target"] is None


def test_results_meta_records_date_commit_command_and_verdict():
    targets = [summary.target_row("a", 1, "==", 1), summary.target_row("b", 2)]
    meta = summary.results_meta(
        "x", targets, argv=[str(summary.REPO_ROOT / "bench" / "x.py"), "--minutes", "1"]
    )
    assert meta["bench"] == "x"
    assert meta["command"] == ".venv/bin/python bench/x.py --minutes 1"
    assert meta["date"].endswith("Z")
    assert meta["commit"] is None or len(meta["commit"]) == 40
    assert meta["all_targets_met"] is True
    assert (
        summary.results_meta("x", [summary.target_row("a", 2, "==", 1)], argv=["x"])["all_targets_met"]
        is False
    )
    assert summary.results_meta("x", [summary.target_row("b", 2)], argv=["x"])["all_targets_met"] is None


def test_markdown_table_from_results_files(tmp_path):
    signing = {
        "bench": "signing",
        "date": "2026-11-29T03:19:00Z",
        "commit": "85acc7b0000000000000000000000000000000000",
        "dirty": False,
        "command": ".venv/bin/python bench/bench_signing.py",
        "targets": [
            summary.target_row("confirmed signatures/s", 103.8, ">=", 300),
            summary.target_row("errors", 0, "==", 0),
        ],
    }
    (tmp_path / "signing.json").write_text(json.dumps(signing))
    (tmp_path / "faults.json").write_text(json.dumps({"date": "2026-11-29T07:00:00Z"}))  # no targets

    table = summary.markdown_table(summary.results_read(tmp_path))

    lines = table.splitlines()
    assert lines[0] == "| benchmark | figure | latest | target | met | command | date | commit |"
    assert lines[2] == (
        "| faults | (no targets recorded) | not measured | none | — | `?` | 2026-11-29T07:00:00Z | ? |"
    )
    assert lines[3] == (
        "| signing | confirmed signatures/s | 103.8 | ≥ 300 | **not met** | `.venv/bin/python bench/bench_signing.py` "
        "| 2026-11-29T03:19:00Z | 85acc7b |"
    )
    assert lines[4].startswith("| signing | errors | 0 | = 0 | met |")
    assert len(lines) == 5


# --- The soak's verdict ----------------------------------------------------------------------------------------


def minute(n, *, signatures=3120, sign_p95=120.0, confirm_p95=80.0, errors=0, rss=None, pids=None):
    rss = rss or {"gunicorn worker 1": 90.0, "celery worker": 70.0, soak.POSTGRES: 100.0}
    return {
        "minute": n,
        "warm_up": n < soak.WARM_UP_MINUTES,
        "signatures": signatures,
        "sign_ms": {"p50": 40.0, "p95": sign_p95},
        "confirm_ms": {"p50": 30.0, "p95": confirm_p95},
        "errors": errors,
        "rss_mb": rss,
        "pids": pids or {"gunicorn worker 1": 101, "celery worker": 102},
    }


END = {"errors": 0, "drift": 0, "confirmed": 3120 * 11, "validated_rows": 3120 * 11}


def failed(result):
    return [c["check"] for c in result["checks"] if not c["passed"]]


def test_soak_verdict_passes_flat_rows():
    rows = [minute(n) for n in range(11)]
    result = soak.verdict(rows, target_rate=52.0, end=END)
    assert result["passed"], result["checks"]
    assert result["achieved_rate_per_s"] == 52.0


def test_soak_verdict_ignores_the_warm_up_minute():
    # The warm-up is slow and hungry; only measured minutes are compared.
    rows = [
        minute(0, sign_p95=900.0, rss={"gunicorn worker 1": 10.0, "celery worker": 10.0, soak.POSTGRES: 5.0})
    ]
    rows += [minute(n) for n in range(1, 11)]
    assert soak.verdict(rows, target_rate=52.0, end=END)["passed"]


def test_soak_verdict_memory_limit_is_ten_percent_plus_ten_mb():
    limit = 90.0 * 1.10 + 10  # 109 MB
    ok = [minute(n) for n in range(10)] + [
        minute(10, rss={"gunicorn worker 1": limit, "celery worker": 70.0, soak.POSTGRES: 100.0})
    ]
    assert soak.verdict(ok, target_rate=52.0, end=END)["passed"]
    leak = ok[:-1] + [
        minute(10, rss={"gunicorn worker 1": limit + 0.1, "celery worker": 70.0, soak.POSTGRES: 100.0})
    ]
    assert failed(soak.verdict(leak, target_rate=52.0, end=END)) == ["memory flat: gunicorn worker 1"]


def test_soak_verdict_fails_a_postgres_leak_and_a_missing_process():
    rows = [minute(n) for n in range(10)] + [
        minute(10, rss={"gunicorn worker 1": 90.0, soak.POSTGRES: 121.0})
    ]
    assert failed(soak.verdict(rows, target_rate=52.0, end=END)) == [
        "memory flat: celery worker",
        f"memory flat: {soak.POSTGRES}",
    ]


def test_soak_verdict_fails_a_restarted_process():
    rows = [minute(n) for n in range(10)] + [
        minute(10, pids={"gunicorn worker 1": 999, "celery worker": 102})
    ]
    result = soak.verdict(rows, target_rate=52.0, end=END)
    assert failed(result) == ["no process restarted"]


def test_soak_verdict_latency_limit_is_one_and_a_half_times_the_first_minute():
    rows = [minute(n) for n in range(10)] + [minute(10, sign_p95=180.0, confirm_p95=120.0)]
    assert soak.verdict(rows, target_rate=52.0, end=END)["passed"]
    rows[-1] = minute(10, sign_p95=180.1, confirm_p95=120.1)
    assert failed(soak.verdict(rows, target_rate=52.0, end=END)) == [
        "latency flat: sign p95",
        "latency flat: confirm p95",
    ]


def test_soak_verdict_rate_must_reach_95_percent():
    rows = [minute(0)] + [minute(n, signatures=2964) for n in range(1, 11)]  # 49.4/s = 95% of 52
    assert soak.verdict(rows, target_rate=52.0, end=END)["passed"]
    rows = [minute(0)] + [minute(n, signatures=2963) for n in range(1, 11)]
    assert failed(soak.verdict(rows, target_rate=52.0, end=END)) == ["rate held"]


def test_soak_verdict_fails_errors_anywhere_and_inexact_counts():
    rows = [minute(0, errors=1)] + [minute(n) for n in range(1, 11)]
    assert failed(soak.verdict(rows, target_rate=52.0, end=END)) == ["no errors"]
    rows = [minute(n) for n in range(11)]
    assert failed(soak.verdict(rows, target_rate=52.0, end={**END, "errors": 2})) == ["no errors"]
    assert failed(soak.verdict(rows, target_rate=52.0, end={**END, "drift": 1})) == ["counts exact"]
    lost = {**END, "validated_rows": END["confirmed"] - 1}
    assert failed(soak.verdict(rows, target_rate=52.0, end=lost)) == ["counts exact"]


def test_soak_verdict_needs_a_measured_minute():
    result = soak.verdict([minute(0)], target_rate=52.0, end=END)
    assert not result["passed"]
    assert failed(result) == ["measured minutes"]


def test_soak_latency_rows_bucket_by_finish_time():
    start = 1000.0
    records = [
        # (scheduled, started, finished, sign s, confirm s, error)
        (1000.0, 1000.0, 1000.2, 0.1, 0.05, None),
        (1059.9, 1060.0, 1060.3, 0.2, 0.1, None),  # finished in minute 1
        (1070.0, 1070.5, 1070.9, None, None, "sign HTTP 500"),
        (1119.9, 1119.9, 1120.4, 0.1, 0.1, None),  # after the window: not in any minute
    ]
    rows = soak.latency_rows(records, start, 2)
    assert [r["signatures"] for r in rows] == [1, 1]
    assert rows[0]["warm_up"] and not rows[1]["warm_up"]
    assert rows[1]["errors"] == 1
    assert rows[1]["error_kinds"] == {"sign HTTP 500": 1}
    assert rows[1]["sign_ms"]["p95"] == 200.0
    assert rows[1]["start_delay_ms"]["max"] == 500.0


def test_soak_peak_rate_from_signing_results(tmp_path):
    path = tmp_path / "signing.json"
    assert soak.peak_rate(path)[0] == soak.RECORDED_PEAK_RATE
    path.write_text(json.dumps({"summary": {"signatures_per_s": 120.4}}))
    assert soak.peak_rate(path)[0] == 120.4
