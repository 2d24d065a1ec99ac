"""The OpenAPI description at /api/openapi.json, and every route of the built
zipapp fuzzed against it with schemathesis: no 5xx, and every status code,
content type and body as described. The run is seeded and has a fixed number
of examples per route, so it takes the same time and finds the same cases on
every run."""

from __future__ import annotations

import collections
import shutil
import sqlite3

import pytest
import schemathesis
from conftest import CAPTURED_AT, FIXTURE_DB, FIXTURES, run_pyz
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

import flow_web

TOKEN = "fuzz-token"
EXAMPLES_PER_ROUTE = 40
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Every request carries the token and the header flow-web's page sends with
# its POSTs, so the fuzzer reaches the handlers behind the gate.
HEADERS = {"Authorization": f"Bearer {TOKEN}", "X-Requested-By": "flow-web"}


@pytest.fixture(scope="module")
def fuzz_server(pyz, tmp_path_factory):
    """The zipapp with a token on a private fixture copy that the POSTs may
    change."""
    db = tmp_path_factory.mktemp("fuzz") / "runlog-demo.sqlite"
    shutil.copyfile(FIXTURE_DB, db)
    with run_pyz(
        pyz,
        "--run-log-url",
        f"sqlite:///{db}",
        "--module",
        "demo_pipelines",
        "--token",
        TOKEN,
        "--now",
        CAPTURED_AT,
        env={"PYTHONPATH": str(FIXTURES)},
    ) as server:
        yield server


# Loaded from the module rather than from the server, which starts only when
# the tests run; test_description_served_without_token checks that the server
# serves this same document. (schemathesis's lazy `from_fixture` loader fails
# on pytest 9.2, which no longer has `Node._nodeid`.)
schema = schemathesis.openapi.from_dict(flow_web.openapi_document())


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_ROUTE,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_route_conforms_to_description(case, fuzz_server):
    case.call_and_validate(base_url=fuzz_server.url, headers=HEADERS, checks=CHECKS)


def real_requests() -> list:
    """(path template, method, path parameters, query, body) for every run,
    job and workflow of the fixture, and an action of each kind that
    succeeds, since generated names rarely name anything that exists."""
    with sqlite3.connect(f"file:{FIXTURE_DB}?mode=ro", uri=True) as connection:
        runs = connection.execute("SELECT run_id, extras_json FROM run_records")
        runs = runs.fetchall()
        jobs = [
            row[0] for row in connection.execute("SELECT pipeline_name FROM run_log")
        ]
    requests = []
    for run_id, extras in runs:
        requests.append(("/api/runs/{run_id}", "GET", {"run_id": run_id}, {}, None))
        if '"steps"' in extras:
            requests.append(("/api/dag/layout", "GET", {}, {"run": run_id}, None))
    for job in jobs:
        requests.append(("/api/dag/layout", "GET", {}, {"focus": job}, None))
        requests.append(("/api/runs", "GET", {}, {"pipeline": job}, None))
    for workflow in ("warehouse_etl", "data_quality_gate", "live_orders"):
        requests.append(("/api/dag/layout", "GET", {}, {"workflow": workflow}, None))
    for sort in flow_web.RUN_SORTS:
        for order in ("asc", "desc"):
            query = {"sort": sort, "order": order, "limit": 1000}
            requests.append(("/api/runs", "GET", {}, query, None))
    for status in flow_web.RUN_STATUSES:
        requests.append(("/api/runs", "GET", {}, {"status": status}, None))
    return requests + [
        (f"/api/runs/{{run_id}}/{action}", "POST", {"run_id": run_id}, {}, body)
        for action, run_id, body in ACTIONS
    ]


