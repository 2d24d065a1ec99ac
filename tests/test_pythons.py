"""The one zipapp starts and serves under every CPython 3.9+ on this machine."""

from __future__ import annotations

import glob
import shutil
import subprocess
import sys

import pytest
from conftest import CAPTURED_AT, run_pyz


def find_pythons() -> dict:
    """Interpreters by version, from pyenv and PATH, 3.9 and newer."""
    candidates = glob.glob("/root/.pyenv/versions/*/bin/python3")
    candidates += glob.glob("/usr/bin/python3.*") + glob.glob(
        "/usr/local/bin/python3.*"
    )
    candidates += [shutil.which(f"python3.{minor}") or "" for minor in range(9, 16)]
    candidates.append(sys.executable)
    found = {}
    for path in sorted(set(filter(None, candidates))):
        result = subprocess.run(
            [path, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
        )
        version = result.stdout.strip()
        if result.returncode == 0 and tuple(map(int, version.split("."))) >= (3, 9):
            found.setdefault(version, path)
    return found


PYTHONS = find_pythons()


def test_pythons_found():
    assert "3.9" in PYTHONS


@pytest.mark.parametrize("version", sorted(PYTHONS), ids=sorted(PYTHONS))
def test_pyz_serves_under(pyz, fixture_db, tmp_path, version):
    env = {"SHIV_ROOT": str(tmp_path / "shiv"), "PYTHONPATH": ""}
    with run_pyz(
        pyz,
        "--run-log-url",
        str(fixture_db),
        "--now",
        CAPTURED_AT,
        python=PYTHONS[version],
        env=env,
    ) as server:
        health = server.get("/api/health")
        runs = server.get("/api/runs?limit=1")
        pipelines = server.get("/api/pipelines")
        page = server.get("/")
    assert health[1]["status"] == "ok"
    assert runs[1]["total"] == 551
    assert len(pipelines[1]["pipelines"]) == 15
    assert page[0] == 200
