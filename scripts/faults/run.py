"""Fault injection with real processes: each scenario breaks one part of a running site and checks the outcome.

Run from the repository root: ``.venv/bin/python scripts/faults/run.py`` (or ``make faults``;
``FAULTS_ARGS="--only redis_stopped_while_signing"`` for one). Needs PostgreSQL's binaries
(/usr/lib/postgresql/*/bin) and redis-server, never the shared servers: the run makes its own PostgreSQL cluster
(initdb, as the postgres OS user when run as root) and its own Redis in a temporary folder, on free ports, and
removes them at the end, failure or Ctrl-C included.

Each scenario prints one line (PASS or FAIL and its figures); the last line is ``FAULTS {json}``. Results go to
bench/results/faults.json and to the marked section of docs/reliability.md. Exit status 1 if any scenario
failed.
"""

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from scripts.faults import (  # noqa: E402
    common,
    postgres_restarted,
    redis_stopped,
    tally_killed,
    worker_killed,
)

RESULTS_FILE = REPO_ROOT / "bench" / "results" / "faults.json"
DOC_FILE = REPO_ROOT / "docs" / "reliability.md"
BEGIN, END = "<!-- faults:begin -->", "<!-- faults:end -->"
SCENARIOS = {
    module.NAME: module for module in (redis_stopped, worker_killed, postgres_restarted, tally_killed)
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only", action="append", choices=sorted(SCENARIOS), help="run this scenario (repeatable)"
    )
    parser.add_argument(
        "--keep", action="store_true", help="leave the temporary folder (cluster, logs) behind"
    )
    parser.add_argument("--no-write", action="store_true", help="write neither faults.json nor the doc")
    parser.add_argument(
        "--real-sweeper",
        action="store_true",
        help="worker_killed_mid_fanout: wait for beat's own sweeper (2 min stall + up to 1 min) instead of "
        "running it with its clock moved on",
    )
    parser.add_argument(
        "--rewrite-doc",
        action="store_true",
        help="run nothing: rewrite the doc's results from bench/results/faults.json",
    )
    parser.add_argument(
        "--pg-mode",
        choices=("fast", "immediate"),
        default="fast",
        help="pg_ctl restart -m MODE (default fast)",
    )
    return parser.parse_args(argv)


def one_line(result: dict) -> str:
    verdict = "PASS" if result["passed"] else "FAIL"
    figures = result.get("summary") or {}
    text = ", ".join(f"{k}={v}" for k, v in figures.items())
    line = f"{verdict} {result['scenario']} ({result.get('elapsed_s', '?')} s): {text}"
    if result["failures"]:
        line += " | " + "; ".join(result["failures"])
    return line


def summary_of(result: dict) -> dict:
    """The few figures of each scenario that go in the one-line result and the doc's table."""
    name = result["scenario"]
    if "error" in result:
        return {"error": result["error"]}
    if name == redis_stopped.NAME:
        return {
            "signs": result["sign_requests"],
            "signs_while_down": result["sign_requests_while_down"],
            "non_thank_you": result["sign_requests"] - result["thank_you_pages"],
            "thank_you_without_row": result["thank_you_without_row"],
            "emails_missing": result["emails_missing"],
            "emails_duplicated": result["emails_duplicated"],
            "sign_p50_ms_while_down": result["sign_p50_ms_while_down"],
            "exited_and_restarted": ", ".join(result["restarted_after_outage"]) or "none",
        }
    if name == worker_killed.NAME:
        return {
            "signers": result["signers"],
            "killed_after_emails": result["killed_after_emails"],
            "all_received_after_s": result["all_received_after_s"],
            "missing": result["missing"],
            "duplicates": result["duplicates"],
        }
    if name == postgres_restarted.NAME:
        return {
            "signs": result["sign_requests"],
            "errors": result["errors"],
            "during_outage": ", ".join(f"{k}: {v}" for k, v in result["statuses_during_outage"].items()),
            "errors_outside_outage": result["errors_outside_outage"],
            "first_success_after_restart_s": result["recovery_s"]["first_success"],
            "errors_stopped_after_s": result["recovery_s"]["last_error"],
            "confirmed_lost": result["confirmed_before_restart_lost"],
            "drift": result["drift"],
        }
    if name == tally_killed.NAME:
        return {
            "rows": result["rows"],
            "counted_at_kill": result["counted_at_kill"],
            "drift_after_kill": result["drift_after_kill"],
            "caught_up_after_restart_s": result["caught_up_after_restart_s"],
            "drift_final": result["drift_final"],
        }
    return {}


