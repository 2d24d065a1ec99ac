"""Start-up through the built zipapp: flags, bad input and the catalog
subcommand. Each bad input stops with exit status 2 and one line that names
the value and the fix."""

from __future__ import annotations

import glob
import json
import re
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CAPTURED_AT, FIXTURES, run_pyz, run_pyz_to_exit, wait_until

DEMO_ENV = {"PYTHONPATH": str(FIXTURES)}


def one_line_error(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_version(pyz):
    result = run_pyz_to_exit(pyz, "--version")
    assert result.returncode == 0
    assert result.stdout.strip() == "flow-web 0.1.0"


def test_help_lists_flags(pyz):
    result = run_pyz_to_exit(pyz, "--help")
    for flag in (
        "--bind",
        "--host",
        "--port",
        "--log-level",
        "--token",
        "--run-log-url",
        "--module",
        "--catalog",
        "--demo",
        "--read-only",
    ):
        assert flag in result.stdout


def test_missing_database_file(pyz, tmp_path):
    missing = tmp_path / "nope.db"
    line = one_line_error(run_pyz_to_exit(pyz, "--run-log-url", f"sqlite:///{missing}"))
    assert line == (
        f"flow-web: error: RunLog file {missing} does not exist; pass --run-log-url"
        " sqlite:////path/to/run_log.db for an existing ematix-flow RunLog, or --demo"
    )


def test_file_that_is_not_sqlite(pyz, tmp_path):
    bogus = tmp_path / "notes.txt"
    bogus.write_text("hello, not a database\n" * 10)
    line = one_line_error(run_pyz_to_exit(pyz, "--run-log-url", str(bogus)))
    assert line == (
        f"flow-web: error: RunLog file {bogus} is not a SQLite database; point"
        " --run-log-url at the file ematix-flow writes (run_log.db)"
    )


def test_unknown_url_scheme(pyz):
    line = one_line_error(
        run_pyz_to_exit(pyz, "--run-log-url", "s3://user:secret@bucket/prefix")
    )
    assert line.startswith(
        "flow-web: error: unknown RunLog URL scheme 's3' in 's3://user:***@bucket/prefix'"
    )
    assert "secret" not in line


def test_no_run_log_given(pyz, tmp_path):
    env = {
        "HOME": str(tmp_path),
        "EMATIX_FLOW_RUN_LOG_URL": "",
        "EMATIX_FLOW_RUN_LOG_PATH": "",
    }
    line = one_line_error(run_pyz_to_exit(pyz, env=env))
    assert line.startswith(
        f"flow-web: error: no RunLog given and {tmp_path}/.ematix-flow/run_log.db does"
        " not exist; pass --run-log-url"
    )
    assert line.endswith("or run with --demo to try flow-web")


def test_run_log_path_environment(pyz, fixture_db):
    with run_pyz(
        pyz,
        env={
            "EMATIX_FLOW_RUN_LOG_PATH": str(fixture_db),
            "EMATIX_FLOW_RUN_LOG_URL": "",
        },
    ) as server:
        status, body, _ = server.get("/api/runs?limit=1")
    assert status == 200
    assert body["total"] == 551


def test_run_log_url_environment_wins(pyz, fixture_db, tmp_path):
    env = {
        "EMATIX_FLOW_RUN_LOG_URL": f"sqlite:///{fixture_db}",
        "EMATIX_FLOW_RUN_LOG_PATH": str(tmp_path / "missing.db"),
    }
    with run_pyz(pyz, env=env) as server:
        assert f"RunLog sqlite:///{str(fixture_db).lstrip('/')}" in server.log_text()


def test_module_that_fails_to_import(pyz, fixture_db, tmp_path):
    (tmp_path / "broken_pipelines.py").write_text(
        "raise RuntimeError('boom at import')\n"
    )
    result = run_pyz_to_exit(
        pyz,
        "--run-log-url",
        str(fixture_db),
        "--module",
        "broken_pipelines",
        env={"PYTHONPATH": str(tmp_path)},
    )
    line = one_line_error(result)
    assert line.startswith(
        "flow-web: error: importing pipeline module 'broken_pipelines' failed:"
        " RuntimeError: boom at import"
    )


def test_catalog_file_not_json(pyz, fixture_db, tmp_path):
    catalog = tmp_path / "catalog.json"
    catalog.write_text("{not json")
    line = one_line_error(
        run_pyz_to_exit(
            pyz, "--run-log-url", str(fixture_db), "--catalog", str(catalog)
        )
    )
    assert line.startswith(f"flow-web: error: catalog file {catalog} is not valid JSON")


@pytest.mark.parametrize(
    "document, problem",
    [
        ([], "the top level must be an object"),
        ({"format": "x", "version": 1}, "\"format\" must be 'flow-web-catalog'"),
        ({"format": "flow-web-catalog", "version": 9}, '"version" must be 1, not 9'),
        (
            {
                "format": "flow-web-catalog",
                "version": 1,
                "jobs": [{"name": "a", "schedule": "every day"}],
            },
            "jobs[0] (a): schedule 'every day' is not a valid cron expression",
        ),
        (
            {
                "format": "flow-web-catalog",
                "version": 1,
                "jobs": [{"name": "a", "timezone": "Mars/Olympus"}],
            },
            "jobs[0] (a): timezone 'Mars/Olympus' is not an IANA time zone",
        ),
        (
            {
                "format": "flow-web-catalog",
                "version": 1,
                "jobs": [{"name": "a", "depends_on": ["b"]}],
            },
            "job a depends on unknown jobs ['b']",
        ),
    ],
)
def test_catalog_file_wrong_schema(pyz, fixture_db, tmp_path, document, problem):
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps(document))
    line = one_line_error(
        run_pyz_to_exit(
            pyz, "--run-log-url", str(fixture_db), "--catalog", str(catalog)
        )
    )
    assert line.startswith(
        f"flow-web: error: catalog file {catalog} does not match the catalog schema:"
        f" {problem};"
    )


