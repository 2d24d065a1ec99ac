"""The operator page in headless Chromium, driving the built flow-web.pyz on a
copy of the ematix-flow fixture RunLog at the golden capture time.

Every check reads what an operator sees: rendered text, element states and
computed colours. Screenshots of every view in both themes go to
tests/artifacts/.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from pathlib import Path

import pytest
from conftest import (
    ARTIFACTS,
    CAPTURED_AT,
    FIXTURE_DB,
    FIXTURES,
    run_pyz,
    wait_until,
)

VIEWPORT = {"width": 1440, "height": 900}
FAILED_BATCH_RUN = "build_sales_mart-20261204T071535-1"
FAILED_STREAM_RUN = "live_orders-stream-20261204T153312Z-161e1562"
NEWEST_RUN = "run-now-data_quality_gate-40720a32f171"
DQ_GATE_TEXT = (
    "After: ALL ( ● ingest_orders AND ANY ( ● feature_views_ready OR"
    " ● backfill_complete ) )"
)
HOSTILE_NAME = "<img src=x onerror=alert(1)>"
HOSTILE_ERROR = "<script>alert(1)</script>"
VIEWS = {
    "workflows": "#/workflows",
    "jobs": "#/jobs",
    "runs": "#/runs",
    "run-failed": f"#/runs/{FAILED_BATCH_RUN}",
    "run-stream": f"#/runs/{FAILED_STREAM_RUN}",
    "dag": "#/dag",
    "dag-focus": "#/dag/ingest_orders",
}

# Contrast ratio of every visible text element against its composited
# background, as WCAG 2.1 defines relative luminance; returns the failures.
CONTRAST_SCRIPT = """
() => {
  const parse = (text) => {
    const m = text.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return null;
    const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  };
  const over = (top, bottom) => ({
    r: top.r * top.a + bottom.r * (1 - top.a),
    g: top.g * top.a + bottom.g * (1 - top.a),
    b: top.b * top.a + bottom.b * (1 - top.a),
    a: 1,
  });
  const background = (node) => {
    const layers = [];
    for (let at = node; at && at.nodeType === 1; at = at.parentElement) {
      const colour = parse(getComputedStyle(at).backgroundColor);
      if (colour && colour.a > 0) layers.push(colour);
      if (colour && colour.a === 1) break;
    }
    let result = { r: 255, g: 255, b: 255, a: 1 };
    for (const layer of layers.reverse()) result = over(layer, result);
    return result;
  };
  const channel = (v) => {
    v /= 255;
    return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
  };
  const luminance = (c) =>
    0.2126 * channel(c.r) + 0.7152 * channel(c.g) + 0.0722 * channel(c.b);
  const failures = [];
  const all = document.querySelectorAll("body *:not(svg *)");
  for (const node of all) {
    const own = [...node.childNodes].some(
      (c) => c.nodeType === 3 && c.textContent.trim());
    if (!own) continue;
    if (node.closest("[aria-hidden=true], :disabled, dialog:not([open])")) continue;
    const box = node.getBoundingClientRect();
    if (!box.width || !box.height || !node.checkVisibility()) continue;
    const back = background(node);
    const fore = over(parse(getComputedStyle(node).color), back);
    const [hi, lo] = [luminance(fore), luminance(back)].sort((x, y) => y - x);
    const ratio = (hi + 0.05) / (lo + 0.05);
    if (ratio < 4.5) {
      failures.push(node.tagName + "." + node.className + " '" +
        node.textContent.trim().slice(0, 30) + "' " + ratio.toFixed(2));
    }
  }
  return failures;
}
"""


# ---- Fixtures ----------------------------------------------------------------


class Recorder:
    """Every request, console message, page error and dialog of one page."""

    def __init__(self, page):
        self.requests: list = []
        self.console: list = []
        self.errors: list = []
        self.dialogs: list = []
        self.in_flight = 0
        self.max_in_flight = 0
        page.on("request", self._on_request)
        page.on("requestfinished", self._on_done)
        page.on("requestfailed", self._on_done)
        page.on("console", lambda message: self.console.append(message))
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("dialog", self._on_dialog)

    def _on_request(self, request):
        self.requests.append(request)
        if "/api/" in request.url:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _on_done(self, request):
        if "/api/" in request.url:
            self.in_flight -= 1

    def _on_dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def console_errors(self) -> list:
        return [m.text for m in self.console if m.type == "error"]

    def api_requests(self) -> list:
        return [r for r in self.requests if "/api/" in r.url]


@pytest.fixture
def context(browser):
    context = browser.new_context(viewport=VIEWPORT, timezone_id="UTC")
    yield context
    context.close()


@pytest.fixture
def page(context):
    page = context.new_page()
    page.recorder = Recorder(page)
    return page


def rendered_count(page) -> int:
    return page.evaluate(
        "() => Number((document.querySelector('#view') || {dataset: {}})"
        ".dataset.rendered || 0)"
    )


def open_view(page, server, hash_route: str, reload: bool = False):
    """Go to a view and wait until it has rendered its data."""
    before = rendered_count(page) if page.url.startswith(server.url) else 0
    page.goto(server.url + "/" + hash_route)
    if reload:
        page.reload()
        before = 0
    page.wait_for_function(
        "(before) => Number(document.querySelector('#view').dataset.rendered || 0)"
        " > before",
        arg=before,
    )


def wait_rendered_after(page, before: int):
    page.wait_for_function(
        "(before) => Number(document.querySelector('#view').dataset.rendered || 0)"
        " > before",
        arg=before,
    )


def css_colour(page, variable: str) -> str:
    """The computed rgb() of a CSS custom property in the current theme."""
    return page.evaluate(
        """(variable) => {
          const probe = document.createElement('span');
          probe.style.color = 'var(' + variable + ')';
          document.body.appendChild(probe);
          const colour = getComputedStyle(probe).color;
          probe.remove();
          return colour;
        }""",
        variable,
    )


def computed(locator, prop: str) -> str:
    return locator.evaluate("(node, prop) => getComputedStyle(node)[prop]", prop)


def normalised_text(locator) -> str:
    return " ".join(locator.inner_text().split())


def path_ends(edge) -> tuple:
    return edge.evaluate(
        """(path) => {
          const length = path.getTotalLength();
          const start = path.getPointAtLength(0);
          const end = path.getPointAtLength(length);
          return [start.x, start.y, end.x, end.y];
        }"""
    )


def node_box(svg, name: str) -> dict:
    box = svg.locator(f'.graph-node[data-name="{name}"] .node-box')
    return {key: float(box.get_attribute(key)) for key in ("x", "y", "width", "height")}


def write_runlog(path: Path, runs: list) -> None:
    """A RunLog with ematix-flow's tables and the given run_records rows."""
    import flow_web

    connection = sqlite3.connect(path)
    for statement in flow_web.SQLITE_RUNLOG_DDL:
        connection.execute(statement)
    connection.executemany(
        "INSERT INTO run_records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", runs
    )
    connection.commit()
    connection.close()


def serve_fixture_copy(pyz, folder: Path, *extra: str):
    copy = folder / "runlog-demo.sqlite"
    shutil.copyfile(FIXTURE_DB, copy)
    return copy, run_pyz(
        pyz,
        "--run-log-url",
        f"sqlite:///{copy}",
        "--module",
        "demo_pipelines",
        "--now",
        CAPTURED_AT,
        *extra,
        env={"PYTHONPATH": str(FIXTURES)},
    )


# ---- Workflows ---------------------------------------------------------------


def test_workflow_after_expression_text(page, fixture_server):
    open_view(page, fixture_server, "#/workflows")
    panel = page.locator('.card[data-workflow="data_quality_gate"] .trigger-panel')
    assert normalised_text(panel) == DQ_GATE_TEXT


def test_workflow_after_expression_states(page, fixture_server):
    open_view(page, fixture_server, "#/workflows")
    panel = page.locator('.card[data-workflow="data_quality_gate"] .trigger-panel')
    leaf = '.trigger-leaf[data-name="{}"]'
    expected = {
        "ingest_orders": ("ready", "--trigger-ready"),
        "feature_views_ready": ("failed", "--trigger-failed"),
        "backfill_complete": ("pending", "--trigger-pending"),
    }
    for name, (state, colour) in expected.items():
        node = panel.locator(leaf.format(name))
        assert node.get_attribute("data-state") == state, name
        dot = node.locator(".state-dot")
        assert computed(dot, "color") == css_colour(page, colour), name
    assert panel.locator('.trigger-group[data-op="all"]').get_attribute(
        "data-state"
    ) == ("pending")
    assert panel.locator('.trigger-group[data-op="any"]').get_attribute(
        "data-state"
    ) == ("pending")
    any_keyword = panel.locator('.trigger-group[data-op="any"] > .trigger-op')
    assert computed(any_keyword, "color") == css_colour(page, "--trigger-pending")


def test_workflow_schedule_panel(page, fixture_server):
    open_view(page, fixture_server, "#/workflows")
    panel = page.locator('.card[data-workflow="feature_store_sync"] .trigger-panel')
    assert normalised_text(panel) == "Schedule: */15 * * * * (UTC)"
    warehouse = page.locator('.card[data-workflow="warehouse_etl"] .trigger-panel')
    assert normalised_text(warehouse) == "Schedule: 10 2 * * * (America/New_York)"


def test_workflow_streaming_pill(page, fixture_server):
    open_view(page, fixture_server, "#/workflows")
    card = page.locator('.card[data-workflow="realtime_orders"]')
    pill = card.locator(".streaming-panel .pill-streaming")
    assert normalised_text(pill) == "● Streaming"
    assert card.locator(".trigger-panel").count() == 0
    assert computed(pill, "color") == css_colour(page, "--info")
    assert computed(pill.locator(".dot-char"), "animationName") == "pulse"


def test_workflow_card_header(page, fixture_server):
    open_view(page, fixture_server, "#/workflows")
    card = page.locator('.card[data-workflow="warehouse_etl"]')
    assert normalised_text(card.locator(".card-counts")) == "4 jobs · 3 edges"
    assert normalised_text(card.locator(".pill-kind").first) == "Declared"
    pills = [normalised_text(p) for p in card.locator(".card-row .pill").all()]
    assert pills == ["1 failed", "3 succeeded", "1 requested"]


def test_workflow_own_request_pill(page, fixture_server):
    open_view(page, fixture_server, "#/workflows")
    card = page.locator('.card[data-workflow="data_quality_gate"]')
    own = card.locator(".card-row a.own-request")
    assert normalised_text(own) == "1 requested"
    assert own.get_attribute("href") == f"#/runs/{NEWEST_RUN}"
    pill = own.locator(".pill[data-status]")
    assert pill.get_attribute("data-status") == "requested"
    single = page.locator('.card[data-workflow="backfill_complete"]')
    pills = [normalised_text(p) for p in single.locator(".card-row .pill").all()]
    assert pills == ["1 succeeded", "1 requested"]
    assert single.locator(".own-request").count() == 0


def test_workflow_requested_pills_one_form(page, fixture_server):
    open_view(page, fixture_server, "#/workflows")
    pills = page.locator(
        '.card[data-workflow] .card-row .pill[data-status="requested"]'
    )
    texts = {
        card: normalised_text(
            page.locator(
                f'.card[data-workflow="{card}"] .pill[data-status="requested"]'
            )
        )
        for card in ("data_quality_gate", "warehouse_etl", "backfill_complete")
    }
    assert texts == {
        "data_quality_gate": "1 requested",
        "warehouse_etl": "1 requested",
        "backfill_complete": "1 requested",
    }
    assert pills.count() == 3
    dq_pills = page.locator('.card[data-workflow="data_quality_gate"] .card-row .pill')
    assert [normalised_text(pill) for pill in dq_pills.all()] == [
        "2 succeeded",
        "1 requested",
    ]


