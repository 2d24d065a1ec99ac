"""A large generated RunLog for benchmarks: 1,000,000 runs of the 200-job
project in tests/bench/project.py, in the SQLite layout ematix-flow 1.0.0
writes, plus the matching flow-web catalog file and an ematix-flow pipeline
module (for running ematix-flow's own server on the same data).

    python tests/bench/bigrunlog.py /tmp/bench/runlog.sqlite [--runs 1000000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sqlite3
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from project import project_graph  # noqa: E402

import flow_web  # noqa: E402

END = dt.datetime(2026, 11, 30, 23, 0, tzinfo=dt.timezone.utc)
SPAN = dt.timedelta(days=730)
# The moment the benchmark server is started at (--now), an hour after the last run.
BENCH_NOW = "2026-12-01T00:00:00Z"
ZONES = ("UTC", "America/New_York", "Europe/Berlin", "Asia/Tokyo")
BUSY_WORKFLOWS = 4  # their jobs run hourly; the others every six hours
BUSY_SHARE = 0.48  # of all runs
STEP_NAMES = ("extract", "validate", "transform", "load", "publish")


def job_plans(total_runs: int, seed: int) -> list:
    """(job, workflow, schedule, timezone, runs) for each job."""
    jobs, _, workflows = project_graph(seed)
    member_of = {job: name for name, members in workflows.items() for job in members}
    busy = [j for j in jobs if int(member_of[j][3:]) < BUSY_WORKFLOWS]
    calm = [j for j in jobs if j not in busy]
    busy_runs = int(total_runs * BUSY_SHARE) // len(busy)
    calm_runs = (total_runs - busy_runs * len(busy)) // len(calm)
    plans = []
    for index, job in enumerate(jobs):
        is_busy = job in busy
        schedule = f"{index % 60} * * * *" if is_busy else f"{index % 60} */6 * * *"
        runs = busy_runs if is_busy else calm_runs
        plans.append((job, member_of[job], schedule, ZONES[index % len(ZONES)], runs))
    leftover = total_runs - sum(plan[4] for plan in plans)
    job, workflow, schedule, zone, runs = plans[-1]
    plans[-1] = (job, workflow, schedule, zone, runs + leftover)
    return plans


def job_rows(plan: tuple, rng: random.Random, is_last_job: bool):
    """The run rows of one job, oldest first."""
    job, workflow, _, zone, count = plan
    spacing = SPAN / count
    typical_s = rng.uniform(20, 900)
    with_steps = rng.random() < 0.1
    pending_retry = False
    for number in range(count):
        started = (
            END - SPAN + spacing * number + dt.timedelta(seconds=rng.randint(0, 90))
        )
        started = started.replace(microsecond=0)
        attempt = 2 if pending_retry else 1
        status = _status(rng, number == count - 1, is_last_job)
        pending_retry = status == "failed" and attempt == 1 and rng.random() < 0.5
        seconds = max(1, int(rng.lognormvariate(0, 0.35) * typical_s))
        finished = (
            None
            if status in flow_web.OPEN_STATUSES
            else started + dt.timedelta(seconds=seconds)
        )
        extras = {
            "trigger": "retry" if attempt > 1 else "schedule",
            "worker": f"scheduler-host-{rng.randint(1, 4)}",
            "workflow": workflow,
            "scheduled_for": flow_web.format_db_time(started),
            "timezone": zone,
        }
        failed_step = None
        if with_steps:
            extras["steps"], failed_step = _steps(rng, started, seconds, status)
        yield (
            f"{job}-{started:%Y%m%dT%H%M%S}-{attempt}",
            job,
            status,
            flow_web.format_db_time(started),
            None if finished is None else flow_web.format_db_time(finished),
            attempt,
            failed_step,
            None,
            f"{failed_step or 'run'}: TimeoutError: upstream did not answer"
            if status == "failed"
            else None,
            "batch",
            json.dumps(extras),
        )


def _status(rng: random.Random, newest: bool, last_job: bool) -> str:
    if newest and last_job:
        return "running"
    if newest and rng.random() < 0.05:
        return rng.choice(("running", "requested", "paused"))
    roll = rng.random()
    if roll < 0.03:
        return "failed"
    if roll < 0.035:
        return "cancelled"
    return "succeeded"


def _steps(
    rng: random.Random, started: dt.datetime, seconds: int, status: str
) -> tuple:
    failing = rng.randrange(len(STEP_NAMES)) if status == "failed" else None
    steps, previous = [], []
    for index, name in enumerate(STEP_NAMES):
        state = "succeeded"
        if failing is not None:
            state = (
                "failed"
                if index == failing
                else ("pending" if index > failing else "succeeded")
            )
        steps.append(
            {
                "name": name,
                "status": state,
                "depends_on": previous,
                "duration_ms": None
                if state == "pending"
                else int(seconds * 1000 / len(STEP_NAMES)),
            }
        )
        previous = [name]
    return steps, None if failing is None else STEP_NAMES[failing]


def write_runlog(path: Path, total_runs: int, seed: int = 7) -> None:
    """Write the RunLog with ematix-flow's schema; indexes after the rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".partial")
    temporary.unlink(missing_ok=True)
    connection = sqlite3.connect(temporary)
    tables = [s for s in flow_web.SQLITE_RUNLOG_DDL if s.startswith("CREATE TABLE")]
    indexes = [s for s in flow_web.SQLITE_RUNLOG_DDL if s.startswith("CREATE INDEX")]
    for statement in tables:
        connection.execute(statement)
    rng = random.Random(seed)
    plans = job_plans(total_runs, seed)
    for index, plan in enumerate(plans):
        connection.executemany(
            "INSERT INTO run_records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            job_rows(plan, rng, index == len(plans) - 1),
        )
    for statement in indexes:
        connection.execute(statement)
    connection.execute(
        "INSERT INTO run_log SELECT pipeline, MAX(finished_at), 1 FROM run_records"
        " WHERE finished_at IS NOT NULL GROUP BY pipeline"
    )
    connection.commit()
    connection.close()
    temporary.replace(path)


