"""A small HTTP load generator, used when wrk is not installed: ``python -m benchmarks.loadgen``.

It runs in its own process, so that the server under test and the client do
not share one interpreter lock, and prints the same JSON line as
``wrk_report.lua`` (``wrk_mix.lua`` with ``--mix``: requests taken in turn
from a file, and the count of each status).  Python is far slower than wrk at this, so the figures
it yields mostly measure the client; they still show both servers running
and the logout answering.
"""

from __future__ import annotations

import argparse
import collections
import http.client
import itertools
import json
import statistics
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from time import perf_counter


def _percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


@dataclass
class _Client:
    """One keep-alive connection's worth of requests, run in its own thread."""

    port: int
    path: str
    #: The headers of the next request: the same every time, or the mix's next.
    headers: Callable[[], dict[str, str]]
    deadline: float
    budget: int
    latencies: list[float] = field(default_factory=list)
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    socket_errors: int = 0
    status_errors: int = 0

    def run(self) -> None:
        connection: http.client.HTTPConnection | None = None
        while perf_counter() < self.deadline and self.budget > 0:
            if connection is None:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            start = perf_counter()
            try:
                connection.request("GET", self.path, headers=self.headers())
                response = connection.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                self.socket_errors += 1
                connection.close()
                connection = None
                continue
            self.latencies.append(perf_counter() - start)
            self.budget -= 1
            self.statuses[response.status] += 1
            if response.status >= 400:
                self.status_errors += 1
            if response.will_close:
                connection.close()
                connection = None
        if connection is not None:
            connection.close()


def load(
    port: int,
    path: str,
    headers: dict[str, str],
    *,
    seconds: float,
    max_requests: int,
    connections: int,
    mix: list[dict[str, str]] | None = None,
) -> dict[str, object]:
    """Send requests on *connections* keep-alive connections until *seconds* pass or *max_requests* are answered.

    With *mix*, each request adds the next of its header sets to *headers*, in turn across all connections.
    """
    started = perf_counter()
    budget = max(1, max_requests // connections)
    # next() on an itertools object runs under the interpreter lock: the threads share the turn safely.
    turns = itertools.cycle([{**headers, **extra} for extra in mix]) if mix else itertools.repeat(headers)
    next_headers: Callable[[], dict[str, str]] = turns.__next__
    clients = [_Client(port, path, next_headers, started + seconds, budget) for _ in range(connections)]
    threads = [threading.Thread(target=client.run) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = perf_counter() - started
    latencies = sorted(value for client in clients for value in client.latencies)
    socket_errors = sum(client.socket_errors for client in clients)
    status_errors = sum(client.status_errors for client in clients)
    statuses = sum((client.statuses for client in clients), collections.Counter[int]())
    return {
        "requests": len(latencies),
        "duration_us": round(elapsed * 1e6),
        "p50_us": round(_percentile(latencies, 0.50) * 1e6),
        "p99_us": round(_percentile(latencies, 0.99) * 1e6),
        "mean_us": round(statistics.fmean(latencies) * 1e6, 1) if latencies else 0.0,
        "max_us": round(latencies[-1] * 1e6) if latencies else 0,
        "errors": {"connect": 0, "read": socket_errors, "write": 0, "status": status_errors, "timeout": 0},
        "statuses": {str(status): count for status, count in sorted(statuses.items())},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Load a server on 127.0.0.1 and print wrk-like JSON.")
    parser.add_argument("port", type=int)
    parser.add_argument("path")
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--max-requests", type=int, default=100_000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--header", action="append", default=[], help="'Name: value', repeatable")
    parser.add_argument("--mix", help="a file of 'host<TAB>cookie' lines, one per request, taken in turn")
    args = parser.parse_args()
    headers = dict(line.split(": ", 1) for line in args.header)
    mix = None
    if args.mix:
        with open(args.mix) as lines:
            pairs = [line.rstrip("\n").split("\t", 1) for line in lines if line.strip()]
        mix = [{"Host": host} | ({"Cookie": cookie} if cookie else {}) for host, cookie in pairs]
    result = load(
        args.port,
        args.path,
        headers,
        seconds=args.seconds,
        max_requests=args.max_requests,
        connections=args.connections,
        mix=mix,
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
