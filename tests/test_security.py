"""Security of the built zipapp on copies of the fixture: the bearer-token gate,
the Host check against DNS rebinding, the Origin rule against cross-site
requests, --read-only, and the log never showing the token."""

from __future__ import annotations

import hashlib
import shutil
import urllib.parse

import pytest
from conftest import FIXTURE_DB, run_pyz, run_pyz_to_exit
from starlette.datastructures import Headers

import flow_web

TOKEN = "test-token-7c1f0a"
FAILED_RUN = "build_sales_mart-20261204T071535-1"
SUCCEEDED_RUN = "feature_store_sync-20261204T060000-3"
RERUN = f"/api/runs/{SUCCEEDED_RUN}/rerun"
PAGE_HEADERS = {"X-Requested-By": "flow-web"}
PINNED = "pinned.example.com:8443"
MISSING_TOKEN = {"detail": "missing Authorization: Bearer <token> header"}
INVALID_TOKEN = {"detail": "invalid bearer token"}
ACTION_PATHS = [
    (f"/api/runs/{FAILED_RUN}/restart", {"from_step": "transform_partition_1"}),
    (f"/api/runs/{FAILED_RUN}/rerun", None),
    ("/api/runs/live_orders-stream-20261204T153356Z-773c23f0/pause", None),
    ("/api/runs/eu_gdpr_export-20261204T053500-1/resume", None),
    ("/api/workflows/data_quality_gate/run-now", {}),
    ("/api/jobs/ingest_orders/run-now", {}),
]


def serve_copy(pyz, db, *args, env=None):
    # No --module: these routes need no catalog, and the server starts faster.
    return run_pyz(pyz, "--run-log-url", f"sqlite:///{db}", *args, env=env)


def copy_fixture(tmp_path_factory):
    db = tmp_path_factory.mktemp("security") / "runlog-demo.sqlite"
    shutil.copyfile(FIXTURE_DB, db)
    return db


def file_digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def own_host(server) -> str:
    return urllib.parse.urlsplit(server.url).netloc


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


# The servers below are shared by a module's tests. Requests that succeed
# only write rerun requests that later ones return again, and each test that
# checks that nothing was written compares the file before and after.


@pytest.fixture(scope="module")
def server_db(tmp_path_factory):
    return copy_fixture(tmp_path_factory)


@pytest.fixture(scope="module")
def server(pyz, server_db):
    with serve_copy(pyz, server_db) as running:
        yield running


@pytest.fixture(scope="module")
def token_db(tmp_path_factory):
    return copy_fixture(tmp_path_factory)


@pytest.fixture(scope="module")
def token_server(pyz, token_db):
    with serve_copy(pyz, token_db, "--token", TOKEN) as running:
        yield running


# -- bearer token --------------------------------------------------------------------


def test_health_needs_no_token(token_server):
    status, body, _ = token_server.get("/api/health")

    assert status == 200
    assert body["status"] == "ok"


def test_page_loads_without_token(token_server):
    status, body, headers = token_server.get("/")

    assert status == 200
    assert headers["content-type"].startswith("text/html")


def test_missing_token_is_401(token_server):
    status, body, headers = token_server.get("/api/runs")

    assert status == 401
    assert body == MISSING_TOKEN
    assert headers["www-authenticate"] == "Bearer"


def test_wrong_token_is_401(token_server):
    status, body, _ = token_server.get("/api/runs", headers=bearer("guess"))

    assert status == 401
    assert body == INVALID_TOKEN


def test_action_without_token_is_401(token_server, token_db):
    digest = file_digest(token_db)

    status, body, _ = token_server.request("POST", RERUN, headers=PAGE_HEADERS)

    assert status == 401
    assert body == MISSING_TOKEN
    assert file_digest(token_db) == digest


def test_action_wrong_token_is_401(token_server, token_db):
    digest = file_digest(token_db)

    status, body, _ = token_server.request(
        "POST", RERUN, headers={**PAGE_HEADERS, **bearer("guess")}
    )

    assert status == 401
    assert body == INVALID_TOKEN
    assert file_digest(token_db) == digest


def test_action_with_token_succeeds(token_server):
    status, body, _ = token_server.request(
        "POST", RERUN, headers={**PAGE_HEADERS, **bearer(TOKEN)}
    )

    assert status == 200
    assert body["new_run_id"].startswith("req-")


def test_me_with_token(token_server):
    status, body, _ = token_server.get("/api/me", headers=bearer(TOKEN))

    assert status == 200
    assert body["authenticated"] is True
    assert body["token_required"] is True
    assert body["permissions"] == ["read", "write"]


