"""The benchmarks' results format, and a Markdown table of every figure beside its target.

Each benchmark writes bench/results/<name>.json with, next to its own detail, what `results_meta` returns: the
benchmark's name, the date, the git commit, the command that ran it and its targets, each as
``{"figure", "key", "value", "target", "met"}`` (``met`` is null when a figure has no target or was not
measured). Run ``.venv/bin/python bench/summary.py`` to print the table docs/performance.md keeps.
"""

import operator
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO_ROOT / "bench" / "results"

OPERATORS = {">=": ("≥", operator.ge), "<=": ("≤", operator.le), "==": ("=", operator.eq)}


def target_row(
    figure: str, value, op: str | None = None, threshold=None, *, key: str = "", unit: str = ""
) -> dict:
    """One figure and its target (`op` one of >=, <=, ==; none for a figure recorded without a target)."""
    if op is None:
        return {"figure": figure, "key": key, "value": value, "target": None, "met": None}
    symbol, compare = OPERATORS[op]
    return {
        "figure": figure,
        "key": key,
        "value": value,
        "target": f"{symbol} {threshold}{unit}",
        "met": None if value is None else bool(compare(value, threshold)),
    }


def judged(figure: str, value, target_text: str, met: bool | None, *, key: str = "") -> dict:
    """A figure whose target is not one threshold (the soak's memory rule), judged by the benchmark."""
    return {"figure": figure, "key": key, "value": value, "target": target_text, "met": met}


def git_commit() -> dict:
    """HEAD and whether the working tree differs from it (read-only: no index refresh is written)."""
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}
    executable = shutil.which("git")

    def git(*args: str) -> str | None:
        if executable is None:
            return None
        try:
            return subprocess.run(  # noqa: S603 -- fixed arguments
                [executable, *args],
                cwd=REPO_ROOT,
                env=env,
                capture_output=True,
                text=True,
                check=True,
                timeout=30,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None

    head = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": head, "dirty": None if status is None else bool(status)}


def command_line(argv: list[str] | None = None) -> str:
    argv = list(sys.argv if argv is None else argv)
    script = Path(argv[0]).resolve()
    if script.is_relative_to(REPO_ROOT):
        argv[0] = str(script.relative_to(REPO_ROOT))
    return " ".join([".venv/bin/python", *argv])


def results_meta(name: str, targets: list[dict], argv: list[str] | None = None) -> dict:
    """What every results file starts with: which benchmark, when, on which commit, how, and its targets."""
    judged = [t["met"] for t in targets if t["target"] is not None]
    return {
        "bench": name,
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        **git_commit(),
        "command": command_line(argv),
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "targets": targets,
        "all_targets_met": None if not judged or None in judged else all(judged),
    }


def figure_text(value) -> str:
    if value is None:
        return "not measured"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def markdown_table(results: list[dict]) -> str:
    """One row per figure of every results file, in the order given."""
    lines = [
        "| benchmark | figure | latest | target | met | command | date | commit |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        commit = (result.get("commit") or "?")[:7] + (" (modified)" if result.get("dirty") else "")
        targets = result.get("targets") or [
            {"figure": "(no targets recorded)", "value": None, "target": None}
        ]
        for row in targets:
            met = {True: "met", False: "**not met**", None: "—"}[row.get("met")]
            lines.append(
                f"| {result.get('bench', '?')} | {row['figure']} | {figure_text(row['value'])} "
                f"| {row['target'] or 'none'} | {met} | `{result.get('command', '?')}` "
                f"| {result.get('date', '?')} | {commit} |"
            )
    return "\n".join(lines) + "\n"


def results_read(directory: Path = RESULTS_DIR) -> list[dict]:
    import json

    found = []
    for path in sorted(directory.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        data.setdefault("bench", path.stem)
        found.append(data)
    return found


def main() -> None:
    results = results_read()
    if not results:
        sys.exit(
            f"no results in {RESULTS_DIR.relative_to(REPO_ROOT)}: run `make bench` (or one benchmark) first"
        )
    print(markdown_table(results), end="")


if __name__ == "__main__":
    main()
