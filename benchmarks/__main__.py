"""``python -m benchmarks [--quick] [--out DIR]``: run every benchmark, print the table, save the figures.

What it writes is in docs/benchmarks.md.  ``--quick`` is the smoke run of the test command; its figures are
noise.  A missed target is reported, never an error; a contestant that misbehaves is one.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import pyperf

from tests.support.nginx_server import nginx_binary

from . import inprocess, memory, provider, report, scale, served

RESULTS = Path(__file__).resolve().parent / "results"
_PACKAGES = ("logout-middleware", "pyperf", "starlette", "webob", "joserfc", "cryptography", "itsdangerous", "redis",
             "httpx", "uvicorn", "gunicorn", "authing", "matplotlib")  # fmt: skip
#: What measures, in the table's order: each module's ``run(setup, directory)`` its figures, ``rows(setup)`` its rows.
SUITES = {inprocess: "in-process, under pyperf: pass-through, logout, build_logout_url, the per-request check",
          memory: "memory: floods of cookies, and logouts, each in a process of its own",
          scale: "scale: revocations synced from Redis and SQLite; writes to Redis",
          served: "served: uvicorn and gunicorn, and forward-auth through nginx, loaded by wrk"}  # fmt: skip


def _first_line(*command: str, exits_with: int = 0) -> str:
    """The first line *command* prints (nginx -v prints on stderr), or '' when it fails (wrk --version exits with 1)."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ""
    return ((done.stdout or done.stderr).strip().splitlines() or [""])[0] if done.returncode == exits_with else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the smoke run of the test command; figures are noise")
    parser.add_argument("--out", type=Path, help="where the results go (default: benchmarks/results/)")
    parser.add_argument("--pyperf", help="pyperf's options for the in-process benchmarks, instead of the plan's")
    args = parser.parse_args(argv)
    plan = provider.QUICK if args.quick else provider.FULL
    plan = dataclasses.replace(plan, pyperf_args=tuple(args.pyperf.split())) if args.pyperf else plan
    out: Path = args.out or (RESULTS / "quick.tmp" if args.quick else RESULTS)
    command = " ".join(["python -m benchmarks", *(sys.argv[1:] if argv is None else argv)])
    started, started_at, load_at_start = time.monotonic(), datetime.now(timezone.utc), os.getloadavg()
    # Before the run writes its results, which are in the repository too.
    commit = _first_line("git", "rev-parse", "--short", "HEAD")
    commit += "-dirty" if _first_line("git", "status", "--porcelain", "--untracked-files=no") else ""
    with tempfile.TemporaryDirectory(prefix="bench-run-") as temporary, provider.running(plan) as setup:
        directory, figures = Path(temporary), dict[str, report.Figure]()
        (directory / "setup.pickle").write_bytes(pickle.dumps(setup))  # for the processes the suites start
        for module, doing in SUITES.items():
            print(f"[{time.monotonic() - started:5.0f} s] {doing}", file=sys.stderr, flush=True)
            figures |= module.run(setup, directory)
        evaluated = report.evaluate([row for module in SUITES for row in module.rows(setup)], figures)
        out.mkdir(parents=True, exist_ok=True)
        shutil.copy(directory / "pyperf.json.gz", out / "pyperf.json.gz")
    met, targets = sum(bool(row["met"]) for row in evaluated), sum(row["met"] is not None for row in evaluated)
    summary = f"{met} of {targets} targets met; {plan.name} run, {time.monotonic() - started:.0f} s"
    # Whether two runs can be compared: the machine and Python (as pyperf records them), the versions, the load.
    document = {"command": command, "plan": plan.name, "started_at": started_at.isoformat(timespec="seconds"),
                "duration_seconds": round(time.monotonic() - started), "git_commit": commit,
                "machine": pyperf.BenchmarkSuite.load(str(out / "pyperf.json.gz")).get_metadata(),
                "packages": {name: metadata.version(name) for name in _PACKAGES},
                "tools": {"wrk": _first_line("wrk", "--version", exits_with=1),
                          "nginx": _first_line(nginx_binary(), "-v"),
                          "redis-server": _first_line("redis-server", "--version")},
                "load_average": {"at_start": load_at_start, "at_end": os.getloadavg()}, "pyperf_args": plan.pyperf_args,
                "targets_met": met, "targets": targets, "rows": evaluated,
                "figures": {name: dataclasses.asdict(figure) for name, figure in figures.items()}}  # fmt: skip
    (out / "latest.json").write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")
    table = report.markdown(evaluated)
    (out / "latest.md").write_text(f"{table}\n{summary}: `{command}` at {commit}.\n")
    report.chart(evaluated, out / "overhead.png", f"{command} at {commit}, {started_at:%Y-%m-%d}")
    print(table)
    print(summary + (" (a smoke run: its figures are noise)" if args.quick else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
