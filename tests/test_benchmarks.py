"""The benchmarks run in the test command (quick mode) so that they cannot rot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import REPO_ROOT


@pytest.mark.servers
def test_quick_benchmarks_run_and_report_every_target(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--out", str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    results = json.loads((tmp_path / "latest.json").read_text())
    assert results["command"].startswith("python -m benchmarks")
    names = {target["name"] for target in results["targets"]}
    assert len(names) >= 10, names
    assert all(target["met"] in (True, False) for target in results["targets"])
    assert (tmp_path / "overhead.png").read_bytes().startswith(b"\x89PNG")
    assert result.stdout.startswith("| Benchmark ")