def test_workflow_chart_arrows(page, fixture_server):
    open_view(page, fixture_server, "#/workflows")
    svg = page.locator('.card[data-workflow="warehouse_etl"] svg.graph')
    assert svg.locator(".graph-node").count() == 4
    edges = svg.locator(".graph-edge")
    assert edges.count() == 3
    marker_ids = svg.locator("marker").evaluate_all("(ms) => ms.map((m) => m.id)")
    for edge in edges.all():
        upstream = edge.get_attribute("data-from")
        downstream = edge.get_attribute("data-to")
        marker = re.fullmatch(r"url\(#(.+)\)", edge.get_attribute("marker-end"))
        assert marker is not None, upstream
        assert marker.group(1) in marker_ids
        x1, y1, x2, y2 = path_ends(edge)
        source = node_box(svg, upstream)
        target = node_box(svg, downstream)
        assert abs(x1 - (source["x"] + source["width"])) < 1, upstream
        assert source["y"] <= y1 <= source["y"] + source["height"], upstream
        assert abs(x2 - target["x"]) < 1, downstream
        assert target["y"] <= y2 <= target["y"] + target["height"], downstream
    pairs = sorted(
        (e.get_attribute("data-from"), e.get_attribute("data-to")) for e in edges.all()
    )
    assert pairs == [
        ("build_sales_mart", "publish_metrics"),
        ("ingest_orders", "build_sales_mart"),
        ("load_dim_customer", "build_sales_mart"),
    ]
    marker = svg.locator("marker").first
    assert marker.get_attribute("orient") == "auto"
    assert marker.get_attribute("refX") == "10"


def test_workflow_node_opens_dag(page, fixture_server):
    open_view(page, fixture_server, "#/workflows")
    svg = page.locator('.card[data-workflow="warehouse_etl"] svg.graph')
    before = rendered_count(page)
    svg.locator('.graph-node[data-name="publish_metrics"]').click()
    wait_rendered_after(page, before)
    assert page.url.endswith("#/dag/publish_metrics")


def test_workflow_title_opens_workflow_dag(page, fixture_server):
    _, workflows, _ = fixture_server.get("/api/workflows")
    warehouse = next(w for w in workflows["workflows"] if w["name"] == "warehouse_etl")
    assert len(warehouse["jobs"]) == 4
    assert len(warehouse["edges"]) == 3
    open_view(page, fixture_server, "#/workflows")
    card = page.locator('.card[data-workflow="warehouse_etl"]')
    link = card.get_by_role("link", name="Focused DAG →")
    assert link.get_attribute("href") == "#/dag?workflow=warehouse_etl"
    before = rendered_count(page)
    card.locator(".card-title").click()
    wait_rendered_after(page, before)
    assert page.url.endswith("#/dag?workflow=warehouse_etl")
    assert dag_node_names(page) == set(warehouse["jobs"])
    assert "load_dim_customer" in dag_node_names(page)
    assert page.locator(".dag-canvas .graph-node").count() == 4
    pairs = sorted(
        (edge.get_attribute("data-from"), edge.get_attribute("data-to"))
        for edge in page.locator(".dag-canvas .graph-edge").all()
    )
    assert pairs == sorted((edge["from"], edge["to"]) for edge in warehouse["edges"])
    assert len(pairs) == 3
    head = page.locator(".page-head")
    assert normalised_text(head.locator("h1")) == "Workflow: warehouse_etl"
    assert normalised_text(head.locator(".count")) == "4 jobs · 3 edges"
    assert head.get_by_role("link", name="Show the full DAG").get_attribute("href") == (
        "#/dag"
    )


def test_workflow_dag_permalink(page, fixture_server):
    open_view(page, fixture_server, "#/dag?workflow=data_quality_gate", reload=True)
    assert dag_node_names(page) == {"dq_check_orders", "dq_publish_report"}
    assert page.locator(".dag-canvas .graph-edge").count() == 1
    page.get_by_placeholder("Find a job").fill("publish")
    route = page.evaluate("() => location.hash")
    assert route == "#/dag?q=publish&workflow=data_quality_gate"
    dimmed = page.locator(".dag-canvas .graph-node.node-dim")
    assert dimmed.evaluate_all("(nodes) => nodes.map((n) => n.dataset.name)") == [
        "dq_check_orders"
    ]
    before = rendered_count(page)
    page.locator('.dag-canvas .graph-node[data-name="dq_publish_report"]').click()
    wait_rendered_after(page, before)
    assert page.url.endswith("#/dag/dq_publish_report")


# ---- Jobs --------------------------------------------------------------------


def test_jobs_strip_ends_red(page, fixture_server):
    open_view(page, fixture_server, "#/jobs")
    cells = page.locator('.card[data-job="build_sales_mart"] .strip-cell')
    assert cells.count() == 10
    last = cells.last
    assert last.get_attribute("data-status") == "failed"
    assert computed(last, "backgroundColor") == css_colour(page, "--st-failed")
    assert cells.first.get_attribute("data-status") == "none"
    assert "empty-cell" in cells.first.get_attribute("class")


def test_jobs_strip_heights_by_sqrt(page, fixture_server):
    open_view(page, fixture_server, "#/jobs")
    cells = page.locator('.card[data-job="ingest_orders"] .strip-cell').all()
    heights = [float(computed(cell, "height").removesuffix("px")) for cell in cells]
    # The slowest of the ten runs took 480 s, so the 252 s run gets sqrt(252/480)
    # of the 6-28 px range.
    assert max(heights) == 28
    assert heights[0] == round(6 + 22 * (252 / 480) ** 0.5)


def test_jobs_hide_workflow_rows(page, fixture_server):
    open_view(page, fixture_server, "#/jobs")
    names = page.locator(".card[data-job]").evaluate_all(
        "(cards) => cards.map((c) => c.dataset.job)"
    )
    assert "warehouse_etl" not in names
    assert "data_quality_gate" not in names
    assert len(names) == 13


def test_jobs_next_in_job_zone(page, fixture_server):
    open_view(page, fixture_server, "#/jobs")
    card = page.locator('.card[data-job="ingest_orders"]')
    assert normalised_text(card.locator(".next-time")) == "Next: 2026-12-05 02:10 EST"
    berlin = page.locator('.card[data-job="eu_gdpr_export"] .next-time')
    assert normalised_text(berlin) == "Next: 2026-12-07 06:35 CET"


def test_jobs_streaming_footer(page, fixture_server):
    open_view(page, fixture_server, "#/jobs")
    card = page.locator('.card[data-job="live_orders"]')
    assert normalised_text(card.locator(".throughput")) == (
        "Throughput 285 rps in (1m) / 282 rps in (5m) · Batch cycle: 1.00 s avg (1m)"
    )
    assert normalised_text(card.locator(".pill-streaming")) == "● Streaming"


def test_jobs_median_and_runs_link(page, fixture_server):
    open_view(page, fixture_server, "#/jobs")
    card = page.locator('.card[data-job="build_sales_mart"]')
    assert normalised_text(card.locator(".median")) == "Median 3m 05s"
    link = card.get_by_role("link", name="Runs →")
    assert link.get_attribute("href") == "#/runs?pipeline=build_sales_mart"


def test_jobs_late_flag(page, fixture_server):
    open_view(page, fixture_server, "#/jobs")
    late = page.locator(".card[data-job] [data-late]")
    assert late.count() == 1
    card = page.locator('.card[data-job="publish_metrics"]')
    assert normalised_text(card.locator("[data-late]")) == (
        "Late since 2026-12-04 02:10 EST"
    )


def test_jobs_filter_permalink(page, fixture_server):
    open_view(page, fixture_server, "#/jobs")
    page.get_by_placeholder("Filter jobs by name").fill("mart")
    assert page.locator(".card[data-job]").count() == 1
    assert "q=mart" in page.url
    open_view(page, fixture_server, page.url.split("/", 3)[3], reload=True)
    assert page.get_by_placeholder("Filter jobs by name").input_value() == "mart"
    assert page.locator(".card[data-job]").count() == 1


def test_jobs_filter_by_status_and_kind(page, fixture_server):
    open_view(page, fixture_server, "#/jobs?status=failed")
    names = page.locator(".card[data-job]").evaluate_all(
        "(cards) => cards.map((c) => c.dataset.job)"
    )
    assert names == ["build_sales_mart", "feature_views_ready", "legacy_export"]
    open_view(page, fixture_server, "#/jobs?kind=streaming")
    names = page.locator(".card[data-job]").evaluate_all(
        "(cards) => cards.map((c) => c.dataset.job)"
    )
    assert names == ["live_orders"]


def test_jobs_sort_buttons(page, fixture_server):
    open_view(page, fixture_server, "#/jobs")
    page.locator('.sort-group button[data-sort="status"]').click()
    first = page.locator(".card[data-job]").first
    assert first.get_attribute("data-job") == "build_sales_mart"
    assert "sort=status" in page.url
    page.locator('.sort-group button[data-sort="next"]').click()
    assert page.locator(".card[data-job]").first.get_attribute("data-job") == (
        "feature_store_sync"
    )
    page.locator('.sort-group button[data-sort="duration"]').click()
    page.locator('.sort-group button[data-sort="duration"]').click()
    assert "order=desc" in page.url
    assert page.locator(".card[data-job]").first.get_attribute("data-job") == (
        "legacy_export"
    )


def test_jobs_catalog_pill_with_catalog(page, fixture_server):
    _, me, _ = fixture_server.get("/api/me")
    assert me["catalog"] == ["modules"]
    open_view(page, fixture_server, "#/jobs")
    pills = page.locator(".card[data-job] .pill-kind").filter(has_text="not in catalog")
    assert pills.count() == 1
    card = pills.evaluate("(pill) => pill.closest('.card').dataset.job")
    assert card == "legacy_export"


def test_jobs_catalog_pill_without_catalog(page, pyz, tmp_path):
    copy = tmp_path / "runlog-demo.sqlite"
    shutil.copyfile(FIXTURE_DB, copy)
    with run_pyz(
        pyz, "--run-log-url", f"sqlite:///{copy}", "--now", CAPTURED_AT
    ) as server:
        _, me, _ = server.get("/api/me")
        assert me["catalog"] == []
        open_view(page, server, "#/jobs")
        assert page.locator(".card[data-job]").count() == 15
        pills = page.locator(".card[data-job] .pill-kind").filter(
            has_text="not in catalog"
        )
        assert pills.count() == 0


def test_jobs_bar_opens_run(page, fixture_server):
    open_view(page, fixture_server, "#/jobs")
    before = rendered_count(page)
    page.locator('.card[data-job="build_sales_mart"] .strip-cell').last.click()
    wait_rendered_after(page, before)
    assert page.url.endswith("#/runs/" + FAILED_BATCH_RUN)


# ---- Runs --------------------------------------------------------------------


def test_runs_newest_first(page, fixture_server):
    open_view(page, fixture_server, "#/runs")
    rows = page.locator(".runs-table .runs-group .run-row")
    assert rows.count() == 50
    assert rows.first.get_attribute("data-run-id") == NEWEST_RUN
    header = page.locator('[aria-sort] button[data-sort="started"]')
    assert normalised_text(header) == "Started ▼"
    assert normalised_text(page.locator(".pager .range")) == "1–50 of 551"


