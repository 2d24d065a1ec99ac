"""The built zipapp under load while things break: a writer locks the SQLite
RunLog, a restore replaces the file, the PostgreSQL server restarts, and
clients connect without sending a request. The load is tests/bench/stress.py's,
with 10 clients on the fixture RunLog and shorter windows than the benchmark.

Each fault test checks that every request gets a response (503 with a detail
while the database is unavailable), that requests succeed again within 5 s of
the database returning, and that every action acknowledged with 200 is in the
database afterwards."""

from __future__ import annotations

import socket
import sqlite3
import sys
import threading
import time

import pytest
from conftest import FIXTURE_DB, FIXTURES, ROOT

import flow_web

sys.path.insert(0, str(ROOT / "tests" / "bench"))

import stress  # noqa: E402

CLIENTS = 10
SERVER_ARGS = ["--module", "demo_pipelines"]
SERVER_ENV = {"PYTHONPATH": str(FIXTURES)}
LOCK_S = 10.0
POSTGRES_DOWN_S = 5.0
IDLE_CONNECTIONS = 500
TRICKLING_CONNECTIONS = 50


def load_settings(duration_s: float, fault: stress.Fault) -> stress.Settings:
    return stress.Settings(
        clients=CLIENTS,
        duration_s=duration_s,
        warmup_s=2.0,
        write_interval_s=1.0,
        action_interval_s=0.25,
        fault=fault,
    )


def acknowledged(outcome: stress.Outcome) -> list:
    return [action.new_run_id for action in outcome.actions if action.new_run_id]


def unavailable(outcome: stress.Outcome) -> list:
    return [sample for sample in outcome.samples if sample.status == 503]


def slowest_during_fault(outcome: stress.Outcome) -> float:
    return max(
        (
            sample.ended - sample.started
            for sample in outcome.samples
            if stress.in_fault_window(sample, outcome.fault)
        ),
        default=0.0,
    )


def failure_lines(outcome: stress.Outcome) -> str:
    return "\n".join(stress.describe_failures(outcome))


# -- a writer locks the SQLite file -----------------------------------------------


def test_locked_runlog_under_load(pyz, fixture_db):
    fault = stress.LockFault(4.0, LOCK_S, fixture_db)
    outcome = stress.run_against(
        pyz,
        f"sqlite:///{fixture_db}",
        SERVER_ARGS,
        load_settings(22.0, fault),
        stress.sqlite_exists(fixture_db),
        env=SERVER_ENV,
    )

    assert fault.error is None
    assert fault.ended - fault.began >= LOCK_S
    assert stress.failures(outcome) == [], failure_lines(outcome)
    assert unavailable(outcome), "the lock never made a request wait"
    for sample in unavailable(outcome):
        assert "is locked by another writer" in sample.detail
    assert slowest_during_fault(outcome) <= stress.FAULT_ANSWER_LIMIT_S
    assert stress.recovery_s(outcome) <= stress.RECOVERY_LIMIT_S
    assert acknowledged(outcome)
    assert outcome.missing_actions == []


def test_locked_runlog_health_responds_at_once(pyz, fixture_db):
    with stress.start_server(pyz, f"sqlite:///{fixture_db}", []) as server:
        client = stress.HttpClient(server.port, stress.Clock())
        writer = sqlite3.connect(fixture_db, isolation_level=None)
        writer.execute("BEGIN EXCLUSIVE")
        try:
            blocked = threading.Thread(
                target=lambda: [client_get(server.port, "/api/runs") for _ in range(3)]
            )
            blocked.start()
            health, _, _ = client.request("GET", "/api/health")
            me, _, _ = client.request("GET", "/api/me")
        finally:
            writer.execute("ROLLBACK")
            writer.close()
        blocked.join()

    assert health.status == 200
    assert health.latency_ms < 500
    assert me.status == 200
    assert me.latency_ms < 500


def client_get(port: int, path: str) -> int:
    client = stress.HttpClient(port, stress.Clock())
    sample, _, _ = client.request("GET", path)
    client.close()
    return sample.status


# -- a restore replaces the file --------------------------------------------------


