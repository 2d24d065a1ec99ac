"""Latency and memory of the built flow-web.pyz on a 1,000,000-run RunLog.

    python tests/bench/api.py [--folder /tmp/flow-bench] [--runs 1000000]
        [--run-log-url URL] [--reference /path/to/ematix-flow/bin/flow]

Writes the benchmark RunLog on the first run (tests/bench/bigrunlog.py) and
starts dist/flow-web.pyz on a copy of it with the matching catalog. For every
GET endpoint it prints the first-call latency (nothing cached yet) and the
p50/p95 of repeated calls on an unchanged database. It also prints p50/p95 of
calls made right after another process wrote a row; flow-web then answers with
the previous document while it rebuilds it in the background. Last comes the
server's peak resident memory.

With --run-log-url the same data is read from that database instead (load it
first with tests/bench/load_server.py). With --reference, ematix-flow's own
`flow web` is measured on a copy of the same RunLog for comparison. Targets:
p95 at most 50 ms per endpoint, at most 100 MB resident.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bigrunlog  # noqa: E402

ROOT = HERE.parents[1]
PYZ = ROOT / "dist" / "flow-web.pyz"
TARGET_P95_MS = 50.0
TARGET_RSS_MB = 100.0
REPEATS = 25
WRITES = 10


def endpoints(runlog: Path) -> list:
    connection = sqlite3.connect(f"file:{runlog}?mode=ro", uri=True)
    with_steps = connection.execute(
        "SELECT run_id FROM run_records WHERE status = 'failed' AND extras_json LIKE"
        " '%\"steps\"%' ORDER BY started_at DESC LIMIT 1"
    ).fetchone()[0]
    connection.close()
    return [
        "/api/health",
        "/api/me",
        "/api/runs",
        "/api/runs?offset=20000",
        "/api/runs?pipeline=job_007&status=failed",
        "/api/runs?status=failed",
        "/api/runs?sort=duration",
        "/api/runs?pipeline=job_007&sort=duration",
        f"/api/runs/{with_steps}",
        "/api/pipelines",
        "/api/workflows",
        "/api/dag",
        "/api/dag/layout",
        "/api/dag/layout?focus=job_050",
        "/api/dag/layout?workflow=wf_03",
        f"/api/dag/layout?run={with_steps}",
    ]


def start(command: list, env: dict) -> tuple:
    process = subprocess.Popen(
        command,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env={**os.environ, **env},
    )
    pattern = re.compile(r"(?:listening on|running on) http://([\d.]+):(\d+)")
    for line in process.stderr:
        match = pattern.search(line)
        if match:
            threading.Thread(target=lambda: process.stderr.read(), daemon=True).start()
            return process, match.group(1), int(match.group(2))
    raise SystemExit(f"server did not start: {command}")


def timed_get(connection: http.client.HTTPConnection, path: str) -> float:
    started = time.perf_counter()
    connection.request("GET", path)
    response = connection.getresponse()
    response.read()
    elapsed = (time.perf_counter() - started) * 1000
    if response.status != 200:
        raise SystemExit(f"GET {path} answered {response.status}")
    return elapsed


def percentile(values: list, share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def touch(runlog: Path, number: int) -> None:
    """Write one row from another connection, as the scheduler would."""
    connection = sqlite3.connect(runlog, timeout=10)
    connection.execute(
        "INSERT OR REPLACE INTO run_records VALUES (?, 'bench_probe', 'succeeded',"
        " '2026-11-30T23:30:00Z', '2026-11-30T23:30:01Z', 1, NULL, NULL, NULL,"
        " 'batch', '{}')",
        (f"bench-probe-{number}",),
    )
    connection.commit()
    connection.close()


def measure(host: str, port: int, paths: list, runlog, repeats: int = REPEATS) -> list:
    rows = []
    connection = http.client.HTTPConnection(host, port, timeout=600)
    for path in paths:
        first = timed_get(connection, path)
        warm = [timed_get(connection, path) for _ in range(repeats)]
        written = []
        if runlog is not None:
            for number in range(WRITES):
                touch(runlog, number)
                written.append(timed_get(connection, path))
        rows.append((path, first, warm, written))
    connection.close()
    return rows


def peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024


def report(title: str, rows: list, rss: float) -> bool:
    print(f"\n{title}")
    print(
        f"{'endpoint':<58} {'first':>7} {'p50':>7} {'p95':>7} {'p50 w':>7}"
        f" {'p95 w':>7}  target"
    )
    ok = True
    for path, first, warm, written in rows:
        hit = percentile(warm, 0.95) <= TARGET_P95_MS
        ok &= hit
        write_cols = (
            f" {statistics.median(written):7.1f} {percentile(written, 0.95):7.1f}"
            if written
            else f" {'-':>7} {'-':>7}"
        )
        print(
            f"{path[:58]:<58} {first:7.1f} {statistics.median(warm):7.1f}"
            f" {percentile(warm, 0.95):7.1f}{write_cols}  {'ok' if hit else 'MISSED'}"
        )
    print(
        f"peak resident memory: {rss:.1f} MB "
        f"({'ok' if rss <= TARGET_RSS_MB else 'MISSED'}; target {TARGET_RSS_MB:.0f} MB)"
    )
    print(
        "times in ms; the target applies to p95 on an unchanged RunLog; the 'w'"
        " columns are right after another process wrote a row (the previous"
        " document is served while a new one is built in the background)"
    )
    return ok and rss <= TARGET_RSS_MB


def run_flow_web(runlog: Path, catalog: Path, url: str | None) -> bool:
    if url is None:
        # The write measurements add rows, so they go to a copy.
        served = runlog.with_name("runlog-served.sqlite")
        shutil.copyfile(runlog, served)
    else:
        served = runlog
    target = url or f"sqlite:///{served}"
    command = [
        sys.executable,
        str(PYZ),
        "--port",
        "0",
        "--run-log-url",
        target,
        "--catalog",
        str(catalog),
        "--now",
        bigrunlog.BENCH_NOW,
    ]
    process, host, port = start(command, {})
    try:
        rows = measure(host, port, endpoints(runlog), None if url else served)
        rss = peak_rss_mb(process.pid)
    finally:
        process.terminate()
        process.wait()
    return report(f"flow-web on {target if url else runlog.name}", rows, rss)


def run_reference(flow: Path, runlog: Path, module: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="flow-web-ref-") as folder:
        copy = Path(folder) / "runlog.sqlite"
        shutil.copyfile(runlog, copy)  # ematix-flow switches the file to WAL
        command = [
            str(flow),
            "web",
            "--port",
            "18799",
            "--run-log-url",
            f"sqlite:///{copy}",
            "--module",
            module.stem,
        ]
        process, host, port = start(command, {"PYTHONPATH": str(module.parent)})
        try:
            paths = [
                p for p in endpoints(runlog) if "layout" not in p and "sort" not in p
            ]
            # ematix-flow takes tens of seconds on some routes, so fewer repeats.
            rows = measure(host, port, paths, None, repeats=5)
            rss = peak_rss_mb(process.pid)
        finally:
            process.terminate()
            process.wait()
        report("ematix-flow 1.0.0 flow web on a copy of the same RunLog", rows, rss)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--folder", type=Path, default=Path(tempfile.gettempdir()) / "flow-bench"
    )
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--run-log-url", help="read this database instead of SQLite")
    parser.add_argument(
        "--reference",
        type=Path,
        metavar="FLOW",
        help="ematix-flow's `flow` command, to measure its server too",
    )
    args = parser.parse_args()
    if not PYZ.exists():
        raise SystemExit(f"{PYZ} not found; run python3 build.py first")
    runlog, catalog, module = bigrunlog.ensure(args.folder, args.runs)
    ok = run_flow_web(runlog, catalog, args.run_log_url)
    if args.reference:
        run_reference(args.reference, runlog, module)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