def test_port_in_use(pyz, fixture_db):
    with run_pyz(pyz, "--run-log-url", str(fixture_db)) as server:
        port = server.url.rsplit(":", 1)[1]
        result = run_pyz_to_exit(pyz, "--run-log-url", str(fixture_db), "--port", port)
    line = one_line_error(result)
    assert line.startswith(f"flow-web: error: cannot listen on 127.0.0.1:{port}:")


def test_unwritable_extraction_folder(pyz, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    root = blocker / "shiv"
    result = run_pyz_to_exit(pyz, "--version", env={"SHIV_ROOT": str(root)})
    line = one_line_error(result)
    assert line.startswith(f"flow-web: error: cannot unpack into {root} (")
    assert line.endswith(
        "set SHIV_ROOT to a writable folder, for example"
        " SHIV_ROOT=/tmp/flow-web python3 flow-web.pyz"
    )


def test_shiv_root_is_used(pyz, tmp_path):
    root = tmp_path / "unpacked"
    result = run_pyz_to_exit(pyz, "--version", env={"SHIV_ROOT": str(root)})
    assert result.returncode == 0
    unpacked = [p for p in root.iterdir() if p.is_dir()]
    assert len(unpacked) == 1
    assert unpacked[0].name.startswith("flow-web.pyz_")
    assert (unpacked[0] / "site-packages" / "flow_web.py").exists()


def test_catalog_subcommand_round_trip(pyz, fixture_db, tmp_path):
    output = tmp_path / "catalog.json"
    result = run_pyz_to_exit(
        pyz, "catalog", "--module", "demo_pipelines", "-o", str(output), env=DEMO_ENV
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(output.read_text())
    assert document["format"] == "flow-web-catalog"
    assert [w["name"] for w in document["workflows"]] == [
        "warehouse_etl",
        "data_quality_gate",
        "realtime_orders",
    ]
    gate = next(w for w in document["workflows"] if w["name"] == "data_quality_gate")
    assert gate["triggered_by"] == {
        "all": ["ingest_orders", {"any": ["feature_views_ready", "backfill_complete"]}]
    }
    with run_pyz(
        pyz,
        "--run-log-url",
        str(fixture_db),
        "--catalog",
        str(output),
        "--now",
        CAPTURED_AT,
        env={"PYTHONPATH": ""},
    ) as from_file:
        file_views = from_file.get("/api/workflows")[1]
        file_dag = from_file.get("/api/dag")[1]
    with run_pyz(
        pyz,
        "--run-log-url",
        str(fixture_db),
        "--module",
        "demo_pipelines",
        "--now",
        CAPTURED_AT,
        env=DEMO_ENV,
    ) as from_module:
        module_views = from_module.get("/api/workflows")[1]
        module_dag = from_module.get("/api/dag")[1]
    assert file_views == module_views
    assert file_dag == module_dag


def test_module_without_ematix_flow(pyz, fixture_db, tmp_path):
    # A plain venv has no ematix-flow; the message points to --catalog.
    bare = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True
    )
    result = run_pyz_to_exit(
        pyz,
        "--run-log-url",
        str(fixture_db),
        "--module",
        "demo_pipelines",
        python=str(bare / "bin" / "python"),
        env=DEMO_ENV,
    )
    line = one_line_error(result)
    assert line.startswith(
        "flow-web: error: --module needs ematix-flow, which is not importable here"
    )
    assert "--catalog catalog.json" in line


def test_history_only_database(pyz, tmp_path):
    # A RunLog from before run_records existed: run_log, attempt_state and
    # pipeline_claims only.
    path = tmp_path / "old.db"
    connection = sqlite3.connect(path)
    connection.executescript("""
        CREATE TABLE run_log (pipeline_name TEXT PRIMARY KEY, last_run_at TEXT NOT NULL,
                              success INTEGER NOT NULL);
        CREATE TABLE attempt_state (pipeline_name TEXT PRIMARY KEY,
            attempt_count INTEGER NOT NULL, last_attempt_at TEXT NOT NULL,
            gave_up INTEGER NOT NULL);
        CREATE TABLE pipeline_claims (pipeline_name TEXT PRIMARY KEY,
            claim_token TEXT NOT NULL, worker_id TEXT NOT NULL,
            claimed_at TEXT NOT NULL, expires_at TEXT NOT NULL);
        INSERT INTO run_log VALUES ('nightly', '2026-12-04T07:14:33Z', 1),
                                   ('flaky', '2026-12-04T06:05:03Z', 0);
        INSERT INTO attempt_state VALUES ('flaky', 2, '2026-12-04T06:05:00Z', 0);
        INSERT INTO pipeline_claims VALUES ('sync', 'tok', 'worker-1',
            '2026-12-04T15:33:11Z', '2026-12-04T15:38:11Z'),
            ('_scheduler_singleton', 'tok2', 'leader', '2026-12-04T15:33:11Z',
             '2026-12-04T15:38:11Z');
    """)
    connection.close()
    with run_pyz(pyz, "--run-log-url", str(path), "--now", CAPTURED_AT) as server:
        status, body, _ = server.get("/api/pipelines")
        runs = server.get("/api/runs")[1]
        detail = server.get("/api/runs/run_log:flaky")[1]
        log_text = server.log_text()
    assert status == 200
    by_name = {entry["name"]: entry for entry in body["pipelines"]}
    assert sorted(by_name) == ["flaky", "nightly", "sync"]
    assert by_name["flaky"]["latest_run"]["status"] == "failed"
    assert by_name["flaky"]["latest_run"]["attempt"] == 2
    assert by_name["flaky"]["retry_state"] == {
        "attempt_count": 2,
        "last_attempt_at": "2026-12-04T06:05:00.000Z",
        "gave_up": False,
    }
    assert by_name["nightly"]["latest_run"]["finished_at"] == "2026-12-04T07:14:33.000Z"
    assert by_name["nightly"]["latest_run"]["duration_ms"] is None
    assert by_name["sync"]["latest_run"]["status"] == "running"
    assert by_name["sync"]["claim"]["worker_id"] == "worker-1"
    assert runs["total"] == 3
    assert detail["actions"]["rerun_full"] is False
    assert "has no run_records table" in log_text


def test_sqlite_without_runlog_tables(pyz, tmp_path):
    other = tmp_path / "other.db"
    connection = sqlite3.connect(other)
    connection.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    connection.close()
    line = one_line_error(run_pyz_to_exit(pyz, "--run-log-url", str(other)))
    assert line == (
        f"flow-web: error: RunLog file {other} is a SQLite database without any of"
        " ematix-flow's RunLog tables (run_log, attempt_state, pipeline_claims,"
        " run_records); point --run-log-url at the file the scheduler writes"
    )


def test_empty_sqlite_file_starts_with_warning(pyz, tmp_path):
    empty = tmp_path / "new.db"
    empty.write_bytes(b"")
    with run_pyz(pyz, "--run-log-url", str(empty)) as server:
        status, body, _ = server.get("/api/pipelines")
        log_text = server.log_text()
    assert status == 200
    assert body == {"pipelines": []}
    assert "has no tables yet" in log_text


@pytest.mark.parametrize(
    "document, problem",
    [
        (
            {"jobs": [{"name": "a", "schedul": "* * * * *"}]},
            "jobs[0] has unknown keys ['schedul']; the keys are name, kind,"
            " schedule, timezone, depends_on, retry",
        ),
        (
            {
                "jobs": [
                    {"name": "a", "depends_on": ["b"]},
                    {"name": "b", "depends_on": ["a"]},
                ]
            },
            "depends_on forms a cycle: a -> b -> a",
        ),
        (
            {
                "jobs": [{"name": "a"}],
                "workflows": [
                    {"name": "w", "jobs": ["a"]},
                    {"name": "w", "jobs": ["a"]},
                ],
            },
            "workflow names appear twice: w",
        ),
        (
            {
                "jobs": [{"name": "a"}],
                "workflows": [
                    {
                        "name": "w",
                        "jobs": ["a"],
                        "triggered_by": {"any": ["a", "ghost"]},
                    }
                ],
            },
            "workflow w is triggered by unknown names ['ghost']",
        ),
        (
            {
                "jobs": [{"name": "a"}],
                "workflows": [{"name": "w", "jobs": ["a"], "triggered_by": "w"}],
            },
            "workflow w is triggered by itself",
        ),
    ],
)
def test_catalog_file_mistakes(pyz, fixture_db, tmp_path, document, problem):
    catalog = tmp_path / "catalog.json"
    catalog.write_text(
        json.dumps({"format": "flow-web-catalog", "version": 1, **document})
    )
    line = one_line_error(
        run_pyz_to_exit(
            pyz, "--run-log-url", str(fixture_db), "--catalog", str(catalog)
        )
    )
    assert line.startswith(
        f"flow-web: error: catalog file {catalog} does not match the catalog schema:"
        f" {problem};"
    )


def test_catalog_output_folder_missing(pyz, tmp_path):
    target = tmp_path / "missing" / "catalog.json"
    result = run_pyz_to_exit(
        pyz, "catalog", "--module", "demo_pipelines", "-o", str(target), env=DEMO_ENV
    )
    line = one_line_error(result)
    assert line.startswith(f"flow-web: error: cannot write catalog file {target}:")


def test_module_that_exits(pyz, fixture_db, tmp_path):
    (tmp_path / "exiting_pipelines.py").write_text("import sys\nsys.exit(3)\n")
    result = run_pyz_to_exit(
        pyz,
        "--run-log-url",
        str(fixture_db),
        "--module",
        "exiting_pipelines",
        env={"PYTHONPATH": str(tmp_path)},
    )
    line = one_line_error(result)
    assert line.startswith(
        "flow-web: error: importing pipeline module 'exiting_pipelines' failed: it"
        " called sys.exit(3)"
    )


def test_sigterm_removes_demo_folder(pyz):
    with run_pyz(pyz, "--demo") as server:
        match = re.search(r"demo RunLog written to (\S+)", server.log_text())
        folder = Path(match.group(1)).parent
        assert folder.exists()
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(20) == 0
        assert wait_until(lambda: "flow-web stopped" in server.log_text())
    assert not folder.exists()


OLD_PYTHONS = sorted(glob.glob("/root/.pyenv/versions/3.[5-8].*/bin/python3"))


@pytest.mark.parametrize("python", OLD_PYTHONS)
def test_old_python_is_refused(pyz, python):
    line = one_line_error(run_pyz_to_exit(pyz, "--version", python=python))
    assert line.startswith(
        "flow-web: error: flow-web needs CPython 3.9 or newer, not 3."
    )


def test_negative_late_after(pyz, fixture_db):
    result = run_pyz_to_exit(
        pyz, "--run-log-url", str(fixture_db), "--late-after", "-5"
    )
    assert one_line_error(result) == (
        "flow-web: error: --late-after -5 is negative; give the grace period in"
        " seconds, e.g. --late-after 900"
    )


@pytest.mark.parametrize("scheme", ["sqlite:///", "file:"])
def test_sqlite_url_with_options(pyz, fixture_db, scheme):
    url = f"{scheme}{fixture_db}?mode=ro"
    line = one_line_error(run_pyz_to_exit(pyz, "--run-log-url", url))
    assert line == (
        f"flow-web: error: RunLog URL {url!r} has options (mode=ro) that flow-web"
        " does not read; remove them. flow-web opens the file read-only for its"
        " pages anyway, and --read-only turns off the actions"
    )


@pytest.mark.parametrize("prefix", ["file:", "file://"])
def test_file_url(pyz, fixture_db, prefix):
    with run_pyz(pyz, "--run-log-url", f"{prefix}{fixture_db}") as server:
        status, body, _ = server.get("/api/runs?limit=1")
    assert status == 200
    assert body["total"] == 551


def test_catalog_subcommand_module_fails(pyz, tmp_path):
    (tmp_path / "broken_pipelines.py").write_text("raise RuntimeError('boom')\n")
    result = run_pyz_to_exit(
        pyz,
        "catalog",
        "--module",
        "broken_pipelines",
        "-o",
        str(tmp_path / "catalog.json"),
        env={"PYTHONPATH": str(tmp_path)},
    )
    assert one_line_error(result) == (
        "flow-web: error: importing pipeline module 'broken_pipelines' failed:"
        " RuntimeError: boom; check that it imports with `python3 -c 'import"
        " broken_pipelines'` in this folder"
    )
    assert not (tmp_path / "catalog.json").exists()
