"""How much a run does: the full run, and the quick smoke run of the test command."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    name: str
    #: Handed to pyperf for the in-process benchmarks.
    pyperf_args: tuple[str, ...]
    #: Revocations in the stores of the per-request check: the usual stores, then the large ones.
    revocations: int
    large_store: int
    huge_store: int
    #: Distinct signed id_tokens, each a session the middleware has not seen.
    new_sessions: int
    #: Requests of each memory benchmark: a flood of cookies, and logouts.
    flood: int
    logouts: int
    #: wrk: rounds of every load, seconds a run, connections.
    rounds: int
    seconds: int
    connections: int
    #: Gateway: live sessions and as many revoked ones in the loads, and revocations in Redis besides.
    gateway_sessions: int
    gateway_revocations: int
    #: Scale: live revocations in the shared store a new instance syncs, and revocations each writer writes.
    scale_revocations: int
    scale_writes: int


# Two worker processes of three values after a warm-up, after pyperf's calibration process: about
# three seconds a benchmark, most of it starting Python.  One worker would save a minute, but a
# process's own luck (its memory layout, its CPU) then moves a figure by more than what is measured.
# --quiet keeps pyperf's tuning advice out of the log.
FULL = Plan("full", ("--processes=2", "--values=3", "--warmups=1", "--min-time=0.05", "--quiet"), 10, 100_000,
            1_000_000, 256, 200_000, 100_000, 4, 1, 8, 8, 1_000, 1_000_000, 5_000)  # fmt: skip
# Two values of a few calls each, in one process (a worker per benchmark would take a minute):
# it proves that every contestant runs and behaves, and its figures are noise.
QUICK = Plan("quick", ("--in-process", "--processes=1", "--values=2", "--warmups=0", "--loops=8", "--quiet"),
             10, 1_000, 10_000, 16, 2_000, 1_000, 1, 1, 4, 2, 100, 20_000, 300)  # fmt: skip
PLANS = {plan.name: plan for plan in (FULL, QUICK)}
