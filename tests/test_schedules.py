"""Cron forecasts, trigger states and late jobs, on small known cases."""

from __future__ import annotations

import datetime as dt

import pytest

import flow_web
from flow_web import Catalog, Job, NameHistory, RunRecord, TriggerOp, Workflow

UTC = dt.timezone.utc


def at(text: str) -> dt.datetime:
    return flow_web.parse_timestamp(text)


def success(name: str, started: str, finished: str) -> NameHistory:
    record = RunRecord(name + "-1", name, "succeeded", started, finished)
    return NameHistory(record, "succeeded")


def test_next_tick_in_new_york_winter():
    tick = flow_web.next_tick(
        "10 2 * * *", "America/New_York", at("2026-12-04T15:35:50Z")
    )
    assert tick == at("2026-12-05T07:10:00Z")


def test_next_tick_skips_spring_forward_gap():
    # 02:30 does not exist in New York on 2026-03-08; croniter runs at 03:00 EDT.
    tick = flow_web.next_tick(
        "30 2 * * *", "America/New_York", at("2026-03-08T05:00:00Z")
    )
    assert tick == at("2026-03-08T07:00:00Z")


def test_previous_tick_berlin_weekdays():
    # 2026-12-05 is a Saturday; the last weekday tick is Friday 06:35 CET.
    tick = flow_web.previous_tick(
        "35 6 * * 1-5", "Europe/Berlin", at("2026-12-06T12:00:00Z")
    )
    assert tick == at("2026-12-04T05:35:00Z")


def test_invalid_cron_or_zone_gives_none():
    assert flow_web.next_tick("61 * * * *", None, at("2026-12-04T00:00:00Z")) is None
    assert (
        flow_web.next_tick("* * * * *", "Nowhere/City", at("2026-12-04T00:00:00Z"))
        is None
    )


@pytest.mark.parametrize(
    "tick, expected",
    [
        ("2026-12-04T07:10:00Z", "02:10 EST"),
        ("2026-12-05T07:10:00Z", "2026-12-05 02:10 EST"),
    ],
)
def test_tick_label(tick, expected):
    now = at("2026-12-04T15:35:50Z")
    assert flow_web.tick_label(at(tick), "America/New_York", now) == expected


def test_forecaster_reuses_until_tick_passes():
    forecaster = flow_web.Forecaster()
    first = forecaster.next_run("*/15 * * * *", "UTC", at("2026-12-04T15:31:00Z"))
    again = forecaster.next_run("*/15 * * * *", "UTC", at("2026-12-04T15:44:59Z"))
    later = forecaster.next_run("*/15 * * * *", "UTC", at("2026-12-04T15:45:01Z"))
    assert first == at("2026-12-04T15:45:00Z")
    assert again == first
    assert later == at("2026-12-04T16:00:00Z")


@pytest.mark.parametrize(
    "kind, states, expected",
    [
        ("all", ["ready", "ready"], "ready"),
        ("all", ["ready", "pending"], "pending"),
        ("all", ["failed", "pending"], "pending"),
        ("all", ["failed", "ready"], "failed"),
        ("any", ["failed", "ready"], "ready"),
        ("any", ["failed", "pending"], "pending"),
        ("any", ["failed", "failed"], "failed"),
    ],
)
def test_combine_states(kind, states, expected):
    assert flow_web.combine_states(kind, states) == expected


def gate_catalog() -> Catalog:
    jobs = tuple(Job(name) for name in ("up_a", "up_b", "up_c", "first", "second"))
    jobs = jobs[:4] + (Job("second", depends_on=("first",)),)
    trigger = TriggerOp("all", ("up_a", TriggerOp("any", ("up_b", "up_c"))))
    return Catalog(jobs, (Workflow("gate", ("first", "second"), trigger),))


def evaluate(histories: dict, now: str = "2026-12-04T12:00:00Z") -> dict:
    catalog = gate_catalog()
    view = next(v for v in flow_web.workflow_views(catalog) if v.name == "gate")
    evaluator = flow_web.TriggerEvaluator(
        catalog, histories, at(now), flow_web.Forecaster()
    )
    return evaluator.triggers(view)[0]["expr"]