def run(args) -> list[dict]:
    names = args.only or list(SCENARIOS)
    results = []
    print(f"faults: {', '.join(names)}", flush=True)
    with common.Env(keep=args.keep) as env:
        print(
            f"  own PostgreSQL on :{env.cluster.port}, own Redis on :{env.redis.port}, SMTP sink on :{env.smtp_port}"
            f" (folder {env.root})",
            flush=True,
        )
        for name in names:
            print(f"== {name}", flush=True)
            started = time.monotonic()
            options = {}
            if name == worker_killed.NAME:
                options["real_sweeper"] = args.real_sweeper
            if name == postgres_restarted.NAME:
                options["mode"] = args.pg_mode
            try:
                result = SCENARIOS[name].run(env, **options)
            except KeyboardInterrupt:
                raise
            except Exception as error:  # the scenario could not run at all: a failure, reported as one
                traceback.print_exc()
                result = {"scenario": name, "passed": False, "failures": [f"error: {error!r}"[:500]],
                          "error": type(error).__name__}  # fmt: skip
            if not result["passed"]:
                result["logs"] = logs_keep(env, name)
            result["elapsed_s"] = round(time.monotonic() - started, 1)
            result["summary"] = summary_of(result)
            print(one_line(result), flush=True)
            print("  detail: " + json.dumps({k: v for k, v in result.items() if k != "summary"}), flush=True)
            results.append(result)
    return results


def git(*args: str) -> str:
    """A read-only git query, or "" outside a checkout."""
    try:
        return subprocess.run(  # noqa: S603 -- git, fixed read-only arguments
            [shutil.which("git") or "git", *args],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def logs_keep(env: common.Env, name: str) -> str | None:
    """Copy a failed scenario's process logs to var/faults/<name>/ (the temporary folder goes at the end)."""
    source = env.root / "logs" / name
    if not source.exists():
        return None
    target = REPO_ROOT / "var" / "faults" / name
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("celerybeat-schedule*"))
    print(f"  logs kept in {target.relative_to(REPO_ROOT)}", flush=True)
    return str(target.relative_to(REPO_ROOT))


def write(results: list[dict]) -> dict:
    """Merge into bench/results/faults.json (scenarios not run keep their last result) and rewrite the doc."""
    previous = {}
    if RESULTS_FILE.exists():
        try:
            previous = json.loads(RESULTS_FILE.read_text())
        except ValueError:
            previous = {}
    scenarios = dict(previous.get("scenarios", {}))
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    for result in results:
        scenarios[result["scenario"]] = {**result, "run_at": now}
    data = {
        "date": now,
        "commit": git("rev-parse", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        },
        "scenarios": {name: scenarios[name] for name in SCENARIOS if name in scenarios},
    }
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(json.dumps(data, indent=2) + "\n")
    doc_update(data)
    return data


def doc_table(data: dict) -> str:
    machine = data["machine"]
    lines = [
        BEGIN,
        "",
        f"Written by `make faults` (scripts/faults/run.py); machine: {machine['cpus']} cores shared with other work, "
        f"Python {machine['python']}, load average {machine['load_average_at_end'][0]} at the end of the last run.",
        "",
        "| scenario | run at | result | s | figures |",
        "|---|---|---|---|---|",
    ]
    for name, result in data["scenarios"].items():
        figures = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in (result.get("summary") or {}).items())
        verdict = "pass" if result["passed"] else "FAIL: " + "; ".join(result["failures"])
        lines.append(f"| `{name}` | {result['run_at']} | {verdict} | {result['elapsed_s']} | {figures} |")
    lines += ["", END]
    return "\n".join(lines)


def doc_update(data: dict) -> None:
    text = DOC_FILE.read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    DOC_FILE.write_text(text[:start] + doc_table(data) + text[end:])


def interrupted(signum, frame):
    raise KeyboardInterrupt


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.rewrite_doc:
        data = json.loads(RESULTS_FILE.read_text())
        for result in data["scenarios"].values():
            result["summary"] = summary_of(result)
        RESULTS_FILE.write_text(json.dumps(data, indent=2) + "\n")
        doc_update(data)
        return 0
    reason = common.postgres_available()
    if reason:
        print(f"faults: cannot run here: {reason}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, interrupted)
    results = run(args)
    if not args.no_write:
        write(results)
    passed = all(r["passed"] for r in results)
    line = {r["scenario"]: {"passed": r["passed"], **r["summary"]} for r in results}
    print("FAULTS " + json.dumps(line, separators=(",", ":")))
    return 0 if passed else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit("interrupted; every process was stopped and the temporary folder removed")
