"""flow-web on RunLogs kept in PostgreSQL and MariaDB: the same JSON as on
SQLite, the ematix-flow PostgreSQL dump without run_records, start-up errors,
TLS, statement timeouts, recovery after a server restart, transactions and
init-history. Needs the local servers that .ci/run starts; a server that is
down fails these tests, which are never skipped."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sqlite3
import threading
import time

import pytest
import servers
from conftest import (
    CAPTURED_AT,
    FIXTURE_DB,
    FIXTURES,
    run_pyz,
    run_pyz_to_exit,
)
from test_golden import GET_CASES

import flow_web

KINDS = ("postgresql", "mysql")
SERVE_ARGS = ("--module", "demo_pipelines", "--now", CAPTURED_AT)
SERVE_ENV = {"PYTHONPATH": str(FIXTURES)}
SECRET = "S3cret-Pw-4711"

# Every GET route: the captured reference paths plus the sort orders and the
# layout endpoint that only flow-web serves.
GET_PATHS = sorted({case["path"] for case in GET_CASES}) + [
    "/api/runs?offset=50",
    "/api/runs?sort=duration",
    "/api/runs?sort=duration&order=asc&limit=100",
    "/api/runs?sort=pipeline&order=asc",
    "/api/runs?sort=status&offset=40",
    "/api/runs?sort=attempt&limit=20",
    "/api/runs?pipeline=feature_store_sync&status=failed",
    "/api/runs/feature_store_sync-20261204T060000-3",
    "/api/dag/layout",
    "/api/dag/layout?workflow=warehouse_etl",
    "/api/dag/layout?focus=build_sales_mart",
    "/api/dag/layout?run=build_sales_mart-20261204T071535-1",
]


@pytest.fixture(scope="module")
def loaded_urls():
    """Fresh PostgreSQL and MariaDB databases holding the fixture's tables."""
    with contextlib.ExitStack() as stack:
        urls = {}
        for kind in KINDS:
            urls[kind] = stack.enter_context(servers.server_database(kind))
            servers.load_sqlite_runlog(FIXTURE_DB, urls[kind])
        yield urls


@pytest.fixture(scope="module")
def loaded_servers(pyz, loaded_urls):
    """The built zipapp serving each loaded database like `fixture_server`."""
    with contextlib.ExitStack() as stack:
        yield {
            kind: stack.enter_context(
                run_pyz(pyz, "--run-log-url", url, *SERVE_ARGS, env=SERVE_ENV)
            )
            for kind, url in loaded_urls.items()
        }


@pytest.fixture(scope="module")
def cluster():
    """A private PostgreSQL cluster with password auth and TLS."""
    with servers.private_cluster() as private:
        yield private


@pytest.fixture(scope="module")
def mariadb_tls():
    """A private MariaDB server with TLS."""
    with servers.private_mariadb() as private:
        yield private


@pytest.fixture
def fresh_url(request):
    """An empty database on the server named by the test's `kind` parameter."""
    with servers.server_database(request.getfixturevalue("kind")) as url:
        yield url


# -- the same JSON as SQLite ---------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("path", GET_PATHS)
def test_get_matches_sqlite(fixture_server, loaded_servers, kind, path):
    expected_status, expected, _ = fixture_server.get(path)
    status, body, _ = loaded_servers[kind].get(path)
    if path == "/api/me":
        # The RunLog location is the one field that differs by design.
        expected.pop("run_log")
        body.pop("run_log")
    assert status == expected_status
    assert body == expected


@pytest.mark.parametrize("kind", KINDS)
def test_me_shows_url_without_password(loaded_servers, loaded_urls, kind):
    _, body, _ = loaded_servers[kind].get("/api/me")
    assert body["run_log"] == loaded_urls[kind]


# -- the ematix-flow PostgreSQL dump alone ---------------------------------------------