def test_runs_header_sorts(page, fixture_server):
    open_view(page, fixture_server, "#/runs")
    before = rendered_count(page)
    page.locator('.runs-head button[data-sort="pipeline"]').click()
    wait_rendered_after(page, before)
    assert "sort=pipeline" in page.url
    _, expected, _ = fixture_server.get("/api/runs?sort=pipeline&order=asc&limit=1")
    first = page.locator(".runs-table .runs-group .run-row").first
    assert first.get_attribute("data-run-id") == expected["runs"][0]["run_id"]
    before = rendered_count(page)
    page.locator('.runs-head button[data-sort="pipeline"]').click()
    wait_rendered_after(page, before)
    _, expected, _ = fixture_server.get("/api/runs?sort=pipeline&order=desc&limit=1")
    first = page.locator(".runs-table .runs-group .run-row").first
    assert first.get_attribute("data-run-id") == expected["runs"][0]["run_id"]
    assert "order=desc" in page.url


def test_runs_duration_sort_permalink(page, fixture_server):
    open_view(page, fixture_server, "#/runs?sort=duration&order=desc", reload=True)
    _, expected, _ = fixture_server.get("/api/runs?sort=duration&order=desc&limit=50")
    shown = page.locator(".runs-table .runs-group .run-row").evaluate_all(
        "(rows) => rows.map((r) => r.dataset.runId)"
    )
    assert shown == [run["run_id"] for run in expected["runs"]]


def test_runs_pagination(page, fixture_server):
    open_view(page, fixture_server, "#/runs")
    before = rendered_count(page)
    page.locator('.pager button[data-page="next"]').click()
    wait_rendered_after(page, before)
    assert "offset=50" in page.url
    assert normalised_text(page.locator(".pager .range")) == "51–100 of 551"
    open_view(page, fixture_server, page.url.split("/", 3)[3], reload=True)
    assert normalised_text(page.locator(".pager .range")) == "51–100 of 551"
    before = rendered_count(page)
    page.locator('.pager button[data-page="last"]').click()
    wait_rendered_after(page, before)
    assert normalised_text(page.locator(".pager .range")) == "551–551 of 551"


def test_runs_filter_by_pipeline(page, fixture_server):
    open_view(page, fixture_server, "#/runs?pipeline=build_sales_mart&status=failed")
    rows = page.locator(".runs-table .runs-group .run-row")
    pipelines = set(
        rows.evaluate_all("(rows) => rows.map((r) => r.children[1].textContent)")
    )
    assert pipelines == {"build_sales_mart"}
    assert rows.first.get_attribute("data-run-id") == FAILED_BATCH_RUN
    assert page.get_by_label("Status").input_value() == "failed"


def test_runs_row_opens_detail(page, fixture_server):
    open_view(page, fixture_server, "#/runs?status=failed")
    before = rendered_count(page)
    page.locator(f'.run-row[data-run-id="{FAILED_BATCH_RUN}"] .cell').nth(1).click()
    wait_rendered_after(page, before)
    assert page.url.endswith("#/runs/" + FAILED_BATCH_RUN)


def test_runs_offset_past_end(page, fixture_server):
    open_view(page, fixture_server, "#/runs?offset=99999", reload=True)
    _, runs, _ = fixture_server.get("/api/runs?limit=1")
    total = runs["total"]
    assert total == 551
    empty = page.locator("#runs-body .past-end")
    assert normalised_text(empty.locator("p").first) == (
        "No runs on this page (551 in all)"
    )
    assert page.locator(".pager .range").count() == 0
    assert page.locator(".runs-table").count() == 0
    before = rendered_count(page)
    empty.get_by_role("button", name="« First page").click()
    wait_rendered_after(page, before)
    assert page.evaluate("() => location.hash") == "#/runs"
    assert normalised_text(page.locator(".pager .range")) == "1–50 of 551"


def test_run_ids_stay_on_one_line(browser, fixture_server):
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, timezone_id="UTC"
    )
    page = context.new_page()
    try:
        open_view(page, fixture_server, "#/runs")
        rows = page.locator(".runs-table .runs-group .run-row").all()
        assert len(rows) == 50
        for row in rows:
            run_id = row.get_attribute("data-run-id")
            cells = row.locator(".cell")
            # The attempt cell contains one short line in the same font.
            one_line = cells.nth(4).bounding_box()["height"]
            assert cells.nth(5).bounding_box()["height"] == one_line, run_id
            link = cells.nth(5).locator("a")
            assert link.get_attribute("title") == "\u2068" + run_id + "\u2069"
            assert computed(link, "whiteSpace") == "nowrap"
        open_view(page, fixture_server, f"#/runs/{FAILED_BATCH_RUN}")
        facts = page.locator(".facts")
        run_id = facts.locator("div").filter(has_text="Run ID").locator("dd")
        attempt = facts.locator("div").filter(has_text="Attempt").locator("dd")
        assert normalised_text(run_id) == FAILED_BATCH_RUN
        assert run_id.bounding_box()["height"] == attempt.bounding_box()["height"]
        # The whole id shows, with no ellipsis.
        assert run_id.locator(".mono").evaluate(
            "(span) => span.scrollWidth <= span.clientWidth"
        )
    finally:
        context.close()


def test_status_pills_distinct(page, fixture_server):
    """Each status has its own colour, and its own dot shape and word, so the
    pills also differ without colour."""
    colours, shapes, words = {}, {}, {}
    for status in (
        "requested",
        "running",
        "paused",
        "succeeded",
        "failed",
        "cancelled",
    ):
        open_view(page, fixture_server, f"#/runs?status={status}")
        pill = page.locator(".runs-table .runs-group .run-row").first.locator(
            ".pill[data-status]"
        )
        colours[status] = computed(pill, "color")
        shapes[status] = pill.locator(".dot").evaluate(
            """(dot) => {
              const s = getComputedStyle(dot);
              return [s.borderRadius, s.transform, s.width, s.height,
                      s.borderLeftStyle, s.backgroundColor === 'rgba(0, 0, 0, 0)',
                      s.animationName]
                .join('|');
            }"""
        )
        words[status] = normalised_text(pill)
        assert computed(pill, "borderRadius") == "999px"
    assert len(set(colours.values())) == 6
    assert len(set(shapes.values())) == 6
    assert words == {status: status for status in words}


# ---- DAG ---------------------------------------------------------------------


def dag_node_names(page) -> set:
    return set(
        page.locator(".dag-canvas .graph-node").evaluate_all(
            "(nodes) => nodes.map((n) => n.dataset.name)"
        )
    )


def test_dag_focus_ingest_orders(page, fixture_server):
    open_view(page, fixture_server, "#/dag/ingest_orders")
    assert dag_node_names(page) == {
        "ingest_orders",
        "build_sales_mart",
        "publish_metrics",
    }
    assert page.locator(".dag-canvas .graph-edge").count() == 2
    focus = page.locator(".dag-canvas .node-focus")
    assert focus.get_attribute("data-name") == "ingest_orders"


def test_dag_full_graph(page, fixture_server):
    open_view(page, fixture_server, "#/dag")
    _, dag, _ = fixture_server.get("/api/dag")
    assert dag_node_names(page) == {node["name"] for node in dag["nodes"]}
    assert page.locator(".dag-canvas .graph-edge").count() == len(dag["edges"])


def test_dag_node_content(page, fixture_server):
    open_view(page, fixture_server, "#/dag")
    node = page.locator('.dag-canvas .graph-node[data-name="build_sales_mart"]')
    lines = node.locator("text").all_text_contents()
    assert lines == ["build_sales_mart", "failed · 1m 59s", "warehouse_etl"]
    title = node.locator(".node-title")
    assert computed(title, "fontWeight") == "700"
    assert "monospace" in computed(title, "fontFamily").lower()
    cron = page.locator('.dag-canvas .graph-node[data-name="feature_store_sync"] text')
    assert cron.all_text_contents()[2] == "*/15 * * * *"


def test_dag_node_states(page, fixture_server):
    open_view(page, fixture_server, "#/dag")
    failed = page.locator('.graph-node[data-name="feature_views_ready"] .node-box')
    assert computed(failed, "stroke") == css_colour(page, "--st-failed")
    tint = page.evaluate(
        """() => { const p = document.createElement('span');
          p.style.color = 'var(--st-failed-bg)'; document.body.appendChild(p);
          const c = getComputedStyle(p).color; p.remove(); return c; }"""
    )
    assert computed(failed, "fill") == tint
    running = page.locator('.graph-node[data-name="feature_store_sync"] .node-box')
    assert computed(running, "stroke") == css_colour(page, "--st-running")
    assert computed(running, "animationName") == "stroke-pulse"
    queued = page.locator('.graph-node[data-name="backfill_complete"] .node-box')
    assert computed(queued, "strokeDasharray") != "none"


def test_dag_duration_bars(page, fixture_server):
    open_view(page, fixture_server, "#/dag")
    bars = page.locator(".dag-canvas .node-bar")
    widths = {
        bar.evaluate("(b) => b.parentNode.dataset.name"): float(
            bar.get_attribute("width")
        )
        for bar in bars.all()
    }
    slowest = node_box(page.locator(".dag-canvas svg"), "ingest_orders")
    assert widths["ingest_orders"] == round(slowest["width"] - 2, 1)
    assert widths["publish_metrics"] < widths["build_sales_mart"]


def test_dag_tooltip(page, fixture_server):
    open_view(page, fixture_server, "#/dag")
    page.locator('.dag-canvas .graph-node[data-name="build_sales_mart"]').hover()
    tooltip = page.locator("#tooltip")
    tooltip.wait_for(state="visible")
    text = normalised_text(tooltip)
    assert text.startswith("build_sales_mart ")
    assert "Schedule: 10 2 * * * (America/New_York)" in text
    assert "Status: failed" in text
    assert "Duration: 1m 59s" in text


def write_chain_catalog(path: Path, length: int) -> None:
    """A catalog file with one chain of jobs: job_000 -> job_001 -> ..."""
    import flow_web

    names = [f"job_{index:03d}" for index in range(length)]
    jobs = [
        {"name": name, "depends_on": names[index - 1 : index]}
        for index, name in enumerate(names)
    ]
    document = {
        "format": flow_web.CATALOG_FORMAT,
        "version": flow_web.CATALOG_VERSION,
        "jobs": jobs,
        "workflows": [],
    }
    path.write_text(json.dumps(document))


def test_dag_focus_stubs_and_depth(page, pyz, tmp_path):
    database = tmp_path / "chain.sqlite"
    catalog = tmp_path / "chain.json"
    write_runlog(database, [])
    write_chain_catalog(catalog, 90)
    with run_pyz(
        pyz, "--run-log-url", f"sqlite:///{database}", "--catalog", str(catalog)
    ) as server:
        _, layout, _ = server.get("/api/dag/layout?focus=job_045")
        stubs = [n for n in layout["nodes"] if n.get("kind") == "stub"]
        shown = len(layout["nodes"]) - len(stubs)
        open_view(page, server, "#/dag/job_045")
        canvas = page.locator(".dag-canvas")
        assert canvas.locator(".graph-node.node-stub").count() == len(stubs) == 2
        assert canvas.locator(".graph-node:not(.node-stub)").count() == shown
        hops = (shown - 1) // 2
        assert normalised_text(page.locator(".page-head .count")) == (
            f"{hops} ancestors · {hops} descendants shown ·"
            f" {layout['hidden_nodes']} more behind the +N boxes"
        )
        upstream = canvas.locator(f'.node-stub[data-name$="up:job_{45 - hops:03d}"]')
        assert upstream.locator("text").all_text_contents() == [
            f"+{45 - hops} more",
            "upstream",
        ]
        before = rendered_count(page)
        upstream.click()
        wait_rendered_after(page, before)
        assert page.url.endswith(f"#/dag/job_{45 - hops:03d}")
        before = rendered_count(page)
        page.get_by_label("Hops shown").select_option("2")
        wait_rendered_after(page, before)
        assert "depth=2" in page.url
        assert canvas.locator(".graph-node:not(.node-stub)").count() == 5