def test_leaf_ready_when_upstream_finished_after_last_start():
    expr = evaluate(
        {
            "gate": success("gate", "2026-12-03T07:00:00Z", "2026-12-03T07:05:00Z"),
            "up_a": success("up_a", "2026-12-03T06:50:00Z", "2026-12-03T07:01:00Z"),
        }
    )
    # up_a finished at 07:01, after the gate started at 07:00: ready.
    assert expr["members"][0]["state"] == "ready"


def test_leaf_pending_when_upstream_finished_before_last_start():
    expr = evaluate(
        {
            "gate": success("gate", "2026-12-03T07:00:00Z", "2026-12-03T07:05:00Z"),
            "up_a": success("up_a", "2026-12-03T06:00:00Z", "2026-12-03T06:30:00Z"),
        }
    )
    assert expr["members"][0]["state"] == "pending"


def test_leaf_failed_when_newest_terminal_run_failed():
    failed = NameHistory(None, "failed")
    expr = evaluate({"up_b": failed, "up_c": failed})
    assert expr["members"][1]["state"] == "failed"
    assert expr["members"][0]["state"] == "pending"
    assert expr["state"] == "pending"


def test_workflow_without_own_rows_uses_root_job():
    # No rows under the workflow's name: its root job's success counts.
    expr = evaluate(
        {
            "first": success("first", "2026-12-03T07:00:00Z", "2026-12-03T07:02:00Z"),
            "up_a": success("up_a", "2026-12-03T06:00:00Z", "2026-12-03T06:30:00Z"),
            "up_b": success("up_b", "2026-12-03T08:00:00Z", "2026-12-03T08:30:00Z"),
        }
    )
    assert [m["state"] for m in expr["members"]] == ["pending", "ready"]


def test_late_job():
    job = Job("nightly", schedule="0 2 * * *", timezone="UTC")
    forecaster = flow_web.Forecaster()
    now = at("2026-12-04T03:00:00Z")
    ran = at("2026-12-04T02:00:05Z")
    assert flow_web.late_since(job, None, now, 900, forecaster) == at(
        "2026-12-04T02:00:00Z"
    )
    assert flow_web.late_since(job, ran, now, 900, forecaster) is None
    early = at("2026-12-04T02:10:00Z")
    assert flow_web.late_since(job, None, early, 900, forecaster) is None


def test_late_ignores_unscheduled_and_streaming():
    forecaster = flow_web.Forecaster()
    now = at("2026-12-04T03:00:00Z")
    assert flow_web.late_since(Job("manual"), None, now, 900, forecaster) is None
    stream = Job("s", kind="streaming", schedule="* * * * *")
    assert flow_web.late_since(stream, None, now, 900, forecaster) is None


def test_median_ms():
    assert flow_web.median_ms([]) is None
    assert flow_web.median_ms([3000]) == 3000
    assert flow_web.median_ms([1000, 2001]) == 1500
    assert flow_web.median_ms([5, 1, 3]) == 3


@pytest.mark.parametrize(
    "millis, text",
    [
        (850, "850 ms"),
        (12_300, "12.3 s"),
        (245_000, "4m 05s"),
        (3_720_000, "1h 02m"),
        (None, "—"),
    ],
)
def test_format_duration(millis, text):
    assert flow_web.format_duration(millis) == text


def test_late_every_quarter_hour():
    # */15 with the default 900 s grace: the grace shrinks to half the
    # interval, and the reported tick is the first one missed.
    job = Job("sync", schedule="*/15 * * * *", timezone="UTC")
    forecaster = flow_web.Forecaster()
    now = at("2026-12-04T18:10:00Z")
    last_start = at("2026-12-04T15:30:00Z")
    assert flow_web.late_since(job, last_start, now, 900, forecaster) == at(
        "2026-12-04T15:45:00Z"
    )
    on_time = at("2026-12-04T18:00:02Z")
    assert flow_web.late_since(job, on_time, now, 900, forecaster) is None


def test_late_looks_back_past_a_fresh_tick():
    # At 18:05 the 18:00 tick is still within grace, but 17:45 was missed.
    job = Job("sync", schedule="*/15 * * * *", timezone="UTC")
    forecaster = flow_web.Forecaster()
    now = at("2026-12-04T18:05:00Z")
    last_start = at("2026-12-04T17:30:01Z")
    assert flow_web.late_since(job, last_start, now, 900, forecaster) == at(
        "2026-12-04T17:45:00Z"
    )