# (last status, finished_at) per pipeline in the dump's run_log table.
DUMP_RUN_LOG = {
    "feature_store_sync": ("succeeded", "2026-12-04T15:15:27.000Z"),
    "legacy_export": ("failed", "2026-11-13T04:50:41.000Z"),
    "backfill_complete": ("succeeded", "2026-11-25T14:00:12.000Z"),
    "adhoc_vacuum": ("succeeded", "2026-11-28T03:01:30.000Z"),
    "publish_metrics": ("succeeded", "2026-12-03T07:18:52.000Z"),
    "dq_check_orders": ("succeeded", "2026-12-03T07:19:58.000Z"),
    "dq_publish_report": ("succeeded", "2026-12-03T07:20:01.000Z"),
    "eu_gdpr_export": ("succeeded", "2026-12-04T05:36:10.000Z"),
    "feature_views_ready": ("failed", "2026-12-04T06:05:03.000Z"),
    "ingest_orders": ("succeeded", "2026-12-04T07:14:33.000Z"),
    "load_dim_customer": ("succeeded", "2026-12-04T07:15:35.000Z"),
    "build_sales_mart": ("failed", "2026-12-04T07:17:34.000Z"),
}
DUMP_RETRY_STATE = {
    "legacy_export": "2026-11-13T04:50:00.000Z",
    "feature_views_ready": "2026-12-04T06:05:00.000Z",
    "build_sales_mart": "2026-12-04T07:10:00.000Z",
}


@pytest.fixture(scope="module")
def dump_server(pyz):
    with servers.server_database("postgresql") as url:
        servers.load_postgres_dump(FIXTURES / "runlog-demo.postgres.sql", url)
        with run_pyz(pyz, "--run-log-url", url, *SERVE_ARGS, env=SERVE_ENV) as server:
            yield server


def test_dump_jobs_show_last_runs(dump_server):
    status, body, _ = dump_server.get("/api/pipelines")
    jobs = {entry["name"]: entry for entry in body["pipelines"]}
    assert status == 200
    for name, (last_status, finished_at) in DUMP_RUN_LOG.items():
        # feature_store_sync's newest run is its live claim, so its run_log
        # completion comes second.
        newest = -2 if name == "feature_store_sync" else -1
        completion = jobs[name]["recent_runs"][newest]
        assert (name, completion["status"]) == (name, last_status)
        assert (name, completion["finished_at"]) == (name, finished_at)
        assert (name, completion["run_id"]) == (name, f"run_log:{name}")
        latest = jobs[name]["latest_run"]["run_id"]
        assert (name, latest) == (name, jobs[name]["recent_runs"][-1]["run_id"])


def test_dump_jobs_show_retry_state(dump_server):
    _, body, _ = dump_server.get("/api/pipelines")
    jobs = {entry["name"]: entry for entry in body["pipelines"]}
    for name in DUMP_RUN_LOG:
        expected = None
        if name in DUMP_RETRY_STATE:
            expected = {
                "attempt_count": 1,
                "last_attempt_at": DUMP_RETRY_STATE[name],
                "gave_up": False,
            }
        assert (name, jobs[name]["retry_state"]) == (name, expected)


def test_dump_jobs_show_claim(dump_server):
    _, body, _ = dump_server.get("/api/pipelines")
    jobs = {entry["name"]: entry for entry in body["pipelines"]}
    claimed = jobs["feature_store_sync"]
    assert claimed["claim"] == {
        "worker_id": "scheduler-demo-host-1",
        "claimed_at": "2026-12-04T15:33:14.000Z",
        "expires_at": "2026-12-04T15:38:14.000Z",
    }
    # recent_runs is oldest first: the claim started after the last completion.
    assert claimed["recent_runs"][-1]["run_id"] == "claim:feature_store_sync"
    assert claimed["recent_runs"][-1]["status"] == "running"
    assert claimed["latest_run"]["run_id"] == "claim:feature_store_sync"
    assert [name for name, job in jobs.items() if job["claim"]] == [
        "feature_store_sync"
    ]


def test_dump_jobs_keep_catalog_details(dump_server):
    _, body, _ = dump_server.get("/api/pipelines")
    jobs = {entry["name"]: entry for entry in body["pipelines"]}
    assert set(DUMP_RUN_LOG) <= set(jobs)
    assert jobs["feature_store_sync"]["schedule"] == "*/15 * * * *"
    assert jobs["feature_store_sync"]["next_run_at"] == "2026-12-04T15:45:00+00:00"
    assert jobs["build_sales_mart"]["workflow"] == "warehouse_etl"


