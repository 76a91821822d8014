"""Interleaved timing rounds and the robust statistics taken over them.

A shared machine is noisy in bursts.  Timing contestant A for ten seconds and
then B for ten seconds lets a burst land on one of them only; timing them in
alternation, many short batches each, spreads the bursts over all of them,
and since outside load only ever adds time, the best round of each is the
one closest to the code's own cost.
"""

from __future__ import annotations

import gc
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

#: Runs a contestant *n* times and returns the elapsed nanoseconds.
Batch = Callable[[int], int]


@dataclass(frozen=True)
class Plan:
    """How long to measure: rounds of one batch per contestant, each batch about *batch_seconds*."""

    rounds: int
    batch_seconds: float


def _timed(batch: Batch, n: int) -> int:
    # As timeit does: a collection landing inside one batch would charge one
    # contestant for garbage that all of them made.
    gc.collect()
    gc.disable()
    try:
        return batch(n)
    finally:
        gc.enable()


def calibrate(batch: Batch, seconds: float) -> int:
    """The number of calls that makes one batch last about *seconds*."""
    target = seconds * 1e9
    n = 1
    while True:
        elapsed = _timed(batch, n)
        if elapsed >= target / 8 or n >= 1 << 26:
            return max(1, round(n * target / max(elapsed, 1)))
        n *= 4


def interleave(contestants: Mapping[str, Batch], plan: Plan) -> dict[str, list[float]]:
    """Nanoseconds per call of each contestant, one figure per round.

    The order rotates every round so that no contestant always runs right
    after the same neighbour (caches, CPU frequency) or always first.
    """
    names = list(contestants)
    # Whatever is alive now outlives the rounds.  Frozen, it is no longer
    # scanned by the collection before each batch, which then clears only
    # the contestants' garbage: in a process holding thousands of revoked
    # sessions a full scan takes longer than the batch it precedes.
    gc.collect()
    gc.freeze()
    try:
        sizes = {name: calibrate(contestants[name], plan.batch_seconds) for name in names}
        samples: dict[str, list[float]] = {name: [] for name in names}
        for round_ in range(plan.rounds):
            shift = round_ % len(names)
            for name in names[shift:] + names[:shift]:
                samples[name].append(_timed(contestants[name], sizes[name]) / sizes[name])
    finally:
        gc.unfreeze()
    return samples


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def best(values: Sequence[float]) -> float:
    """The fastest round: noise on a shared machine only ever adds time."""
    return min(values)
