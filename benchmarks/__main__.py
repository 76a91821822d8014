"""``python -m benchmarks [--quick] [--out DIR]``: run every benchmark, print one table, save the figures.

The full run takes a few minutes and writes ``benchmarks/results/latest.json``
and ``overhead.png``.  ``--quick`` is a smoke run of a few seconds for the
test suite: tiny rounds, its figures are noise, and it writes under
``benchmarks/results/quick.tmp/`` so that it never replaces the committed
results.  Missed targets are reported, never turned into a failure: only a
benchmark that cannot run makes the exit status non-zero.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import chart, core, environment, gateway, inprocess, memory, report, revocation_check, served
from .gateway import GatewayPlan
from .revocation_check import RevocationPlan
from .served import ServedPlan
from .timing import Plan

_RESULTS = Path(__file__).resolve().parent / "results"


@dataclasses.dataclass(frozen=True)
class Mode:
    name: str
    inprocess: Plan
    revocation: RevocationPlan
    core: Plan
    served: ServedPlan
    gateway: GatewayPlan
    #: Logout requests before the first and the second memory reading.
    memory_checkpoints: tuple[int, int]
    out: Path


FULL = Mode(
    name="full",
    inprocess=Plan(rounds=41, batch_seconds=0.02),
    # Forty contestants: 25 rounds keep this part near 20 s, and the differences
    # it shows are microseconds, not the tens of nanoseconds the pass-through needs 41 for.
    revocation=RevocationPlan(Plan(rounds=25, batch_seconds=0.02), revoked_sessions=10_000),
    core=Plan(rounds=41, batch_seconds=0.02),
    served=ServedPlan(rounds=15, seconds=1, warmup_seconds=1, connections=8, max_requests=500_000),
    # The stack answers about 2,500 req/s on two cores: the cap is a safety bound only.
    gateway=GatewayPlan(
        rounds=6, seconds=1, warmup_seconds=1, connections=8, max_requests=200_000, sessions=8, revoked_sessions=10_000
    ),
    memory_checkpoints=(10_000, 100_000),
    out=_RESULTS,
)
QUICK = Mode(
    name="quick",
    inprocess=Plan(rounds=3, batch_seconds=0.003),
    revocation=RevocationPlan(Plan(rounds=3, batch_seconds=0.003), revoked_sessions=1_000),
    core=Plan(rounds=3, batch_seconds=0.003),
    served=ServedPlan(rounds=1, seconds=1, warmup_seconds=0, connections=4, max_requests=20_000),
    gateway=GatewayPlan(
        rounds=1, seconds=1, warmup_seconds=0, connections=4, max_requests=20_000, sessions=2, revoked_sessions=100
    ),
    memory_checkpoints=(1_000, 3_000),
    out=_RESULTS / "quick.tmp",
)


class _Progress:
    """Progress lines on stderr, so that stdout holds the table alone."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self, message: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f} s] {message}", file=sys.stderr, flush=True)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


def run(mode: Mode, say: _Progress) -> report.Results:
    loop = asyncio.new_event_loop()
    try:
        say("ASGI pass-through, in-process")
        asgi_pass = inprocess.pass_through_asgi(mode.inprocess, loop)
        say("WSGI pass-through, in-process")
        wsgi_pass = inprocess.pass_through_wsgi(mode.inprocess)
        say("logout path, in-process")
        asgi_logout = inprocess.logout_asgi(mode.inprocess, loop)
        wsgi_logout = inprocess.logout_wsgi(mode.inprocess)
        say("per-request revocation check, in-process, with each store")
        revocation = revocation_check.run(mode.revocation, loop)
    finally:
        loop.close()
    say("build_logout_url")
    core_result = core.run(mode.core)
    say("served: uvicorn and gunicorn")
    served_result = served.run(mode.served, say)
    say("gateway: forward-auth through nginx")
    gateway_result = gateway.run(mode.gateway, say)
    say("memory")
    memory_result = memory.run(*mode.memory_checkpoints)
    return report.Results(
        pass_through={"asgi": asgi_pass, "wsgi": wsgi_pass},
        logout={"asgi": asgi_logout, "wsgi": wsgi_logout},
        revocation=revocation,
        core=core_result,
        served=served_result,
        gateway=gateway_result,
        memory=memory_result,
    )


def _write_atomically(path: Path, text: str) -> None:
    # A run cut short must not leave a half-written file where the last good one was.
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(text)
    os.replace(partial, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds; its figures are noise")
    parser.add_argument("--out", type=Path, help="directory for latest.json and overhead.png")
    args = parser.parse_args(argv)
    mode = QUICK if args.quick else FULL
    out: Path = args.out or mode.out
    command = " ".join(["python -m benchmarks", *(sys.argv[1:] if argv is None else argv)])

    say = _Progress()
    started_at = datetime.now(timezone.utc)
    context = environment.describe()
    results = run(mode, say)
    table, targets = report.build(results)
    context["machine"]["load_average_at_end"] = environment.load_average()

    out.mkdir(parents=True, exist_ok=True)
    say("chart")
    chart.draw(results, out / "overhead.png")
    document: dict[str, Any] = {
        "command": command,
        "mode": mode.name,
        "started_at": started_at.isoformat(timespec="seconds"),
        "duration_seconds": round(say.elapsed, 1),
        **context,
        "plan": {
            "inprocess": dataclasses.asdict(mode.inprocess),
            "revocation": dataclasses.asdict(mode.revocation),
            "core": dataclasses.asdict(mode.core),
            "served": dataclasses.asdict(mode.served),
            "gateway": dataclasses.asdict(mode.gateway),
            "memory_checkpoints": mode.memory_checkpoints,
        },
        "targets": [dataclasses.asdict(target) for target in targets],
        "all_targets_met": all(target.met is not False for target in targets),
        "results": dataclasses.asdict(results),
        "table_markdown": table,
    }
    _write_atomically(out / "latest.json", json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    say(f"wrote {out / 'latest.json'} and {out / 'overhead.png'}")

    print(table)
    met = sum(target.met is True for target in targets)
    verdict = "a smoke test: its figures are noise" if mode is QUICK else "full run"
    print(f"\n{met} of {len(targets)} targets met ({verdict}, {say.elapsed:.0f} s).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
