"""Benchmark the operator page in headless Chromium (not a test).

    .venv/bin/python tests/bench/ui.py [--runs 10000]

Needs the test dependencies (Playwright) and Debian's Chromium at
/usr/bin/chromium. Writes a RunLog with RUNS runs of the 200 jobs of the API
benchmark's project (tests/bench/project.py: 20 workflows, 159 edges) plus its
catalog file, builds and starts dist/flow-web.pyz on them, and times in
Chromium:

* the Runs view, default page (50 rows), first right after start-up (cold
  server caches) and then three more times;
* the Runs view at 1000 rows per page, walked through every page until all
  RUNS rows have been rendered. The API returns at most 1000 runs per
  request, so 10,000 rows are shown as ten successive pages. The figures are
  per page, and their sum covers all pages;
* the full DAG of all jobs, and one focused DAG.

Each figure runs from the hash change to the frame after the view marks
itself rendered, so it includes the API request on 127.0.0.1, JSON parsing,
DOM building, style, layout and one paint. The target is under 500 ms each.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "bench"))
sys.path.insert(0, str(ROOT))

import bigrunlog  # noqa: E402
from conftest import CHROMIUM, CHROMIUM_ARGS, run_pyz  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

import flow_web  # noqa: E402

TARGET_MS = 500
NOW = dt.datetime(2026, 12, 4, 15, 0, tzinfo=dt.timezone.utc)
STATUSES = ["succeeded"] * 90 + ["failed"] * 6 + ["cancelled"] * 2 + ["running"] * 2

# Navigate by hash and resolve with the milliseconds until the frame after
# the view's render counter moved past `before`.
TIMED_NAVIGATION = """
async ([hash, before]) => {
  const view = document.querySelector('#view');
  const start = performance.now();
  const rendered = new Promise((resolve) => {
    const check = () => Number(view.dataset.rendered || 0) > before;
    const observer = new MutationObserver(() => {
      if (check()) { observer.disconnect(); resolve(); }
    });
    observer.observe(view, { attributes: true, attributeFilter: ['data-rendered'] });
  });
  location.hash = hash;
  await rendered;
  await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
  return performance.now() - start;
}
"""


def write_runlog(path: Path, names: list, runs: int) -> None:
    generator = random.Random(7)
    connection = sqlite3.connect(path)
    for statement in flow_web.SQLITE_RUNLOG_DDL:
        connection.execute(statement)
    rows = []
    for index in range(runs):
        name = names[index % len(names)]
        started = NOW - dt.timedelta(minutes=7 * (runs - index))
        status = generator.choice(STATUSES)
        seconds = generator.randint(5, 900)
        finished = None if status == "running" else started + dt.timedelta(0, seconds)
        rows.append(
            (
                f"{name}-{started:%Y%m%dT%H%M%S}-1",
                name,
                status,
                f"{started:%Y-%m-%dT%H:%M:%SZ}",
                None if finished is None else f"{finished:%Y-%m-%dT%H:%M:%SZ}",
                1,
                "load" if status == "failed" else None,
                None,
                "load: timeout" if status == "failed" else None,
                "batch",
                "{}",
            )
        )
    connection.executemany(
        "INSERT INTO run_records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
    )
    connection.commit()
    connection.close()


def timed(page, hash_route: str) -> float:
    before = page.evaluate(
        "() => Number(document.querySelector('#view').dataset.rendered || 0)"
    )
    return page.evaluate(TIMED_NAVIGATION, [hash_route, before])


def measure(server_url: str, runs: int) -> dict:
    figures: dict = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.goto(server_url + "/#/jobs")
        page.wait_for_selector("#view[data-rendered]")

        figures["runs, 50 rows, cold"] = [timed(page, "#/runs")]
        figures["runs, 50 rows"] = []
        for _ in range(3):
            timed(page, "#/dag/job_063")
            figures["runs, 50 rows"].append(timed(page, "#/runs"))
        pages = []
        for offset in range(0, runs, 1000):
            query = "limit=1000" + (f"&offset={offset}" if offset else "")
            pages.append(timed(page, "#/runs?" + query))
            shown = page.locator(".runs-table .runs-group .run-row").count()
            assert shown == min(1000, runs - offset), shown
        figures["runs, 1000-row pages"] = pages

        figures["full DAG"] = []
        for _ in range(3):
            # A hash change is needed for each timing, so leave the view first.
            timed(page, "#/jobs")
            figures["full DAG"].append(timed(page, "#/dag"))
        nodes = page.locator(".dag-canvas .graph-node").count()
        figures["focused DAG"] = [timed(page, "#/dag/job_063")]
        figures["DAG nodes drawn"] = nodes
        browser.close()
    return figures


def report(figures: dict, runs: int) -> None:
    print(f"\nflow-web UI benchmark: {runs} runs, headless Chromium")
    for name, values in figures.items():
        if isinstance(values, int):
            print(f"  {name:24s} {values}")
            continue
        worst = max(values)
        verdict = "ok" if worst < TARGET_MS else f"OVER {TARGET_MS} ms"
        if len(values) == 1:
            print(f"  {name:24s} {values[0]:7.1f} ms  {verdict}")
        else:
            print(
                f"  {name:24s} median {statistics.median(values):7.1f} ms,"
                f" max {worst:7.1f} ms, sum {sum(values):8.1f} ms over"
                f" {len(values)}  {verdict}"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000, help="runs to write")
    args = parser.parse_args()
    subprocess.run(
        [sys.executable, str(ROOT / "build.py")], check=True, stdout=subprocess.DEVNULL
    )
    with tempfile.TemporaryDirectory(prefix="flow-web-bench-") as folder:
        document = bigrunlog.catalog_document()
        names = [job["name"] for job in document["jobs"]]
        database = Path(folder) / "runlog.sqlite"
        catalog = Path(folder) / "catalog.json"
        write_runlog(database, names, args.runs)
        catalog.write_text(json.dumps(document))
        with run_pyz(
            ROOT / "dist" / "flow-web.pyz",
            "--run-log-url",
            f"sqlite:///{database}",
            "--catalog",
            str(catalog),
        ) as server:
            figures = measure(server.url, args.runs)
    report(figures, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