def test_token_from_environment(pyz, fixture_db):
    with serve_copy(pyz, fixture_db, env={"EMATIX_FLOW_WEB_TOKEN": TOKEN}) as running:
        without, _, _ = running.get("/api/runs")
        with_token, _, _ = running.get("/api/runs", headers=bearer(TOKEN))

    assert without == 401
    assert with_token == 200


def test_token_never_logged(pyz, fixture_db):
    with serve_copy(pyz, fixture_db, "--token", TOKEN, "--access-log") as running:
        running.get("/api/runs", headers=bearer("wrong-" + TOKEN))
        running.get("/api/runs", headers=bearer(TOKEN))
        running.request("POST", RERUN, headers={**PAGE_HEADERS, **bearer(TOKEN)})
        running.request("POST", RERUN, headers={"Origin": "http://evil.example"})
        log = running.log_text()

    assert "audit:" in log
    assert TOKEN not in log


# -- Host header (DNS rebinding) -----------------------------------------------------


def test_foreign_host_read_is_403(server):
    port = urllib.parse.urlsplit(server.url).port

    status, body, _ = server.get("/api/runs", headers={"Host": f"evil.example:{port}"})

    assert status == 403
    assert "DNS rebinding" in body["detail"]


def test_foreign_host_page_is_403(server):
    status, body, _ = server.get("/", headers={"Host": "evil.example"})

    assert status == 403
    assert body["detail"].startswith("Host evil.example is not a name of this server")


def test_foreign_host_post_is_403(server, server_db):
    # A rebinding page is same-origin with itself, so its Origin matches its
    # Host; only the Host check stops it.
    port = urllib.parse.urlsplit(server.url).port
    attacker = f"evil.example:{port}"
    digest = file_digest(server_db)

    status, body, _ = server.request(
        "POST", RERUN, headers={"Host": attacker, "Origin": f"http://{attacker}"}
    )

    assert status == 403
    assert "DNS rebinding" in body["detail"]
    assert file_digest(server_db) == digest


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1:{port}",
        "localhost:{port}",
        "localhost",
        "localhost:9",
        "[::1]:{port}",
    ],
)
def test_loopback_host_accepted(server, host):
    port = urllib.parse.urlsplit(server.url).port

    status, _, _ = server.get("/api/health", headers={"Host": host.format(port=port)})

    assert status == 200


@pytest.fixture(scope="module")
def proxy_server(pyz, tmp_path_factory):
    """A server reached through two DNS names, one of them on a fixed port."""
    db = copy_fixture(tmp_path_factory)
    names = ("--allowed-host", "flow.example.com", "--allowed-host", PINNED)
    with serve_copy(pyz, db, *names) as running:
        yield running


def test_allowed_host_any_port(proxy_server):
    plain, _, _ = proxy_server.get("/api/runs", headers={"Host": "flow.example.com"})
    on_port, _, _ = proxy_server.get(
        "/api/runs", headers={"Host": "flow.example.com:8443"}
    )
    other, _, _ = proxy_server.get("/api/runs", headers={"Host": "other.example.com"})

    assert plain == 200
    assert on_port == 200
    assert other == 403


def test_allowed_host_with_port(proxy_server):
    on_port, _, _ = proxy_server.get("/api/runs", headers={"Host": PINNED})
    other_port, _, _ = proxy_server.get(
        "/api/runs", headers={"Host": "pinned.example.com:9000"}
    )

    assert on_port == 200
    assert other_port == 403


def test_action_behind_tls_proxy(proxy_server):
    # A TLS-terminating proxy forwards Host unchanged; the page's Origin is
    # https while flow-web itself serves plain HTTP.
    status, body, _ = proxy_server.request(
        "POST",
        RERUN,
        headers={"Host": "flow.example.com", "Origin": "https://flow.example.com"},
    )

    assert status == 200
    assert body["new_run_id"].startswith("req-")


def test_invalid_allowed_host_exits(pyz, fixture_db):
    result = run_pyz_to_exit(
        pyz, "--run-log-url", str(fixture_db), "--allowed-host", "http://x/y"
    )

    assert result.returncode == 2
    assert "--allowed-host 'http://x/y' is not a host name" in result.stderr


