"""Build dist/flow-web.pyz: flow_web.py, ui.html and the runtime packages in
one executable zipapp made with shiv.

    python3 build.py            # writes dist/flow-web.pyz
    python3 build.py -o FILE    # writes FILE instead

The runtime packages are pinned below and resolved for the oldest supported
CPython (3.9) as pure-Python wheels only, so the one file runs on CPython 3.9
to 3.13 on Linux, macOS and Windows. Building needs access to a package index
(or a pip configuration that points at a local one); when the running Python
lacks pip or shiv, they are installed into a tool venv under build/ first.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DEFAULT_OUTPUT = ROOT / "dist" / "flow-web.pyz"
TOOLS_VENV = ROOT / "build" / "tools-venv"
BUILD_TOOLS = ("shiv==1.0.8",)
OLDEST_PYTHON = "3.9"

# The complete set of runtime packages, dependencies included, pinned to the
# newest releases that still support CPython 3.9. pip resolves environment
# markers for the Python running the build, not for the target, so packages
# that only older Pythons need (exceptiongroup, typing_extensions) are listed
# here by hand and installed without dependency resolution.
RUNTIME_PACKAGES = (
    "starlette==0.49.3",
    "anyio==4.12.1",
    "idna==3.20",
    "exceptiongroup==1.3.1",
    "typing_extensions==4.16.0",
    "uvicorn==0.39.0",
    "click==8.1.8",
    "h11==0.16.0",
    "croniter==7.0.0",
    "python-dateutil==2.9.0.post0",
    "six==1.17.0",
    # The IANA time-zone database for hosts without one (Windows).
    "tzdata==2026.6",
    # Pure-Python drivers for RunLogs on PostgreSQL and MySQL/MariaDB.
    "pg8000==1.31.5",
    "scramp==1.4.6",
    "asn1crypto==1.5.1",
    "PyMySQL==1.2.4",
)

# Parts of the installed packages that are never imported at run time.
PRUNED_GLOBS = ("**/__pycache__", "**/tests", "**/*.pyi", "bin", "**/py.typed")

# Runs before shiv's own bootstrap: shiv extracts the packages into
# $SHIV_ROOT (default ~/.shiv) on the first start and fails with a traceback
# when it cannot; this names the folder and the fix instead.
MAIN_PY = """\
import sys

if sys.version_info < (3, 9):
    sys.stderr.write(
        "flow-web: error: flow-web needs CPython 3.9 or newer, not %d.%d; run it"
        " with python3.9 or a later python3\\n" % sys.version_info[:2]
    )
    sys.exit(2)

import json  # noqa: E402
import os  # noqa: E402
import tempfile  # noqa: E402
import zipfile  # noqa: E402
from pathlib import Path  # noqa: E402


def check_extraction_root():
    archive = os.path.dirname(os.path.abspath(__file__))
    with zipfile.ZipFile(archive) as bundle:
        env = json.loads(bundle.read("environment.json").decode("utf-8"))
    root = Path(os.environ.get("SHIV_ROOT") or env.get("root") or "~/.shiv")
    root = root.expanduser()
    target = root / (Path(archive).resolve().name + "_" + env["build_id"])
    if (target / "site-packages").exists():
        return
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=str(root)):
            pass
    except OSError as error:
        sys.stderr.write(
            "flow-web: error: cannot unpack into %s (%s); set SHIV_ROOT to a"
            " writable folder, for example SHIV_ROOT=/tmp/flow-web python3"
            " flow-web.pyz\\n" % (root, error.strerror or error)
        )
        sys.exit(2)


check_extraction_root()
import _bootstrap  # noqa: E402

_bootstrap.bootstrap()
"""


def tools_python() -> str:
    """A Python with pip and shiv: this one, or a tool venv made for the build."""
    probe = [sys.executable, "-c", "import pip, shiv"]
    if subprocess.run(probe, capture_output=True).returncode == 0:
        return sys.executable
    python = TOOLS_VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    if not python.exists():
        print(f"creating {TOOLS_VENV} with {', '.join(BUILD_TOOLS)}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(TOOLS_VENV)], check=True)
    install = [
        str(python),
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        *BUILD_TOOLS,
    ]
    subprocess.run(install, check=True)
    return str(python)


def install_packages(python: str, target: Path) -> None:
    """Install the pinned wheels for CPython 3.9 into `target`."""
    command = [
        python,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-deps",
        "--only-binary=:all:",
        "--python-version",
        OLDEST_PYTHON,
        "--implementation",
        "py",
        "--abi",
        "none",
        "--platform",
        "any",
        "--target",
        str(target),
        *RUNTIME_PACKAGES,
    ]
    subprocess.run(command, check=True)


def check_pure_python(site: Path) -> None:
    compiled = sorted(
        str(path.relative_to(site))
        for pattern in ("**/*.so", "**/*.pyd", "**/*.dylib")
        for path in site.glob(pattern)
    )
    if compiled:
        raise SystemExit(
            f"build.py: compiled files in the bundle: {', '.join(compiled)}"
        )


def prune(site: Path) -> None:
    for pattern in PRUNED_GLOBS:
        for path in sorted(site.glob(pattern), reverse=True):
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()


def run_shiv(python: str, site: Path, output: Path) -> None:
    command = [
        python,
        "-m",
        "shiv",
        "--site-packages",
        str(site),
        "--entry-point",
        "flow_web:main",
        "--python",
        "/usr/bin/env python3",
        "--output-file",
        str(output),
        "--compressed",
        "--reproducible",
    ]
    subprocess.run(command, check=True)


def replace_main(output: Path) -> None:
    """Rewrite the archive with our __main__.py in front of shiv's bootstrap."""
    temporary = output.with_suffix(".tmp")
    with open(output, "rb") as source:
        shebang = source.readline()
    with zipfile.ZipFile(output) as old, open(temporary, "wb") as handle:
        handle.write(shebang)
        with zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as new:
            for item in old.infolist():
                data = (
                    MAIN_PY.encode()
                    if item.filename == "__main__.py"
                    else old.read(item)
                )
                new.writestr(item, data, compress_type=zipfile.ZIP_DEFLATED)
    temporary.chmod(0o755)
    temporary.replace(output)


def build(output: Path) -> Path:
    python = tools_python()
    with tempfile.TemporaryDirectory(prefix="flow-web-build-") as folder:
        site = Path(folder) / "site-packages"
        install_packages(python, site)
        check_pure_python(site)
        prune(site)
        for name in ("flow_web.py", "ui.html"):
            shutil.copy2(ROOT / name, site / name)
        output.parent.mkdir(parents=True, exist_ok=True)
        run_shiv(python, site, output)
    replace_main(output)
    return output


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help=f"zipapp to write (default {DEFAULT_OUTPUT.relative_to(ROOT)})",
    )
    args = parser.parse_args()
    output = build(args.output.resolve())
    print(f"wrote {output} ({output.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
