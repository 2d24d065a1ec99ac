"""POST actions of the built zipapp on copies of the ematix-flow 1.0.0 fixture:
the rows they write, the rules that reject them, deduplication under
concurrency, and a database the server process cannot write."""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import pytest
from conftest import FIXTURE_DB, FIXTURES, run_pyz, wait_until

FAILED_RUN = "build_sales_mart-20261204T071535-1"
FAILED_STEP = "transform_partition_1"
# The fixture's own pending restart of FAILED_RUN from FAILED_STEP, written
# with ematix-flow's InMemoryRunHistory.enqueue_restart.
PENDING_RESTART = "req-e4123ce34ed14a89ab0aac7e307d78f1"
PENDING_JOB_RUN_NOW = "run-now-backfill_complete-5d5efedf8ab3"
PENDING_WORKFLOW_RUN_NOW = "run-now-data_quality_gate-40720a32f171"
RUNNING_BATCH = "feature_store_sync-20261204T153000-1"
RUNNING_STREAM = "live_orders-stream-20261204T153356Z-773c23f0"
FAILED_STREAM = "live_orders-stream-20261204T153312Z-161e1562"
PAUSED_RUN = "eu_gdpr_export-20261204T053500-1"
SUCCEEDED_RUN = "feature_store_sync-20261204T060000-3"
COLUMNS = (
    "run_id",
    "pipeline",
    "status",
    "started_at",
    "finished_at",
    "attempt",
    "failed_step",
    "failed_watermark",
    "error_summary",
    "kind",
    "extras_json",
)
DB_TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
REQUEST_ID_RE = re.compile(r"req-[0-9a-f]{32}")
# What flow-web's page sends with every action.
PAGE_HEADERS = {"X-Requested-By": "flow-web"}


# -- helpers -------------------------------------------------------------------------


def read_row(db, run_id: str) -> dict | None:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        row = connection.execute(
            f"SELECT {', '.join(COLUMNS)} FROM run_records WHERE run_id = ?",
            (run_id,),
        ).fetchone()
    return None if row is None else dict(zip(COLUMNS, row))


def count_rows(db) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        return connection.execute("SELECT COUNT(*) FROM run_records").fetchone()[0]


def file_digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def set_status(db, run_id: str, status: str) -> None:
    """Change a row's status the way the scheduler's pickup does when it
    consumes a request (requested to running)."""
    with sqlite3.connect(db) as connection:
        connection.execute(
            "UPDATE run_records SET status = ? WHERE run_id = ?", (status, run_id)
        )


def post(server, path: str, body=None, headers=None):
    status, document, _ = server.request(
        "POST", path, body, headers=PAGE_HEADERS if headers is None else headers
    )
    return status, document


