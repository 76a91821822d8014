"""A bounded load run over HTTP: a fixed number of requests, a few at a time, then a summary.

It asserts nothing about speed; it counts the answers by kind of request and
status, so that a test can check that every answer was right under load, and
reports requests per second for the output.  Loopback only, and it stops by
itself: after *total* requests, or at *deadline* seconds, whichever is first.

.. code-block:: python

    shots = [Shot("anonymous", "/", {"Host": "shop.example.test"})]
    result = run_load("http://127.0.0.1:8000", shots, total=2000)
    print(result.summary("anonymous"))
    assert result.statuses == {("anonymous", 200): 2000}
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import httpx

__all__ = ["LoadResult", "Shot", "run_load"]


@dataclass(frozen=True)
class Shot:
    """One kind of request of the mix; requests take the kinds in turn."""

    label: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadResult:
    """What a load run did."""

    requests: int
    seconds: float
    concurrency: int
    #: How many answers came, by (shot label, status); 0 is a failed connection.
    statuses: collections.Counter[tuple[str, int]]

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def summary(self, title: str) -> str:
        counts = ", ".join(f"{label} {status}: {count}" for (label, status), count in sorted(self.statuses.items()))
        return (
            f"{title}: {self.requests} requests in {self.seconds:.2f} s = {self.per_second:.0f} requests/s"
            f" ({self.concurrency} at a time; {counts})"
        )


def run_load(
    base_url: str,
    shots: Sequence[Shot],
    *,
    total: int = 2000,
    concurrency: int = 16,
    deadline: float = 60.0,
) -> LoadResult:
    """Send *total* requests to *base_url*, taking *shots* in turn, *concurrency* at a time."""
    if not shots:
        raise ValueError("shots must hold at least one kind of request")
    return asyncio.run(_run(base_url, shots, total, concurrency, deadline))


async def _run(base_url: str, shots: Sequence[Shot], total: int, concurrency: int, deadline: float) -> LoadResult:
    statuses: collections.Counter[tuple[str, int]] = collections.Counter()
    issued = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    started = time.perf_counter()
    stop_at = started + deadline

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal issued
        while issued < total and time.perf_counter() < stop_at:
            shot = shots[issued % len(shots)]
            issued += 1  # no await between the test and the increment, so no request is sent twice
            try:
                response = await client.get(shot.path, headers=dict(shot.headers))
                status = response.status_code
            except httpx.HTTPError:
                status = 0
            statuses[shot.label, status] += 1

    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=10.0) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    seconds = time.perf_counter() - started
    return LoadResult(sum(statuses.values()), seconds, concurrency, statuses)
