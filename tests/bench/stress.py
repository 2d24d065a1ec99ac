"""Load, fault and slow-client stress test of the built flow-web.pyz.

    python tests/bench/stress.py [--clients 50] [--duration 60]
        [--fault lock|replace|postgres] [--slow-clients 500]
        [--run-log-url postgresql://postgres@127.0.0.1/bench]

Starts dist/flow-web.pyz on 127.0.0.1 on a copy of the 1,000,000-run
benchmark RunLog (tests/bench/bigrunlog.py writes it on the first run) with
its catalog, or on the server database of --run-log-url, which must be on a
loopback address. Then CLIENTS simulated operators load the page's views for
DURATION seconds, each with its own keep-alive connection and no pause
between requests. A view sends the requests that ui.html sends for it, with
If-None-Match for documents it saw before, and refreshes once. Meanwhile a
writer adds a run row every --write-interval seconds, as the scheduler does,
and an operator posts a rerun or run-now action every --action-interval
seconds.

The script prints a table and exits with status 1 when a target is missed:
no failed request, p99 latency under 250 ms, resident memory of the server
flat (the peak of the last 20 s at most MEMORY_TOLERANCE_MB above the peak of
the first 20 s), and every action acknowledged with 200 present in the
database afterwards. With --fault, a fault starts at --fault-at seconds:

    lock      a writer holds an exclusive lock on the SQLite RunLog for
              --fault-seconds (the RunLog uses a rollback journal, so
              readers block)
    replace   the RunLog file is replaced by a restored copy (os.replace)
    postgres  the local PostgreSQL cluster is stopped for --fault-seconds and
              started again (pg_ctlcluster ... 15 main stop/start)

While the database is unavailable, 503 answers with a JSON `detail` are
expected. Other targets then apply: every request is answered (no
connection error, no other 5xx), requests started 5 s after the database
returned succeed, and no acknowledged action is lost. The p99 target applies
outside the fault window.

With --slow-clients N, N connections are opened at the start and kept open
while sending nothing, and N/10 more send a request's headers one byte per
second; the normal clients' latency must still meet the targets.

The script stops by itself after --duration seconds (plus the warm-up) or
--max-requests requests, whichever comes first. It only ever connects to
127.0.0.1. Timing figures depend on the machine: run it on an otherwise
idle host with at least two cores.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import http.client
import ipaddress
import json
import os
import random
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Callable, Optional

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(HERE), str(ROOT)]

import flow_web  # noqa: E402

PYZ = ROOT / "dist" / "flow-web.pyz"
SERVER_HOST = "127.0.0.1"

TARGET_P99_MS = 250.0
RECOVERY_LIMIT_S = 5.0
MEMORY_WINDOW_S = 20.0
# Memory counts as flat when the peak of the last window is at most this much
# above the peak of the first. The server's caches are bounded, and what they
# still fill after the first window stays below it (an estimate from their
# bounds: 16 MiB of rendered documents, 2 MB of SQLite page cache for each of
# 11 pooled connections, a 65,536-entry timestamp cache, 64 layouts). A leak
# of 1 KB a request at 1,000 requests a second passes it within the 40 s
# between the windows; longer runs (--duration 300) find smaller leaks.
MEMORY_TOLERANCE_MB = 32.0
MEMORY_SAMPLE_S = 0.5
REQUEST_TIMEOUT_S = 30.0
# When a fault starts, a request may wait DB_BUSY_TIMEOUT_S (3 s) for a worker
# thread that waits on the database, and 3 s more itself before flow-web
# detects that the database is unavailable. Later ones get 503 at once. A
# response later than this counts as none.
FAULT_ANSWER_LIMIT_S = 9.0
VISITS_PER_SESSION = 30
PAGE_HEADERS = {"X-Requested-By": "flow-web"}
POSTGRES_CLUSTER = ("15", "main")


# -- loopback only -----------------------------------------------------------------


def require_loopback(host: Optional[str], what: str) -> None:
    """Exit unless `host` is a loopback address or localhost: this script
    sends load and faults, so it must never reach another machine."""
    if host in ("localhost", "localhost."):
        return
    try:
        if host is not None and ipaddress.ip_address(host.strip("[]")).is_loopback:
            return
    except ValueError:
        pass
    raise SystemExit(
        f"stress.py: {what} host {host!r} is not a loopback address; the script"
        " only loads and breaks servers on this machine (127.0.0.1 or localhost)"
    )


def check_run_log_url(url: str) -> None:
    if "://" not in url or url.startswith(("sqlite:", "file:")):
        return
    require_loopback(urllib.parse.urlsplit(url).hostname, "--run-log-url")


# -- the server under test ---------------------------------------------------------


@dataclasses.dataclass
class Server:
    process: subprocess.Popen
    port: int
    log: list

    @property
    def pid(self) -> int:
        return self.process.pid


@contextlib.contextmanager
def start_server(pyz: Path, run_log_url: str, args: list, env: dict = None):
    """Run `python PYZ --port 0 --run-log-url URL ARGS` on 127.0.0.1 and yield
    the Server once it listens; terminate it afterwards."""
    command = [
        sys.executable,
        str(pyz),
        "--bind",
        SERVER_HOST,
        "--port",
        "0",
        "--run-log-url",
        run_log_url,
        *args,
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    log: list = []
    listening = re.compile(r"listening on http://127\.0\.0\.1:(\d+)/")
    port = None
    for line in process.stderr:
        log.append(line)
        match = listening.search(line)
        if match:
            port = int(match.group(1))
            break
    if port is None:
        process.wait()
        raise RuntimeError("flow-web did not start:\n" + "".join(log))
    threading.Thread(target=_drain, args=(process.stderr, log), daemon=True).start()
    try:
        yield Server(process, port, log)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _drain(stream, log: list) -> None:
    for line in stream:
        log.append(line)


def resident_mb(pid: int) -> Optional[float]:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"VmRSS:\s+(\d+) kB", status)
    return int(match.group(1)) / 1024 if match else None


# -- what the page requests --------------------------------------------------------


@dataclasses.dataclass
class Project:
    """Names the simulated operators pick from, read through the API."""

    workflows: list
    jobs: list
    batch_jobs: list
    pipelines: list
    recent_runs: list
    older_runs: list
    terminal_runs: list


def discover(port: int, extra_run_ids: list = ()) -> Project:
    """Read workflow, job and run names from the server's own API."""
    connection = http.client.HTTPConnection(SERVER_HOST, port, timeout=120)

    def get(path: str) -> dict:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise SystemExit(f"GET {path} answered {response.status}: {body[:200]}")
        return json.loads(body)

    workflows = [item["name"] for item in get("/api/workflows")["workflows"]]
    nodes = get("/api/dag")["nodes"]
    runs = get("/api/runs?limit=1000")["runs"]
    pipelines = [item["name"] for item in get("/api/pipelines")["pipelines"]]
    connection.close()
    terminal = [
        run["run_id"] for run in runs if run["status"] in flow_web.TERMINAL_STATUSES
    ]
    return Project(
        workflows=workflows,
        jobs=[node["name"] for node in nodes],
        batch_jobs=[node["name"] for node in nodes if node["kind"] == "batch"],
        pipelines=pipelines,
        recent_runs=[run["run_id"] for run in runs[:200]],
        older_runs=list(extra_run_ids) or [run["run_id"] for run in runs[200:]],
        terminal_runs=terminal,
    )