def test_dag_zoom_buttons(page, fixture_server):
    open_view(page, fixture_server, "#/dag")
    viewport = page.locator(".graph-viewport")
    before = viewport.get_attribute("transform")
    page.get_by_role("button", name="Zoom in").click()
    after = viewport.get_attribute("transform")
    assert before != after
    scale = lambda text: float(re.search(r"scale\(([\d.]+)\)", text).group(1))  # noqa: E731
    assert scale(after) == pytest.approx(scale(before) * 1.25, rel=1e-3)
    box = page.locator(".dag-canvas").bounding_box()
    page.mouse.move(box["x"] + 20, box["y"] + box["height"] - 20)
    page.mouse.down()
    page.mouse.move(box["x"] + 120, box["y"] + box["height"] - 60, steps=5)
    page.mouse.up()
    assert viewport.get_attribute("transform") != after


# ---- Run detail --------------------------------------------------------------


def action_labels(page) -> list:
    return [normalised_text(b) for b in page.locator(".actions button").all()]


def test_run_failed_batch_actions(page, fixture_server):
    open_view(page, fixture_server, f"#/runs/{FAILED_BATCH_RUN}")
    assert action_labels(page) == [
        'Restart from step "transform_partition_1"',
        "Rerun from beginning",
    ]
    rerun = page.locator('.actions button[data-action="rerun"]')
    assert computed(rerun, "backgroundColor") == css_colour(page, "--danger-button")


def test_run_failed_batch_facts(page, fixture_server):
    open_view(page, fixture_server, f"#/runs/{FAILED_BATCH_RUN}")
    facts = normalised_text(page.locator(".facts"))
    assert "Failed step transform_partition_1" in facts
    assert "Started 2026-12-04 07:15:35 UTC" in facts
    assert "Finished 2026-12-04 07:17:34 UTC" in facts
    assert "Duration 1m 59s" in facts
    assert "Attempt 1" in facts
    error = page.locator(".error-block")
    assert error.inner_text().startswith("transform_partition_1: ConnectionResetError")
    steps = page.locator(".task-dag svg .graph-node")
    states = dict(
        steps.evaluate_all("(ns) => ns.map((n) => [n.dataset.name, n.dataset.status])")
    )
    assert states == {
        "discover_inputs": "succeeded",
        "fetch_source": "succeeded",
        "transform_partition_0": "succeeded",
        "transform_partition_1": "failed",
        "merge_partitions": "pending",
        "write_destination": "pending",
    }
    pending = page.locator('.task-dag .graph-node[data-name="merge_partitions"] rect')
    assert computed(pending.first, "strokeDasharray") != "none"


def test_run_shows_queued_restart(page, fixture_server):
    open_view(page, fixture_server, f"#/runs/{FAILED_BATCH_RUN}")
    notice = page.locator(".queued-notice")
    assert normalised_text(notice.locator(".queued-text")) == (
        "A restart from step transform_partition_1 of this run is already queued:"
        " req-e4123ce34ed14a89ab0aac7e307d78f1 (requested 2026-12-04 15:35:00 UTC)."
        " Requesting the same restart again returns this queued run, and flow-web"
        " writes no second row."
    )
    link = notice.get_by_role("link")
    assert link.get_attribute("href") == "#/runs/req-e4123ce34ed14a89ab0aac7e307d78f1"
    button = notice.locator('button[data-action="cancel"]')
    assert normalised_text(button) == "Cancel request"


def test_run_restart_confirmation(page, fixture_server):
    open_view(page, fixture_server, f"#/runs/{FAILED_BATCH_RUN}")
    page.locator('.actions button[data-action="restart"]').click()
    dialog = page.locator("#confirm-dialog")
    dialog.wait_for(state="visible")
    lists = dialog.locator("ul").all()
    again = [item.inner_text() for item in lists[0].locator("li").all()]
    reused = [item.inner_text() for item in lists[1].locator("li").all()]
    assert again == ["transform_partition_1", "merge_partitions", "write_destination"]
    assert reused == ["discover_inputs", "fetch_source", "transform_partition_0"]
    page.locator("#confirm-cancel").click()
    assert not dialog.is_visible()


def test_run_stream_resume_from_watermark(page, fixture_server):
    open_view(page, fixture_server, f"#/runs/{FAILED_STREAM_RUN}")
    assert action_labels(page) == ["Resume from watermark", "Rerun from beginning"]
    facts = normalised_text(page.locator(".facts"))
    assert "Last watermark none recorded" in facts


def test_run_pause_on_running(page, fixture_server):
    open_view(
        page, fixture_server, "#/runs/live_orders-stream-20261204T153356Z-773c23f0"
    )
    assert action_labels(page) == ["Pause"]
    open_view(page, fixture_server, "#/runs/eu_gdpr_export-20261204T053500-1")
    assert action_labels(page) == ["Resume"]


def test_run_action_posts_and_opens_new_run(page, fixture_server):
    posted = []

    def answer(route):
        posted.append(route.request)
        route.fulfill(
            status=200,
            content_type="application/json",
            body=json.dumps({"new_run_id": FAILED_STREAM_RUN}),
        )

    page.route("**/api/runs/*/restart", answer)
    open_view(page, fixture_server, f"#/runs/{FAILED_BATCH_RUN}")
    page.locator('.actions button[data-action="restart"]').click()
    before = rendered_count(page)
    page.locator("#confirm-ok").click()
    wait_rendered_after(page, before)
    assert page.url.endswith("#/runs/" + FAILED_STREAM_RUN)
    request = posted[0]
    assert request.method == "POST"
    assert request.post_data_json == {"from_step": "transform_partition_1"}
    assert request.headers["x-requested-by"] == "flow-web"
    assert request.headers["content-type"] == "application/json"


def test_run_action_error_shows_detail(page, fixture_server):
    page.route(
        "**/api/runs/*/rerun",
        lambda route: route.fulfill(
            status=409,
            content_type="application/json",
            body=json.dumps({"detail": "run is already queued for a rerun"}),
        ),
    )
    open_view(page, fixture_server, f"#/runs/{FAILED_BATCH_RUN}")
    page.locator('.actions button[data-action="rerun"]').click()
    page.locator("#confirm-ok").click()
    banner = page.locator("#banner")
    banner.wait_for(state="visible")
    assert "run is already queued for a rerun" in banner.inner_text()
    assert "HTTP 409" in banner.inner_text()
    assert page.url.endswith("#/runs/" + FAILED_BATCH_RUN)
    assert page.locator(".facts").is_visible()


def reject_pause(route):
    route.fulfill(
        status=409,
        content_type="application/json",
        body=json.dumps({"detail": "only a running run can be paused"}),
    )


def fail_pause(page, run_id: str) -> None:
    """Click Pause, confirm, and wait for the banner of the refused POST."""
    page.locator('.actions button[data-action="pause"]').click()
    page.locator("#confirm-ok").click()
    page.locator('#banner .banner-line[data-kind="action"]').wait_for()


def wait_for_refresh(page, path: str) -> None:
    """Wait until the page has sent and read one more GET of `path`."""
    with page.expect_response(
        lambda response: (
            response.url.endswith(path) and response.request.method == "GET"
        ),
        timeout=15_000,
    ):
        pass
    page.wait_for_timeout(300)


def test_action_error_outlives_refresh(page, fixture_server):
    run_id = "live_orders-stream-20261204T153356Z-773c23f0"
    page.route("**/api/runs/*/pause", reject_pause)
    open_view(page, fixture_server, f"#/runs/{run_id}")
    fail_pause(page, run_id)
    banner = page.locator("#banner")
    wait_for_refresh(page, f"/api/runs/{run_id}")
    wait_for_refresh(page, f"/api/runs/{run_id}")
    assert banner.is_visible()
    assert "only a running run can be paused" in banner.inner_text()
    assert f"POST /api/runs/{run_id}/pause failed (HTTP 409)" in banner.inner_text()
    assert page.locator("#live").get_attribute("class") == "live"
    page.locator("#banner-close").click()
    assert not banner.is_visible()


def test_action_error_cleared_by_navigation(page, fixture_server):
    run_id = "live_orders-stream-20261204T153356Z-773c23f0"
    page.route("**/api/runs/*/pause", reject_pause)
    open_view(page, fixture_server, f"#/runs/{run_id}")
    fail_pause(page, run_id)
    assert page.locator("#banner").is_visible()
    open_view(page, fixture_server, "#/jobs")
    assert not page.locator("#banner").is_visible()


def test_refresh_clears_only_refresh_error(page, fixture_server):
    run_id = "live_orders-stream-20261204T153356Z-773c23f0"
    page.route("**/api/runs/*/pause", reject_pause)
    open_view(page, fixture_server, f"#/runs/{run_id}")
    fail_pause(page, run_id)
    outage = json.dumps({"detail": "RunLog is locked"})
    page.route(
        f"**/api/runs/{run_id}",
        lambda route: route.fulfill(
            status=503, content_type="application/json", body=outage
        ),
    )
    refresh_line = page.locator('#banner .banner-line[data-kind="refresh"]')
    refresh_line.wait_for(timeout=15_000)
    assert "RunLog is locked" in refresh_line.inner_text()
    page.unroute(f"**/api/runs/{run_id}")
    refresh_line.wait_for(state="detached", timeout=15_000)
    action_line = page.locator('#banner .banner-line[data-kind="action"]')
    assert "only a running run can be paused" in action_line.inner_text()
    assert page.locator("#banner").is_visible()


def test_restart_dialog_says_what_is_written(page, fixture_server):
    open_view(page, fixture_server, f"#/runs/{FAILED_BATCH_RUN}")
    page.locator('.actions button[data-action="restart"]').click()
    dialog = page.locator("#confirm-dialog")
    dialog.wait_for(state="visible")
    text = normalised_text(dialog)
    assert (
        "This writes one row to the RunLog: a run of build_sales_mart with status"
        " requested and restart_from_step transform_partition_1 and prior_run_id"
        f" {FAILED_BATCH_RUN} in its extras."
    ) in text
    assert "The scheduler acts on this row, and flow-web starts nothing itself." in text
    assert (
        "If the worker supports restarting from a step, these steps run again" in text
    )
    assert "would reuse the earlier output" in text
    assert "next tick" not in text
    assert "resumes the DAG" not in text
    page.locator("#confirm-cancel").click()


def test_resume_dialog_says_what_is_written(page, fixture_server):
    open_view(page, fixture_server, "#/runs/eu_gdpr_export-20261204T053500-1")
    page.locator('.actions button[data-action="resume"]').click()
    dialog = page.locator("#confirm-dialog")
    dialog.wait_for(state="visible")
    text = normalised_text(dialog)
    assert (
        "This sets pause_requested to false in the extras of run"
        " eu_gdpr_export-20261204T053500-1. flow-web starts nothing itself."
    ) in text
    assert "from where it paused" not in text
    page.locator("#confirm-cancel").click()


