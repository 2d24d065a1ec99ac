"""GET /api/dag/layout on the fixture and on a large generated catalog."""

from __future__ import annotations

import json

import pytest
from conftest import run_pyz

import flow_web


def names_of(layout: dict) -> list:
    return sorted(node["name"] for node in layout["nodes"])


def test_full_dag_has_every_job(fixture_server):
    status, layout, _ = fixture_server.get("/api/dag/layout")
    assert status == 200
    assert len(layout["nodes"]) == 12
    assert len(layout["edges"]) == 4
    assert layout["crossings"] == 0
    assert layout["graph"] == "full"


def test_diamond_points_downstream(fixture_server):
    _, layout, _ = fixture_server.get("/api/dag/layout?workflow=warehouse_etl")
    boxes = {node["name"]: node for node in layout["nodes"]}
    assert names_of(layout) == [
        "build_sales_mart",
        "ingest_orders",
        "load_dim_customer",
        "publish_metrics",
    ]
    assert layout["crossings"] == 0
    for edge in layout["edges"]:
        upstream, downstream = boxes[edge["from"]], boxes[edge["to"]]
        assert upstream["x"] + upstream["width"] <= downstream["x"]
        assert edge["reversed"] is False


def test_focus_shows_ancestors_and_descendants(fixture_server):
    _, layout, _ = fixture_server.get("/api/dag/layout?focus=build_sales_mart")
    assert names_of(layout) == [
        "build_sales_mart",
        "ingest_orders",
        "load_dim_customer",
        "publish_metrics",
    ]
    assert layout["hidden_nodes"] == 0


def test_node_labels_and_status(fixture_server):
    _, layout, _ = fixture_server.get("/api/dag/layout?focus=ingest_orders")
    boxes = {node["name"]: node for node in layout["nodes"]}
    mart = boxes["build_sales_mart"]
    # The pending restart request does not hide the failed run.
    assert mart["status"] == "failed"
    assert mart["requested"] is True
    assert mart["lines"] == ["build_sales_mart", "failed · 1m 59s", "warehouse_etl"]


def test_run_steps_graph(fixture_server):
    _, layout, _ = fixture_server.get(
        "/api/dag/layout?run=build_sales_mart-20261204T071535-1"
    )
    statuses = {node["name"]: node["status"] for node in layout["nodes"]}
    assert statuses == {
        "discover_inputs": "succeeded",
        "fetch_source": "succeeded",
        "transform_partition_0": "succeeded",
        "transform_partition_1": "failed",
        "merge_partitions": "pending",
        "write_destination": "pending",
    }
    assert len(layout["edges"]) == 6
    assert layout["graph"] == "run"


def test_layout_bad_parameters(fixture_server):
    status, body, _ = fixture_server.get("/api/dag/layout?focus=a&run=b")
    assert status == 400
    assert (
        body["detail"]
        == "give at most one of focus, workflow and run, not ['focus', 'run']"
    )
    status, body, _ = fixture_server.get("/api/dag/layout?focus=no_such_job")
    assert status == 404
    assert body["detail"] == "job no_such_job is not in the DAG"
    status, body, _ = fixture_server.get("/api/dag/layout?focus=ingest_orders&depth=0")
    assert status == 400


def test_large_focus_gets_stubs(pyz, fixture_db, tmp_path):
    # A chain of 201 jobs: focusing the middle one shows a neighbourhood and
    # a stub on each side that counts the hidden jobs.
    names = [f"step_{index:03d}" for index in range(201)]
    jobs = [
        {"name": name, "depends_on": [names[i - 1]] if i else []}
        for i, name in enumerate(names)
    ]
    catalog = tmp_path / "catalog.json"
    catalog.write_text(
        json.dumps(
            {"format": "flow-web-catalog", "version": 1, "jobs": jobs, "workflows": []}
        )
    )
    with run_pyz(
        pyz, "--run-log-url", str(fixture_db), "--catalog", str(catalog)
    ) as server:
        _, wide, _ = server.get("/api/dag/layout?focus=step_100")
        _, narrow, _ = server.get("/api/dag/layout?focus=step_100&depth=2")
    assert len(wide["nodes"]) == 61
    assert wide["hidden_nodes"] == 201 - 59
    stubs = {n["name"]: n for n in narrow["nodes"] if n.get("kind") == "stub"}
    assert sorted(stubs) == ["\u2026stub:down:step_102", "\u2026stub:up:step_098"]
    assert stubs["\u2026stub:up:step_098"]["hidden"] == 98
    assert stubs["\u2026stub:up:step_098"]["lines"] == ["+98 more", "upstream"]
    assert names_of(narrow)[:5] == [
        "step_098",
        "step_099",
        "step_100",
        "step_101",
        "step_102",
    ]


@pytest.mark.parametrize(
    "name, parts",
    [
        ("sales.load_orders", ("sales", "load_orders")),
        ("pkg.mod.job", ("pkg.mod", "job")),
        ("plain_job", ("", "plain_job")),
        ("a/b/../c?d=1#frag", ("", "a/b/../c?d=1#frag")),
        ("rtl\u202eTXT.exe\u202c_job", ("", "rtl\u202eTXT.exe\u202c_job")),
        ("trailing.", ("", "trailing.")),
    ],
)
def test_node_label_splits_dotted_names(name, parts):
    assert flow_web._qualified_name_parts(name) == parts
