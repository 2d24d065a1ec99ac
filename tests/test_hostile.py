"""Hostile input: requests with out-of-range numbers, deeply nested or
unencodable JSON, and RunLogs whose names and texts contain HTML, script,
very long strings, control characters and invalid UTF-8."""

from __future__ import annotations

import json
import sqlite3
from urllib.parse import quote

import pytest
from conftest import CAPTURED_AT, FIXTURE_DB, run_pyz
from starlette.testclient import TestClient

import flow_web

NOW = flow_web.parse_timestamp(CAPTURED_AT)
PAGE_HEADERS = {"X-Requested-By": "flow-web", "Content-Type": "application/json"}


def make_client(path) -> TestClient:
    settings = flow_web.Config(run_log_url=str(path), now=NOW)
    store = flow_web.open_run_log(settings)
    app = flow_web.build_app(settings, store, flow_web.Catalog())
    return TestClient(app, base_url="http://localhost")


@pytest.fixture
def client(fixture_db):
    return make_client(fixture_db)


# -- hostile requests ---------------------------------------------------------------


@pytest.mark.parametrize(
    "query, detail",
    [
        (
            "offset=9223372036854775808",
            "offset=9223372036854775808 is above the maximum 9223372036854775807",
        ),
        ("limit=1_0", "limit='1_0' is not a whole number; use e.g. limit=50"),
        ("limit=%2B5", "limit='+5' is not a whole number; use e.g. limit=50"),
        ("offset=%EF%BC%91", "offset='１' is not a whole number; use e.g. offset=0"),
    ],
)
def test_runs_rejects_odd_integers(client, query, detail):
    response = client.get(f"/api/runs?{query}")

    assert response.status_code == 400
    assert response.json() == {"detail": detail}


def test_huge_limit_is_cut_to_maximum(client):
    response = client.get("/api/runs?limit=99999999999999999999999")

    assert response.status_code == 200
    assert len(response.json()["runs"]) == response.json()["total"]
    assert response.json()["next_offset"] is None


def test_largest_offset_is_empty_page(client):
    response = client.get("/api/runs?offset=9223372036854775807")

    assert response.status_code == 200
    assert response.json()["runs"] == []


def test_deeply_nested_body_is_400(client):
    body = "[" * 60_000

    response = client.post("/api/runs/x/rerun", content=body, headers=PAGE_HEADERS)

    assert response.status_code == 400
    assert response.json() == {"detail": "request body is nested too deeply to parse"}


def test_lone_surrogate_in_body_is_400(fixture_db):
    settings = flow_web.Config(run_log_url=str(fixture_db), now=NOW)
    catalog = flow_web.Catalog(
        jobs=(flow_web.Job("extract"),),
        workflows=(flow_web.Workflow("nightly", ("extract",)),),
    )
    app = flow_web.build_app(settings, flow_web.open_run_log(settings), catalog)
    client = TestClient(app, base_url="http://localhost")
    body = '{"jobs": ["\\ud800"]}'

    response = client.post(
        "/api/workflows/nightly/run-now", content=body, headers=PAGE_HEADERS
    )

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "detail": "job \ufffd is not in workflow nightly; its jobs are extract"
    }


def test_encode_json_replaces_lone_surrogates():
    assert flow_web.encode_json({"name": "a\ud800b"}) == (
        '{"name":"a\ufffdb"}'.encode()
    )
    assert json.loads(flow_web.encode_json(["<script>"])) == ["<script>"]


# -- a hostile RunLog ---------------------------------------------------------------

HTML = '<img src=x onerror="window.pwned=1">'
SCRIPT = "<script>window.pwned=2</script>"
LONG = "long_" + "ab" * 50_000
CONTROL = "ctl\x00\x01\x07\x08\x1b[31mred\x1b[0m\r\n\t\x7f\u202eevil\u200b"
# Bytes that are not UTF-8, stored in TEXT columns as some other tool might.
INVALID = b"bad\xff\xfe\xc3(utf8"
INVALID_READ = "bad\ufffd\ufffd\ufffd(utf8"
HOSTILE_TEXTS = {"html": HTML, "script": SCRIPT, "long": LONG, "control": CONTROL}
STARTED = "2026-12-04T15:00:00Z"
FINISHED = "2026-12-04T15:05:00Z"


