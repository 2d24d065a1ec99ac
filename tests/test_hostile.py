"""Hostile input: requests with out-of-range numbers, deeply nested or
unencodable JSON, and RunLogs whose names and texts contain HTML, script,
very long strings, control characters and invalid UTF-8."""

from __future__ import annotations

import json

import pytest
from conftest import CAPTURED_AT
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
        "detail": "jobs \ufffd are not in workflow nightly; its jobs are extract"
    }


def test_encode_json_replaces_lone_surrogates():
    assert flow_web.encode_json({"name": "a\ud800b"}) == (
        '{"name":"a\ufffdb"}'.encode()
    )
    assert json.loads(flow_web.encode_json(["<script>"])) == ["<script>"]