def sample_run_ids(runlog: Path, count: int, seed: int) -> list:
    """Run ids spread over the whole SQLite RunLog, as deep pages show them."""
    connection = sqlite3.connect(f"file:{runlog}?mode=ro", uri=True)
    try:
        highest = connection.execute("SELECT MAX(rowid) FROM run_records").fetchone()
        rng = random.Random(seed)
        rowids = [rng.randint(1, highest[0] or 1) for _ in range(count)]
        marks = ", ".join("?" for _ in rowids)
        rows = connection.execute(
            f"SELECT run_id FROM run_records WHERE rowid IN ({marks})", rowids
        ).fetchall()
    finally:
        connection.close()
    return [row[0] for row in rows]


def quoted(value: str) -> str:
    return urllib.parse.quote(value, safe="")


class Mix:
    """The GET requests of one view, as ui.html loads it. Weights are the
    share of view visits: the jobs and runs views are the busiest."""

    VIEW_WEIGHTS = (
        ("workflows", 15),
        ("jobs", 25),
        ("runs", 30),
        ("run", 20),
        ("dag", 10),
    )
    RUN_SORTS = (
        ("duration", "desc"),
        ("attempt", "desc"),
        ("pipeline", "asc"),
        ("status", "asc"),
        ("started", "asc"),
    )

    def __init__(self, project: Project, rng: random.Random):
        self.project = project
        self.rng = rng
        self.views = [name for name, _ in self.VIEW_WEIGHTS]
        self.weights = [weight for _, weight in self.VIEW_WEIGHTS]

    def visit(self) -> tuple:
        """(view name, GET paths in the order the page sends them)."""
        view = self.rng.choices(self.views, self.weights)[0]
        return view, getattr(self, "_" + view)()

    def _workflows(self) -> list:
        layouts = [
            f"/api/dag/layout?workflow={quoted(name)}"
            for name in self.project.workflows
        ]
        return ["/api/pipelines", "/api/workflows", *layouts]

    def _jobs(self) -> list:
        return ["/api/pipelines"]

    def _runs(self) -> list:
        roll = self.rng.random()
        query = {}
        if roll < 0.10 and self.project.pipelines:
            query["pipeline"] = self.rng.choice(self.project.pipelines)
        elif roll < 0.18:
            query["status"] = self.rng.choice(("failed", "running", "requested"))
        elif roll < 0.25:
            query["offset"] = str(50 * self.rng.randint(1, 4))
        elif roll < 0.28:
            sort, order = self.rng.choice(self.RUN_SORTS)
            query.update(sort=sort, order=order)
        return ["/api/runs" + ("?" + urllib.parse.urlencode(query) if query else "")]

    def _run(self) -> list:
        pool = (
            self.project.recent_runs
            if self.rng.random() < 0.7 or not self.project.older_runs
            else self.project.older_runs
        )
        return [f"/api/runs/{quoted(self.rng.choice(pool))}"] if pool else []

    def _dag(self) -> list:
        if self.rng.random() < 0.5 or not self.project.jobs:
            return ["/api/dag/layout"]
        return [f"/api/dag/layout?focus={quoted(self.rng.choice(self.project.jobs))}"]