def test_resume_end_to_end(page, pyz, tmp_path):
    paused = "eu_gdpr_export-20261204T053500-1"
    copy, server_context = serve_fixture_copy(pyz, tmp_path)
    with server_context as server:
        open_view(page, server, f"#/runs/{paused}")
        assert page.locator(".detail-head [data-pause-request]").count() == 0
        page.locator('.actions button[data-action="resume"]').click()
        before = rendered_count(page)
        page.locator("#confirm-ok").click()
        wait_rendered_after(page, before)
        assert normalised_text(page.locator("#notice")) == (
            "Resume requested: pause_requested is now false on this run. It stays"
            " paused until its worker continues it."
        )
        chip = page.locator(".detail-head [data-pause-request]")
        assert normalised_text(chip) == "Resume requested; waiting for the worker"
        assert page.locator('.actions button[data-action="resume"]').count() == 0
        assert "Resume requested" in normalised_text(page.locator(".facts"))
        pill = page.locator(".detail-head .pill[data-status]")
        assert pill.get_attribute("data-status") == "paused"
        open_view(page, server, f"#/runs/{paused}", reload=True)
        assert page.locator('.actions button[data-action="resume"]').count() == 0
    with sqlite3.connect(copy) as connection:
        (extras,) = connection.execute(
            "SELECT extras_json FROM run_records WHERE run_id = ?", (paused,)
        ).fetchone()
    assert json.loads(extras)["pause_requested"] is False


def test_resume_not_offered_twice(page, fixture_server):
    """A server that still offers resume on a paused run whose
    pause_requested is false gets no second Resume button."""
    paused = "eu_gdpr_export-20261204T053500-1"

    def resumed(route):
        document = route.fetch().json()
        document["extras"]["pause_requested"] = False
        document["actions"]["resume"] = True
        route.fulfill(json=document)

    page.route(f"**/api/runs/{paused}", resumed)
    open_view(page, fixture_server, f"#/runs/{paused}")
    assert action_labels(page) == []
    chip = page.locator(".detail-head [data-pause-request]")
    assert normalised_text(chip) == "Resume requested; waiting for the worker"


QUEUED_RESTART = "req-e4123ce34ed14a89ab0aac7e307d78f1"
LIVE_STREAM_RUN = "live_orders-stream-20261204T153356Z-773c23f0"
# Ten minutes after the capture: the stream's snapshot and the claim of
# feature_store_sync's running run are then old.
LATER = "2026-12-04T15:45:50Z"


def test_stale_runs_flagged(page, pyz, tmp_path):
    copy = tmp_path / "runlog-demo.sqlite"
    shutil.copyfile(FIXTURE_DB, copy)
    with run_pyz(
        pyz,
        "--run-log-url",
        f"sqlite:///{copy}",
        "--module",
        "demo_pipelines",
        "--now",
        LATER,
        env={"PYTHONPATH": str(FIXTURES)},
    ) as server:
        open_view(page, server, "#/jobs")
        stream = page.locator('.card[data-job="live_orders"]')
        chip = stream.locator(".card-head [data-stale]")
        assert normalised_text(chip).startswith(
            "⚠ Possibly dead: its last throughput snapshot was 10m 53s ago"
        )
        assert computed(chip, "color") == css_colour(page, "--danger")
        throughput = stream.locator(".throughput")
        assert "stale-figures" in throughput.get_attribute("class")
        assert computed(throughput, "color") == css_colour(page, "--text-muted")
        assert normalised_text(stream.locator(".snapshot")) == (
            "snapshot 10m ago, not live"
        )
        dot = stream.locator(".pill-streaming .dot-char")
        assert computed(dot, "animationName") == "none"
        claimed = page.locator('.card[data-job="feature_store_sync"] [data-stale]')
        assert normalised_text(claimed) == (
            "⚠ Possibly dead: its claim by scheduler-demo-host-1 expired at"
            " 2026-12-04 15:38:11 UTC"
        )
        assert page.locator(".card[data-job] [data-stale]").count() == 2
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        stream.screenshot(path=str(ARTIFACTS / "dark-stale-job-card.png"))

        open_view(page, server, f"#/runs/{LIVE_STREAM_RUN}")
        chip = page.locator(".detail-head [data-stale]")
        assert normalised_text(chip).startswith("⚠ Possibly dead: its last throughput")
        facts = normalised_text(page.locator(".facts"))
        assert "Possibly dead since 2026-12-04 15:34:56 UTC" in facts
        heading = page.get_by_role("heading", name="Stream", exact=True)
        panel = page.locator(".panel").filter(has=heading)
        assert "stale-figures" in panel.locator(".throughput").get_attribute("class")
        assert normalised_text(panel).endswith("snapshot 10m ago, not live")
        page.screenshot(path=str(ARTIFACTS / "dark-stale-run.png"))

        for theme in ("dark", "light"):
            page.evaluate(f"() => localStorage.setItem('flow-web-theme', '{theme}')")
            for route in ("#/jobs", f"#/runs/{LIVE_STREAM_RUN}", "#/workflows"):
                open_view(page, server, route, reload=True)
                assert page.evaluate(CONTRAST_SCRIPT) == [], (theme, route)
        page.screenshot(
            path=str(ARTIFACTS / "light-stale-workflows.png"), full_page=True
        )


def test_live_runs_not_flagged(page, fixture_server):
    open_view(page, fixture_server, "#/jobs")
    assert page.locator("[data-stale]").count() == 0
    throughput = page.locator('.card[data-job="live_orders"] .throughput')
    assert throughput.get_attribute("class") == "num throughput"
    open_view(page, fixture_server, f"#/runs/{LIVE_STREAM_RUN}")
    assert page.locator("[data-stale]").count() == 0


STALE_BATCH_RUN = "feature_store_sync-20261204T153000-1"
CLAIM_EXPIRED = "its claim by scheduler-demo-host-1 expired at "


def serve_fixture_later(pyz, folder: Path):
    """The fixture at LATER, when live_orders and feature_store_sync look dead."""
    copy = folder / "runlog-demo.sqlite"
    shutil.copyfile(FIXTURE_DB, copy)
    return run_pyz(
        pyz,
        "--run-log-url",
        f"sqlite:///{copy}",
        "--module",
        "demo_pipelines",
        "--now",
        LATER,
        env={"PYTHONPATH": str(FIXTURES)},
    )


def test_workflow_cards_count_dead_jobs(page, pyz, tmp_path):
    with serve_fixture_later(pyz, tmp_path) as server:
        _, pipelines, _ = server.get("/api/pipelines")
        stale = {job["name"] for job in pipelines["pipelines"] if job.get("stale")}
        assert stale == {"live_orders", "feature_store_sync"}
        open_view(page, server, "#/workflows")
        for workflow in ("realtime_orders", "feature_store_sync"):
            card = page.locator(f'.card[data-workflow="{workflow}"]')
            pills = [
                normalised_text(pill) for pill in card.locator(".card-row .pill").all()
            ]
            assert pills[:2] == ["1 running", "⚠ 1 possibly dead"], workflow
            dead = card.locator(".stale-count")
            assert dead.get_attribute("data-stale-count") == "1", workflow
            assert computed(dead, "color") == css_colour(page, "--danger"), workflow
        pill = page.locator('.card[data-workflow="feature_store_sync"] .stale-count')
        assert pill.get_attribute("title") == (
            "Possibly dead: \u2068feature_store_sync\u2069: \u2068"
            + CLAIM_EXPIRED
            + "2026-12-04 15:38:11 UTC\u2069"
        )
        assert page.locator(".card[data-workflow] .stale-count").count() == 2


def test_workflow_cards_no_dead_pill_when_live(page, fixture_server):
    open_view(page, fixture_server, "#/workflows")
    assert page.locator(".card[data-workflow] .stale-count").count() == 0


def test_runs_mark_dead_rows(page, pyz, tmp_path):
    with serve_fixture_later(pyz, tmp_path) as server:
        open_view(page, server, "#/runs?status=running")
        for run_id in (LIVE_STREAM_RUN, STALE_BATCH_RUN):
            row = page.locator(f'.run-row[data-run-id="{run_id}"]')
            marker = row.locator(".cell").first.locator(".stale-marker")
            assert normalised_text(marker) == "⚠ possibly dead", run_id
        marker = page.locator(
            f'.run-row[data-run-id="{STALE_BATCH_RUN}"] .stale-marker'
        )
        assert marker.get_attribute("title") == (
            "Possibly dead: \u2068" + CLAIM_EXPIRED + "2026-12-04 15:38:11 UTC\u2069"
        )
        assert page.locator(".run-row .stale-marker").count() == 2


def test_runs_dead_marker_style(page, pyz, tmp_path):
    with serve_fixture_later(pyz, tmp_path) as server:
        open_view(page, server, "#/runs?status=running")
        status = page.locator(f'.run-row[data-run-id="{STALE_BATCH_RUN}"] .cell').first
        assert normalised_text(status) == "running ⚠ possibly dead"
        marker = status.locator(".stale-marker")
        assert computed(marker, "color") == css_colour(page, "--danger")
        assert page.evaluate(CONTRAST_SCRIPT) == []


def test_runs_no_dead_marker_when_live(page, fixture_server):
    open_view(page, fixture_server, "#/runs?status=running")
    live = page.locator(f'.run-row[data-run-id="{LIVE_STREAM_RUN}"] .cell').first
    assert normalised_text(live) == "running"
    assert page.locator(".run-row .stale-marker").count() == 0


def test_stale_reason_in_local_time(browser, pyz, tmp_path):
    context = browser.new_context(viewport=VIEWPORT, timezone_id="Asia/Kolkata")
    page = context.new_page()
    try:
        with serve_fixture_later(pyz, tmp_path) as server:
            open_view(page, server, "#/jobs")
            chip = page.locator('.card[data-job="feature_store_sync"] [data-stale]')
            assert normalised_text(chip) == (
                "⚠ Possibly dead: " + CLAIM_EXPIRED + "2026-12-04 15:38:11 UTC"
            )
            before = rendered_count(page)
            page.locator("#zone-toggle").click()
            wait_rendered_after(page, before)
            assert normalised_text(chip) == (
                "⚠ Possibly dead: " + CLAIM_EXPIRED + "2026-12-04 21:08:11 GMT+5:30"
            )
            open_view(page, server, f"#/runs/{STALE_BATCH_RUN}")
            chip = page.locator(".detail-head [data-stale]")
            assert normalised_text(chip) == (
                "⚠ Possibly dead: " + CLAIM_EXPIRED + "2026-12-04 21:08:11 GMT+5:30"
            )
            assert chip.get_attribute("title") == "Since 2026-12-04 21:08:11 GMT+5:30"
    finally:
        context.close()


