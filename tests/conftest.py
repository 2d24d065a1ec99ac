"""Shared fixtures: fixture RunLog copies, the in-process app, and the built
flow-web.pyz started as a real process on 127.0.0.1."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from playwright import sync_api

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("FLOW_WEB_SHARED", ROOT.parent / "shared"))
FIXTURES = SHARED / "fixtures"
GOLDEN = FIXTURES / "reference-responses"
FIXTURE_DB = FIXTURES / "runlog-demo.sqlite"
# The moment the golden responses were captured; serving the fixture with
# this clock makes the time-relative fields comparable.
CAPTURED_AT = "2026-12-04T15:35:50Z"
PYZ = Path(os.environ.get("FLOW_WEB_PYZ", ROOT / "dist" / "flow-web.pyz"))
ARTIFACTS = ROOT / "tests" / "artifacts"
# Debian's Chromium, with the flags that keep it off the network: this machine
# refuses outside connections, and Chromium would otherwise keep trying.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LISTENING_RE = re.compile(r"listening on (http://\S+?)/? ")
START_TIMEOUT_S = 60

sys.path.insert(0, str(ROOT))


def pytest_configure(config):
    if not FIXTURE_DB.exists():
        raise pytest.UsageError(
            f"fixture RunLog {FIXTURE_DB} not found; set FLOW_WEB_SHARED to the"
            " shared folder that holds fixtures/"
        )


def golden(name: str):
    return json.loads((GOLDEN / name).read_text())


@pytest.fixture
def fixture_db(tmp_path) -> Path:
    """A private copy of the ematix-flow 1.0.0 fixture RunLog."""
    copy = tmp_path / "runlog-demo.sqlite"
    shutil.copyfile(FIXTURE_DB, copy)
    return copy


@pytest.fixture(scope="session")
def pyz() -> Path:
    """The built zipapp; built once per session unless FLOW_WEB_PYZ names one."""
    if "FLOW_WEB_PYZ" not in os.environ:
        subprocess.run(
            [sys.executable, str(ROOT / "build.py")],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    assert PYZ.exists()
    return PYZ


class Server:
    """A running flow-web process and its log."""

    def __init__(self, process: subprocess.Popen, url: str, log: list):
        self.process = process
        self.url = url
        self.log = log

    def get(self, path: str, headers: dict | None = None):
        """(status, parsed JSON or text body, headers) of a GET."""
        return self.request("GET", path, headers=headers)

    def request(
        self,
        method: str,
        path: str,
        body=None,
        headers: dict | None = None,
        timeout: float = 30,
    ):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, _decode(response), dict(response.headers)
        except urllib.error.HTTPError as error:
            return error.code, _decode(error), dict(error.headers)

    def log_text(self) -> str:
        return "".join(self.log)


def _decode(response):
    raw = response.read()
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


def _pump(stream, sink: list, ready: threading.Event, found: list):
    for line in iter(stream.readline, ""):
        sink.append(line)
        match = LISTENING_RE.search(line)
        if match and not found:
            found.append(match.group(1))
            ready.set()
    ready.set()


@contextlib.contextmanager
def run_pyz(
    pyz_path: Path,
    *args: str,
    python: str = sys.executable,
    env: dict | None = None,
    cwd: Path | None = None,
):
    """Start `python flow-web.pyz --port 0 ARGS` and yield a Server once it
    listens; stop it afterwards."""
    environment = {**os.environ, **(env or {})}
    process = subprocess.Popen(
        [python, str(pyz_path), "--port", "0", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
        cwd=cwd,
    )
    log: list = []
    found: list = []
    ready = threading.Event()
    threading.Thread(
        target=_pump, args=(process.stderr, log, ready, found), daemon=True
    ).start()
    ready.wait(START_TIMEOUT_S)
    if not found:
        process.kill()
        process.wait()
        raise AssertionError("flow-web did not start:\n" + "".join(log))
    try:
        yield Server(process, found[0], log)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_pyz_to_exit(
    pyz_path: Path,
    *args: str,
    python: str = sys.executable,
    env: dict | None = None,
    timeout: float = 60,
):
    """Run the zipapp to completion; returns the CompletedProcess."""
    return subprocess.run(
        [python, str(pyz_path), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="module")
def fixture_server(pyz, tmp_path_factory):
    """The built zipapp serving a fixture copy with the demo module, at the
    golden capture time; shared by a module's tests, so only for reads."""
    fixture_db = tmp_path_factory.mktemp("fixture") / "runlog-demo.sqlite"
    shutil.copyfile(FIXTURE_DB, fixture_db)
    with run_pyz(
        pyz,
        "--run-log-url",
        f"sqlite:///{fixture_db}",
        "--module",
        "demo_pipelines",
        "--now",
        CAPTURED_AT,
        env={"PYTHONPATH": str(FIXTURES)},
    ) as server:
        yield server


def wait_until(condition, timeout_s: float = 10.0, interval_s: float = 0.05):
    """Poll `condition` until it returns a true value or the time is up."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval_s)


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium; Playwright gives each launch a fresh profile."""
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()
