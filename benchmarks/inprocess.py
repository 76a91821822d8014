"""The in-process benchmarks under pyperf: ``python -m benchmarks.inprocess --setup FILE [pyperf options]``.

pyperf starts this module again as each worker process: every worker
registers the same cases in the same order and pyperf times only its own,
which is why a case builds its contestant (and opens its store) lazily.
"""

from __future__ import annotations

import subprocess
import sys
from argparse import Namespace
from pathlib import Path

import pyperf

from . import passthrough, session_check
from .drivers import Case
from .provider import Setup
from .report import Figure


def cases(setup: Setup) -> list[Case]:
    return [*passthrough.cases(setup), *session_check.cases(setup)]


def _forward(command: list[str], args: Namespace) -> None:
    command.extend(("--setup", args.setup, "--cases", args.cases))


def main() -> None:
    runner = pyperf.Runner(program_args=("-m", "benchmarks.inprocess"), add_cmdline_args=_forward)
    runner.argparser.add_argument("--setup", required=True, help="the JSON file describing the provider and stores")
    runner.argparser.add_argument("--cases", default="", help="only the cases whose name holds this text")
    args = runner.parse_args()
    for case in cases(Setup.load(args.setup)):
        if args.cases in case.name:
            if not args.worker:  # once, in pyperf's main process, before the workers time it
                case.check()
            runner.bench_time_func(case.name, case.time_func())


def run(setup_file: Path, pyperf_args: tuple[str, ...], output: Path) -> dict[str, Figure]:
    """Run every case under pyperf, its progress on stderr; the figures, and pyperf's own file at *output*."""
    command = [sys.executable, "-m", "benchmarks.inprocess", "--setup", str(setup_file), *pyperf_args]
    subprocess.run([*command, "--output", str(output)], stdout=sys.stderr, check=True)
    suite = pyperf.BenchmarkSuite.load(str(output))
    return {bench.get_name(): Figure("s", tuple(bench.get_values())) for bench in suite.get_benchmarks()}


if __name__ == "__main__":
    main()