def post_raw(server, path: str, data: bytes, content_type: str):
    request = urllib.request.Request(
        server.url + path,
        data=data,
        method="POST",
        headers={"Content-Type": content_type, **PAGE_HEADERS},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def serve_copy(pyz, db, *args, **kwargs):
    return run_pyz(
        pyz,
        "--run-log-url",
        f"sqlite:///{db}",
        "--module",
        "demo_pipelines",
        *args,
        env={"PYTHONPATH": str(FIXTURES)},
        **kwargs,
    )


@pytest.fixture
def server(pyz, fixture_db):
    """The zipapp serving a private fixture copy, for tests that write."""
    with serve_copy(pyz, fixture_db) as running:
        yield running


@pytest.fixture(scope="module")
def shared_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("rejections") / "runlog-demo.sqlite"
    shutil.copyfile(FIXTURE_DB, db)
    return db


@pytest.fixture(scope="module")
def shared(pyz, shared_db):
    """One zipapp for the tests whose requests are rejected and so must not
    write; test_rejections_write_nothing checks that they did not."""
    with serve_copy(pyz, shared_db) as running:
        yield running


# -- rows written --------------------------------------------------------------------


def test_restart_row_matches_fixture_request(server, fixture_db):
    expected = read_row(fixture_db, PENDING_RESTART)
    set_status(fixture_db, PENDING_RESTART, "running")
    before = count_rows(fixture_db)

    status, body = post(
        server, f"/api/runs/{FAILED_RUN}/restart", {"from_step": FAILED_STEP}
    )

    assert status == 200
    assert REQUEST_ID_RE.fullmatch(body["new_run_id"])
    assert body["already_requested"] is False
    assert count_rows(fixture_db) == before + 1
    written = read_row(fixture_db, body["new_run_id"])
    assert DB_TIME_RE.fullmatch(written["started_at"])
    for column in COLUMNS:
        if column not in ("run_id", "started_at"):
            assert written[column] == expected[column], column


def test_restart_returns_pending_fixture_request(server, fixture_db):
    before = count_rows(fixture_db)

    status, body = post(
        server, f"/api/runs/{FAILED_RUN}/restart", {"from_step": FAILED_STEP}
    )

    assert status == 200
    assert body == {"new_run_id": PENDING_RESTART, "already_requested": True}
    assert count_rows(fixture_db) == before


def test_restart_after_pickup_writes_new_row(server, fixture_db):
    set_status(fixture_db, PENDING_RESTART, "running")
    path = f"/api/runs/{FAILED_RUN}/restart"
    _, first = post(server, path, {"from_step": FAILED_STEP})
    set_status(fixture_db, first["new_run_id"], "running")

    status, second = post(server, path, {"from_step": FAILED_STEP})

    assert status == 200
    assert second["already_requested"] is False
    assert second["new_run_id"] not in (first["new_run_id"], PENDING_RESTART)


def test_rerun_row(server, fixture_db):
    status, body = post(server, f"/api/runs/{FAILED_RUN}/rerun")

    assert status == 200
    assert REQUEST_ID_RE.fullmatch(body["new_run_id"])
    written = read_row(fixture_db, body["new_run_id"])
    assert DB_TIME_RE.fullmatch(written.pop("started_at"))
    assert written == {
        "run_id": body["new_run_id"],
        "pipeline": "build_sales_mart",
        "status": "requested",
        "finished_at": None,
        "attempt": 1,
        "failed_step": None,
        "failed_watermark": None,
        "error_summary": None,
        "kind": "batch",
        "extras_json": '{"rerun_full": true, "prior_run_id": "' + FAILED_RUN + '"}',
    }


def test_resume_from_watermark_row(server, fixture_db):
    status, body = post(
        server, f"/api/runs/{FAILED_STREAM}/restart", {"from_step": None}
    )

    assert status == 200
    written = read_row(fixture_db, body["new_run_id"])
    assert written["pipeline"] == "live_orders"
    assert written["kind"] == "streaming"
    assert written["status"] == "requested"
    assert written["finished_at"] is None
    assert json.loads(written["extras_json"]) == {
        "restart_from_step": None,
        "prior_run_id": FAILED_STREAM,
    }


def test_pause_sets_flag_and_keeps_extras(server, fixture_db):
    original = read_row(fixture_db, RUNNING_STREAM)
    extras = json.loads(original["extras_json"])

    status, body = post(server, f"/api/runs/{RUNNING_STREAM}/pause")

    assert status == 200
    assert body == {"status": "pause_requested"}
    written = read_row(fixture_db, RUNNING_STREAM)
    assert written["extras_json"] == json.dumps({**extras, "pause_requested": True})
    assert {k: v for k, v in written.items() if k != "extras_json"} == {
        k: v for k, v in original.items() if k != "extras_json"
    }


def test_pause_twice_changes_nothing(server, fixture_db):
    post(server, f"/api/runs/{RUNNING_STREAM}/pause")
    after_first = read_row(fixture_db, RUNNING_STREAM)

    status, body = post(server, f"/api/runs/{RUNNING_STREAM}/pause")

    assert status == 200
    assert body == {"status": "pause_requested"}
    assert read_row(fixture_db, RUNNING_STREAM) == after_first


def test_resume_clears_flag(server, fixture_db):
    original = read_row(fixture_db, PAUSED_RUN)
    extras = json.loads(original["extras_json"])

    status, body = post(server, f"/api/runs/{PAUSED_RUN}/resume")

    assert status == 200
    assert body == {"status": "resume_requested"}
    written = read_row(fixture_db, PAUSED_RUN)
    assert written["extras_json"] == json.dumps({**extras, "pause_requested": False})
    assert written["status"] == "paused"


def test_job_run_now_returns_pending_fixture_request(server, fixture_db):
    before = count_rows(fixture_db)

    status, body = post(server, "/api/jobs/backfill_complete/run-now", {})

    assert status == 200
    assert body == {
        "new_run_id": PENDING_JOB_RUN_NOW,
        "cascade_downstream": False,
        "already_requested": True,
    }
    assert count_rows(fixture_db) == before


def test_job_run_now_row(server, fixture_db):
    status, body = post(
        server, "/api/jobs/backfill_complete/run-now", {"cascade_downstream": True}
    )

    assert status == 200
    assert re.fullmatch(r"run-now-backfill_complete-[0-9a-f]{12}", body["new_run_id"])
    assert body["cascade_downstream"] is True
    written = read_row(fixture_db, body["new_run_id"])
    assert DB_TIME_RE.fullmatch(written.pop("started_at"))
    assert written == {
        "run_id": body["new_run_id"],
        "pipeline": "backfill_complete",
        "status": "requested",
        "finished_at": None,
        "attempt": 1,
        "failed_step": None,
        "failed_watermark": None,
        "error_summary": None,
        "kind": "batch",
        "extras_json": '{"source": "run_now", "cascade_downstream": true}',
    }


def test_workflow_run_now_returns_pending_fixture_request(server, fixture_db):
    status, body = post(
        server,
        "/api/workflows/data_quality_gate/run-now",
        {"jobs": ["dq_check_orders"]},
    )

    assert status == 200
    assert body["new_run_id"] == PENDING_WORKFLOW_RUN_NOW
    assert body["already_requested"] is True


def test_workflow_run_now_all_jobs(server, fixture_db):
    status, body = post(server, "/api/workflows/data_quality_gate/run-now")

    assert status == 200
    assert body["selected_jobs"] == ["dq_check_orders", "dq_publish_report"]
    assert re.fullmatch(r"run-now-data_quality_gate-[0-9a-f]{12}", body["new_run_id"])
    written = read_row(fixture_db, body["new_run_id"])
    assert written["pipeline"] == "data_quality_gate"
    assert written["kind"] == "batch"
    assert written["extras_json"] == (
        '{"source": "run_now", "selected_jobs": ["dq_check_orders",'
        ' "dq_publish_report"]}'
    )


def test_workflow_run_now_keeps_workflow_order(server, fixture_db):
    status, body = post(
        server,
        "/api/workflows/data_quality_gate/run-now",
        {"jobs": ["dq_publish_report", "dq_check_orders"]},
    )

    assert status == 200
    assert body["selected_jobs"] == ["dq_check_orders", "dq_publish_report"]


def test_streaming_workflow_of_one_run_now(server, fixture_db):
    status, body = post(server, "/api/workflows/live_orders/run-now", {})

    assert status == 200
    assert body["selected_jobs"] == ["live_orders"]
    written = read_row(fixture_db, body["new_run_id"])
    assert written["pipeline"] == "live_orders"
    assert written["kind"] == "batch"


def test_new_request_shows_in_run_detail(server, fixture_db):
    set_status(fixture_db, PENDING_RESTART, "running")
    _, body = post(
        server, f"/api/runs/{FAILED_RUN}/restart", {"from_step": FAILED_STEP}
    )

    status, run, _ = server.get(f"/api/runs/{body['new_run_id']}")

    assert status == 200
    assert run["status"] == "requested"
    assert run["extras"] == {
        "restart_from_step": FAILED_STEP,
        "prior_run_id": FAILED_RUN,
    }
    assert run["actions"]["rerun_full"] is False


def test_actions_are_logged(server, fixture_db):
    set_status(fixture_db, PENDING_RESTART, "running")
    _, body = post(
        server, f"/api/runs/{FAILED_RUN}/restart", {"from_step": FAILED_STEP}
    )

    lines = wait_until(
        lambda: [row for row in server.log_text().splitlines() if "audit:" in row]
    )
    line = lines[0]

    assert 'action="restart"' in line
    assert f'run_id="{FAILED_RUN}"' in line
    assert f'new_run_id="{body["new_run_id"]}"' in line
    assert re.search(r'client="127\.0\.0\.1:\d+"', line)
    assert " INFO " in line


# -- ematix-flow reads what flow-web wrote -------------------------------------------


def test_ematix_flow_reads_every_action_row(server, fixture_db, tmp_path):
    from ematix_flow.run_log.sqlite import SqliteRunLog

    set_status(fixture_db, PENDING_RESTART, "running")
    requests = [
        (f"/api/runs/{FAILED_RUN}/restart", {"from_step": FAILED_STEP}),
        (f"/api/runs/{SUCCEEDED_RUN}/rerun", None),
        (f"/api/runs/{FAILED_STREAM}/restart", {"from_step": None}),
        ("/api/jobs/ingest_orders/run-now", {"cascade_downstream": True}),
        ("/api/workflows/data_quality_gate/run-now", {"jobs": ["dq_publish_report"]}),
    ]
    new_ids = []
    for path, body in requests:
        status, document = post(server, path, body)
        assert status == 200, (path, document)
        new_ids.append(document["new_run_id"])
    assert post(server, f"/api/runs/{RUNNING_STREAM}/pause")[0] == 200
    assert post(server, f"/api/runs/{PAUSED_RUN}/resume")[0] == 200
    cancelled = "run-now-backfill_complete-5d5efedf8ab3"
    assert post(server, f"/api/runs/{cancelled}/cancel")[0] == 200
    # SqliteRunLog runs DDL and switches the file to WAL, so it gets a copy.
    scratch = tmp_path / "scratch.sqlite"
    shutil.copyfile(fixture_db, scratch)
    run_log = SqliteRunLog(str(scratch))

    for run_id in new_ids:
        record = run_log.get_run(run_id)
        assert record is not None, run_id
        assert record.status == "requested"
        assert record.finished_at is None
        assert record.attempt == 1
    assert run_log.get_run(RUNNING_STREAM).extras["pause_requested"] is True
    assert run_log.get_run(PAUSED_RUN).extras["pause_requested"] is False
    assert run_log.get_run(cancelled).status == "cancelled"
    assert run_log.get_run(cancelled).finished_at is not None
    requested, total = run_log.list_runs(status="requested", limit=100)
    assert {record.run_id for record in requested} >= set(new_ids)
    everything, total = run_log.list_runs(limit=100000)
    assert len(everything) == total


# -- rules ---------------------------------------------------------------------------

CONFLICTS = [
    (
        f"/api/runs/{RUNNING_BATCH}/restart",
        {"from_step": "fetch_source"},
        f"run {RUNNING_BATCH} is running; only a failed run can be restarted from"
        " a step",
    ),
    (
        f"/api/runs/{FAILED_RUN}/restart",
        {"from_step": "no_such_step"},
        f"run {FAILED_RUN} has no step 'no_such_step'; its steps are"
        " discover_inputs, fetch_source, transform_partition_0,"
        " transform_partition_1, merge_partitions, write_destination",
    ),
    (
        f"/api/runs/{FAILED_RUN}/restart",
        {"from_step": "fetch_source"},
        f"run {FAILED_RUN} can be restarted only from its failed step"
        " 'transform_partition_1', not from 'fetch_source'",
    ),
    (
        f"/api/runs/{FAILED_RUN}/restart",
        {"from_step": None},
        f"run {FAILED_RUN} is a batch run; resuming from the watermark"
        " (from_step null) is only for failed streaming runs, so name a step in"
        " from_step or rerun the run",
    ),
    (
        f"/api/runs/{RUNNING_STREAM}/restart",
        {"from_step": None},
        f"run {RUNNING_STREAM} is running; only a failed streaming run can resume"
        " from its watermark",
    ),
    (
        f"/api/runs/{FAILED_STREAM}/restart",
        {"from_step": "read"},
        f"run {FAILED_STREAM} is a streaming run, which restarts from its last"
        " watermark; send from_step null",
    ),
    (
        f"/api/runs/{PENDING_RESTART}/restart",
        {"from_step": FAILED_STEP},
        f"run {PENDING_RESTART} is requested; only a failed run can be restarted"
        " from a step",
    ),
    (
        f"/api/runs/{RUNNING_BATCH}/rerun",
        None,
        f"run {RUNNING_BATCH} is running; only a finished run (succeeded, failed"
        " or cancelled) can be rerun",
    ),
    (
        f"/api/runs/{PENDING_RESTART}/rerun",
        None,
        f"run {PENDING_RESTART} is requested; only a finished run (succeeded,"
        " failed or cancelled) can be rerun",
    ),
    (
        f"/api/runs/{FAILED_RUN}/pause",
        None,
        f"run {FAILED_RUN} is failed; only a running run can be paused",
    ),
    (
        f"/api/runs/{PAUSED_RUN}/pause",
        None,
        f"run {PAUSED_RUN} is paused; only a running run can be paused",
    ),
    (
        f"/api/runs/{RUNNING_STREAM}/resume",
        None,
        f"run {RUNNING_STREAM} is running; only a paused run can be resumed",
    ),
    (
        f"/api/runs/{SUCCEEDED_RUN}/resume",
        None,
        f"run {SUCCEEDED_RUN} is succeeded; only a paused run can be resumed",
    ),
]


@pytest.mark.parametrize(
    ("path", "body", "detail"),
    CONFLICTS,
    ids=["/".join(c[0].split("/")[-2:]) for c in CONFLICTS],
)
def test_action_conflict_is_409(shared, path, body, detail):
    status, document = post(shared, path, body)

    assert status == 409
    assert document == {"detail": detail}


@pytest.mark.parametrize("action", ["restart", "rerun", "pause", "resume"])
def test_unknown_run_is_404(shared, action):
    status, document = post(shared, f"/api/runs/no-such-run/{action}", {})

    assert status == 404
    assert document == {"detail": "run no-such-run not found"}


NOT_FOUND = [
    ("/api/workflows/no_such_flow/run-now", "unknown workflow 'no_such_flow'"),
    ("/api/jobs/no_such_job/run-now", "unknown job 'no_such_job'"),
    (
        "/api/jobs/live_orders/run-now",
        "unknown job 'live_orders': it is a streaming pipeline; start it with POST"
        " /api/workflows/live_orders/run-now",
    ),
    # legacy_export has history but is no longer in the pipeline module.
    ("/api/jobs/legacy_export/run-now", "unknown job 'legacy_export'"),
]


@pytest.mark.parametrize(("path", "detail"), NOT_FOUND, ids=[n[0] for n in NOT_FOUND])
def test_unknown_run_now_target_is_404(shared, path, detail):
    status, document = post(shared, path, {})

    assert status == 404
    assert document == {"detail": detail}


BAD_BODIES = [
    (
        f"/api/runs/{FAILED_RUN}/restart",
        {"from_step": 3},
        "from_step must be a step name, or null to resume from the watermark, not 3",
    ),
    (
        f"/api/runs/{FAILED_RUN}/restart",
        {"from_stp": FAILED_STEP},
        "unknown field from_stp in the request body; expected from_step",
    ),
    (
        f"/api/runs/{FAILED_RUN}/rerun",
        {"from_step": FAILED_STEP},
        "unknown field from_step in the request body; expected an empty object",
    ),
    (
        "/api/workflows/data_quality_gate/run-now",
        {"jobs": "dq_check_orders"},
        'jobs must be a list of job names, not "dq_check_orders"',
    ),
    (
        "/api/workflows/data_quality_gate/run-now",
        {"jobs": [1]},
        'jobs must be a list of job names, e.g. {"jobs": ["dq_check_orders"]}',
    ),
    (
        "/api/workflows/data_quality_gate/run-now",
        {"jobs": []},
        "jobs is empty; name at least one job of workflow data_quality_gate"
        " (dq_check_orders, dq_publish_report) or leave jobs out to run them all",
    ),
    (
        "/api/workflows/data_quality_gate/run-now",
        {"jobs": ["ingest_orders"]},
        "job ingest_orders is not in workflow data_quality_gate; its jobs are"
        " dq_check_orders, dq_publish_report",
    ),
    (
        "/api/workflows/data_quality_gate/run-now",
        {"jobs": ["ingest_orders", "dq_check_orders", "nope"]},
        "jobs ingest_orders, nope are not in workflow data_quality_gate; its jobs"
        " are dq_check_orders, dq_publish_report",
    ),
    (
        "/api/jobs/backfill_complete/run-now",
        {"cascade_downstream": "yes"},
        'cascade_downstream must be true or false, not "yes"',
    ),
]


@pytest.mark.parametrize(
    ("path", "body", "detail"), BAD_BODIES, ids=[str(b[1]) for b in BAD_BODIES]
)
def test_invalid_body_is_400(shared, path, body, detail):
    status, document = post(shared, path, body)

    assert status == 400
    assert document == {"detail": detail}


def test_body_not_json_is_400(shared):
    status, document = post_raw(
        shared, f"/api/runs/{FAILED_RUN}/rerun", b"{oops", "application/json"
    )

    assert status == 400
    assert document["detail"].startswith("request body is not valid JSON")


def test_body_not_object_is_400(shared):
    status, document = post_raw(
        shared, f"/api/runs/{FAILED_RUN}/rerun", b"[]", "application/json"
    )

    assert status == 400
    assert document == {"detail": "request body must be a JSON object, such as {}"}


def test_form_body_is_415(shared):
    status, document = post_raw(
        shared,
        f"/api/runs/{FAILED_RUN}/restart",
        b"from_step=transform_partition_1",
        "application/x-www-form-urlencoded",
    )

    assert status == 415
    assert "Content-Type: application/json" in document["detail"]


def test_huge_body_is_413(shared):
    data = json.dumps({"from_step": "x" * 70000}).encode()
    status, document = post_raw(
        shared, f"/api/runs/{FAILED_RUN}/restart", data, "application/json"
    )

    assert status == 413
    assert "larger than 65536 bytes" in document["detail"]


def test_rejections_write_nothing(shared, shared_db):
    # Runs after the rejection tests above, as pytest keeps file order.
    assert file_digest(shared_db) == file_digest(FIXTURE_DB)


def test_get_on_action_path_is_not_an_action(shared):
    status, document, _ = shared.get(f"/api/runs/{FAILED_RUN}/restart")

    assert status == 405
    assert document == {
        "detail": f"method GET is not allowed on /api/runs/{FAILED_RUN}/restart;"
        " the restart action needs POST"
    }


def test_run_now_without_catalog_is_404(pyz, fixture_db):
    with run_pyz(pyz, "--run-log-url", f"sqlite:///{fixture_db}") as bare:
        status, document = post(bare, "/api/jobs/backfill_complete/run-now", {})

    assert status == 404
    assert document == {
        "detail": "unknown job 'backfill_complete'; flow-web has no job catalog, so"
        " start it with --module or --catalog to run workflows and jobs on demand"
    }


# -- concurrency ---------------------------------------------------------------------


def post_together(servers, path: str, body, count: int) -> list:
    """POST the same request `count` times at once, spread over `servers`."""
    barrier = threading.Barrier(count)

    def send(index: int):
        barrier.wait()
        return post(servers[index % len(servers)], path, body)

    with concurrent.futures.ThreadPoolExecutor(count) as pool:
        return list(pool.map(send, range(count)))


def requested_rows(db, pipeline: str) -> list:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        rows = connection.execute(
            "SELECT run_id, extras_json FROM run_records WHERE pipeline = ?"
            " AND status = 'requested'",
            (pipeline,),
        ).fetchall()
    return [(run_id, json.loads(extras)) for run_id, extras in rows]


def test_concurrent_restarts_write_one_row(pyz, fixture_db):
    # Three bursts, each consumed before the next, since one burst does not
    # always overlap two transactions.
    set_status(fixture_db, PENDING_RESTART, "running")
    with serve_copy(pyz, fixture_db) as first, serve_copy(pyz, fixture_db) as second:
        for _ in range(3):
            results = post_together(
                [first, second],
                f"/api/runs/{FAILED_RUN}/restart",
                {"from_step": FAILED_STEP},
                10,
            )

            assert [status for status, _ in results] == [200] * 10
            new_ids = {document["new_run_id"] for _, document in results}
            assert len(new_ids) == 1
            inserted = [document["already_requested"] for _, document in results]
            assert inserted.count(False) == 1
            pending = [
                run_id
                for run_id, extras in requested_rows(fixture_db, "build_sales_mart")
                if extras.get("prior_run_id") == FAILED_RUN
            ]
            assert pending == list(new_ids)
            set_status(fixture_db, pending[0], "running")


def test_concurrent_run_now_writes_one_row(server, fixture_db):
    results = post_together(
        [server], "/api/jobs/ingest_orders/run-now", {"cascade_downstream": True}, 10
    )

    assert [status for status, _ in results] == [200] * 10
    assert len({document["new_run_id"] for _, document in results}) == 1
    assert len(requested_rows(fixture_db, "ingest_orders")) == 1


# -- a database this process cannot write ---------------------------------------------

# Root ignores file modes because it has the CAP_DAC_OVERRIDE capability. As
# root, the server therefore runs under setpriv without it, and without
# CAP_DAC_READ_SEARCH and CAP_FOWNER, so the kernel applies the file modes to it
# as to any other user.
DROP_FILE_CAPABILITIES = (
    "setpriv",
    "--inh-caps=-all",
    "--bounding-set=-dac_override,-dac_read_search,-fowner",
    "--",
)


@pytest.fixture
def read_only_db(fixture_db, tmp_path):
    """A fixture copy in a folder of its own, the file mode 0444 and the
    folder 0555, plus the Python command that cannot write them."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    db = folder / "runlog.sqlite"
    shutil.copyfile(fixture_db, db)
    db.chmod(0o444)
    folder.chmod(0o555)
    python = sys.executable
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip(
                "running as root needs setpriv (util-linux) to drop write rights"
            )
        wrapper = tmp_path / "python-without-write-rights"
        command = " ".join(DROP_FILE_CAPABILITIES)
        wrapper.write_text(f'#!/bin/sh\nexec {command} "{sys.executable}" "$@"\n')
        wrapper.chmod(0o755)
        python = str(wrapper)
    yield db, python
    folder.chmod(0o755)
    db.chmod(0o644)


def test_read_only_setup_denies_writes(read_only_db):
    db, python = read_only_db
    probe = subprocess.run(
        [python, "-c", f"open({str(db)!r}, 'ab')"], capture_output=True, text=True
    )

    assert probe.returncode != 0
    assert "PermissionError" in probe.stderr


def test_read_only_database_reads_work(pyz, read_only_db):
    db, python = read_only_db
    with serve_copy(pyz, db, python=python) as running:
        for path in ("/api/runs", f"/api/runs/{FAILED_RUN}", "/api/pipelines"):
            status, _, _ = running.get(path)
            assert status == 200, path


ACTIONS = [
    (f"/api/runs/{SUCCEEDED_RUN}/rerun", None),
    (f"/api/runs/{FAILED_STREAM}/restart", {"from_step": None}),
    (f"/api/runs/{RUNNING_STREAM}/pause", None),
    (f"/api/runs/{PAUSED_RUN}/resume", None),
    ("/api/jobs/ingest_orders/run-now", {}),
    ("/api/workflows/data_quality_gate/run-now", {"jobs": ["dq_publish_report"]}),
]


def test_read_only_database_actions_are_503(pyz, read_only_db):
    db, python = read_only_db
    digest = file_digest(db)
    with serve_copy(pyz, db, python=python) as running:
        results = [post(running, path, body) for path, body in ACTIONS]

    for (path, _), (status, document) in zip(ACTIONS, results):
        assert status == 503, path
        assert "is read-only for this process" in document["detail"], path
    assert file_digest(db) == digest


def test_cancel_request(server, fixture_db):
    pending = "req-e4123ce34ed14a89ab0aac7e307d78f1"
    status, body = post(server, f"/api/runs/{pending}/cancel")
    assert status == 200
    assert body == {"status": "cancelled"}
    row = read_row(fixture_db, pending)
    assert row["status"] == "cancelled"
    assert row["finished_at"] is not None
    assert json.loads(row["extras_json"]) == {
        "restart_from_step": "transform_partition_1",
        "prior_run_id": "build_sales_mart-20261204T071535-1",
        "cancelled_by": "flow-web",
    }
    detail = server.get(f"/api/runs/{pending}")[1]
    assert detail["actions"]["cancel"] is False
    assert detail["actions"]["rerun_full"] is True


def test_cancel_only_requested(server, fixture_db):
    failed = "build_sales_mart-20261204T071535-1"
    before = count_rows(fixture_db)
    status, body = post(server, f"/api/runs/{failed}/cancel")
    assert status == 409
    assert body["detail"] == (
        f"run {failed} is failed; only a requested run that no worker has picked"
        " up can be cancelled"
    )
    assert count_rows(fixture_db) == before


def test_pause_not_offered_twice(server):
    running = "live_orders-stream-20261204T153356Z-773c23f0"
    assert server.get(f"/api/runs/{running}")[1]["actions"]["pause"] is True
    assert post(server, f"/api/runs/{running}/pause")[0] == 200
    assert server.get(f"/api/runs/{running}")[1]["actions"]["pause"] is False
    # Asking again is harmless and answers the same.
    assert post(server, f"/api/runs/{running}/pause") == (
        200,
        {"status": "pause_requested"},
    )