def hostile_extras(text: str) -> str:
    steps = [
        {"name": "extract", "status": "succeeded", "depends_on": []},
        {"name": text, "status": "failed", "depends_on": ["extract"], "error": text},
        {"name": "publish", "status": "pending", "depends_on": [text]},
    ]
    return json.dumps({"steps": steps, "note": text, text[:200]: [text]})


def hostile_rows() -> list:
    """Run rows whose job name, step names, error text and extras are each
    hostile text: one failed run per kind, plus a run of each job that
    succeeded, so every view has them."""
    rows = []
    for kind, text in HOSTILE_TEXTS.items():
        rows.append(
            (f"hostile-{kind}-1", text, "succeeded", STARTED, FINISHED, 1)
            + (None, None, None, "batch", "{}")
        )
        rows.append(
            (f"hostile-{kind}-2", text, "failed", FINISHED, FINISHED, 1)
            + (text, None, text, "batch", hostile_extras(text))
        )
    return rows


def write_hostile_runlog(path) -> None:
    connection = sqlite3.connect(path)
    for statement in flow_web.SQLITE_RUNLOG_DDL:
        connection.execute(statement)
    connection.executemany(
        "INSERT INTO run_records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        hostile_rows(),
    )
    # SQLite stores these bytes as TEXT without checking them.
    connection.execute(
        "INSERT INTO run_records VALUES ('hostile-invalid-2', CAST(? AS TEXT),"
        " 'failed', ?, ?, 1, CAST(? AS TEXT), NULL, CAST(? AS TEXT), 'batch',"
        " CAST(? AS TEXT))",
        (
            INVALID,
            FINISHED,
            FINISHED,
            INVALID,
            INVALID,
            b'{"note": "' + INVALID + b'"}',
        ),
    )
    # Values of other types than the columns declare, which SQLite keeps.
    connection.execute(
        "INSERT INTO run_records VALUES ('hostile-types-2', 'typed', 'failed',"
        " 1796396400, 2.5, 'two', 42, X'0102', X'00ff', 7, X'7b7d')"
    )
    connection.commit()
    connection.close()


@pytest.fixture(scope="module")
def hostile_server(pyz, tmp_path_factory):
    path = tmp_path_factory.mktemp("hostile") / "hostile.sqlite"
    write_hostile_runlog(path)
    with run_pyz(pyz, "--run-log-url", f"sqlite:///{path}", "--now", CAPTURED_AT) as (
        server
    ):
        yield server


def get_json(server, path: str):
    status, document, headers = server.get(path)
    assert status == 200, (path[:200], document)
    assert headers["content-type"] == "application/json"
    return document


def test_hostile_runs_list_intact(hostile_server):
    document = get_json(hostile_server, "/api/runs?limit=1000")
    pipelines = {run["run_id"]: run["pipeline"] for run in document["runs"]}

    for kind, text in HOSTILE_TEXTS.items():
        assert pipelines[f"hostile-{kind}-1"] == text
        assert pipelines[f"hostile-{kind}-2"] == text
    assert pipelines["hostile-invalid-2"] == INVALID_READ


@pytest.mark.parametrize("kind", sorted(HOSTILE_TEXTS))
def test_hostile_run_detail_intact(hostile_server, kind):
    text = HOSTILE_TEXTS[kind]
    run = get_json(hostile_server, f"/api/runs/hostile-{kind}-2")

    assert run["pipeline"] == text
    assert run["failed_step"] == text
    assert run["error_summary"] == text
    assert run["extras"]["note"] == text
    assert run["extras"][text[:200]] == [text]
    assert [step["name"] for step in run["steps"]] == ["extract", text, "publish"]
    assert run["steps"][1]["error"] == text
    assert run["actions"]["restart_from_step"] == [text]