# -- measurements ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Sample:
    """One request: when it started and ended (seconds since the measured
    window began), its status (0 for no response) and what went wrong."""

    started: float
    ended: float
    status: int
    path: str
    problem: Optional[str] = None
    detail: Optional[str] = None

    @property
    def latency_ms(self) -> float:
        return (self.ended - self.started) * 1000


class Clock:
    def __init__(self) -> None:
        self.origin = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self.origin


class Budget:
    """Stops every thread at the deadline or after `max_requests` requests."""

    def __init__(self, clock: Clock, seconds: float, max_requests: int):
        self.clock = clock
        self.deadline = seconds
        self.remaining = max_requests
        self.lock = threading.Lock()
        self.stopped = threading.Event()

    def take(self) -> bool:
        if self.stopped.is_set() or self.clock.now() >= self.deadline:
            self.stopped.set()
            return False
        with self.lock:
            self.remaining -= 1
            if self.remaining < 0:
                self.stopped.set()
                return False
        return True


class HttpClient:
    """One keep-alive connection to the server, reopened after errors."""

    def __init__(self, port: int, clock: Clock):
        self.port = port
        self.clock = clock
        self.connection: Optional[http.client.HTTPConnection] = None

    def request(
        self, method: str, path: str, headers: dict = None, body: bytes = None
    ) -> tuple:
        """(Sample, response body or None, response headers)."""
        started = self.clock.now()
        try:
            if self.connection is None:
                self.connection = http.client.HTTPConnection(
                    SERVER_HOST, self.port, timeout=REQUEST_TIMEOUT_S
                )
            self.connection.request(method, path, body=body, headers=headers or {})
            response = self.connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as error:
            self.close()
            problem = f"{type(error).__name__}: {error}"
            return Sample(started, self.clock.now(), 0, path, problem), None, {}
        ended = self.clock.now()
        if response.getheader("connection", "").lower() == "close":
            self.close()
        detail = None
        if response.status >= 400:
            detail = _detail(data)
        sample = Sample(started, ended, response.status, path, None, detail)
        headers = {name.lower(): value for name, value in response.getheaders()}
        return sample, data, headers

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
        self.connection = None


def _detail(data: bytes) -> str:
    try:
        value = json.loads(data)
    except ValueError:
        return "(not JSON) " + data[:120].decode("utf-8", "replace")
    if isinstance(value, dict) and isinstance(value.get("detail"), str):
        return value["detail"]
    return "(no detail) " + json.dumps(value)[:120]


def operator_client(
    port: int, project: Project, seed: int, clock: Clock, budget: Budget, out: list
) -> None:
    """One simulated operator: sessions of view visits, each view loaded and
    refreshed once, with the browser's conditional requests."""
    rng = random.Random(seed)
    mix = Mix(project, rng)
    client = HttpClient(port, clock)
    while not budget.stopped.is_set():
        etags: dict = {}
        for _ in range(VISITS_PER_SESSION):
            if not (budget.take() and _get(client, "/api/me", etags, out)):
                break
            _, paths = mix.visit()
            done = all(budget.take() and _get(client, p, etags, out) for p in paths)
            if not done or not paths:
                break
            if not (budget.take() and _get(client, paths[0], etags, out)):
                break
        client.close()
    client.close()


def _get(client: HttpClient, path: str, etags: dict, out: list) -> bool:
    headers = {"If-None-Match": etags[path]} if path in etags else {}
    sample, _, response_headers = client.request("GET", path, headers)
    out.append(sample)
    if sample.status == 200 and "etag" in response_headers:
        etags[path] = response_headers["etag"]
    return True


@dataclasses.dataclass
class Action:
    sample: Sample
    new_run_id: Optional[str]


def action_sender(
    port: int,
    project: Project,
    interval_s: float,
    seed: int,
    clock: Clock,
    budget: Budget,
    out: list,
) -> None:
    """Post a rerun or a run-now every `interval_s`, as an operator's click."""
    rng = random.Random(seed)
    client = HttpClient(port, clock)
    headers = {**PAGE_HEADERS, "Content-Type": "application/json"}
    while not budget.stopped.wait(interval_s):
        path = _action_path(project, rng)
        if path is None:
            return
        sample, data, _ = client.request("POST", path, headers, b"{}")
        # A new connection for each action: an idle keep-alive connection
        # may be closed by the server just as the next POST is sent, and a
        # POST must not be retried blindly.
        client.close()
        new_run_id = None
        if sample.status == 200:
            new_run_id = json.loads(data).get("new_run_id")
        out.append(Action(sample, new_run_id))
    client.close()


def _action_path(project: Project, rng: random.Random) -> Optional[str]:
    choices = []
    if project.terminal_runs:
        run_id = rng.choice(project.terminal_runs)
        choices.append(f"/api/runs/{quoted(run_id)}/rerun")
    if project.batch_jobs:
        choices.append(f"/api/jobs/{quoted(rng.choice(project.batch_jobs))}/run-now")
    if project.workflows:
        name = rng.choice(project.workflows)
        choices.append(f"/api/workflows/{quoted(name)}/run-now")
    return rng.choice(choices) if choices else None