def test_dump_runs_list_synthetic_rows(dump_server):
    status, body, _ = dump_server.get("/api/runs")
    assert status == 200
    assert body["total"] == 13
    assert body["runs"][0]["run_id"] == "claim:feature_store_sync"
    assert body["runs"][1]["run_id"] == "run_log:feature_store_sync"


# -- start-up errors -------------------------------------------------------------------


@pytest.fixture(scope="module")
def mysql_user():
    """A MariaDB user with the password SECRET and rights on one new database;
    yields (user, database) and drops both afterwards."""
    servers.check_server("mysql")
    user = servers.unique_name("fwuser")
    with servers.mysql_database() as url:
        database = url.rsplit("/", 1)[1]
        admin = servers.MYSQL_ADMIN_URL
        servers.execute(admin, "CREATE USER %s@'%%' IDENTIFIED BY %s", (user, SECRET))
        try:
            servers.execute(admin, f"GRANT ALL ON `{database}`.* TO %s@'%%'", (user,))
            yield user, database
        finally:
            servers.execute(admin, "DROP USER IF EXISTS %s@'%%'", (user,))


def startup_cases(cluster, mysql_user) -> dict:
    """(URL, environment, expected text) per start-up failure."""
    user, database = mysql_user
    closed = servers.closed_port()
    return {
        "pg-wrong-password": (
            cluster.url(password=False).replace("postgres@", f"postgres:{SECRET}@"),
            {},
            "rejected user 'postgres' (password authentication failed",
        ),
        "pg-wrong-password-from-env": (
            cluster.url(password=False),
            {"PGPASSWORD": SECRET},
            "rejected user 'postgres' (password authentication failed",
        ),
        "pg-no-password": (
            cluster.url(password=False),
            {"PGPASSWORD": ""},
            "rejected user 'postgres'",
        ),
        "pg-unreachable": (
            f"postgresql://postgres:{SECRET}@127.0.0.1:{closed}/runlog",
            {},
            f"cannot connect to PostgreSQL at 127.0.0.1:{closed} (Connection refused)",
        ),
        "pg-missing-database": (
            cluster.url("no_such_runlog"),
            {},
            "database 'no_such_runlog' does not exist on PostgreSQL at",
        ),
        "mysql-wrong-password": (
            f"mysql://{user}:wrong-{SECRET}@127.0.0.1:3306/{database}",
            {},
            f"MySQL at 127.0.0.1:3306 rejected user '{user}' (Access denied",
        ),
        "mysql-wrong-password-from-env": (
            f"mariadb://{user}@127.0.0.1:3306/{database}",
            {"MYSQL_PWD": "wrong-" + SECRET},
            f"MariaDB at 127.0.0.1:3306 rejected user '{user}' (Access denied",
        ),
        "mysql-unreachable": (
            f"mysql://{user}:{SECRET}@127.0.0.1:{closed}/{database}",
            {},
            f"cannot connect to MySQL at 127.0.0.1:{closed} (",
        ),
        "mysql-missing-database": (
            "mysql://root@127.0.0.1:3306/no_such_runlog",
            {},
            "database 'no_such_runlog' does not exist on MySQL at 127.0.0.1:3306",
        ),
        "mysql-database-denied": (
            f"mysql://{user}:{SECRET}@127.0.0.1:3306/no_such_runlog",
            {},
            f"MySQL at 127.0.0.1:3306 denies user '{user}' access to database"
            " 'no_such_runlog'",
        ),
        "pg-bad-sslmode": (
            cluster.url(sslmode="sometimes"),
            {},
            "sslmode='sometimes' in the RunLog URL is not one of",
        ),
        "pg-unknown-option": (
            cluster.url(password=False, password_in_query=SECRET),
            {},
            "unknown option 'password_in_query' in the RunLog URL",
        ),
        "mysql-no-database": (
            f"mysql://{user}:{SECRET}@127.0.0.1:3306/",
            {},
            "names no database",
        ),
    }