def test_hostile_invalid_utf8_run_detail(hostile_server):
    run = get_json(hostile_server, "/api/runs/hostile-invalid-2")

    assert run["pipeline"] == INVALID_READ
    assert run["failed_step"] == INVALID_READ
    assert run["error_summary"] == INVALID_READ
    assert run["extras"] == {"note": INVALID_READ}


def test_hostile_column_types_read_as_text(hostile_server):
    run = get_json(hostile_server, "/api/runs/hostile-types-2")

    assert run["started_at"] == "1796396400"
    assert run["finished_at"] == "2.5"
    assert run["attempt"] == 1
    assert run["failed_step"] == "42"
    assert run["failed_watermark"] == "\x01\x02"
    assert run["error_summary"] == "\x00\ufffd"
    assert run["kind"] == "7"
    assert run["extras"] == {}


@pytest.mark.parametrize("kind", sorted(HOSTILE_TEXTS))
def test_hostile_step_graph_intact(hostile_server, kind):
    text = HOSTILE_TEXTS[kind]
    layout = get_json(
        hostile_server, f"/api/dag/layout?run={quote(f'hostile-{kind}-2')}"
    )
    nodes = {node["name"]: node for node in layout["nodes"]}

    assert sorted(nodes) == sorted(["extract", text, "publish"])
    assert nodes[text]["error"] == text
    assert (nodes[text]["width"], nodes[text]["height"]) < (1000, 100)


def test_hostile_job_documents_intact(hostile_server):
    names = sorted([*HOSTILE_TEXTS.values(), INVALID_READ, "typed"])
    pipelines = get_json(hostile_server, "/api/pipelines")["pipelines"]
    workflows = get_json(hostile_server, "/api/workflows")["workflows"]
    dag = get_json(hostile_server, "/api/dag")
    layout = get_json(hostile_server, "/api/dag/layout")

    assert sorted(entry["name"] for entry in pipelines) == names
    assert sorted(entry["name"] for entry in workflows) == names
    assert sorted(node["name"] for node in dag["nodes"]) == names
    assert sorted(node["name"] for node in layout["nodes"]) == names
    assert max(node["width"] for node in layout["nodes"]) < 1000


@pytest.mark.parametrize("kind", sorted(HOSTILE_TEXTS))
def test_hostile_names_in_urls(hostile_server, kind):
    text = HOSTILE_TEXTS[kind]
    runs = get_json(hostile_server, f"/api/runs?pipeline={quote(text)}")
    focus = get_json(hostile_server, f"/api/dag/layout?focus={quote(text)}")
    workflow = get_json(hostile_server, f"/api/dag/layout?workflow={quote(text)}")

    assert runs["total"] == 2
    assert [node["name"] for node in focus["nodes"]] == [text]
    assert [node["name"] for node in workflow["nodes"]] == [text]


# -- the hostile RunLog in the browser ---------------------------------------------

VIEWPORT = {"width": 1280, "height": 800}
ALL_NAMES = [*HOSTILE_TEXTS.values(), INVALID_READ, "typed"]
# The text each view shows, and for graph views the names of the drawn nodes
# (a node shows at most NODE_LABEL_MAX_CHARS characters of a name, and of a
# name like pkg.job only the part after the last dot).
VIEW_TEXTS = {
    "#/workflows": ALL_NAMES,
    "#/jobs": ALL_NAMES,
    "#/runs": ALL_NAMES,
    "#/dag": [SCRIPT, CONTROL, LONG[:40]],
    **{f"#/runs/hostile-{kind}-2": [text] for kind, text in HOSTILE_TEXTS.items()},
    "#/runs/hostile-invalid-2": [INVALID_READ],
    **{f"#/dag/{quote(text)}": [] for text in HOSTILE_TEXTS.values()},
}
GRAPH_NAMES = {
    "#/dag": ALL_NAMES,
    **{f"#/dag/{quote(text)}": [text] for text in HOSTILE_TEXTS.values()},
}
# What the page built from the hostile strings, if it parsed any as HTML.
INJECTED_SCRIPT = """() => ({
  pwned: window.pwned === undefined ? null : window.pwned,
  images: document.querySelectorAll("img").length,
  scripts: [...document.querySelectorAll("script")]
    .filter((script) => script.textContent.includes("pwned")).length,
  handlers: document.querySelectorAll("[onerror]").length,
})"""
NOT_INJECTED = {"pwned": None, "images": 0, "scripts": 0, "handlers": 0}


