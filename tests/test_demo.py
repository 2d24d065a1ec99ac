"""`--demo` writes the product description's scenario and serves it."""

from __future__ import annotations

from conftest import run_pyz

NOW = "2026-12-04T15:35:50Z"


def test_demo_serves_scenario(pyz):
    with run_pyz(pyz, "--demo", "--now", NOW) as server:
        workflows = server.get("/api/workflows")[1]["workflows"]
        pipelines = server.get("/api/pipelines")[1]["pipelines"]
        failed = server.get("/api/runs?pipeline=build_sales_mart&status=failed")[1]
        requested = server.get("/api/runs?status=requested")[1]
        log_text = server.log_text()
    by_name = {workflow["name"]: workflow for workflow in workflows}
    assert by_name["warehouse_etl"]["edges"] == [
        {"from": "ingest_orders", "to": "build_sales_mart"},
        {"from": "load_dim_customer", "to": "build_sales_mart"},
        {"from": "build_sales_mart", "to": "publish_metrics"},
    ]
    gate = by_name["data_quality_gate"]["triggers"][0]["expr"]
    assert gate["state"] == "pending"
    assert [m.get("name", m["kind"]) for m in gate["members"]] == [
        "ingest_orders",
        "any",
    ]
    assert [m["state"] for m in gate["members"]] == ["ready", "pending"]
    assert [m["state"] for m in gate["members"][1]["members"]] == ["failed", "pending"]
    assert by_name["feature_store_sync"]["schedule"] == "*/15 * * * *"
    assert by_name["realtime_orders"]["kind"] == "streaming"
    jobs = {entry["name"]: entry for entry in pipelines}
    assert (
        jobs["live_orders"]["streaming_stats"]["stats_1m"]["rows_consumed_per_sec"]
        == 284.9
    )
    assert jobs["feature_store_sync"]["latest_run"]["status"] == "running"
    assert jobs["eu_gdpr_export"]["latest_run"]["status"] == "paused"
    newest_failure = failed["runs"][0]
    assert newest_failure["failed_step"] == "transform_partition_1"
    assert [run["pipeline"] for run in requested["runs"]] == ["build_sales_mart"]
    assert "demo RunLog written to" in log_text