STARTUP_CASE_NAMES = (
    "pg-wrong-password",
    "pg-wrong-password-from-env",
    "pg-no-password",
    "pg-unreachable",
    "pg-missing-database",
    "mysql-wrong-password",
    "mysql-wrong-password-from-env",
    "mysql-unreachable",
    "mysql-missing-database",
    "mysql-database-denied",
    "pg-bad-sslmode",
    "pg-unknown-option",
    "mysql-no-database",
)


@pytest.mark.parametrize("case", STARTUP_CASE_NAMES)
def test_startup_error_one_line(pyz, cluster, mysql_user, case):
    url, env, expected = startup_cases(cluster, mysql_user)[case]
    result = run_pyz_to_exit(pyz, "--run-log-url", url, "--port", "0", env=env)
    lines = result.stderr.splitlines()
    assert result.returncode == 2
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("flow-web: error: ")
    assert expected in lines[0]
    assert SECRET not in result.stderr
    assert SECRET not in result.stdout
    assert cluster.password not in result.stderr


# -- TLS ------------------------------------------------------------------------------


def tls_in_use(url: str) -> bool:
    connector = flow_web.parse_run_log_url(url)
    with contextlib.closing(connector.connect()) as connection:
        rows = servers.execute(
            connection, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
        )
    return rows[0][0]


def test_tls_modes_postgres(cluster):
    ca, other = cluster.ca_file, cluster.other_ca_file
    assert tls_in_use(cluster.url(sslmode="disable")) is False
    assert tls_in_use(cluster.url()) is True
    assert tls_in_use(cluster.url(sslmode="require")) is True
    assert tls_in_use(cluster.url(sslmode="verify-ca", sslrootcert=ca)) is True
    assert tls_in_use(cluster.url(sslmode="verify-full", sslrootcert=ca)) is True
    assert tls_in_use(cluster.url(sslmode="require", sslrootcert=ca)) is True
    with pytest.raises(flow_web.Unavailable, match="TLS connection to PostgreSQL"):
        store = flow_web.RunLogStore(
            flow_web.parse_run_log_url(
                cluster.url(sslmode="verify-full", sslrootcert=other)
            )
        )
        store.query("SELECT 1")


def mysql_cipher(url: str) -> str:
    connector = flow_web.parse_run_log_url(url)
    with contextlib.closing(connector.connect()) as connection:
        rows = servers.execute(connection, "SHOW SESSION STATUS LIKE 'Ssl_cipher'")
    return rows[0][1]


def test_tls_modes_mysql(mariadb_tls):
    ca, other = mariadb_tls.ca_file, mariadb_tls.other_ca_file
    assert mysql_cipher(mariadb_tls.url(**{"ssl-mode": "DISABLED"})) == ""
    assert mysql_cipher(mariadb_tls.url()) != ""
    assert mysql_cipher(mariadb_tls.url(**{"ssl-mode": "REQUIRED"})) != ""
    verify_ca = mariadb_tls.url(**{"ssl-mode": "VERIFY_CA", "ssl-ca": ca})
    assert mysql_cipher(verify_ca) != ""
    verify_identity = mariadb_tls.url(ssl_mode="verify_identity", ssl_ca=ca)
    assert mysql_cipher(verify_identity) != ""
    wrong_ca = mariadb_tls.url(**{"ssl-mode": "VERIFY_IDENTITY", "ssl-ca": other})
    store = flow_web.RunLogStore(flow_web.parse_run_log_url(wrong_ca))
    with pytest.raises(flow_web.Unavailable, match="TLS connection to MySQL"):
        store.query("SELECT 1")


def test_tls_serves_with_verify_full(pyz, cluster):
    url = cluster.url(sslmode="verify-full", sslrootcert=cluster.ca_file)
    with run_pyz(pyz, "--run-log-url", url) as server:
        status, body, _ = server.get("/api/runs")
    assert status == 200
    assert body["total"] == 0