class PageEvents:
    """Dialogs, console errors and uncaught errors of one page."""

    def __init__(self, page):
        self.dialogs: list = []
        self.console_errors: list = []
        self.page_errors: list = []
        page.on("dialog", self._on_dialog)
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))

    def _on_dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _on_console(self, message):
        if message.type == "error":
            self.console_errors.append(message.text)


def open_hostile_view(browser, server, route: str):
    """Open `route` in a new page and wait until the view has rendered its
    data; returns the page and its events."""
    context = browser.new_context(viewport=VIEWPORT, timezone_id="UTC")
    page = context.new_page()
    events = PageEvents(page)
    page.goto(f"{server.url}/{route}")
    page.wait_for_function(
        "() => Number((document.querySelector('#view') || {dataset: {}})"
        ".dataset.rendered || 0) > 0",
        timeout=20_000,
    )
    return context, page, events


@pytest.mark.parametrize("route", sorted(VIEW_TEXTS), ids=lambda route: route[:24])
def test_hostile_view_shows_text(browser, hostile_server, route):
    context, page, events = open_hostile_view(browser, hostile_server, route)
    try:
        text = page.evaluate("() => document.querySelector('#view').textContent")
        names = page.evaluate(
            "() => [...document.querySelectorAll('#view [data-name]')]"
            ".map((node) => node.dataset.name)"
        )
        injected = page.evaluate(INJECTED_SCRIPT)
        page_width = page.evaluate("() => document.documentElement.scrollWidth")
        view_width = page.evaluate("() => document.documentElement.clientWidth")
    finally:
        context.close()

    for expected in VIEW_TEXTS[route]:
        assert expected in text, repr(expected[:60])
    for name in GRAPH_NAMES.get(route, []):
        assert name in names, repr(name[:60])
    assert injected == NOT_INJECTED
    assert events.dialogs == []
    assert events.console_errors == []
    assert events.page_errors == []
    assert page_width <= view_width


@pytest.mark.parametrize("run_id", ["nl\nonly-1", "trailing-nl\n", "cr\r\nlf-1"])
def test_run_id_with_line_breaks(tmp_path, run_id):
    path = tmp_path / "line-breaks.sqlite"
    path.write_bytes(FIXTURE_DB.read_bytes())
    connection = sqlite3.connect(path)
    connection.execute(
        "INSERT INTO run_records SELECT ?, pipeline, status, started_at, finished_at,"
        " attempt, failed_step, failed_watermark, error_summary, kind, extras_json"
        " FROM run_records WHERE run_id = 'build_sales_mart-20261204T071535-1'",
        (run_id,),
    )
    connection.commit()
    connection.close()
    client = make_client(path)

    detail = client.get("/api/runs/" + quote(run_id, safe=""))
    rerun = client.post(
        "/api/runs/" + quote(run_id, safe="") + "/rerun", headers=PAGE_HEADERS
    )

    assert detail.status_code == 200
    assert detail.json()["run_id"] == run_id
    assert rerun.status_code == 200
    written = client.get("/api/runs/" + rerun.json()["new_run_id"]).json()
    assert written["extras"]["prior_run_id"] == run_id