def test_replaced_runlog_under_load(pyz, fixture_db):
    fault = stress.ReplaceFault(3.0, fixture_db, FIXTURE_DB)
    fault.prepare()
    outcome = stress.run_against(
        pyz,
        f"sqlite:///{fixture_db}",
        SERVER_ARGS,
        load_settings(10.0, fault),
        stress.sqlite_exists(fixture_db, fault.old_path),
        env=SERVER_ENV,
    )

    assert fault.error is None
    assert stress.failures(outcome) == [], failure_lines(outcome)
    assert fault.visible_after_s is not None
    assert fault.visible_after_s <= stress.RECOVERY_LIMIT_S
    assert acknowledged(outcome)
    assert outcome.missing_actions == []
    assert outcome.misplaced_actions == []


def test_write_into_replaced_file_is_503(tmp_path):
    path = tmp_path / "live.sqlite"
    path.write_bytes(FIXTURE_DB.read_bytes())
    replacement = tmp_path / "restored.sqlite"
    replacement.write_bytes(FIXTURE_DB.read_bytes())
    store = flow_web.RunLogStore(flow_web.SQLiteConnector(str(path)))
    record = flow_web.RunRecord("written-during-restore", "job", "requested", "now")

    with pytest.raises(flow_web.Unavailable) as raised:
        with store.transaction() as execute:
            store.insert_run(execute, record)
            replacement.replace(path)

    assert "was replaced while this request was written" in str(raised.value)
    assert store.get_run("written-during-restore") is None


# -- the PostgreSQL server restarts -----------------------------------------------


def test_postgres_restart_under_load(pyz):
    # The server connectors and these helpers come with PostgreSQL support;
    # without them this test fails on the import.
    import servers

    servers.check_server("postgresql")
    with servers.pg_database() as url:
        servers.load_sqlite_runlog(FIXTURE_DB, url)
        fault = stress.PostgresRestartFault(4.0, POSTGRES_DOWN_S)
        try:
            outcome = stress.run_against(
                pyz,
                url,
                SERVER_ARGS,
                load_settings(20.0, fault),
                stress.server_exists(url),
                env=SERVER_ENV,
            )
        finally:
            stress.ensure_postgres_running()

    assert fault.error is None
    assert stress.failures(outcome) == [], failure_lines(outcome)
    assert unavailable(outcome), "the restart never made a request fail"
    assert slowest_during_fault(outcome) <= stress.FAULT_ANSWER_LIMIT_S
    assert stress.recovery_s(outcome) <= stress.RECOVERY_LIMIT_S
    assert acknowledged(outcome)
    assert outcome.missing_actions == []


# -- clients that connect and send nothing ----------------------------------------


def open_connections(port: int, count: int) -> list:
    return [
        socket.create_connection((stress.SERVER_HOST, port), timeout=5)
        for _ in range(count)
    ]


def trickle(sockets: list, stop: threading.Event) -> None:
    """Send a request's headers one byte per second on every socket."""
    request = b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: "
    position = 0
    while not stop.wait(1.0):
        byte = request[position : position + 1] or b"x"
        for sock in sockets:
            try:
                sock.sendall(byte)
            except OSError:
                pass
        position += 1


def closed_by_server(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1024) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def test_slow_clients_do_not_block_others(pyz, fixture_db):
    url = f"sqlite:///{fixture_db}"
    with stress.start_server(pyz, url, SERVER_ARGS, SERVER_ENV) as server:
        idle = open_connections(server.port, IDLE_CONNECTIONS)
        trickling = open_connections(server.port, TRICKLING_CONNECTIONS)
        stop = threading.Event()
        sender = threading.Thread(target=trickle, args=(trickling, stop))
        sender.start()
        try:
            client = stress.HttpClient(server.port, stress.Clock())
            samples = []
            for path in ["/api/runs", "/api/pipelines", "/api/workflows"] * 50:
                samples.append(client.request("GET", path)[0])
            deadline = time.monotonic() + flow_web.HEADER_TIMEOUT_S + 5
            still_open = idle + trickling
            while still_open and time.monotonic() < deadline:
                still_open = [sock for sock in still_open if not closed_by_server(sock)]
                time.sleep(0.2)
            after = client.request("GET", "/api/runs")[0]
        finally:
            stop.set()
            sender.join()
            for sock in idle + trickling:
                sock.close()

    latencies = [sample.latency_ms for sample in samples]
    assert [sample.status for sample in samples] == [200] * len(samples)
    assert stress.percentile(latencies, 0.99) < stress.TARGET_P99_MS
    assert len(still_open) == 0
    assert after.status == 200