HOST_CASES = [
    # (Host header, connection's local address, --bind, allowed, accepted)
    (("10.0.0.5", 8080), ("10.0.0.5", 8080), "0.0.0.0", [], True),
    (("10.0.0.5", None), ("10.0.0.5", 80), "0.0.0.0", [], True),
    (("10.0.0.5", 9000), ("10.0.0.5", 8080), "0.0.0.0", [], False),
    (("attacker.example", 8080), ("10.0.0.5", 8080), "0.0.0.0", [], False),
    (("flow-host", 8080), ("10.0.0.5", 8080), "flow-host", [], True),
    (("flow-host", 9000), ("10.0.0.5", 8080), "flow-host", [], False),
    (("localhost", 9000), ("10.0.0.5", 8080), "0.0.0.0", [], True),
    (("127.0.0.2", 8080), ("127.0.0.1", 8080), "127.0.0.1", [], True),
    (("flow.example.com", None), ("10.0.0.5", 8080), "0.0.0.0", [("x", None)], False),
    (
        ("flow.example.com", None),
        ("10.0.0.5", 8080),
        "0.0.0.0",
        [("flow.example.com", None)],
        True,
    ),
    (("::1", 8080), None, "::1", [], True),
    (("fe80::1", 8080), ("fe80::1", 8080), "::", [], True),
]


@pytest.mark.parametrize(("host", "local", "bind", "allowed", "accepted"), HOST_CASES)
def test_host_rule(host, local, bind, allowed, accepted):
    assert flow_web.host_is_allowed(host, local, bind, allowed) is accepted


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("LocalHost:8080", ("localhost", 8080)),
        ("flow.example.com.", ("flow.example.com", None)),
        ("[::1]:8080", ("::1", 8080)),
        ("evil.example/x", None),
        ("user@evil.example", None),
        ("evil.example:http", None),
        ("", None),
    ],
)
def test_parse_host(text, parsed):
    assert flow_web.parse_host(text) == parsed


# -- Origin and X-Requested-By (cross-site requests) --------------------------------


def test_cross_origin_post_is_403(server, server_db):
    digest = file_digest(server_db)

    status, body, _ = server.request(
        "POST", RERUN, headers={"Origin": "http://evil.example"}
    )

    assert status == 403
    assert body == {
        "detail": "cross-origin POST request rejected: Origin http://evil.example is"
        f" not this server ({own_host(server)}); actions are accepted only from"
        " flow-web's own page"
    }
    assert file_digest(server_db) == digest


def test_cross_origin_with_header_is_403(server):
    status, _, _ = server.request(
        "POST", RERUN, headers={"Origin": "http://evil.example", **PAGE_HEADERS}
    )

    assert status == 403


def test_null_origin_is_403(server):
    status, _, _ = server.request("POST", RERUN, headers={"Origin": "null"})

    assert status == 403


def test_post_without_origin_or_header_is_403(server, server_db):
    digest = file_digest(server_db)

    status, body, _ = server.request("POST", RERUN)

    assert status == 403
    assert "X-Requested-By: flow-web" in body["detail"]
    assert file_digest(server_db) == digest


def test_same_origin_post_succeeds(server):
    origin = f"http://{own_host(server)}"

    status, body, _ = server.request("POST", RERUN, headers={"Origin": origin})

    assert status == 200
    assert body["new_run_id"].startswith("req-")


def test_header_without_origin_succeeds(server):
    status, _, _ = server.request("POST", RERUN, headers=PAGE_HEADERS)

    assert status == 200


def test_cross_origin_read_allowed(server):
    status, _, _ = server.get("/api/runs", headers={"Origin": "http://evil.example"})

    assert status == 200


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_origin_rule_covers_other_methods(method):
    headers = Headers({"host": "127.0.0.1:8080", "origin": "http://evil.example"})

    assert flow_web.origin_problem(method, headers) is not None


# -- --read-only ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def read_only_db(tmp_path_factory):
    return copy_fixture(tmp_path_factory)


@pytest.fixture(scope="module")
def read_only_server(pyz, read_only_db):
    with serve_copy(pyz, read_only_db, "--read-only") as running:
        yield running


def test_read_only_flag_in_me(read_only_server):
    status, body, _ = read_only_server.get("/api/me")

    assert status == 200
    assert body["read_only"] is True


def test_read_only_flag_hides_actions(read_only_server):
    _, body, _ = read_only_server.get(f"/api/runs/{FAILED_RUN}")

    assert body["actions"] == {
        "pause": False,
        "resume": False,
        "restart_from_step": [],
        "rerun_full": False,
        "resume_from_watermark": False,
        "cancel": False,
    }


@pytest.mark.parametrize(
    ("path", "body"), ACTION_PATHS, ids=[p for p, _ in ACTION_PATHS]
)
def test_read_only_flag_rejects_actions(read_only_server, read_only_db, path, body):
    digest = file_digest(read_only_db)

    status, document, _ = read_only_server.request(
        "POST", path, body, headers=PAGE_HEADERS
    )

    assert status == 403
    assert document == {"detail": flow_web.READ_ONLY_DETAIL}
    assert file_digest(read_only_db) == digest