# One action of each kind that the fixture's runs allow, then ones it rejects.
ACTIONS = [
    ("rerun", "feature_store_sync-20261204T060000-3", {}),
    (
        "restart",
        "build_sales_mart-20261204T071535-1",
        {"from_step": "transform_partition_1"},
    ),
    ("pause", "feature_store_sync-20261204T153000-1", {}),
    ("resume", "eu_gdpr_export-20261204T053500-1", {}),
    ("pause", "feature_store_sync-20261204T060000-3", {}),
    ("restart", "build_sales_mart-20261204T071535-1", {"from_step": "no_such_step"}),
]


def test_fixture_data_conforms(fuzz_server):
    statuses = collections.Counter()
    for path, method, parameters, query, body in real_requests() + RUN_NOW:
        data = {} if body is None else {"body": body}
        case = schema[path][method].Case(
            path_parameters=parameters, query=query, **data
        )
        response = case.call_and_validate(
            base_url=fuzz_server.url, headers=HEADERS, checks=CHECKS
        )
        statuses[(path, response.status_code)] += 1

    assert statuses[("/api/runs/{run_id}", 200)] == 551
    assert statuses[("/api/runs/{run_id}/rerun", 200)] == 1
    assert statuses[("/api/runs/{run_id}/restart", 200)] == 1
    assert statuses[("/api/runs/{run_id}/restart", 409)] == 1
    assert statuses[("/api/runs/{run_id}/pause", 200)] == 1
    assert statuses[("/api/runs/{run_id}/pause", 409)] == 1
    assert statuses[("/api/runs/{run_id}/resume", 200)] == 1
    assert statuses[("/api/workflows/{workflow}/run-now", 200)] == 2
    assert statuses[("/api/jobs/{job}/run-now", 200)] == 2


RUN_NOW = [
    (
        "/api/workflows/{workflow}/run-now",
        "POST",
        {"workflow": "warehouse_etl"},
        {},
        {},
    ),
    (
        "/api/workflows/{workflow}/run-now",
        "POST",
        {"workflow": "data_quality_gate"},
        {},
        {"jobs": ["dq_publish_report"]},
    ),
    ("/api/jobs/{job}/run-now", "POST", {"job": "ingest_orders"}, {}, {}),
    (
        "/api/jobs/{job}/run-now",
        "POST",
        {"job": "ingest_orders"},
        {},
        {"cascade_downstream": True},
    ),
]


def test_description_served_without_token(fuzz_server):
    status, document, headers = fuzz_server.get("/api/openapi.json")

    assert status == 200
    assert headers["content-type"] == "application/json"
    assert document == flow_web.openapi_document()


def test_description_lists_every_route(fuzz_server):
    _, document, _ = fuzz_server.get("/api/openapi.json")
    app = flow_web.build_app(
        flow_web.Config(run_log_url=str(FIXTURE_DB)),
        flow_web.RunLogStore(flow_web.SQLiteConnector(str(FIXTURE_DB))),
        flow_web.Catalog(),
    )
    routes = app.app.app.routes
    served = {route.path.replace(":anytext}", "}") for route in routes}

    assert set(document["paths"]) == served - {"/"}


def test_description_documents_gate_and_errors(fuzz_server):
    _, document, _ = fuzz_server.get("/api/openapi.json")
    paths = document["paths"]

    assert "security" not in paths["/api/health"]["get"]
    assert "security" not in paths["/api/openapi.json"]["get"]
    assert paths["/api/runs"]["get"]["security"] == [{"bearer": []}]
    post = paths["/api/runs/{run_id}/restart"]["post"]
    assert sorted(post["responses"]) == [
        "200",
        "400",
        "401",
        "403",
        "404",
        "409",
        "413",
        "415",
        "503",
    ]
    assert sorted(paths["/api/runs"]["get"]["responses"]) == [
        "200",
        "304",
        "400",
        "401",
        "403",
        "503",
    ]


def test_other_routes_need_token(fuzz_server):
    status, document, headers = fuzz_server.get("/api/runs")

    assert status == 401
    assert document == {"detail": "missing Authorization: Bearer <token> header"}
    assert headers["www-authenticate"] == "Bearer"