def scheduler_writer(
    run_log_url: str,
    interval_s: float,
    pipelines: list,
    clock: Clock,
    budget: Budget,
    counts: dict,
) -> None:
    """Insert a finished run every `interval_s`, as ematix-flow's scheduler
    does, through flow-web's own connector (so SQLite and servers alike)."""
    connector = flow_web.parse_run_log_url(run_log_url)
    sql = connector.dialect.sql(
        f"INSERT INTO run_records ({', '.join(flow_web.RUN_COLUMNS)})"
        f" VALUES ({', '.join('?' for _ in flow_web.RUN_COLUMNS)})"
    )
    number = 0
    while not budget.stopped.wait(interval_s):
        number += 1
        now = time.time()
        started = flow_web.format_db_time(
            flow_web.dt.datetime.fromtimestamp(now - 30, flow_web.dt.timezone.utc)
        )
        finished = flow_web.format_db_time(
            flow_web.dt.datetime.fromtimestamp(now, flow_web.dt.timezone.utc)
        )
        pipeline = pipelines[number % len(pipelines)] if pipelines else "stress_job"
        row = (
            f"stress-{os.getpid()}-{number}",
            pipeline,
            "succeeded",
            started,
            finished,
            1,
            None,
            None,
            None,
            "batch",
            "{}",
        )
        try:
            connection = connector.connect(write=True)
            try:
                connection.cursor().execute(sql, row)
                if hasattr(connection, "commit"):
                    connection.commit()
            finally:
                connection.close()
            counts["written"] = counts.get("written", 0) + 1
        except Exception as error:  # the fault makes the database unavailable
            counts["failed"] = counts.get("failed", 0) + 1
            counts["last_error"] = f"{type(error).__name__}: {error}"


def slow_clients(port: int, idle: int, trickling: int, stop: threading.Event) -> dict:
    """Open `idle` connections that send nothing and `trickling` ones that
    send a request's headers one byte per second; count how many the server
    closed. Runs until `stop` is set."""
    sockets = []
    for _ in range(idle + trickling):
        sockets.append(socket.create_connection((SERVER_HOST, port), timeout=5))
    request = f"GET /api/health HTTP/1.1\r\nHost: {SERVER_HOST}:{port}\r\n".encode()
    position, closed = 0, set()
    while not stop.wait(1.0):
        for index, sock in enumerate(sockets[idle:], start=idle):
            if index in closed:
                continue
            try:
                sock.sendall(
                    request[position % len(request) : position % len(request) + 1]
                )
            except OSError:
                closed.add(index)
        position += 1
    for index, sock in enumerate(sockets):
        if index not in closed and _closed_by_peer(sock):
            closed.add(index)
        sock.close()
    idle_closed = sum(1 for index in closed if index < idle)
    return {"idle_closed": idle_closed, "trickling_closed": len(closed) - idle_closed}


def _closed_by_peer(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1024) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


# -- faults ------------------------------------------------------------------------


class Fault:
    """A fault that starts at `at` seconds. `began` and `ended` are when the
    database became unavailable and available again (seconds since the
    measured window began)."""

    name = "none"

    def __init__(self, at: float, seconds: float):
        self.at = at
        self.seconds = seconds
        self.began: Optional[float] = None
        self.ended: Optional[float] = None
        self.error: Optional[str] = None
        self.port: Optional[int] = None

    def misplaced(self, actions: list, exists: Callable[[str], bool]) -> list:
        """Acknowledged run ids that are in the database but not where they
        belong; only a restore can put them elsewhere."""
        return []

    def run(self, clock: Clock, stop: threading.Event) -> None:
        if stop.wait(max(0.0, self.at - clock.now())):
            return
        try:
            self.inject(clock, stop)
        except Exception as error:
            self.error = f"{type(error).__name__}: {error}"

    def inject(self, clock: Clock, stop: threading.Event) -> None:
        raise NotImplementedError


class LockFault(Fault):
    """Hold an exclusive lock on a rollback-journal SQLite file."""

    name = "lock"

    def __init__(self, at: float, seconds: float, path: Path):
        super().__init__(at, seconds)
        self.path = path

    def inject(self, clock: Clock, stop: threading.Event) -> None:
        connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
            if mode.lower() == "wal":
                raise RuntimeError(f"{self.path} uses WAL, so readers would not block")
            connection.execute("BEGIN EXCLUSIVE")
            self.began = clock.now()
            time.sleep(self.seconds)
            connection.execute("ROLLBACK")
            self.ended = clock.now()
        finally:
            connection.close()