def test_cancel_queued_restart_end_to_end(page, pyz, tmp_path):
    copy, server_context = serve_fixture_copy(pyz, tmp_path)
    with server_context as server:
        open_view(page, server, f"#/runs/{FAILED_BATCH_RUN}")
        notice = page.locator(".queued-notice")
        notice.locator('button[data-action="cancel"]').click()
        dialog = page.locator("#confirm-dialog")
        dialog.wait_for(state="visible")
        text = normalised_text(dialog)
        assert (
            f"This marks the requested run {QUEUED_RESTART} of build_sales_mart as"
            " cancelled in the RunLog: its status becomes cancelled"
        ) in text
        assert "A scheduler that looks for requested rows then skips it." in text
        assert normalised_text(page.locator("#confirm-cancel")) == "Keep the request"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dark-cancel-dialog.png"))
        before = rendered_count(page)
        with page.expect_request("**/cancel") as posted:
            page.locator("#confirm-ok").click()
        wait_rendered_after(page, before)
        assert posted.value.headers["x-requested-by"] == "flow-web"
        assert normalised_text(page.locator("#notice")) == (
            f"Request {QUEUED_RESTART} is now cancelled."
        )
        assert page.locator(".queued-notice").count() == 0
        assert page.url.endswith("#/runs/" + FAILED_BATCH_RUN)
        open_view(page, server, f"#/runs/{QUEUED_RESTART}")
        pill = page.locator(".detail-head .pill[data-status]")
        assert pill.get_attribute("data-status") == "cancelled"
        assert action_labels(page) == ["Rerun from beginning"]
    with sqlite3.connect(copy) as connection:
        status, extras = connection.execute(
            "SELECT status, extras_json FROM run_records WHERE run_id = ?",
            (QUEUED_RESTART,),
        ).fetchone()
    assert status == "cancelled"
    assert json.loads(extras)["cancelled_by"] == "flow-web"


def test_cancel_requested_run_page(page, pyz, tmp_path):
    copy, server_context = serve_fixture_copy(pyz, tmp_path)
    with server_context as server:
        open_view(page, server, f"#/runs/{NEWEST_RUN}")
        assert action_labels(page) == ["Cancel request"]
        page.locator('.actions button[data-action="cancel"]').click()
        before = rendered_count(page)
        page.locator("#confirm-ok").click()
        wait_rendered_after(page, before)
        pill = page.locator(".detail-head .pill[data-status]")
        assert pill.get_attribute("data-status") == "cancelled"
        assert action_labels(page) == ["Rerun from beginning"]
    with sqlite3.connect(copy) as connection:
        (status,) = connection.execute(
            "SELECT status FROM run_records WHERE run_id = ?", (NEWEST_RUN,)
        ).fetchone()
    assert status == "cancelled"


def test_run_page_lists_job_requests(page, fixture_server):
    open_view(page, fixture_server, "#/runs/backfill_complete-20261125T140000-1")
    line = page.locator(".queued-notice p")
    assert line.count() == 1
    assert normalised_text(line.locator(".queued-text")) == (
        "A run-now request is queued for backfill_complete:"
        " run-now-backfill_complete-5d5efedf8ab3"
        " (requested 2026-12-04 15:34:59 UTC)."
    )
    button = line.locator('button[data-action="cancel"]')
    assert button.get_attribute("data-run-id") == (
        "run-now-backfill_complete-5d5efedf8ab3"
    )


def test_rerun_end_to_end(page, pyz, tmp_path):
    """The real POST: a rerun queues a requested row and the page opens it."""
    _, server_context = serve_fixture_copy(pyz, tmp_path)
    with server_context as server:
        open_view(page, server, f"#/runs/{FAILED_STREAM_RUN}")
        page.locator('.actions button[data-action="rerun"]').click()
        before = rendered_count(page)
        page.locator("#confirm-ok").click()
        wait_rendered_after(page, before)
        new_run_id = page.url.split("#/runs/")[1]
        assert new_run_id.startswith("req-")
        assert normalised_text(page.locator("#notice")) == (f"Queued run {new_run_id}.")
        pill = page.locator(".detail-head .pill[data-status]")
        assert pill.get_attribute("data-status") == "requested"
        facts = normalised_text(page.locator(".facts"))
        assert f"Restart of {FAILED_STREAM_RUN}" in facts
        assert "Rerun from the beginning" in facts
        assert page.recorder.console_errors() == []


def test_pause_end_to_end(page, pyz, tmp_path):
    running = "live_orders-stream-20261204T153356Z-773c23f0"
    _, server_context = serve_fixture_copy(pyz, tmp_path)
    with server_context as server:
        open_view(page, server, f"#/runs/{running}")
        assert "Pause" not in normalised_text(page.locator(".facts"))
        page.locator('.actions button[data-action="pause"]').click()
        before = rendered_count(page)
        page.locator("#confirm-ok").click()
        wait_rendered_after(page, before)
        assert normalised_text(page.locator("#notice")) == (
            "Pause requested: pause_requested is now true on this run. It keeps"
            " running until its worker reads the flag."
        )
        assert "Pause requested" in normalised_text(page.locator(".facts"))
        assert page.url.endswith("#/runs/" + running)
        chip = page.locator(".detail-head [data-pause-request]")
        assert normalised_text(chip) == "Pause requested; waiting for the worker"
        assert page.locator('.actions button[data-action="pause"]').count() == 0


def test_workflow_run_now_end_to_end(page, pyz, tmp_path):
    _, server_context = serve_fixture_copy(pyz, tmp_path)
    with server_context as server:
        open_view(page, server, "#/workflows")
        card = page.locator('.card[data-workflow="warehouse_etl"]')
        card.locator('button[data-action="run-now"]').click()
        dialog = page.locator("#confirm-dialog")
        dialog.get_by_label("publish_metrics").uncheck()
        with page.expect_request("**/run-now") as posted:
            page.locator("#confirm-ok").click()
        assert posted.value.post_data_json == {
            "jobs": ["ingest_orders", "load_dim_customer", "build_sales_mart"]
        }
        page.wait_for_url("**/#/runs/run-now-warehouse_etl-*")
        page.locator(".detail-head").wait_for()
        pill = page.locator(".detail-head .pill[data-status]")
        assert pill.get_attribute("data-status") == "requested"


def test_job_run_now_cascade(page, pyz, tmp_path):
    _, server_context = serve_fixture_copy(pyz, tmp_path)
    with server_context as server:
        open_view(page, server, "#/jobs")
        card = page.locator('.card[data-job="ingest_orders"]')
        card.locator('button[data-action="run-now"]').click()
        dialog = page.locator("#confirm-dialog")
        dialog.wait_for(state="visible")
        listed = [item.inner_text() for item in dialog.locator("li").all()]
        assert listed == ["build_sales_mart", "publish_metrics"]
        dialog.locator("#cascade-box").check()
        with page.expect_request("**/run-now") as posted:
            page.locator("#confirm-ok").click()
        assert posted.value.post_data_json == {"cascade_downstream": True}
        page.wait_for_url("**/#/runs/run-now-ingest_orders-*")
        assert page.locator(".card[data-job]").count() == 0


def test_run_now_hidden_without_catalog(page, pyz, tmp_path):
    database = tmp_path / "no-catalog.sqlite"
    write_runlog(database, [])
    with run_pyz(pyz, "--run-log-url", f"sqlite:///{database}") as server:
        open_view(page, server, "#/workflows")
        assert page.locator('button[data-action="run-now"]').count() == 0


def test_read_only_hides_actions(page, pyz, tmp_path):
    _, server_context = serve_fixture_copy(pyz, tmp_path, "--read-only")
    with server_context as server:
        open_view(page, server, f"#/runs/{FAILED_BATCH_RUN}")
        assert page.locator(".actions button").count() == 0
        assert page.locator(".facts").is_visible()
        assert page.locator(".queued-notice .queued-text").count() == 1
        assert page.locator(".queued-notice button").count() == 0
        assert normalised_text(page.locator(".queued-notice .queued-text")) == (
            "A restart from step transform_partition_1 of this run is already"
            " queued: req-e4123ce34ed14a89ab0aac7e307d78f1 (requested"
            " 2026-12-04 15:35:00 UTC)."
        )


# ---- Shell: theme, time zone, keyboard ---------------------------------------


def test_theme_survives_reload(page, fixture_server):
    open_view(page, fixture_server, "#/jobs")
    root = page.locator("html")
    assert root.get_attribute("data-theme") == "dark"
    page.locator("#theme-toggle").click()
    assert root.get_attribute("data-theme") == "light"
    open_view(page, fixture_server, "#/jobs", reload=True)
    assert root.get_attribute("data-theme") == "light"
    assert computed(page.locator("body"), "backgroundColor") == css_colour(page, "--bg")
    assert css_colour(page, "--bg") == "rgb(243, 245, 248)"


@pytest.mark.parametrize("theme", ["dark", "light"])
def test_text_contrast_meets_aa(page, fixture_server, theme):
    open_view(page, fixture_server, "#/workflows")
    page.evaluate(f"() => localStorage.setItem('flow-web-theme', '{theme}')")
    failures = []
    for route in VIEWS.values():
        open_view(page, fixture_server, route, reload=True)
        failures += [f"{route}: {item}" for item in page.evaluate(CONTRAST_SCRIPT)]
    assert failures == []


def test_time_zone_toggle(browser, fixture_server):
    context = browser.new_context(viewport=VIEWPORT, timezone_id="America/New_York")
    page = context.new_page()
    try:
        open_view(page, fixture_server, "#/runs")
        first = (
            page.locator(".runs-table .runs-group .run-row")
            .first.locator(".cell")
            .nth(2)
        )
        assert normalised_text(first) == "2026-12-04 15:35:00 UTC"
        before = rendered_count(page)
        page.locator("#zone-toggle").click()
        wait_rendered_after(page, before)
        assert normalised_text(first) == "2026-12-04 10:35:00 EST"
        open_view(page, fixture_server, "#/runs", reload=True)
        first = (
            page.locator(".runs-table .runs-group .run-row")
            .first.locator(".cell")
            .nth(2)
        )
        assert normalised_text(first) == "2026-12-04 10:35:00 EST"
        assert normalised_text(page.locator("#zone-toggle")) == "Local"
    finally:
        context.close()


PHONE_VIEWPORT = {"width": 390, "height": 844}


def test_phone_width_no_sideways_scroll(browser, fixture_server):
    context = browser.new_context(viewport=PHONE_VIEWPORT, timezone_id="UTC")
    page = context.new_page()
    try:
        for name, route in VIEWS.items():
            open_view(page, fixture_server, route)
            width = page.evaluate("() => document.documentElement.scrollWidth")
            assert width <= PHONE_VIEWPORT["width"], name
            for control in page.locator(".nav a, .nav button").all():
                box = control.bounding_box()
                assert box["x"] >= 0, name
                assert box["x"] + box["width"] <= PHONE_VIEWPORT["width"], (
                    name,
                    normalised_text(control),
                )
                # One line of text: no label breaks inside a word.
                assert box["height"] < 40, normalised_text(control)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        open_view(page, fixture_server, "#/runs")
        page.screenshot(path=str(ARTIFACTS / "dark-phone-runs.png"))
        wrap = page.locator(".runs-wrap")
        assert computed(wrap, "overflowX") == "auto"
        run_id_cell = page.locator(".runs-table .runs-group .run-row .cell").nth(5)
        assert run_id_cell.bounding_box()["x"] > PHONE_VIEWPORT["width"]
        wrap.evaluate("(node) => { node.scrollLeft = node.scrollWidth; }")
        box = run_id_cell.bounding_box()
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= PHONE_VIEWPORT["width"]
        page.screenshot(path=str(ARTIFACTS / "dark-phone-runs-scrolled.png"))
        open_view(page, fixture_server, "#/jobs")
        for button in page.locator(".sort-group button").all():
            assert button.bounding_box()["height"] < 40, normalised_text(button)
        page.screenshot(path=str(ARTIFACTS / "dark-phone-jobs.png"))
    finally:
        context.close()