def catalog_document(seed: int = 7) -> dict:
    """The flow-web catalog of the generated project: every workflow but three
    is triggered by an earlier workflow's last job (four of them by ANY of two),
    the others run on their own cron."""
    _, edges, workflows = project_graph(seed)
    plans = {plan[0]: plan for plan in job_plans(1_000_000, seed)}
    depends_on: dict = {}
    for upstream, downstream in edges:
        depends_on.setdefault(downstream, []).append(upstream)
    jobs = [
        {
            "name": job,
            "kind": "batch",
            "schedule": plan[2],
            "timezone": plan[3],
            "depends_on": sorted(depends_on.get(job, [])),
            "retry": None,
        }
        for job, plan in plans.items()
    ]
    names = sorted(workflows)
    documents = []
    for index, name in enumerate(names):
        trigger = None
        if index >= 3:
            earlier = [workflows[names[i]][-1] for i in (index - 1, index - 3)]
            trigger = {"any": earlier} if index % 4 == 0 else {"all": earlier[:1]}
        documents.append(
            {
                "name": name,
                "jobs": workflows[name],
                "triggered_by": trigger,
                "schedule": None if trigger else "30 1 * * *",
                "timezone": None if trigger else "UTC",
                "on_message": None,
            }
        )
    return {
        "format": flow_web.CATALOG_FORMAT,
        "version": flow_web.CATALOG_VERSION,
        "jobs": jobs,
        "workflows": documents,
    }


def reference_module_source(seed: int = 7) -> str:
    """An ematix-flow pipeline module registering the same project, so that
    ematix-flow's own `flow web --module` can serve the same RunLog."""
    catalog = catalog_document(seed)
    lines = [
        "from ematix_flow import AllOf, AnyOf, ematix",
        "from ematix_flow.pipeline import register",
        "",
        "",
        "def _noop():",
        "    return {}",
        "",
    ]
    for job in catalog["jobs"]:
        lines.append(
            f"register(name={job['name']!r}, schedule={job['schedule']!r},"
            f" timezone={job['timezone']!r}, depends_on={job['depends_on']!r})(_noop)"
        )
    for workflow in catalog["workflows"]:
        trigger = workflow["triggered_by"]
        expression = "None"
        if trigger:
            kind, members = next(iter(trigger.items()))
            expression = ("AnyOf" if kind == "any" else "AllOf") + repr(tuple(members))
        lines.append(
            f"ematix.workflow(name={workflow['name']!r}, jobs={workflow['jobs']!r},"
            f" triggered_by={expression}, schedule={workflow['schedule']!r},"
            f" timezone={workflow['timezone']!r})"
        )
    return "\n".join(lines) + "\n"


def ensure(folder: Path, total_runs: int) -> tuple:
    """Write the RunLog, catalog and module into `folder` unless present."""
    runlog = folder / f"runlog-{total_runs}.sqlite"
    catalog = folder / "catalog.json"
    module = folder / "bench_pipelines.py"
    if not runlog.exists():
        started = time.perf_counter()
        write_runlog(runlog, total_runs)
        print(
            f"wrote {runlog} ({runlog.stat().st_size / 2**20:.0f} MiB) in"
            f" {time.perf_counter() - started:.0f} s",
            file=sys.stderr,
        )
    catalog.write_text(json.dumps(catalog_document(), indent=1))
    module.write_text(reference_module_source())
    return runlog, catalog, module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--runs", type=int, default=1_000_000)
    args = parser.parse_args()
    for path in ensure(args.folder, args.runs):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