@pytest.mark.parametrize(
    "case",
    (
        "pg-wrong-ca",
        "pg-server-without-tls",
        "mysql-wrong-ca",
        "mysql-server-without-tls",
        "no-ca",
    ),
)
def test_tls_failure_one_line(pyz, cluster, mariadb_tls, case):
    url, expected = {
        "pg-wrong-ca": (
            cluster.url(sslmode="verify-full", sslrootcert=cluster.other_ca_file),
            f"TLS connection to PostgreSQL at 127.0.0.1:{cluster.port} failed"
            " (certificate verify failed",
        ),
        "pg-server-without-tls": (
            "postgresql://postgres@127.0.0.1:5432/postgres?sslmode=require",
            "TLS connection to PostgreSQL at 127.0.0.1:5432 failed (Server refuses"
            " SSL); check sslmode and sslrootcert",
        ),
        "mysql-wrong-ca": (
            mariadb_tls.url(
                **{"ssl-mode": "VERIFY_IDENTITY", "ssl-ca": mariadb_tls.other_ca_file}
            ),
            f"TLS connection to MySQL at 127.0.0.1:{mariadb_tls.port} failed"
            " (certificate verify failed: ",
        ),
        "mysql-server-without-tls": (
            "mysql://root@127.0.0.1:3306/mysql?ssl-mode=REQUIRED",
            "TLS connection to MySQL at 127.0.0.1:3306 failed (SSL is required but"
            " the server doesn't support it); check ssl-mode and ssl-ca",
        ),
        "no-ca": (
            cluster.url(sslmode="verify-full", sslrootcert="/nonexistent/ca.crt"),
            "cannot load the CA certificate file '/nonexistent/ca.crt'",
        ),
    }[case]
    result = run_pyz_to_exit(pyz, "--run-log-url", url, "--port", "0")
    lines = result.stderr.splitlines()
    assert result.returncode == 2
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]
    assert cluster.password not in result.stderr


# -- passwords -------------------------------------------------------------------------


def test_password_from_url_never_shown(pyz, cluster):
    url = cluster.url()
    with run_pyz(pyz, "--run-log-url", url, "--log-level", "debug") as server:
        status, body, _ = server.get("/api/me")
        _, runs, _ = server.get("/api/runs")
        log = server.log_text()
    assert status == 200
    assert body["run_log"] == f"postgresql://postgres@127.0.0.1:{cluster.port}/postgres"
    assert cluster.password not in json.dumps(body)
    assert cluster.password not in json.dumps(runs)
    assert cluster.password not in log


def test_password_from_environment(pyz, cluster):
    url = cluster.url(password=False)
    env = {"PGPASSWORD": cluster.password}
    with run_pyz(pyz, "--run-log-url", url, env=env) as server:
        status, _, _ = server.get("/api/runs")
        log = server.log_text()
    assert status == 200
    assert cluster.password not in log


# -- timeouts and recovery -------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "sleep_sql"),
    (("postgresql", "SELECT pg_sleep(3)"), ("mysql", "SELECT SLEEP(3)")),
)
def test_statement_timeout_unavailable(fresh_url, monkeypatch, kind, sleep_sql):
    monkeypatch.setattr(flow_web, "DB_STATEMENT_TIMEOUT_S", 1.0)
    store = flow_web.RunLogStore(flow_web.parse_run_log_url(fresh_url))
    started = time.monotonic()
    with pytest.raises(flow_web.Unavailable) as caught:
        store.query(sleep_sql)
    store.close()
    assert time.monotonic() - started < 2.5
    assert "took longer than 1 s and was cancelled" in str(caught.value)


