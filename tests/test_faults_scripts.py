"""The fault-injection scripts (`make faults`, scripts/faults/): they import, the doc they rewrite has its markers,
and the private servers they break start, restart and stop for real. The scenarios themselves take minutes and
run with `make faults`, not here."""

import importlib
import json
import socket
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from scripts.faults import common, run  # noqa: E402

SCENARIOS = [
    "redis_stopped_while_signing",
    "worker_killed_mid_fanout",
    "postgres_restarted_under_load",
    "tally_killed_mid_run",
]


def test_every_scenario_is_registered_with_a_module():
    assert list(run.SCENARIOS) == SCENARIOS
    for name, module in run.SCENARIOS.items():
        assert name == importlib.import_module(module.__name__).NAME
        assert callable(module.run)


def test_only_accepts_the_scenario_names():
    assert run.parse_args(["--only", SCENARIOS[0], "--only", SCENARIOS[3]]).only == [
        SCENARIOS[0],
        SCENARIOS[3],
    ]
    with pytest.raises(SystemExit):
        run.parse_args(["--only", "no_such_scenario"])


def test_the_doc_has_one_results_section_between_markers():
    text = run.DOC_FILE.read_text()
    assert text.count(run.BEGIN) == 1
    assert text.count(run.END) == 1
    assert text.index(run.BEGIN) < text.index(run.END)
    for name in SCENARIOS:
        assert f"`{name}`" in text.split(run.BEGIN)[0], f"{name} is not described above the results"


def test_the_results_table_lists_each_scenario_with_its_figures():
    data = {
        "machine": {"cpus": 2, "python": "3.11.7", "load_average_at_end": [1.5, 1.0, 0.5]},
        "scenarios": {
            SCENARIOS[0]: {"passed": True, "failures": [], "run_at": "2026-01-02 03:04 UTC", "elapsed_s": 50.1,
                           "summary": {"emails_missing": 0}},
            SCENARIOS[3]: {"passed": False, "failures": ["drift 3"], "run_at": "2026-01-02 03:05 UTC",
                           "elapsed_s": 60.0, "summary": {"drift_final": 3}},
        },
    }  # fmt: skip
    table = run.doc_table(data)
    assert table.startswith(run.BEGIN) and table.endswith(run.END)
    assert f"| `{SCENARIOS[0]}` | 2026-01-02 03:04 UTC | pass | 50.1 | emails missing 0 |" in table
    assert f"| `{SCENARIOS[3]}` | 2026-01-02 03:05 UTC | FAIL: drift 3 | 60.0 | drift final 3 |" in table
    assert "2 cores" in table


def test_a_recorded_results_file_is_well_formed():
    if not run.RESULTS_FILE.exists():
        pytest.skip("no bench/results/faults.json yet (make faults writes it)")
    data = json.loads(run.RESULTS_FILE.read_text())
    assert set(data["scenarios"]) <= set(SCENARIOS)
    for result in data["scenarios"].values():
        assert result["passed"] == (not result["failures"])


@pytest.mark.integration
def test_private_postgres_and_redis_start_restart_and_stop(tmp_path):
    reason = common.postgres_available()
    if reason:
        pytest.skip(reason)
    import psycopg
    import redis

    root = Path(common.tempfile.mkdtemp(prefix="petitions-faults-test-"))
    root.chmod(0o755)
    cluster = common.Cluster(root / "pg", common.bench_signing.free_port())
    server = common.RedisServer(root / "redis", common.bench_signing.free_port())
    try:
        cluster.init()
        cluster.start()
        cluster.createdb("faults_test")
        url = cluster.url("faults_test")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (n int)")
            conn.execute("INSERT INTO kept VALUES (42)")
            took = cluster.restart("fast")
            # The restart cut this connection; the committed row is still there.
            with pytest.raises(psycopg.OperationalError):
                conn.execute("SELECT 1")
        assert took > 0
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT n FROM kept").fetchone() == (42,)

        server.start()
        client = redis.Redis(host="127.0.0.1", port=server.port)
        client.rpush("queue", "task")
        server.stop()
        with pytest.raises(redis.ConnectionError):
            client.ping()
        server.start()
        assert client.lrange("queue", 0, -1) == [b"task"]  # kept, as a production Redis with its AOF keeps it
        client.close()
    finally:
        server.stop()
        cluster.stop()
        common.shutil.rmtree(root, ignore_errors=True)
    # Nothing of ours is left listening.
    for port in (cluster.port, server.port):
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
