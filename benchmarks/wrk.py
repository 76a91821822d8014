"""wrk, the load generator of the served benchmarks (``python3 .ci/dev.py bench`` installs it): one run.

One thread, keep-alive connections; with a mix file, each request takes the
next ``host<TAB>cookie`` line of it in turn (``wrk_mix.lua``).  Where wrk is
not installed (the test command does not install it), the test suite's load
helper sends the same requests: far slower, so its figures measure the client.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

_MIX = Path(__file__).with_name("wrk_mix.lua")
T = TypeVar("T")


@dataclass(frozen=True)
class Load:
    requests: int
    requests_per_second: float
    #: Answers of another status than 2xx or 3xx; a 401 is one.
    refused: int
    socket_errors: int


def version() -> str:
    if shutil.which("wrk") is None:
        return "tests/load.py: wrk is not installed (python3 .ci/dev.py bench installs it)"
    probe = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    return (probe.stdout + probe.stderr).split(" [", 1)[0].strip()


def run(url: str, *, seconds: int, connections: int, headers: Sequence[str], cpus: Sequence[int] = (),
        mix: Path | None = None) -> Load:  # fmt: skip
    """Load *url* for *seconds*; *cpus* pins wrk (with taskset), *mix* names the requests to take in turn."""
    if shutil.which("wrk") is None:
        return _without_wrk(url, seconds, connections, headers, mix)
    command = ["taskset", "-c", ",".join(map(str, cpus))] if cpus else []
    command += ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s"]
    command += [part for header in headers for part in ("-H", header)]
    command += ["-s", str(_MIX), url, "--", str(mix)] if mix else [url]
    report = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    requests = re.search(r"^\s+(\d+) requests in", report, re.MULTILINE)
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", report, re.MULTILINE)
    if requests is None or rate is None or int(requests[1]) == 0:
        raise RuntimeError(f"wrk got no answer from {url}:\n{report}")
    refused = re.search(r"Non-2xx or 3xx responses: (\d+)", report)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", report)
    return Load(int(requests[1]), float(rate[1]), int(refused[1]) if refused else 0,
                sum(map(int, errors.groups())) if errors else 0)  # fmt: skip


def _without_wrk(url: str, seconds: int, connections: int, headers: Sequence[str], mix: Path | None) -> Load:
    from tests.support.load import Shot, run_load  # noqa: PLC0415 - only where wrk is missing

    base, (scheme, host, path, *_) = dict(line.split(": ", 1) for line in headers), urlsplit(url)
    pairs = [line.split("\t", 1) for line in mix.read_text().splitlines()] if mix else [["", ""]]
    shots = [Shot(str(index), path, base | ({"Host": name} if name else {}) | ({"Cookie": cookie} if cookie else {}))
             for index, (name, cookie) in enumerate(pairs)]  # fmt: skip
    result = run_load(f"{scheme}://{host}", shots, total=10**9, concurrency=connections, deadline=seconds)
    counts = [(status, count) for (_, status), count in result.statuses.items()]
    return Load(result.requests, result.per_second, sum(count for status, count in counts if status >= 400),
                sum(count for status, count in counts if status == 0))  # fmt: skip


def rounds(loads: Sequence[T], count: int) -> Iterator[tuple[bool, T]]:
    """Each load once a round, in an order rotated every round, after a warm-up round when there are several.

    Yields whether the run counts, and the load: a burst of outside load then
    falls on every contestant alike rather than on one.
    """
    for round_ in range(-1 if count > 1 else 0, count):
        shift = round_ % len(loads)
        for load in [*loads[shift:], *loads[:shift]]:
            yield round_ >= 0, load