# The rendered size of a task DAG node's text: its font size times the scale
# at which the SVG is drawn (its on-screen width over its viewBox width).
TASK_DAG_TEXT_PX = """
() => {
  const svg = document.querySelector('.task-dag svg.graph');
  const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
  return [...svg.querySelectorAll('text')].map(
    (text) => parseFloat(getComputedStyle(text).fontSize) * scale);
}
"""


def test_phone_task_dag_stays_readable(browser, fixture_server):
    context = browser.new_context(viewport=PHONE_VIEWPORT, timezone_id="UTC")
    page = context.new_page()
    try:
        open_view(page, fixture_server, f"#/runs/{FAILED_BATCH_RUN}")
        sizes = page.evaluate(TASK_DAG_TEXT_PX)
        assert len(sizes) == 12
        assert min(sizes) >= 10
        holder = page.locator(".task-dag .graph-inline")
        assert computed(holder, "overflowX") == "auto"
        scroll_width, client_width = holder.evaluate(
            "(node) => [node.scrollWidth, node.clientWidth]"
        )
        assert scroll_width > client_width
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= PHONE_VIEWPORT["width"]
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(
            path=str(ARTIFACTS / "dark-phone-run-failed.png"), full_page=True
        )
    finally:
        context.close()


def test_keyboard_shortcuts(page, fixture_server):
    open_view(page, fixture_server, "#/workflows")
    before = rendered_count(page)
    page.keyboard.press("g")
    page.keyboard.press("j")
    wait_rendered_after(page, before)
    assert page.url.endswith("#/jobs")
    page.keyboard.press("/")
    focused = page.evaluate("() => document.activeElement.placeholder")
    assert focused == "Filter jobs by name"
    page.keyboard.press("Escape")
    before = rendered_count(page)
    page.keyboard.press("g")
    page.keyboard.press("r")
    wait_rendered_after(page, before)
    assert page.url.endswith("#/runs")
    page.keyboard.press("?")
    assert page.locator("#help-dialog").is_visible()
    page.keyboard.press("Escape")
    before = rendered_count(page)
    page.keyboard.press("g")
    page.keyboard.press("d")
    wait_rendered_after(page, before)
    assert page.url.endswith("#/dag")
    before = rendered_count(page)
    page.keyboard.press("g")
    page.keyboard.press("w")
    wait_rendered_after(page, before)
    assert page.url.endswith("#/workflows")


# ---- Safety: requests, console, hostile strings, token -----------------------


def test_no_foreign_requests_or_errors(page, fixture_server):
    for route in VIEWS.values():
        open_view(page, fixture_server, route)
    page.locator('.dag-canvas .graph-node[data-name="ingest_orders"]').hover()
    foreign = [
        r.url
        for r in page.recorder.requests
        if not r.url.startswith(fixture_server.url + "/")
    ]
    assert foreign == []
    assert page.recorder.console_errors() == []
    assert page.recorder.errors == []
    assert page.recorder.max_in_flight == 1


def test_page_has_strict_policy(fixture_server):
    status, body, headers = fixture_server.get("/")
    policy = headers["content-security-policy"]
    assert status == 200
    assert "script-src 'sha256-" in policy
    assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    assert re.search(r"\son[a-z]+\s*=", body) is None
    assert re.search(r"\sstyle\s*=", body) is None
    assert "innerHTML" not in body
    assert "http://" not in body.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in body


def odd_number_runlog(path: Path) -> None:
    """A RunLog whose extras hold strings, null, NaN, infinity and objects
    where the page expects numbers."""
    stream_extras = {
        "snapshot_at": "not a time",
        "rows_consumed_total": "lots",
        "rows_written_total": float("nan"),
        "batches_total": None,
        "errors_total": {"count": 1},
        "stats_1m": {"rows_consumed_per_sec": "NaN", "avg_batch_cycle_ms": None},
        "stats_5m": {"rows_consumed_per_sec": float("inf")},
    }
    steps = [
        {
            "name": "extract",
            "status": "succeeded",
            "duration_ms": "slow",
            "depends_on": "none",
        },
        {
            "name": "load",
            "status": "failed",
            "duration_ms": None,
            "depends_on": ["extract"],
        },
    ]
    write_runlog(
        path,
        [
            ("odd-stream-1", "odd_stream", "running", "2026-12-04T15:33:00Z", None, 1)
            + (None, None, None, "streaming", json.dumps(stream_extras)),
            ("odd-batch-1", "odd_batch", "failed", "2026-12-04T15:00:00Z")
            + ("2026-12-04T15:01:00Z", 1, "load", None, "boom", "batch")
            + (json.dumps({"steps": steps}),),
        ],
    )


def route_with_odd_numbers(page) -> None:
    """Replace the numbers that the server itself computes with strings."""

    def pipelines(route):
        document = route.fetch().json()
        for entry in document["pipelines"]:
            entry["median_duration_ms"] = "3m"
            entry["retry_state"] = {"attempt_count": "2", "gave_up": False}
            for run in entry["recent_runs"]:
                run["duration_ms"] = "x"
        route.fulfill(json=document)

    def runs(route):
        document = route.fetch().json()
        for run in document["runs"]:
            run["attempt"] = "1"
            run["duration_ms"] = "y"
        route.fulfill(json=document)

    def run(route):
        document = route.fetch().json()
        document["attempt"] = "z"
        document["duration_ms"] = "q"
        for attempt in document["attempts"]:
            attempt["attempt"] = "w"
        route.fulfill(json=document)

    page.route("**/api/pipelines", pipelines)
    page.route(lambda url: "/api/runs?" in url, runs)
    page.route("**/api/runs/odd-batch-1", run)


def test_odd_numbers_show_dash(page, pyz, tmp_path):
    database = tmp_path / "odd-numbers.sqlite"
    odd_number_runlog(database)
    route_with_odd_numbers(page)
    banner = page.locator("#banner")
    with run_pyz(
        pyz, "--run-log-url", f"sqlite:///{database}", "--now", CAPTURED_AT
    ) as server:
        open_view(page, server, "#/jobs")
        stream = page.locator('.card[data-job="odd_stream"]')
        assert normalised_text(stream.locator(".throughput")) == (
            "Throughput — in (1m) / — in (5m) · Batch cycle: — avg (1m)"
        )
        assert "no snapshot yet" in normalised_text(stream.locator(".card-foot"))
        batch = page.locator('.card[data-job="odd_batch"]')
        assert normalised_text(batch.locator(".median")) == "Median —"
        assert "retry" not in normalised_text(batch)
        heights = batch.locator(".strip-cell:not(.empty-cell)").evaluate_all(
            "(cells) => cells.map((c) => getComputedStyle(c).height)"
        )
        assert heights == ["6px"]
        assert not banner.is_visible()

        open_view(page, server, "#/runs")
        row = page.locator('.run-row[data-run-id="odd-batch-1"] .cell')
        assert normalised_text(row.nth(3)) == "—"
        assert normalised_text(row.nth(4)) == "—"

        open_view(page, server, "#/runs/odd-stream-1")
        stream_panel = normalised_text(page.locator(".panel").nth(1))
        assert (
            "Rows consumed — · written — · batches — · errors — · no snapshot yet"
        ) in stream_panel
        assert "Throughput — in (1m) / — in (5m)" in stream_panel

        open_view(page, server, "#/runs/odd-batch-1")
        facts = normalised_text(page.locator(".facts"))
        assert "Attempt —" in facts
        assert "Duration —" in facts
        step = page.locator('.task-dag tr[data-step="extract"] td')
        assert normalised_text(step.nth(3)) == "—"
        assert normalised_text(step.nth(4)) == "—"
        attempt = page.locator(".panel", has_text="Attempts").locator("tbody td")
        assert normalised_text(attempt.first) == "—"

        for route in ("#/workflows", "#/dag", "#/jobs"):
            open_view(page, server, route)
            assert not banner.is_visible(), route
    assert page.recorder.errors == []


def test_hostile_strings_are_text(page, pyz, tmp_path):
    database = tmp_path / "hostile.sqlite"
    extras = json.dumps({"steps": [{"name": HOSTILE_NAME, "status": "failed"}]})
    write_runlog(
        database,
        [
            (
                "hostile-1",
                HOSTILE_NAME,
                "failed",
                "2026-12-04T10:00:00Z",
                "2026-12-04T10:01:00Z",
                1,
                HOSTILE_NAME,
                None,
                HOSTILE_ERROR,
                "batch",
                extras,
            )
        ],
    )
    with run_pyz(pyz, "--run-log-url", f"sqlite:///{database}") as server:
        for route in ("#/jobs", "#/runs", "#/workflows", "#/dag"):
            open_view(page, server, route)
            assert page.locator("#view img, #view script").count() == 0
        open_view(page, server, "#/jobs")
        title = page.locator(".card[data-job] .card-title")
        assert title.inner_text() == HOSTILE_NAME
        open_view(page, server, "#/runs")
        # NOTE: textContent, because innerText depends on layout. It can read
        # "" intermittently, probably while content-visibility has not laid
        # out the row group yet; that cause is a guess.
        pipeline_cell = page.locator(".runs-table .run-row[data-run-id] .cell").nth(1)
        assert pipeline_cell.text_content() == HOSTILE_NAME
        open_view(page, server, "#/runs/hostile-1")
        assert page.locator(".error-block").inner_text() == HOSTILE_ERROR
        assert page.locator("h1").inner_text() == HOSTILE_NAME
        assert page.locator(".task-dag .node-title").text_content() == HOSTILE_NAME
        assert page.locator("#view img, #view script").count() == 0
        page.wait_for_timeout(300)
    assert page.recorder.dialogs == []
    assert page.recorder.errors == []
    assert [r.url for r in page.recorder.requests if r.url.endswith("/x")] == []


BIDI_NAME = "orders\u202eevil"
BIDI_STEP = "load\u202estep"
# The left edges of the first and last character of the first text node
# under an element that contains `text`.
CHAR_EDGES_SCRIPT = """
(element, text) => {
  const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const at = node.data.indexOf(text);
    if (at < 0) continue;
    const edge = (index) => {
      const range = document.createRange();
      range.setStart(node, index);
      range.setEnd(node, index + 1);
      return range.getBoundingClientRect().left;
    };
    return [edge(at), edge(at + text.length - 1)];
  }
  return null;
}
"""


def char_edges(locator, text: str) -> list:
    return locator.evaluate(CHAR_EDGES_SCRIPT, text)


def test_bidi_override_stays_inside(page, pyz, tmp_path):
    database = tmp_path / "bidi.sqlite"
    steps = [
        {"name": "extract", "status": "succeeded", "depends_on": []},
        {"name": BIDI_STEP, "status": "failed", "depends_on": ["extract"]},
    ]
    write_runlog(
        database,
        [
            ("bidi-run-1", BIDI_NAME, "failed", "2026-12-04T10:00:00Z")
            + ("2026-12-04T10:01:00Z", 1, BIDI_STEP, None)
            + ("boom \u202e reversed", "batch", json.dumps({"steps": steps})),
        ],
    )
    with run_pyz(pyz, "--run-log-url", f"sqlite:///{database}") as server:
        open_view(page, server, "#/runs/bidi-run-1")
        crumbs = page.locator(".crumbs")
        lefts = [
            crumbs.locator(selector).bounding_box()["x"]
            for selector in ('a[href="#/runs"]', "a >> nth=1", "span.mono")
        ]
        assert lefts == sorted(lefts)
        first, last = char_edges(crumbs.locator("span.mono"), "bidi-run-1")
        assert first < last
        first, last = char_edges(crumbs, " / ")
        assert first < last
        for selector in (".crumbs a", ".detail-head h1", ".error-block", ".mono"):
            assert computed(page.locator(selector).first, "unicodeBidi") == "isolate"

        page.locator('.actions button[data-action="restart"]').click()
        title = page.locator("#confirm-title")
        title.wait_for()
        first, last = char_edges(title, " from step ")
        assert first < last
        first, last = char_edges(
            page.locator("#confirm-body p").first, " in its extras."
        )
        assert first < last
        page.locator("#confirm-cancel").click()

        open_view(page, server, "#/jobs")
        card = page.locator(".card[data-job]")
        assert computed(card.locator(".card-title"), "unicodeBidi") == "isolate"
        assert card.locator(".card-title").inner_text() == BIDI_NAME