class ReplaceFault(Fault):
    """Replace the SQLite file by a restored copy that has one extra run,
    `restored_run_id`, so the test can see when flow-web reads the new file.
    The old file stays reachable at `old_path` (a hard link)."""

    name = "replace"
    restored_run_id = "stress-restored-marker"

    def __init__(self, at: float, path: Path, pristine: Path):
        super().__init__(at, 0.0)
        self.path = path
        self.pristine = pristine
        self.old_path = path.with_name(path.name + ".before-restore")
        # Seconds from the replacement until the server showed the marker run.
        self.visible_after_s: Optional[float] = None

    def prepare(self) -> None:
        """Copy the pristine file next to the RunLog before the load starts,
        so the replacement itself is a single rename."""
        self.restored = self.path.with_name(self.path.name + ".restored")
        shutil.copyfile(self.pristine, self.restored)
        connection = sqlite3.connect(self.restored)
        with connection:
            connection.execute(
                "INSERT INTO run_records (run_id, pipeline, status, started_at,"
                " attempt, kind, extras_json) VALUES (?, 'stress_restore',"
                " 'succeeded', '2026-01-01T00:00:00Z', 1, 'batch', '{}')",
                (self.restored_run_id,),
            )
        connection.close()

    def inject(self, clock: Clock, stop: threading.Event) -> None:
        os.link(self.path, self.old_path)
        os.replace(self.restored, self.path)
        self.began = self.ended = clock.now()
        client = HttpClient(self.port, clock)
        path = f"/api/runs/{self.restored_run_id}"
        while clock.now() - self.began < 2 * RECOVERY_LIMIT_S:
            sample, _, _ = client.request("GET", path)
            if sample.status == 200:
                self.visible_after_s = sample.ended - self.began
                break
            time.sleep(0.05)
        client.close()

    def misplaced(self, actions: list, exists: Callable[[str], bool]) -> list:
        """Actions sent after the replacement must be in the restored file,
        not in the old one that the restore unlinked."""
        in_new = sqlite_exists(self.path)
        return [
            action.new_run_id
            for action in actions
            if action.new_run_id is not None
            and action.sample.started > self.began
            and not in_new(action.new_run_id)
        ]


class PostgresRestartFault(Fault):
    """Stop the local PostgreSQL cluster, wait, and start it again; it is
    always started again, also when the script is interrupted."""

    name = "postgres"

    def inject(self, clock: Clock, stop: threading.Event) -> None:
        self.began = clock.now()
        try:
            pg_cluster("stop")
            time.sleep(self.seconds)
        finally:
            pg_cluster("start")
            wait_for_postgres()
            self.ended = clock.now()


def pg_cluster(action: str) -> None:
    version, name = POSTGRES_CLUSTER
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, name, action],
        check=True,
        capture_output=True,
        timeout=120,
    )


def postgres_is_ready() -> bool:
    ready = subprocess.run(
        ["pg_isready", "-q", "-h", SERVER_HOST, "-p", "5432"], check=False
    )
    return ready.returncode == 0


def ensure_postgres_running() -> None:
    """Start the local cluster unless it accepts connections already."""
    if not postgres_is_ready():
        pg_cluster("start")
        wait_for_postgres()