def test_locked_table_gives_503(loaded_servers, loaded_urls):
    """A read blocked by a lock ends after the statement timeout with 503."""
    blocker = servers.connect(loaded_urls["postgresql"])
    try:
        servers.execute(blocker, "BEGIN")
        servers.execute(blocker, "LOCK TABLE run_records IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        status, body, _ = loaded_servers["postgresql"].get("/api/runs?limit=7")
        elapsed = time.monotonic() - started
    finally:
        servers.execute(blocker, "ROLLBACK")
        blocker.close()
    assert status == 503
    assert "took longer than 10 s and was cancelled" in body["detail"]
    assert elapsed < flow_web.DB_STATEMENT_TIMEOUT_S + 5
    assert loaded_servers["postgresql"].get("/api/runs?limit=7")[0] == 200


def test_postgres_restart_recovers(pyz, cluster):
    database = servers.unique_name()
    servers.execute(cluster.url(), f'CREATE DATABASE "{database}"')
    url = cluster.url(database)
    servers.load_sqlite_runlog(FIXTURE_DB, url)
    with run_pyz(pyz, "--run-log-url", url, *SERVE_ARGS, env=SERVE_ENV) as server:
        assert server.get("/api/runs?limit=1")[0] == 200

        # A restart between two requests: the pooled connection is dead, so
        # the next request reconnects and succeeds.
        try:
            cluster.stop()
        finally:
            cluster.start()
        status, body, _ = server.get("/api/runs?limit=2")
        assert status == 200, (body, server.log_text())
        assert len(body["runs"]) == 2
        assert "reconnecting and retrying once" in server.log_text()

        # A request while the server is down gets a 503, and the next one
        # after the start succeeds without restarting flow-web.
        try:
            cluster.stop()
            status, body, _ = server.get("/api/runs?limit=3")
        finally:
            cluster.start()
        assert status == 503
        assert (
            f"cannot connect to PostgreSQL at 127.0.0.1:{cluster.port}"
            in (body["detail"])
        )
        status, body, _ = server.get("/api/runs?limit=3")
        assert status == 200
        assert len(body["runs"]) == 3
        assert server.get("/api/pipelines")[0] == 200


def test_mysql_killed_connections_recover(loaded_servers, loaded_urls):
    server = loaded_servers["mysql"]
    database = loaded_urls["mysql"].rsplit("/", 1)[1]
    assert server.get("/api/runs?limit=1")[0] == 200
    sessions = servers.execute(
        servers.MYSQL_ADMIN_URL,
        "SELECT id FROM information_schema.processlist WHERE db = %s",
        (database,),
    )
    assert sessions
    for (session,) in sessions:
        servers.execute(servers.MYSQL_ADMIN_URL, "KILL CONNECTION %s", (session,))
    status, body, _ = server.get("/api/runs?limit=2")
    assert status == 200
    assert len(body["runs"]) == 2
    assert "reconnecting and retrying once" in server.log_text()


# -- transactions and two processes ----------------------------------------------------

REQUESTED = flow_web.RunRecord(
    run_id="req-0000",
    pipeline="build_sales_mart",
    status="requested",
    started_at="2026-12-04T15:40:00Z",
    attempt=1,
    kind="batch",
    extras_json='{"restart_from_step": "merge", "prior_run_id": "prior-1"}',
)
PRIOR = dataclasses.replace(
    REQUESTED,
    run_id="prior-1",
    status="failed",
    started_at="2026-12-04T07:00:00Z",
    finished_at="2026-12-04T07:05:00Z",
    extras_json="{}",
)


def history_store(url: str) -> flow_web.RunLogStore:
    store = flow_web.RunLogStore(flow_web.parse_run_log_url(url))
    assert store.init_history() == [
        "table run_records",
        "index idx_run_records_started_at",
        "index idx_run_records_pipeline",
        "index idx_run_records_status",
    ]
    return store


@pytest.mark.parametrize("kind", KINDS)
def test_transaction_inserts_run(fresh_url, kind):
    store = history_store(fresh_url)
    with store.transaction() as execute:
        store.insert_run(execute, REQUESTED)
    assert store.get_run("req-0000") == REQUESTED
    assert store.list_runs()[1] == 1
    store.close()


@pytest.mark.parametrize("kind", KINDS)
def test_transaction_rolls_back_on_error(fresh_url, kind):
    store = history_store(fresh_url)
    with pytest.raises(RuntimeError):
        with store.transaction() as execute:
            store.insert_run(execute, REQUESTED)
            raise RuntimeError("abort")
    assert store.get_run("req-0000") is None
    store.close()


def enqueue_twice(store: flow_web.RunLogStore, lock_suffix: str) -> list:
    """Two threads each run "lock the prior run, enqueue a restart unless one
    is pending" at the same moment; returns their outcomes."""
    outcomes: list = []
    barrier = threading.Barrier(2)

    def enqueue(number: int) -> None:
        barrier.wait()
        with store.transaction() as execute:
            execute(
                f"SELECT run_id FROM run_records WHERE run_id = ?{lock_suffix}",
                ("prior-1",),
            ).fetchall()
            pending = execute(
                "SELECT COUNT(*) FROM run_records WHERE pipeline = ?"
                " AND status = 'requested'",
                ("build_sales_mart",),
            ).fetchall()[0][0]
            time.sleep(0.5)
            if pending:
                outcomes.append("found pending")
                return
            record = dataclasses.replace(REQUESTED, run_id=f"req-{number}")
            store.insert_run(execute, record)
            outcomes.append("enqueued")

    threads = [threading.Thread(target=enqueue, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return sorted(outcomes)


@pytest.mark.parametrize("kind", KINDS)
def test_row_lock_serialises_writers(fresh_url, kind):
    store = history_store(fresh_url)
    with store.transaction() as execute:
        store.insert_run(execute, PRIOR)
    outcomes = enqueue_twice(store, store.dialect.lock_rows_sql)
    assert outcomes == ["enqueued", "found pending"]
    assert store.count_runs("build_sales_mart", "requested") == 1
    store.close()


@pytest.mark.parametrize("kind", KINDS)
def test_without_row_lock_both_enqueue(fresh_url, kind):
    """The check above can fail: without the lock both writers enqueue."""
    store = history_store(fresh_url)
    with store.transaction() as execute:
        store.insert_run(execute, PRIOR)
    outcomes = enqueue_twice(store, "")
    assert outcomes == ["enqueued", "enqueued"]
    store.close()


def enqueue_first_twice(store: flow_web.RunLogStore) -> list:
    """Two threads each enqueue the first request of a pipeline that has no
    row yet, unless one is pending; returns their outcomes."""
    outcomes: list = []
    barrier = threading.Barrier(2)

    def enqueue(number: int) -> None:
        barrier.wait()
        with store.transaction() as execute:
            store.lock_pipeline(execute, "brand_new_job")
            pending = execute(
                "SELECT COUNT(*) FROM run_records WHERE pipeline = ?",
                ("brand_new_job",),
            ).fetchall()[0][0]
            time.sleep(0.5)
            if pending:
                outcomes.append("found pending")
                return
            record = dataclasses.replace(
                REQUESTED, run_id=f"run-now-{number}", pipeline="brand_new_job"
            )
            store.insert_run(execute, record)
            outcomes.append("enqueued")

    threads = [threading.Thread(target=enqueue, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return sorted(outcomes)


@pytest.mark.parametrize("kind", KINDS)
def test_pipeline_lock_serialises_first_requests(fresh_url, kind):
    store = history_store(fresh_url)
    outcomes = enqueue_first_twice(store)
    assert outcomes == ["enqueued", "found pending"]
    assert store.count_runs("brand_new_job", None) == 1
    store.close()


def test_sqlite_writers_serialise(tmp_path):
    path = tmp_path / "run_log.db"
    sqlite3.connect(path).close()
    store = history_store(f"sqlite:///{path}")
    with store.transaction() as execute:
        store.insert_run(execute, PRIOR)
    outcomes = enqueue_twice(store, store.dialect.lock_rows_sql)
    assert outcomes == ["enqueued", "found pending"]
    store.close()


def test_two_processes_agree(pyz):
    with servers.server_database("postgresql") as url:
        servers.load_sqlite_runlog(FIXTURE_DB, url)
        with contextlib.ExitStack() as stack:
            first, second = (
                stack.enter_context(
                    run_pyz(pyz, "--run-log-url", url, *SERVE_ARGS, env=SERVE_ENV)
                )
                for _ in range(2)
            )
            assert first.get("/api/pipelines")[1] == second.get("/api/pipelines")[1]
            store = flow_web.RunLogStore(flow_web.parse_run_log_url(url))
            record = dataclasses.replace(
                REQUESTED,
                run_id="req-from-elsewhere",
                started_at="2026-12-04T15:35:30Z",
            )
            with store.transaction() as execute:
                store.insert_run(execute, record)
            store.close()
            for server in (first, second):
                assert servers.wait_for(
                    lambda s=server: (
                        s.get("/api/pipelines")[1]["pipelines"][0]["latest_run"][
                            "run_id"
                        ]
                        == "req-from-elsewhere"
                    ),
                    timeout_s=flow_web.CACHE_TTL_S + 5,
                )
            assert first.get("/api/pipelines")[1] == second.get("/api/pipelines")[1]
            assert first.get("/api/runs")[1] == second.get("/api/runs")[1]


# -- init-history ----------------------------------------------------------------------


def table_columns(url: str) -> list:
    connector = flow_web.parse_run_log_url(url)
    if connector.dialect.name == "postgresql":
        sql = (
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_name = 'run_records' ORDER BY ordinal_position"
        )
    else:
        sql = (
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = DATABASE() AND table_name = 'run_records'"
            " ORDER BY ordinal_position"
        )
    return [(name, kind) for name, kind in servers.execute(url, sql)]


RUN_RECORDS_TYPES = {
    "postgresql": ["text"] * 5 + ["integer"] + ["text"] * 5 + ["bigint"],
    "mysql": ["varchar"] * 5
    + ["int", "text", "text", "mediumtext", "varchar", "mediumtext", "bigint"],
}


@pytest.mark.parametrize("kind", KINDS)
def test_init_history_creates_once(pyz, fresh_url, kind):
    if kind == "postgresql":
        servers.load_postgres_dump(FIXTURES / "runlog-demo.postgres.sql", fresh_url)
    first = run_pyz_to_exit(pyz, "init-history", "--run-log-url", fresh_url)
    second = run_pyz_to_exit(pyz, "init-history", "--run-log-url", fresh_url)
    created = (
        "created table run_records, index idx_run_records_started_at, index"
        f" idx_run_records_pipeline, index idx_run_records_status in {fresh_url}"
    )
    assert first.returncode == 0, first.stderr
    assert created in first.stderr
    assert second.returncode == 0, second.stderr
    assert f"already exist in {fresh_url}; nothing to do" in second.stderr
    assert table_columns(fresh_url) == list(
        zip(flow_web.RUN_COLUMNS + ("seq",), RUN_RECORDS_TYPES[kind])
    )


def test_init_history_on_sqlite(pyz, tmp_path):
    path = tmp_path / "run_log.db"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE run_log (pipeline_name TEXT PRIMARY KEY)")
    connection.close()
    result = run_pyz_to_exit(pyz, "init-history", "--run-log-url", f"sqlite:///{path}")
    assert result.returncode == 0, result.stderr
    connection = sqlite3.connect(path)
    indexes = connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index'"
        " AND tbl_name = 'run_records' AND sql IS NOT NULL ORDER BY name"
    ).fetchall()
    connection.close()
    assert indexes == [
        ("idx_run_records_pipeline",),
        ("idx_run_records_started_at",),
        ("idx_run_records_status",),
    ]


def test_init_history_then_serves(pyz, cluster):
    database = servers.unique_name()
    servers.execute(cluster.url(), f'CREATE DATABASE "{database}"')
    url = cluster.url(database)
    servers.load_postgres_dump(FIXTURES / "runlog-demo.postgres.sql", url)
    result = run_pyz_to_exit(pyz, "init-history", "--run-log-url", url)
    assert result.returncode == 0, result.stderr
    assert cluster.password not in result.stderr
    with run_pyz(pyz, "--run-log-url", url, *SERVE_ARGS, env=SERVE_ENV) as server:
        status, body, _ = server.get("/api/runs")
    assert status == 200
    assert body == {"runs": [], "total": 0, "next_offset": None}


def test_missing_password_is_one_line(pyz, cluster):
    url = cluster.url(password=False)
    assert "PGPASSWORD" not in os.environ
    result = run_pyz_to_exit(pyz, "--run-log-url", url, "--port", "0")
    lines = result.stderr.splitlines()
    assert result.returncode == 2
    assert len(lines) == 1, result.stderr
    assert "the server requested a password and none was given" in lines[0]
    assert "PGPASSWORD" in lines[0]
