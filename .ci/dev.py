#!/usr/bin/env python3
"""Set up everything on a fresh machine, then run the demo or the whole test suite.

    python3 .ci/dev.py demo    # the demo app and a local provider, on 127.0.0.1
    python3 .ci/dev.py test    # lint, types, every test, coverage
    python3 .ci/dev.py bench   # the benchmarks, a few minutes: table, JSON and chart

Needs only Python 3.10+ with pip; Debian packages (browser, servers) are
installed with apt-get when missing, Python packages into ./.venv.
Standard library only: this runs before anything else is installed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
PYTHON = VENV / "bin" / "python"
STAMP = VENV / ".installed"
# Debian packages the tests drive for real, by the command that proves each one is there.
DEBIAN_PACKAGES = {
    "chromium": "chromium",
    "node": "nodejs",
    "npm": "npm",
    "redis-server": "redis-server",
    "nginx": "nginx-light",
    "wrk": "wrk",  # the load generator of the served benchmarks, which the test command runs quick
}


def run(*command: str | Path, **kwargs: object) -> None:
    print("+", " ".join(str(part) for part in command), flush=True)
    subprocess.run([str(part) for part in command], check=True, cwd=ROOT, **kwargs)  # type: ignore[call-overload]


def ensure_debian_packages() -> None:
    # nginx lives in /usr/sbin, which is not on every PATH.
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    missing = [package for command, package in DEBIAN_PACKAGES.items() if shutil.which(command, path=search) is None]
    if not missing:
        return
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run(*sudo, "apt-get", "update", "-q", env=env)
    run(*sudo, "apt-get", "install", "-y", "-q", "--no-install-recommends", *missing, env=env)


def ensure_virtualenv() -> None:
    """Create ./.venv and install the project with its dev tools, again only when pyproject.toml changed."""
    fingerprint = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == fingerprint and PYTHON.exists():
        return
    if not PYTHON.exists():
        run(sys.executable, "-m", "venv", VENV)
    run(PYTHON, "-m", "pip", "install", "-q", "--upgrade", "pip")  # dependency groups need pip 25.1+
    run(PYTHON, "-m", "pip", "install", "-q", "-e", ".", "--group", "dev")
    STAMP.write_text(fingerprint)


def test() -> int:
    ensure_debian_packages()
    ensure_virtualenv()
    run(PYTHON, "-m", "ruff", "check", ".")
    run(PYTHON, "-m", "ruff", "format", "--check", ".")
    run(PYTHON, "-m", "mypy")
    pytest = [PYTHON, "-m", "pytest", "--cov", "--cov-report=term", "--cov-fail-under=95", *sys.argv[2:]]
    return subprocess.run([str(part) for part in pytest], cwd=ROOT, check=False).returncode


def demo() -> int:
    ensure_debian_packages()
    ensure_virtualenv()
    return subprocess.run([str(PYTHON), "examples/demo.py"], cwd=ROOT, check=False).returncode


def bench() -> int:
    ensure_debian_packages()
    ensure_virtualenv()
    return subprocess.run([str(PYTHON), "-m", "benchmarks", *sys.argv[2:]], cwd=ROOT, check=False).returncode


def main() -> int:
    commands = {"test": test, "demo": demo, "bench": bench}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(__doc__)
        return 2
    try:
        return commands[sys.argv[1]]()
    except subprocess.CalledProcessError as exc:
        print(f"failed with exit code {exc.returncode}: {' '.join(map(str, exc.cmd))}", file=sys.stderr)
        return exc.returncode or 1


if __name__ == "__main__":
    sys.exit(main())
