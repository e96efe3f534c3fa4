"""What every fault scenario runs on: a PostgreSQL cluster and a Redis server of its own (never the shared ones
on 5432 and 6379, which other people's tests use), an SMTP sink, and the site's real processes (gunicorn, a
Celery worker, Celery beat) with bench.settings_email: production settings, email over SMTP to the sink.

The load comes from bench/bench_signing.py's client (the real sign form: CSRF cookie, hidden inputs including the
signed time-to-fill stamp, sent back unchanged after the minimum fill time), the SMTP sink and the worker's
kill logic from bench/bench_email.py.
"""

import contextlib
import itertools
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from glob import glob
from pathlib import Path
from types import SimpleNamespace

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench import bench_email, bench_signing  # noqa: E402

BIN = Path(sys.executable).parent
DATABASE = "petitions_faults"


class ScenarioFailed(AssertionError):
    """A scenario's outcome is not the decided behaviour."""


def check(condition: bool, message: str, failures: list[str]) -> None:
    if not condition:
        failures.append(message)


def wait_until(predicate, timeout: float, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not reached within {timeout:.0f} s")
        time.sleep(interval)


def postgres_bin(name: str) -> str:
    found = sorted(glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} not found (looked in /usr/lib/postgresql/*/bin and PATH)")
    return path


def postgres_available() -> str | None:
    """None when a private cluster can be made here, else why not."""
    try:
        postgres_bin("initdb")
    except RuntimeError as error:
        return str(error)
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser (initdb refuses root)"
    if shutil.which("redis-server") is None:
        return "redis-server not found"
    return None


# --- PostgreSQL: a private cluster ---------------------------------------------------------------------------


class Cluster:
    """A throwaway PostgreSQL cluster: initdb into `root`, listening on 127.0.0.1:`port` (trust auth, user
    postgres). As root, every PostgreSQL command runs as the postgres OS user (initdb refuses root)."""

    def __init__(self, root: Path, port: int):
        self.root = root
        self.data = root / "data"
        self.log = root / "postgres.log"
        self.port = port
        self.running = False

    def _run(self, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return subprocess.run(  # noqa: S603 -- PostgreSQL's own tools, fixed arguments
            [*prefix, *argv], check=True, capture_output=True, text=True, timeout=timeout
        )

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(postgres_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8")

    @property
    def options(self) -> str:
        return f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=200"

    def start(self) -> None:
        self._run(
            postgres_bin("pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            self.options,
            "-l",
            str(self.log),
            "-w",
            "start",
        )
        self.running = True

    def restart(self, mode: str = "fast") -> float:
        """`pg_ctl restart`: every connection is cut. Returns the seconds the command took."""
        started = time.monotonic()
        self._run(
            postgres_bin("pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            self.options,
            "-l",
            str(self.log),
            "-m",
            mode,
            "-w",
            "restart",
        )
        return time.monotonic() - started

    def stop(self) -> None:
        if self.running:
            with contextlib.suppress(subprocess.SubprocessError):
                self._run(
                    postgres_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop", timeout=60
                )
            self.running = False

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def createdb(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")


# --- Redis: a private server ---------------------------------------------------------------------------------


class RedisServer:
    """redis-server on 127.0.0.1:`port` as a child process. Persistence as production's (docker-compose.yml:
    `--appendonly yes`), so stopping and starting it keeps the queues, as a restarted production Redis does."""

    def __init__(self, root: Path, port: int):
        self.root = root
        self.port = port
        self.process: subprocess.Popen | None = None
        self.log = root / "redis.log"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(  # noqa: S603 -- redis-server, fixed arguments
            [
                shutil.which("redis-server") or "/usr/bin/redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--dir",
                str(self.root),
                "--logfile",
                str(self.log),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until(self.ping, 20, 0.05, "redis-server answering PING")

    def ping(self) -> bool:
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1)
        try:
            return bool(client.ping())
        except redis.RedisError:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}") from None
            return False
        finally:
            client.close()

    def stop(self) -> None:
        """SIGTERM: Redis writes its append-only file and exits; clients get connection refused."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


# --- The site's processes ------------------------------------------------------------------------------------


class Processes(bench_signing.Processes):
    """bench_signing's process groups (its stop() stops every group), with the logs in this run's folder."""

    def __init__(self, env: dict, log_dir: Path):
        self.env = env
        self.running: dict[str, subprocess.Popen] = {}
        self.log_dir = log_dir
        log_dir.mkdir(parents=True, exist_ok=True)

    def start(self, name: str, argv: list[str]) -> None:
        with (self.log_dir / f"{name}.log").open("ab") as log:
            self.running[name] = subprocess.Popen(  # noqa: S603 -- our own executables, fixed arguments
                argv,
                cwd=REPO_ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def check(self) -> None:
        for name, process in self.running.items():
            if process.poll() is not None:
                tail = (self.log_dir / f"{name}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{tail}")

    def kill(self, name: str) -> None:
        """SIGKILL the process group: the main process and its children, with no chance to clean up."""
        process = self.running.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


class Mailbox(bench_email.Mailbox):
    """bench_email's counting mailbox, also noting when each recipient's first message arrived."""

    def __init__(self):
        super().__init__()
        self.first_at: dict[str, float] = {}

    def add(self, recipients: list[str], content: bytes) -> None:
        super().add(recipients, content)
        now = time.monotonic()
        with self.lock:
            for rcpt in recipients:
                self.first_at.setdefault(rcpt, now)


class Worker(bench_email.Worker):
    """bench_email's Celery worker (prefork, own process group, SIGKILL-able, ping-ready), logging here."""

    def __init__(self, env: dict, concurrency: int, log_dir: Path):
        self.env, self.concurrency = env, concurrency
        self.process = None
        self.starts = 0
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / "worker.log"

    def wait_ready(self, app, timeout: float = 60) -> None:
        """bench_email's readiness check, on a new broker connection each time: the harness's pooled ones die
        when Redis restarts."""
        import redis
        from kombu.exceptions import KombuError

        deadline = time.monotonic() + timeout
        hostname = f"bench-email-{self.starts}@"
        while time.monotonic() < deadline:
            self.check()
            try:
                with app.connection_for_write() as conn:
                    replies = app.control.ping(timeout=0.5, connection=conn) or []
            except (KombuError, redis.RedisError, OSError):
                time.sleep(0.5)
                continue
            if any(name.startswith(hostname) for reply in replies for name in reply):
                return
        raise RuntimeError(f"the Celery worker did not come up within {timeout:.0f} s (see {self.log_path})")


class Env:
    """One run's private servers and settings. Use as a context manager: everything stops and the folder goes
    on exit, failure or Ctrl-C included."""

    def __init__(self, keep: bool = False):
        self.keep = keep
        self.root = Path(tempfile.mkdtemp(prefix="petitions-faults-"))
        self.root.chmod(0o755)  # the postgres user reaches its cluster folder through it
        self.cluster = Cluster(self.root / "pg", bench_signing.free_port())
        self.redis = RedisServer(self.root / "redis", bench_signing.free_port())
        self.smtp_port = bench_signing.free_port()
        self.web_port = bench_signing.free_port()
        self.mailbox = Mailbox()
        self.smtp = None
        self.info: dict = {}
        self.site: Site | None = None

    def __enter__(self) -> "Env":
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def environ(self) -> dict:
        return {
            "DJANGO_SETTINGS_MODULE": "bench.settings_email",
            "DATABASE_URL": self.cluster.url(DATABASE),
            "REDIS_URL": self.redis.url,
            "SECRET_KEY": "faults-" + "x" * 50,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SITE_URL": f"https://127.0.0.1:{self.web_port}",
            "VAR_DIR": str(self.root / "var"),
            "TRUSTED_PROXY_COUNT": "1",
            "SIGNATURE_TALLY_INTERVAL": "2",
            "BENCH_SMTP_PORT": str(self.smtp_port),
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }

    def start(self) -> None:
        self.cluster.init()
        self.cluster.start()
        self.cluster.createdb(DATABASE)
        self.redis.start()
        self.smtp = bench_email.smtp_server_start(self.smtp_port, self.mailbox)
        os.environ.update(self.environ)
        (self.root / "var").mkdir(exist_ok=True)
        # Schema, reference data, 101 open petitions (bench_signing's), then switched-on bulk email.
        self.info = bench_signing.site_prepare()
        from petitions.models import SiteSettings

        site = SiteSettings.load()
        site.bulk_email_rate = 100_000
        site.bulk_email_night_only = False
        site.disable_notifications = False
        site.save()
        self.django_close()

    def django_close(self) -> None:
        from django.db import connections

        connections.close_all()

    def db(self):
        import psycopg

        return psycopg.connect(self.cluster.url(DATABASE), autocommit=True, application_name="faults-harness")

    def site_start(self, name: str, *, web: bool = True, beat: bool = True, concurrency: int = 2) -> "Site":
        self.site_stop()  # whatever a scenario that failed while starting left running
        self.site = Site(self, name, web=web, beat=beat, concurrency=concurrency)
        self.site.start()
        return self.site

    def site_stop(self) -> None:
        if self.site is not None:
            self.site.stop()
            self.site = None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.site_stop()
        if self.smtp is not None:
            with contextlib.suppress(Exception):
                self.smtp.stop()
            self.smtp = None
        with contextlib.suppress(Exception):
            self.django_close()
        self.redis.stop()
        self.cluster.stop()
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)


class Site:
    """gunicorn (gthread, 2 x 4, as bench_signing), a Celery worker (bench_email's) and beat for one scenario."""

    def __init__(self, env: Env, name: str, *, web: bool, beat: bool, concurrency: int):
        self.env = env
        self.logs = env.root / "logs" / name
        self.processes = Processes(env.environ, self.logs)
        self.worker = Worker(env.environ, concurrency, self.logs)
        self.web, self.beat = web, beat

    def start(self) -> None:
        if self.web:
            self.processes.start(
                "gunicorn",
                [
                    str(BIN / "gunicorn"),
                    "config.wsgi",
                    f"--bind=127.0.0.1:{self.env.web_port}",
                    "--workers=2",
                    "--worker-class=gthread",
                    "--threads=4",
                    "--keep-alive=75",
                    "--log-level=warning",
                ],
            )
        if self.beat:
            self.beat_start()
        self.worker_start()
        if self.web:
            wait_until(self.web_ready, 90, 0.3, "gunicorn answering")

    def beat_start(self) -> None:
        self.processes.start(
            "beat",
            [
                str(BIN / "celery"),
                "-A",
                "config",
                "beat",
                "--loglevel=WARNING",
                f"--schedule={self.logs / 'celerybeat-schedule'}",
                "--pidfile=",
            ],
        )

    def worker_start(self) -> None:
        from config.celery import app

        self.worker.start()
        self.worker.wait_ready(app, timeout=90)

    def exited(self) -> dict[str, int]:
        """{name: exit status} of the worker and beat if they have exited."""
        found = {}
        if self.worker.process is not None and self.worker.process.poll() is not None:
            found["worker"] = self.worker.process.returncode
        beat = self.processes.running.get("beat")
        if beat is not None and beat.poll() is not None:
            found["beat"] = beat.returncode
        return found

    def supervise(self) -> dict[str, str]:
        """What a process supervisor (systemd, a container's restart policy) does: start again a worker or beat
        that has exited. Returns {name: "exit status N: last line of its log"} for each one restarted."""
        restarted = {}
        for name, status in self.exited().items():
            log = self.worker.log_path if name == "worker" else self.logs / "beat.log"
            lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
            restarted[name] = f"exit status {status}: {lines[-1][:300] if lines else ''}"
            if name == "worker":
                self.worker.process = None
                self.worker_start()
            else:
                self.processes.running.pop("beat")
                self.beat_start()
        return restarted

    def web_ready(self) -> bool:
        import http.client

        self.processes.check()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.env.web_port, timeout=5)
            conn.request(
                "GET", f"/petitions/{self.env.info['hot']}/count.json", headers={"X-Forwarded-Proto": "https"}
            )
            ok = conn.getresponse().status == 200
            conn.close()
            return ok
        except OSError:
            return False

    def stop(self) -> None:
        self.worker.stop()
        self.processes.stop()


# --- The load: real signers over HTTP ------------------------------------------------------------------------


class Load:
    """What bench_signing.Client reads from its benchmark, for signers paced at `rate` a second each."""

    def __init__(self, env: Env, *, petitions: list[int], rate: float, confirm: bool):
        self.port = env.web_port
        self.hot = petitions[0]
        self.others = petitions[1:] or petitions
        self.postcodes = env.info["postcodes"]
        self.fill_wait = env.info["minimum_fill_seconds"] + 0.25
        self.db_url = env.cluster.url(DATABASE)
        self.run = f"{random.randrange(16**6):06x}"
        self.sequence = itertools.count(1)
        self.meter = SimpleNamespace(backends=SimpleNamespace(harness_pids=set()))
        self.interval = 1.0 / rate
        self.confirm = confirm
        self.stopping = threading.Event()
        self.started = time.monotonic()
        self.lock = threading.Lock()
        self.events: list[dict] = []  # one per request, in order of completion

    def at(self) -> float:
        return round(time.monotonic() - self.started, 3)

    def record(self, **event) -> None:
        with self.lock:
            self.events.append(event)

    def abort(self) -> None:
        self.stopping.set()


class Signer(bench_signing.Client):
    """bench_signing's client (form, cookies, hidden fields, headers) as one signer after another at a steady
    pace, recording every request's outcome and time. The confirm token is read from the database (a real
    signer has it by email), on a connection that is opened again when PostgreSQL restarts."""

    def __init__(self, n: int, load: Load):
        super().__init__(n, load)
        self.load = load
        self.db = None

    def lookup(self, petition: int, email: str):
        import psycopg

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if self.db is None or self.db.closed:
                    self.db = psycopg.connect(self.load.db_url, autocommit=True, connect_timeout=3)
                return self.db.execute(
                    "SELECT id, confirm_token FROM petitions_signature "
                    "WHERE petition_id = %s AND canonical_email = %s",
                    [petition, email],
                ).fetchone()
            except psycopg.Error:
                with contextlib.suppress(Exception):
                    self.db.close()
                self.db = None
                time.sleep(0.3)
        return None

    def sign_once(self) -> None:
        load = self.load
        petition = self.petition()
        n = next(load.sequence)
        email = f"fault{n:06d}x{load.run}@gmail.com"
        path = f"/petitions/{petition}/signatures/new"
        fields = {
            **self.form_fields,
            "uk_citizenship": "on",
            "name": f"Fault Signer {n}",
            "email": email,
            "email_confirmation": email,
            "country": "GB",
            "postcode": self.rng.choice(load.postcodes),
            "notify_by_email": "on",
        }
        sent = load.at()
        response, body, elapsed = self.request("POST", path, fields, self.headers(path))
        status = body if response is None else response.status
        thanked = (
            response is not None and status == 302 and "thank-you" in (response.getheader("Location") or "")
        )
        load.record(
            kind="sign", sent=sent, at=load.at(), status=status, ok=thanked, email=email, petition=petition,
            latency=round(elapsed, 3),
        )  # fmt: skip
        if not (thanked and load.confirm):
            return
        row = self.lookup(petition, email)
        if row is None:
            return
        signature_id, token = row
        path = f"/signatures/{signature_id}/confirm?token={token}"
        sent = load.at()
        response, body, elapsed = self.request(
            "POST", path, {"csrfmiddlewaretoken": self.csrf, "token": token}, self.headers(path)
        )
        status = body if response is None else response.status
        load.record(
            kind="confirm", sent=sent, at=load.at(), status=status, ok=status == 302, email=email,
            petition=petition, signature=signature_id, latency=round(elapsed, 3),
        )  # fmt: skip

    def run(self) -> None:
        load = self.load
        try:
            self.get_form()
            time.sleep(max(0.0, self.form_shown_at + load.fill_wait - time.monotonic()))
            next_at = time.monotonic() + self.rng.random() * load.interval
            while not load.stopping.is_set():
                time.sleep(max(0.0, next_at - time.monotonic()))
                next_at += load.interval
                self.sign_once()
                if time.monotonic() > next_at + 5 * load.interval:  # fell behind: no burst to catch up
                    next_at = time.monotonic()
        except BaseException as error:  # reported by the scenario
            self.failure = error
        finally:
            self.conn.close()
            if self.db is not None:
                self.db.close()


def load_start(env: Env, *, petitions: list[int], signers: int, rate: float, confirm: bool):
    """`signers` threads, each signing `rate` times a second. Returns (load, threads) once all have the form."""
    load = Load(env, petitions=petitions, rate=rate, confirm=confirm)
    threads = [Signer(n, load) for n in range(signers)]
    for thread in threads:
        thread.start()
    wait_until(lambda: load.events or any(t.failure for t in threads), 60, 0.1, "the first signature")
    failures = [t.failure for t in threads if t.failure is not None]
    if failures:
        raise RuntimeError(f"a signer failed: {failures[0]!r}")
    return load, threads


def load_stop(load: Load, threads: list[Signer]) -> None:
    load.stopping.set()
    for thread in threads:
        thread.join(timeout=90)
    failures = [t.failure for t in threads if t.failure is not None]
    if failures:
        raise RuntimeError(f"a signer failed: {failures[0]!r}")


def tally_wait(db, timeout: float = 120) -> float:
    """Seconds until the tally has counted every validated row (and uncounted every other one)."""
    started = time.monotonic()
    wait_until(
        lambda: db.execute(
            "SELECT NOT EXISTS (SELECT 1 FROM petitions_signature WHERE (state = 'validated') = (counted_at IS NULL))"
        ).fetchone()[0],
        timeout,
        0.2,
        "the tally catching up",
    )
    return time.monotonic() - started


def status_counts(events: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for event in events:
        key = f"{event['kind']} {event['status']}"
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))


def mailbox_counts(mailbox: bench_email.Mailbox) -> dict[str, int]:
    with mailbox.lock:
        return dict(mailbox.per_recipient)