LONG_NAME = "long_" + "x" * 4990 + "_name"
LONG_RUN = "long-name-1"


def test_long_job_name_clamped(page, pyz, tmp_path):
    assert len(LONG_NAME) == 5000
    database, server_context = serve_fixture_copy(pyz, tmp_path)
    with sqlite3.connect(database) as connection:
        connection.execute(
            "INSERT INTO run_records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                LONG_RUN,
                LONG_NAME,
                "failed",
                "2026-12-04T10:00:00Z",
                "2026-12-04T10:01:00Z",
                1,
                None,
                None,
                "boom",
                "batch",
                "{}",
            ),
        )
    with server_context as server:
        open_view(page, server, "#/jobs")
        card = page.locator(f'.card[data-job="{LONG_NAME}"]')
        title = card.locator(".card-title")
        assert title.get_attribute("title") == "\u2068" + LONG_NAME + "\u2069"
        assert title.inner_text() == LONG_NAME
        # Two lines of 14 px text.
        assert title.bounding_box()["height"] < 45
        assert card.bounding_box()["height"] < 210
        open_view(page, server, f"#/runs/{LONG_RUN}")
        heading = page.locator(".detail-head h1")
        assert heading.get_attribute("title") == "\u2068" + LONG_NAME + "\u2069"
        # Two lines of 20 px text.
        assert heading.bounding_box()["height"] < 64
        assert page.locator(".crumbs").bounding_box()["height"] < 60
        pipeline = page.locator(".facts div").filter(has_text="Pipeline").locator("dd")
        assert pipeline.bounding_box()["height"] < 30
        assert (
            page.evaluate("() => document.documentElement.scrollWidth")
            <= (VIEWPORT["width"])
        )


def test_long_error_collapsed(page, pyz, tmp_path):
    database = tmp_path / "long-error.sqlite"
    error = "\n".join(f"  File step_{index}.py, line {index}" for index in range(40))
    write_runlog(
        database,
        [
            (
                "long-error-1",
                "nightly_export",
                "failed",
                "2026-12-04T10:00:00Z",
                "2026-12-04T10:01:00Z",
                1,
                "export",
                None,
                error,
                "batch",
                "{}",
            )
        ],
    )
    with run_pyz(pyz, "--run-log-url", f"sqlite:///{database}") as server:
        open_view(page, server, "#/runs/long-error-1")
        block = page.locator(".error-block")
        assert block.get_attribute("class") == "error-block collapsed"
        assert block.text_content() == error
        height = block.bounding_box()["height"]
        toggle = page.locator(".error-toggle")
        assert toggle.inner_text() == "Show the whole error (40 lines)"
        toggle.click()
        assert block.get_attribute("class") == "error-block"
        assert block.bounding_box()["height"] > 3 * height
        assert toggle.inner_text() == "Collapse the error"


def test_empty_runlog_explains(page, pyz, tmp_path):
    database = tmp_path / "empty.sqlite"
    write_runlog(database, [])
    with run_pyz(pyz, "--run-log-url", f"sqlite:///{database}") as server:
        open_view(page, server, "#/runs")
        text = normalised_text(page.locator("#view .empty"))
        assert "has no runs yet" in text
        assert "--run-log-url sqlite:////path/to/run_log.db" in text
        open_view(page, server, "#/jobs")
        assert "--run-log-url" in normalised_text(page.locator("#view .empty"))
        open_view(page, server, "#/dag")
        assert "--module your_pipelines" in normalised_text(
            page.locator("#view .empty")
        )


def test_token_prompt_and_bearer(page, pyz, tmp_path):
    _, server_context = serve_fixture_copy(pyz, tmp_path, "--token", "s3cret-token")
    with server_context as server:
        page.goto(server.url + "/#/jobs")
        dialog = page.locator("#token-dialog")
        dialog.wait_for(state="visible")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dark-token-dialog.png"))
        page.locator("#token-input").fill("s3cret-token")
        page.locator("#token-ok").click()
        page.wait_for_function(
            "() => Number(document.querySelector('#view').dataset.rendered || 0) > 0"
        )
        assert page.locator(".card[data-job]").count() == 13
        stored = page.evaluate("() => sessionStorage.getItem('flow-web-token')")
        assert stored == "s3cret-token"
        local = page.evaluate("() => JSON.stringify(localStorage)")
        assert "s3cret-token" not in local
        assert "s3cret-token" not in page.url
        api = page.recorder.api_requests()
        authorised = [r for r in api if r.headers.get("authorization")]
        assert authorised[-1].headers["authorization"] == "Bearer s3cret-token"
        open_view(page, server, "#/runs", reload=True)
        assert not dialog.is_visible()
        assert page.locator(".runs-table .runs-group .run-row").count() == 50


def test_restart_with_token_end_to_end(page, pyz, tmp_path):
    """With a token configured, the run page asks for it once, restarts the
    failed run from its failed step and lands on the new requested run."""
    copy, server_context = serve_fixture_copy(pyz, tmp_path, "--token", "op-token-7")
    # Let a scheduler "pick up" the fixture's own pending restart first, so
    # that this restart is a new request rather than the queued one.
    with sqlite3.connect(copy) as connection:
        connection.execute(
            "UPDATE run_records SET status = 'running'"
            " WHERE run_id = 'req-e4123ce34ed14a89ab0aac7e307d78f1'"
        )
    with server_context as server:
        page.goto(server.url + f"/#/runs/{FAILED_BATCH_RUN}")
        page.locator("#token-dialog").wait_for(state="visible")
        page.locator("#token-input").fill("op-token-7")
        page.locator("#token-ok").click()
        button = page.locator('.actions button[data-action="restart"]')
        button.wait_for(state="visible")
        assert normalised_text(button) == 'Restart from step "transform_partition_1"'
        button.click()
        before = rendered_count(page)
        page.locator("#confirm-ok").click()
        wait_rendered_after(page, before)
        new_run_id = page.url.split("#/runs/")[1]
        pill = page.locator(".detail-head .pill[data-status]")
        assert pill.get_attribute("data-status") == "requested"
        # The one 401 is the first call, made before the token was entered.
        assert page.recorder.console_errors() == [
            "Failed to load resource: the server responded with a status of 401"
            " (Unauthorized)"
        ]
        assert "op-token-7" not in server.log_text()
    assert re.fullmatch(r"req-[0-9a-f]{32}", new_run_id)
    with sqlite3.connect(copy) as connection:
        row = connection.execute(
            "SELECT pipeline, status, finished_at, extras_json FROM run_records"
            " WHERE run_id = ?",
            (new_run_id,),
        ).fetchone()
    assert row[:3] == ("build_sales_mart", "requested", None)
    assert json.loads(row[3]) == {
        "restart_from_step": "transform_partition_1",
        "prior_run_id": FAILED_BATCH_RUN,
    }


# ---- Live refresh and errors -------------------------------------------------


def test_live_refresh_shows_new_run(page, pyz, tmp_path):
    database, server_context = serve_fixture_copy(pyz, tmp_path)
    with server_context as server:
        open_view(page, server, "#/runs")
        connection = sqlite3.connect(database)
        connection.execute(
            "INSERT INTO run_records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                "live-new-run-1",
                "ingest_orders",
                "running",
                "2026-12-04T15:35:40Z",
                None,
                1,
                None,
                None,
                None,
                "batch",
                "{}",
            ),
        )
        connection.commit()
        first = page.locator(".runs-table .runs-group .run-row").first
        found = wait_until(
            lambda: first.get_attribute("data-run-id") == "live-new-run-1",
            timeout_s=15,
        )
        assert found
        connection.execute(
            "UPDATE run_records SET status = 'succeeded',"
            " finished_at = '2026-12-04T15:35:45Z' WHERE run_id = 'live-new-run-1'"
        )
        connection.commit()
        connection.close()
        finished = wait_until(
            lambda: first.get_attribute("data-status") == "succeeded", timeout_s=15
        )
        assert finished
        assert re.fullmatch(
            r"updated \d+s ago", page.locator("#live-text").inner_text()
        )
        assert page.recorder.max_in_flight == 1


def test_refresh_rate_and_hidden_tab(page, fixture_server):
    open_view(page, fixture_server, "#/jobs")
    start = len(page.recorder.api_requests())
    page.wait_for_timeout(11_000)
    visible_requests = len(page.recorder.api_requests()) - start
    assert 1 <= visible_requests <= 3
    page.evaluate(
        """() => {
          Object.defineProperty(document, 'visibilityState',
            { configurable: true, get: () => 'hidden' });
          document.dispatchEvent(new Event('visibilitychange'));
        }"""
    )
    page.wait_for_timeout(500)
    start = len(page.recorder.api_requests())
    page.wait_for_timeout(11_000)
    assert len(page.recorder.api_requests()) == start


def test_failed_refresh_keeps_data(page, fixture_server):
    open_view(page, fixture_server, "#/jobs")
    page.route(
        "**/api/pipelines",
        lambda route: route.fulfill(
            status=503,
            content_type="application/json",
            body=json.dumps({"detail": "RunLog /data/run_log.db is locked"}),
        ),
    )
    banner = page.locator("#banner")
    banner.wait_for(state="visible", timeout=15000)
    assert "RunLog /data/run_log.db is locked" in banner.inner_text()
    assert "GET /api/pipelines failed (HTTP 503)" in banner.inner_text()
    assert page.locator(".card[data-job]").count() == 13
    assert page.locator("#live").get_attribute("class") == "live stale"


# ---- Screenshots -------------------------------------------------------------


@pytest.mark.parametrize("theme", ["dark", "light"])
def test_screenshots_every_view(page, fixture_server, theme):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    open_view(page, fixture_server, "#/workflows")
    page.evaluate(f"() => localStorage.setItem('flow-web-theme', '{theme}')")
    for name, route in VIEWS.items():
        open_view(page, fixture_server, route, reload=True)
        path = ARTIFACTS / f"{theme}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 10_000
    open_view(page, fixture_server, f"#/runs/{FAILED_BATCH_RUN}")
    page.locator('.actions button[data-action="restart"]').click()
    page.locator("#confirm-dialog").wait_for(state="visible")
    page.screenshot(path=str(ARTIFACTS / f"{theme}-restart-dialog.png"))
    page.locator("#confirm-cancel").click()
    open_view(page, fixture_server, "#/workflows")
    card = page.locator('.card[data-workflow="warehouse_etl"]')
    card.locator('button[data-action="run-now"]').click()
    page.locator("#confirm-dialog").wait_for(state="visible")
    page.screenshot(path=str(ARTIFACTS / f"{theme}-run-now-dialog.png"))
