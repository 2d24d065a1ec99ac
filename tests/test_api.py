"""The read API in process (Starlette's test client) on fixture copies, for
parameters, errors and database trouble."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading

import pytest
from conftest import CAPTURED_AT, FIXTURE_DB, run_pyz, wait_until
from starlette.testclient import TestClient

import flow_web

NOW = flow_web.parse_timestamp(CAPTURED_AT)


def make_client(path, **config) -> TestClient:
    settings = flow_web.Config(run_log_url=str(path), now=NOW, **config)
    store = flow_web.open_run_log(settings)
    app = flow_web.build_app(settings, store, flow_web.Catalog())
    # flow-web rejects a Host header that does not name it, such as the test
    # client's default "testserver".
    return TestClient(app, base_url="http://localhost")


@pytest.fixture
def client(fixture_db):
    return make_client(fixture_db)


@pytest.mark.parametrize(
    "query, detail",
    [
        ("limit=-1", "limit=-1 is below the minimum 0"),
        ("limit=abc", "limit='abc' is not a whole number; use e.g. limit=50"),
        ("offset=-5", "offset=-5 is below the minimum 0"),
        (
            "sort=name",
            "sort='name' is not one of: started, duration, pipeline, status, attempt",
        ),
        ("order=up", "order='up' is not one of: asc, desc"),
        (
            "status=done",
            "status='done' is not one of: requested, running, paused,"
            " succeeded, failed, cancelled",
        ),
    ],
)
def test_runs_bad_parameter(client, query, detail):
    response = client.get(f"/api/runs?{query}")
    assert response.status_code == 400
    assert response.json() == {"detail": detail}


def test_unknown_run_is_404(client):
    response = client.get("/api/runs/no-such-run")
    assert response.status_code == 404
    assert response.json() == {"detail": "run no-such-run not found"}


def test_unknown_route_is_json_404(client):
    response = client.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}


def test_runs_total_and_next_offset(client):
    body = client.get("/api/runs?limit=100&offset=500").json()
    assert body["total"] == 551
    assert len(body["runs"]) == 51
    assert body["next_offset"] is None


def test_runs_filtered_total(client):
    body = client.get("/api/runs?pipeline=build_sales_mart&status=failed").json()
    assert body["total"] == 2
    assert [run["run_id"] for run in body["runs"]] == [
        "build_sales_mart-20261204T071535-1",
        "build_sales_mart-20261115T071525-1",
    ]


@pytest.mark.parametrize(
    "sort, order, first",
    [
        ("duration", "desc", "warehouse_etl-20261123T071000-1"),
        ("duration", "asc", "live_orders-stream-20261204T153312Z-161e1562"),
        ("started", "asc", "legacy_export-20261031T045000-1"),
        ("pipeline", "asc", "adhoc_vacuum-20261128T030000-1"),
        ("attempt", "desc", "feature_store_sync-20261204T060000-3"),
        ("status", "asc", "load_dim_customer-20261128T140500-1"),
    ],
)
def test_runs_sort(client, sort, order, first):
    body = client.get(f"/api/runs?sort={sort}&order={order}&limit=1").json()
    assert body["runs"][0]["run_id"] == first


def test_runs_sort_keeps_open_runs_last_by_duration(client):
    body = client.get("/api/runs?sort=duration&order=desc&limit=1000").json()
    durations = [run["duration_ms"] for run in body["runs"]]
    finished = [d for d in durations if d is not None]
    assert durations[: len(finished)] == sorted(finished, reverse=True)
    assert durations[len(finished) :] == [None] * 6


def test_etag_answers_304(client):
    first = client.get("/api/pipelines")
    again = client.get(
        "/api/pipelines", headers={"If-None-Match": first.headers["etag"]}
    )
    assert again.status_code == 304
    assert again.content == b""


def test_empty_pipeline_filter_means_all(client):
    assert client.get("/api/runs?pipeline=").json()["total"] == 551


def test_locked_database_answers_503(tmp_path):
    # The fixture is in rollback-journal mode, so an exclusive lock blocks readers.
    path = tmp_path / "locked.sqlite"
    path.write_bytes(FIXTURE_DB.read_bytes())
    client = make_client(path)
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN EXCLUSIVE")
    writer.execute("UPDATE run_records SET attempt = attempt WHERE 0")
    try:
        response = client.get("/api/runs")
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert response.status_code == 503
    assert response.json()["detail"] == (
        f"RunLog {path} is locked by another writer; retry in a few seconds"
    )
    assert client.get("/api/runs").status_code == 200


def test_locked_database_through_pyz(pyz, tmp_path):
    path = tmp_path / "locked.sqlite"
    path.write_bytes(FIXTURE_DB.read_bytes())
    with run_pyz(pyz, "--run-log-url", str(path)) as server:
        writer = sqlite3.connect(path, isolation_level=None)
        writer.execute("BEGIN EXCLUSIVE")
        writer.execute("UPDATE run_records SET attempt = attempt WHERE 0")
        try:
            # The bound: no request hangs past 5 seconds.
            status, body, _ = server.request("GET", "/api/pipelines", timeout=5)
        finally:
            writer.execute("ROLLBACK")
            writer.close()
        assert status == 503
        assert "locked by another writer" in body["detail"]
        assert server.get("/api/pipelines")[0] == 200


def test_database_replaced_while_serving(tmp_path):
    path = tmp_path / "live.sqlite"
    path.write_bytes(FIXTURE_DB.read_bytes())
    client = make_client(path)
    assert client.get("/api/runs?limit=1").json()["total"] == 551
    replacement = tmp_path / "restored.sqlite"
    replacement.write_bytes(FIXTURE_DB.read_bytes())
    connection = sqlite3.connect(replacement)
    connection.execute("DELETE FROM run_records WHERE pipeline = 'feature_store_sync'")
    connection.commit()
    connection.close()
    replacement.replace(path)
    # Another process's change shows once the document is rebuilt, which a
    # background thread does while the previous version is served.
    assert wait_until(
        lambda: client.get("/api/runs?limit=1").json()["total"] == 551 - 192
    )


def test_new_run_appears_without_restart(tmp_path):
    path = tmp_path / "live.sqlite"
    path.write_bytes(FIXTURE_DB.read_bytes())
    client = make_client(path)
    before = client.get("/api/pipelines").json()
    writer = sqlite3.connect(path)
    writer.execute(
        "INSERT INTO run_records VALUES ('adhoc_vacuum-20261204T153540-1',"
        " 'adhoc_vacuum', 'running', '2026-12-04T15:35:40Z', NULL, 1, NULL, NULL,"
        " NULL, 'batch', '{}')"
    )
    writer.commit()
    writer.close()
    # The scheduler's row shows once the document is rebuilt in the background.
    wait_until(
        lambda: (
            client.get("/api/pipelines").json()["pipelines"][0]["name"]
            == "adhoc_vacuum"
        )
    )
    after = client.get("/api/pipelines").json()
    assert before["pipelines"][0]["name"] == "data_quality_gate"
    assert after["pipelines"][0]["name"] == "adhoc_vacuum"
    assert after["pipelines"][0]["latest_run"]["status"] == "running"


def test_missing_file_at_run_time_is_503(tmp_path):
    path = tmp_path / "gone.sqlite"
    path.write_bytes(FIXTURE_DB.read_bytes())
    client = make_client(path)
    path.unlink()
    response = client.get("/api/runs")
    assert response.status_code == 503
    assert response.json()["detail"] == (
        f"RunLog file {path} does not exist; check --run-log-url"
    )


def test_hostile_strings_stay_text(tmp_path):
    path = tmp_path / "hostile.sqlite"
    path.write_bytes(FIXTURE_DB.read_bytes())
    name = "<img src=x onerror=alert(1)>"
    connection = sqlite3.connect(path)
    connection.execute(
        "INSERT INTO run_records VALUES (?, ?, 'failed', '2026-12-04T15:00:00Z',"
        " '2026-12-04T15:00:01Z', 1, 'x', NULL, ?, 'batch', ?)",
        ("hostile-1", name, "<script>alert(1)</script>\x00\x1b[31m", "{not json"),
    )
    connection.execute(
        "INSERT INTO run_records VALUES ('bad-utf8', 'bad', 'succeeded', ?, NULL, 'x',"
        " NULL, NULL, NULL, 'batch', '[]')",
        (b"2026-12-04T\xff\xfe",),
    )
    connection.commit()
    connection.close()
    client = make_client(path)
    detail = client.get("/api/runs/hostile-1").json()
    assert detail["pipeline"] == name
    assert detail["error_summary"] == "<script>alert(1)</script>\x00\x1b[31m"
    assert detail["extras"] == {"raw_extras_json": "{not json"}
    odd = client.get("/api/runs/bad-utf8").json()
    assert odd["started_at"] == "2026-12-04T\ufffd\ufffd"
    assert odd["attempt"] == 1
    assert odd["extras"] == {"raw_extras_json": "[]"}
    assert client.get("/api/pipelines").status_code == 200


def test_concurrent_reads_share_cache(fixture_db):
    client = make_client(fixture_db)
    results = []

    def fetch():
        results.append(client.get("/api/workflows").status_code)

    threads = [threading.Thread(target=fetch) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [200] * 8


def test_timestamps_parse_every_contract_form():
    expected = dt.datetime(2026, 12, 4, 15, 34, 56, 569011, tzinfo=dt.timezone.utc)
    assert flow_web.parse_timestamp("2026-12-04T15:34:56.569011+00:00") == expected
    assert flow_web.parse_timestamp("2026-12-04T15:34:56.569011Z") == expected
    assert flow_web.parse_timestamp("2026-12-04T15:34:56.5690119Z") == expected
    assert flow_web.parse_timestamp("2026-12-04T16:34:56.569011+01:00") == expected
    assert flow_web.parse_timestamp("2026-12-04 15:34:56.569011+0000") == expected
    assert flow_web.parse_timestamp("2026-12-04T05:36:10.000Z") == dt.datetime(
        2026, 12, 4, 5, 36, 10, tzinfo=dt.timezone.utc
    )
    assert flow_web.parse_timestamp("2026-12-04T05:36Z") == dt.datetime(
        2026, 12, 4, 5, 36, tzinfo=dt.timezone.utc
    )
    assert flow_web.parse_timestamp("2026-13-04T05:36:10Z") is None
    assert flow_web.parse_timestamp("yesterday") is None
    assert flow_web.parse_timestamp(None) is None


def test_api_time_format():
    moment = flow_web.parse_timestamp("2026-12-04T15:34:56.569911+00:00")
    assert flow_web.format_api_time(moment) == "2026-12-04T15:34:56.569Z"


def test_url_forms():
    assert flow_web.parse_run_log_url("sqlite:////var/x.db").path == "/var/x.db"
    assert flow_web.parse_run_log_url("sqlite:///var/x.db").path == "/var/x.db"
    relative = flow_web.parse_run_log_url("sqlite:///./x.db").path
    assert relative == str(flow_web.Path.cwd() / "x.db")
    assert flow_web.parse_run_log_url("file:///var/x%20y.db").path == "/var/x y.db"
    assert flow_web.parse_run_log_url("/var/x.db").path == "/var/x.db"


def test_redact_url():
    assert flow_web.redact_url("postgresql://ops:hunter2@db:5432/runs") == (
        "postgresql://ops:***@db:5432/runs"
    )


def test_batch_history_only_in_run_log(tmp_path):
    # ematix-flow 1.0.0 writes batch outcomes only to run_log; run_records
    # then holds streaming runs and requests. Jobs still show their last run.
    path = tmp_path / "v1.sqlite"
    path.write_bytes(FIXTURE_DB.read_bytes())
    connection = sqlite3.connect(path)
    connection.execute(
        "DELETE FROM run_records WHERE kind = 'batch' AND status != 'requested'"
    )
    connection.commit()
    connection.close()
    client = make_client(path)
    body = client.get("/api/pipelines").json()
    by_name = {entry["name"]: entry for entry in body["pipelines"]}
    mart = by_name["build_sales_mart"]
    assert mart["latest_run"]["run_id"] == "req-e4123ce34ed14a89ab0aac7e307d78f1"
    assert [run["run_id"] for run in mart["recent_runs"]] == [
        "run_log:build_sales_mart",
        "req-e4123ce34ed14a89ab0aac7e307d78f1",
    ]
    assert mart["recent_runs"][0]["status"] == "failed"
    assert mart["recent_runs"][0]["finished_at"] == "2026-12-04T07:17:34.000Z"
    ingest = by_name["ingest_orders"]["latest_run"]
    assert ingest["run_id"] == "run_log:ingest_orders"
    assert ingest["status"] == "succeeded"
    detail = client.get("/api/runs/run_log:build_sales_mart").json()
    assert detail["status"] == "failed"
    assert detail["extras"]["retry_state"]["attempt_count"] == 1


def test_stale_runs_without_pinned_clock(tmp_path):
    # Two hours after the capture, the running batch run's claim has expired
    # and the running stream has written no snapshot since 15:34:56.
    path = tmp_path / "later.sqlite"
    path.write_bytes(FIXTURE_DB.read_bytes())
    settings = flow_web.Config(
        run_log_url=str(path), now=flow_web.parse_timestamp("2026-12-04T18:10:00Z")
    )
    app = flow_web.build_app(
        settings, flow_web.open_run_log(settings), flow_web.Catalog()
    )
    client = TestClient(app, base_url="http://localhost")
    jobs = {e["name"]: e for e in client.get("/api/pipelines").json()["pipelines"]}
    assert jobs["feature_store_sync"]["stale"] == {
        "reason": "its claim by scheduler-demo-host-1 expired at"
        " 2026-12-04T15:38:11.000Z",
        "since": "2026-12-04T15:38:11.000Z",
    }
    assert jobs["live_orders"]["stale"] == {
        "reason": "its last throughput snapshot was 2h 35m ago; a live stream"
        " records one every 30 s",
        "since": "2026-12-04T15:34:56.569Z",
    }
    assert jobs["ingest_orders"]["stale"] is None
    detail = client.get("/api/runs/feature_store_sync-20261204T153000-1").json()
    assert detail["stale"]["since"] == "2026-12-04T15:38:11.000Z"
    page = client.get("/api/runs", params={"status": "running"}).json()
    stale = {run["run_id"]: run["stale"] for run in page["runs"]}
    assert (
        stale["feature_store_sync-20261204T153000-1"]
        == jobs["feature_store_sync"]["stale"]
    )
    stream_runs = [run_id for run_id in stale if run_id.startswith("live_orders-")]
    assert len(stream_runs) == 1
    assert stale[stream_runs[0]] == jobs["live_orders"]["stale"]
    assert len(stale) == 2
    finished = client.get("/api/runs", params={"status": "succeeded"}).json()
    assert {run["stale"] for run in finished["runs"]} == {None}


def test_stale_stream_without_snapshot(tmp_path):
    path = tmp_path / "no-snapshot.sqlite"
    path.write_bytes(FIXTURE_DB.read_bytes())
    connection = sqlite3.connect(path)
    connection.execute(
        "UPDATE run_records SET extras_json = json_remove(extras_json, '$.snapshot_at')"
        " WHERE pipeline = 'live_orders' AND status = 'running'"
    )
    connection.commit()
    connection.close()
    settings = flow_web.Config(
        run_log_url=str(path), now=flow_web.parse_timestamp("2026-12-04T18:10:00Z")
    )
    app = flow_web.build_app(
        settings, flow_web.open_run_log(settings), flow_web.Catalog()
    )
    client = TestClient(app, base_url="http://localhost")
    page = client.get("/api/runs", params={"pipeline": "live_orders"}).json()
    running = [run for run in page["runs"] if run["status"] == "running"]
    assert len(running) == 1
    assert running[0]["stale"] == {
        "reason": "it started 2h 36m ago and has recorded no throughput snapshot;"
        " a live stream records one every 30 s",
        "since": "2026-12-04T15:33:56.000Z",
    }


def test_not_stale_at_capture_time(client):
    jobs = {e["name"]: e for e in client.get("/api/pipelines").json()["pipelines"]}
    assert jobs["feature_store_sync"]["stale"] is None
    assert jobs["live_orders"]["stale"] is None
    page = client.get("/api/runs", params={"status": "running"}).json()
    assert [run["stale"] for run in page["runs"]] == [None, None]


def test_non_finite_numbers_in_extras(tmp_path):
    path = tmp_path / "nan.sqlite"
    path.write_bytes(FIXTURE_DB.read_bytes())
    connection = sqlite3.connect(path)
    connection.execute(
        "UPDATE run_records SET extras_json = ? WHERE run_id = ?",
        (
            '{"stats_1m": {"rows_consumed_per_sec": NaN, "avg_batch_cycle_ms":'
            ' Infinity}, "snapshot_at": "2026-12-04T15:34:56Z"}',
            "live_orders-stream-20261204T153356Z-773c23f0",
        ),
    )
    connection.commit()
    connection.close()
    client = make_client(path)
    jobs = {e["name"]: e for e in client.get("/api/pipelines").json()["pipelines"]}
    stats = jobs["live_orders"]["streaming_stats"]["stats_1m"]
    assert stats == {"rows_consumed_per_sec": None, "avg_batch_cycle_ms": None}
    detail = client.get("/api/runs/live_orders-stream-20261204T153356Z-773c23f0")
    assert detail.status_code == 200


@pytest.mark.parametrize("action", ["restart", "rerun", "pause", "resume", "cancel"])
def test_get_on_action_route(client, action):
    path = f"/api/runs/build_sales_mart-20261204T071535-1/{action}"
    response = client.get(path)

    assert response.status_code == 405
    assert response.json() == {
        "detail": f"method GET is not allowed on {path}; the {action} action needs POST"
    }


def test_workflows_from_history_alone(client):
    # With no catalog, each pipeline of the history is a workflow of its own,
    # and one whose runs are streaming is a streaming one.
    views = client.get("/api/workflows").json()["workflows"]
    kinds = {view["name"]: view["kind"] for view in views}

    assert kinds["live_orders"] == "streaming"
    assert kinds["build_sales_mart"] == "single"
    assert [name for name, kind in kinds.items() if kind == "streaming"] == [
        "live_orders"
    ]
    assert [view["name"] for view in views][-1] == "live_orders"
    assert all(view["jobs"] == [view["name"]] for view in views)