def wait_for_postgres(timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if postgres_is_ready():
            return
        time.sleep(0.1)
    raise RuntimeError("PostgreSQL did not accept connections within 60 s")


# -- one run -----------------------------------------------------------------------


@dataclasses.dataclass
class Settings:
    clients: int = 50
    duration_s: float = 60.0
    warmup_s: float = 5.0
    max_requests: int = 2_000_000
    write_interval_s: float = 5.0
    action_interval_s: float = 5.0
    fault: Optional[Fault] = None
    slow_idle: int = 0
    slow_trickling: int = 0
    seed: int = 1


@dataclasses.dataclass
class Outcome:
    samples: list
    actions: list
    memory: list
    fault: Optional[Fault]
    slow: dict
    writes: dict
    missing_actions: list
    misplaced_actions: list
    duration_s: float
    elapsed_s: float


def run_load(
    server: Server,
    project: Project,
    settings: Settings,
    run_log_url: str,
    exists: Callable[[str], bool],
) -> Outcome:
    """Run the clients, writer, action sender, fault and slow clients against
    `server`; `exists(run_id)` checks the database for an acknowledged run."""
    warm = Clock()
    warm_budget = Budget(warm, settings.warmup_s, settings.max_requests)
    _run_clients(server.port, project, settings, warm, warm_budget, [])

    clock = Clock()
    budget = Budget(clock, settings.duration_s, settings.max_requests)
    samples: list = []
    actions: list = []
    memory: list = []
    writes: dict = {}
    slow: dict = {}
    stop = budget.stopped
    threads = [
        threading.Thread(target=_sample_memory, args=(server.pid, clock, stop, memory)),
        threading.Thread(
            target=action_sender,
            args=(
                server.port,
                project,
                settings.action_interval_s,
                settings.seed,
                clock,
                budget,
                actions,
            ),
        ),
    ]
    if settings.write_interval_s > 0:
        threads.append(
            threading.Thread(
                target=scheduler_writer,
                args=(
                    run_log_url,
                    settings.write_interval_s,
                    project.pipelines[:50],
                    clock,
                    budget,
                    writes,
                ),
            )
        )
    fault = settings.fault
    if fault is not None:
        fault.port = server.port
        threads.append(threading.Thread(target=fault.run, args=(clock, stop)))
    if settings.slow_idle or settings.slow_trickling:

        def hold() -> None:
            slow.update(
                slow_clients(
                    server.port, settings.slow_idle, settings.slow_trickling, stop
                )
            )

        threads.append(threading.Thread(target=hold))
    for thread in threads:
        thread.start()
    _run_clients(server.port, project, settings, clock, budget, samples)
    elapsed = clock.now()
    stop.set()
    for thread in threads:
        thread.join()
    missing = [
        action.new_run_id
        for action in actions
        if action.new_run_id is not None and not exists(action.new_run_id)
    ]
    misplaced = [] if fault is None else fault.misplaced(actions, exists)
    return Outcome(
        samples,
        actions,
        memory,
        fault,
        slow,
        writes,
        missing,
        misplaced,
        settings.duration_s,
        elapsed,
    )


def _run_clients(
    port: int,
    project: Project,
    settings: Settings,
    clock: Clock,
    budget: Budget,
    samples: list,
) -> None:
    threads = [
        threading.Thread(
            target=operator_client,
            args=(port, project, settings.seed * 1000 + n, clock, budget, samples),
        )
        for n in range(settings.clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _sample_memory(pid: int, clock: Clock, stop: threading.Event, out: list) -> None:
    while True:
        value = resident_mb(pid)
        if value is not None:
            out.append((clock.now(), value))
        if stop.wait(MEMORY_SAMPLE_S):
            return


# -- judging -----------------------------------------------------------------------


def percentile(values: list, share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


@dataclasses.dataclass(frozen=True)
class Figure:
    """One row of the report: a measured value, its target and whether it
    was met (None when the figure has no target)."""

    name: str
    value: str
    target: str = ""
    met: Optional[bool] = None


def in_fault_window(sample: Sample, fault: Optional[Fault]) -> bool:
    """Whether a request overlapped the time the database was unavailable,
    plus the recovery allowance after it returned."""
    if fault is None or fault.began is None:
        return False
    ended = fault.ended if fault.ended is not None else float("inf")
    return sample.ended >= fault.began and sample.started <= ended + RECOVERY_LIMIT_S


def is_expected_unavailable(sample: Sample, fault: Optional[Fault]) -> bool:
    return (
        sample.status == 503
        and sample.detail is not None
        and not sample.detail.startswith("(")
        and in_fault_window(sample, fault)
    )


def failures(outcome: Outcome) -> list:
    """Requests that count as errors: no response, or any status other than
    200 and 304, except 503 with a detail during the fault window."""
    fault = outcome.fault
    return [
        sample
        for sample in outcome.samples + [action.sample for action in outcome.actions]
        if sample.status not in (200, 304)
        and not is_expected_unavailable(sample, fault)
    ]


def recovery_s(outcome: Outcome) -> Optional[float]:
    """Seconds from the database's return to the start of the last request
    that still failed; 0 when none failed after it returned."""
    fault = outcome.fault
    if fault is None or fault.ended is None:
        return None
    late = [
        sample.started - fault.ended
        for sample in outcome.samples + [a.sample for a in outcome.actions]
        if sample.status not in (200, 304) and sample.started >= fault.ended
    ]
    return max(late, default=0.0)


def memory_figures(memory: list, duration_s: float) -> tuple:
    """(peak MB of the first window, peak MB of the last window, window s)."""
    window = min(MEMORY_WINDOW_S, duration_s / 3)
    first = [mb for at, mb in memory if at <= window]
    last = [mb for at, mb in memory if at >= duration_s - window]
    return max(first, default=0.0), max(last, default=0.0), window


def judge(outcome: Outcome) -> list:
    """The report's figures with their targets."""
    return (
        _load_figures(outcome)
        + _memory_figures(outcome)
        + _action_figures(outcome)
        + _fault_figures(outcome)
        + _slow_figures(outcome)
    )


def _load_figures(outcome: Outcome) -> list:
    fault = outcome.fault
    normal = [s for s in outcome.samples if not in_fault_window(s, fault)]
    latencies = [s.latency_ms for s in normal if s.status in (200, 304)]
    failed = failures(outcome)
    p99 = percentile(latencies, 0.99)
    total = len(outcome.samples)
    return [
        Figure("requests", f"{total}"),
        Figure("requests per second", f"{total / max(outcome.elapsed_s, 1e-9):.0f}"),
        Figure("answered 304 (not modified)", f"{_share(outcome.samples, 304)}"),
        Figure("errors", f"{len(failed)}", "0", not failed),
        Figure("p50 latency", f"{percentile(latencies, 0.50):.1f} ms"),
        Figure("p95 latency", f"{percentile(latencies, 0.95):.1f} ms"),
        Figure(
            "p99 latency" + (" (outside the fault)" if fault else ""),
            f"{p99:.1f} ms",
            f"< {TARGET_P99_MS:.0f} ms",
            p99 < TARGET_P99_MS,
        ),
        Figure("max latency", f"{max(latencies, default=0.0):.1f} ms"),
    ]


def _memory_figures(outcome: Outcome) -> list:
    first_mb, last_mb, window = memory_figures(outcome.memory, outcome.duration_s)
    return [
        Figure(f"resident memory, first {window:.0f} s peak", f"{first_mb:.1f} MB"),
        Figure(
            f"resident memory, last {window:.0f} s peak",
            f"{last_mb:.1f} MB",
            f"<= first + {MEMORY_TOLERANCE_MB:.0f} MB",
            last_mb <= first_mb + MEMORY_TOLERANCE_MB,
        ),
    ]


def _action_figures(outcome: Outcome) -> list:
    acked = [a for a in outcome.actions if a.new_run_id is not None]
    missing = outcome.missing_actions
    writes = outcome.writes
    return [
        Figure("actions acknowledged (200)", f"{len(acked)} of {len(outcome.actions)}"),
        Figure("acknowledged actions missing", f"{len(missing)}", "0", not missing),
        Figure(
            "scheduler writes",
            f"{writes.get('written', 0)} written, {writes.get('failed', 0)} failed",
        ),
    ]


def _share(samples: list, status: int) -> str:
    count = sum(1 for sample in samples if sample.status == status)
    return f"{100 * count / max(len(samples), 1):.0f} %"


def _fault_figures(outcome: Outcome) -> list:
    fault = outcome.fault
    if fault is None:
        return []
    if fault.began is None or fault.error:
        return [
            Figure(f"fault {fault.name}", fault.error or "did not start", "", False)
        ]
    during = [s for s in outcome.samples if in_fault_window(s, fault)]
    unavailable = [s for s in during if is_expected_unavailable(s, fault)]
    slowest = max((s.ended - s.started for s in during), default=0.0)
    recovered = recovery_s(outcome)
    figures = [
        Figure(
            f"fault {fault.name}",
            f"from {fault.began:.1f} s to {fault.ended:.1f} s",
        ),
        Figure(
            "requests during the fault",
            f"{len(during)}, {len(unavailable)} answered 503",
        ),
        Figure(
            "slowest response during the fault",
            f"{slowest:.1f} s",
            f"<= {FAULT_ANSWER_LIMIT_S:.0f} s",
            slowest <= FAULT_ANSWER_LIMIT_S,
        ),
        Figure(
            "failures after the database returned, until",
            f"{recovered:.1f} s",
            f"<= {RECOVERY_LIMIT_S:.0f} s",
            recovered <= RECOVERY_LIMIT_S,
        ),
    ]
    if isinstance(fault, ReplaceFault):
        figures += _restore_figures(outcome, fault)
    return figures


def _restore_figures(outcome: Outcome, fault: ReplaceFault) -> list:
    shown = fault.visible_after_s
    misplaced = outcome.misplaced_actions
    return [
        Figure(
            "restored file read after",
            "never" if shown is None else f"{shown:.1f} s",
            f"<= {RECOVERY_LIMIT_S:.0f} s",
            shown is not None and shown <= RECOVERY_LIMIT_S,
        ),
        Figure(
            "actions sent after the restore, not in it",
            str(len(misplaced)),
            "0",
            not misplaced,
        ),
    ]


def unavailable_details(outcome: Outcome) -> list:
    """The distinct details of the expected 503 responses, for the report."""
    details = {
        sample.detail
        for sample in outcome.samples
        if is_expected_unavailable(sample, outcome.fault)
    }
    return [f"  503 detail: {detail}" for detail in sorted(details)]


def _slow_figures(outcome: Outcome) -> list:
    if not outcome.slow:
        return []
    return [
        Figure(
            "idle connections closed by the server", str(outcome.slow["idle_closed"])
        ),
        Figure(
            "trickling connections closed by the server",
            str(outcome.slow["trickling_closed"]),
        ),
    ]


def endpoint_kind(path: str) -> str:
    """The path with its run id and query values left out, to group by."""
    route, _, query = path.partition("?")
    if route.startswith("/api/runs/"):
        route = "/api/runs/{id}" + (
            "/" + route.rsplit("/", 1)[1] if route.count("/") > 3 else ""
        )
    names = sorted(urllib.parse.parse_qs(query))
    return route + ("?" + "&".join(names) if names else "")


def endpoint_table(outcome: Outcome) -> list:
    """Lines of count, p50 and p99 per endpoint, slowest p99 first."""
    groups: dict = {}
    for sample in outcome.samples:
        if sample.status in (200, 304) and not in_fault_window(sample, outcome.fault):
            groups.setdefault(endpoint_kind(sample.path), []).append(sample.latency_ms)
    rows = sorted(groups.items(), key=lambda item: -percentile(item[1], 0.99))
    lines = [f"  {'endpoint':<40} {'count':>7} {'p50 ms':>8} {'p99 ms':>8}"]
    for kind, values in rows:
        lines.append(
            f"  {kind:<40} {len(values):>7} {percentile(values, 0.5):>8.1f}"
            f" {percentile(values, 0.99):>8.1f}"
        )
    return lines


def print_table(title: str, figures: list, notes: list) -> None:
    print(f"\n{title}")
    width = max(len(figure.name) for figure in figures)
    value_width = max(len(figure.value) for figure in figures)
    for figure in figures:
        status = ""
        if figure.met is not None:
            status = "ok" if figure.met else "MISSED"
        print(
            f"  {figure.name:<{width}}  {figure.value:>{value_width}}"
            f"  {figure.target:<18} {status}"
        )
    for note in notes:
        print(note)


def describe_failures(outcome: Outcome, limit: int = 10) -> list:
    lines = []
    for sample in failures(outcome)[:limit]:
        lines.append(
            f"  failed at {sample.started:.2f} s: {sample.path} -> {sample.status}"
            f" {sample.problem or sample.detail or ''}"[:200]
        )
    return lines


def machine_note() -> str:
    load = os.getloadavg()
    return (
        f"machine: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f}"
        f" {load[2]:.2f} before the run; the clients run on the same machine,"
        " so figures taken while other work runs are noisy"
    )


# -- command line ------------------------------------------------------------------


def sqlite_exists(path: Path, also: Path = None) -> Callable[[str], bool]:
    def exists(run_id: str) -> bool:
        for candidate in (path, also):
            if candidate is None or not candidate.exists():
                continue
            connection = sqlite3.connect(f"file:{candidate}?mode=ro", uri=True)
            try:
                row = connection.execute(
                    "SELECT 1 FROM run_records WHERE run_id = ?", (run_id,)
                ).fetchone()
            finally:
                connection.close()
            if row is not None:
                return True
        return False

    return exists


def server_exists(url: str) -> Callable[[str], bool]:
    connector = flow_web.parse_run_log_url(url)
    sql = connector.dialect.sql("SELECT 1 FROM run_records WHERE run_id = ?")

    def exists(run_id: str) -> bool:
        connection = connector.connect()
        try:
            cursor = connection.cursor()
            cursor.execute(sql, (run_id,))
            return cursor.fetchone() is not None
        finally:
            connection.close()

    return exists


def run_against(
    pyz: Path,
    run_log_url: str,
    server_args: list,
    settings: Settings,
    exists: Callable[[str], bool],
    older_run_ids: list = (),
    env: dict = None,
) -> Outcome:
    """Start the zipapp on `run_log_url`, learn its project through the API
    and run the load of `settings` against it."""
    with start_server(pyz, run_log_url, server_args, env) as server:
        project = discover(server.port, older_run_ids)
        return run_load(server, project, settings, run_log_url, exists)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--clients", type=int, default=50, help="simulated operators (default 50)")
    add("--duration", type=float, default=60.0, help="measured seconds (default 60)")
    add("--warmup", type=float, default=5.0, help="unmeasured seconds first (5)")
    add("--max-requests", type=int, default=2_000_000, help="stop after this many")
    add(
        "--write-interval",
        type=float,
        default=5.0,
        help="seconds between the scheduler's run rows, 0 for none (default 5)",
    )
    add(
        "--action-interval",
        type=float,
        default=5.0,
        help="seconds between POST actions (default 5)",
    )
    add("--fault", choices=("lock", "replace", "postgres"))
    add("--fault-at", type=float, help="seconds into the run (default a third)")
    add("--fault-seconds", type=float, default=10.0, help="lock or outage length")
    add("--slow-clients", type=int, default=0, help="idle connections to hold open")
    add("--folder", type=Path, default=Path(tempfile.gettempdir()) / "flow-bench")
    add("--runs", type=int, default=1_000_000, help="runs in the benchmark RunLog")
    add("--run-log-url", help="a server RunLog on 127.0.0.1 instead of SQLite")
    add("--pyz", type=Path, default=PYZ)
    add("--seed", type=int, default=1)
    return parser


def make_fault(args, runlog: Optional[Path], pristine: Optional[Path]):
    if args.fault is None:
        return None
    at = args.fault_at if args.fault_at is not None else args.duration / 3
    if args.fault == "postgres":
        if not (args.run_log_url or "").startswith("postgresql"):
            raise SystemExit("--fault postgres needs --run-log-url postgresql://...")
        return PostgresRestartFault(at, args.fault_seconds)
    if runlog is None:
        raise SystemExit(f"--fault {args.fault} needs a SQLite RunLog")
    if args.fault == "lock":
        return LockFault(at, args.fault_seconds, runlog)
    fault = ReplaceFault(at, runlog, pristine)
    fault.prepare()
    return fault


def main() -> int:
    args = build_parser().parse_args()
    if args.run_log_url:
        check_run_log_url(args.run_log_url)
    if not args.pyz.exists():
        raise SystemExit(f"{args.pyz} not found; run python3 build.py first")
    import bigrunlog

    source, catalog, _ = bigrunlog.ensure(args.folder, args.runs)
    with tempfile.TemporaryDirectory(prefix="flow-web-stress-") as folder:
        runlog = None
        if args.run_log_url:
            url, exists = args.run_log_url, server_exists(args.run_log_url)
        else:
            runlog = Path(folder) / "runlog.sqlite"
            shutil.copyfile(source, runlog)
            url = f"sqlite:///{runlog}"
        fault = make_fault(args, runlog, source)
        if runlog is not None:
            also = fault.old_path if isinstance(fault, ReplaceFault) else None
            exists = sqlite_exists(runlog, also)
        settings = Settings(
            clients=args.clients,
            duration_s=args.duration,
            warmup_s=args.warmup,
            max_requests=args.max_requests,
            write_interval_s=args.write_interval,
            action_interval_s=args.action_interval,
            fault=fault,
            slow_idle=args.slow_clients,
            slow_trickling=args.slow_clients // 10,
            seed=args.seed,
        )
        note = machine_note()
        older = sample_run_ids(source, 1000, args.seed)
        server_args = ["--catalog", str(catalog)]
        outcome = run_against(args.pyz, url, server_args, settings, exists, older)
        figures = judge(outcome)
    title = (
        f"flow-web under {args.clients} clients for {args.duration:.0f} s on"
        f" {args.run_log_url or source.name}"
        + (f", fault {args.fault}" if args.fault else "")
        + (f", {args.slow_clients} idle connections" if args.slow_clients else "")
    )
    notes = [note, *unavailable_details(outcome), *describe_failures(outcome)]
    print_table(title, figures, notes)
    print("\n".join(endpoint_table(outcome)))
    return 0 if all(figure.met is not False for figure in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
