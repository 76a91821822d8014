"""Served throughput: the minimal app under uvicorn (ASGI) and gunicorn (WSGI, sync worker), bare and wrapped.

Each server runs one worker in its own process on 127.0.0.1; the load comes
from another process (wrk when installed, else ``benchmarks.loadgen``),
pinned to another CPU.  The bare and wrapped servers run side by side on
the same CPU and are loaded in alternation, a second at a time, so that a
burst of outside load cannot favour one; throughput is the best round's,
latencies the median round's.  The servers' CPU time per request, from the
kernel's scheduler statistics, is recorded alongside.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from .fixtures import APP_PATH, BROWSER_HEADERS, END_SESSION_ENDPOINT, LOGOUT_PATH
from .timing import median

_PROJECT_ROOT = Path(__file__).resolve().parent.parent
_WRK_SCRIPT = Path(__file__).with_name("wrk_report.lua")
# Host and Connection are the client's own business.
_LOAD_HEADERS = [f"{name.title()}: {value}" for name, value in BROWSER_HEADERS if name not in ("host", "connection")]

ROUTES = {"pass-through": APP_PATH, "logout": LOGOUT_PATH}
#: What each server gets loaded with, every round: the bare app and ours side by side.
_LOADS = (("bare", "pass-through"), ("ours", "pass-through"), ("ours", "logout"))
_APPS = ("bare", "ours")


@dataclass(frozen=True)
class ServedPlan:
    rounds: int
    #: Length of one load run; wrk counts whole seconds.
    seconds: int
    warmup_seconds: int
    connections: int
    #: A cap on one run's requests, so that a run is bounded in count as well as time.
    max_requests: int
    startup_timeout: float = 30.0


@dataclass(frozen=True)
class ServerKind:
    name: str
    protocol: str

    def command(self, app: str, port: int) -> list[str]:
        """The command serving *app* (``bare`` or ``ours``) on 127.0.0.1:*port*."""
        if self.name == "uvicorn":
            factory = ["--factory"] if app == "ours" else []
            return [
                *(sys.executable, "-m", "uvicorn", f"benchmarks.served_apps:{app}_asgi", *factory),
                *("--host", "127.0.0.1", "--port", str(port)),
                *("--log-level", "warning", "--no-access-log", "--lifespan", "off"),
            ]
        call = "()" if app == "ours" else ""
        return [
            *(sys.executable, "-m", "gunicorn", f"benchmarks.served_apps:{app}_wsgi{call}"),
            *("--bind", f"127.0.0.1:{port}", "--workers", "1", "--worker-class", "sync", "--log-level", "warning"),
        ]


SERVERS = (ServerKind("uvicorn", "ASGI"), ServerKind("gunicorn", "WSGI"))


@dataclass
class Load:
    """One load run against one server and route."""

    requests: int
    seconds: float
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int
    #: CPU time the server spent per answered request (Linux).
    cpu_us_per_request: float | None


@dataclass
class ServedCase:
    server: str
    protocol: str
    app: str
    route: str
    #: The best round's throughput: outside load only ever takes some away.
    requests_per_second: float
    median_requests_per_second: float
    #: Medians over the rounds.
    p50_ms: float
    p99_ms: float
    errors: int
    #: The server's CPU time per request in its cheapest round, and the
    #: throughput that makes when the server has a core to itself.
    cpu_us_per_request: float | None
    requests_per_cpu_second: float | None
    rounds: list[Load] = field(repr=False)


@dataclass
class ServedResult:
    load_generator: str
    connections: int
    seconds_per_run: int
    rounds: int
    #: The CPUs the servers and the load generator were pinned to (none: not pinned).
    server_cpus: list[int]
    client_cpus: list[int]
    cases: dict[str, ServedCase]
    #: Wrapped over bare pass-through throughput per server, best round against best round.
    throughput_ratio: dict[str, float]
    #: The same from the server's CPU time per request; None where the OS does not report it.
    capacity_ratio: dict[str, float | None]
    #: Peak RSS of each server's serving process (the worker, for gunicorn), Linux only.
    peak_rss_kib: dict[str, int | None]


@dataclass(frozen=True)
class _Answer:
    status: int
    location: str
    body: bytes


def _get(port: int, path: str, headers: dict[str, str] | None = None) -> _Answer:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return _Answer(response.status, response.getheader("location") or "", response.read())
    finally:
        connection.close()


class ServerExitedError(RuntimeError):
    """A server stopped before it answered: most often, another process took its port first."""


class Server:
    """One server process, with its output kept aside for when it fails."""

    def __init__(self, kind: ServerKind, app: str, log: IO[bytes]) -> None:
        self.kind = kind
        self.app = app
        self.log = log
        # Handing the server a bound socket instead would close the race for the
        # port, but uvicorn takes an inherited socket for a Unix one and leaves
        # Nagle's algorithm on, which makes it forty times slower.
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        self.process = subprocess.Popen(
            kind.command(app, self.port), stdout=log, stderr=subprocess.STDOUT, cwd=_PROJECT_ROOT
        )

    @property
    def name(self) -> str:
        return f"{self.kind.name}/{self.app}"

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()[-4000:].decode(errors="replace")

    def wait_until_serving(self, timeout: float) -> None:
        # gunicorn listens before its worker has imported the app, so an open
        # port proves nothing: only an HTTP answer does.
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise ServerExitedError(f"{self.name} exited with status {self.process.returncode}:\n{self.output()}")
            try:
                response = _get(self.port, APP_PATH)
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name} did not answer within {timeout:.0f} s:\n{self.output()}") from None
                time.sleep(0.05)
                continue
            if response.status != 200 or response.body != b"hello":
                raise RuntimeError(f"{self.name} answered {response.status} for {APP_PATH}:\n{self.output()}")
            return

    def check_logout(self) -> None:
        answer = _get(self.port, LOGOUT_PATH, dict(line.split(": ", 1) for line in _LOAD_HEADERS))
        if answer.status != 303 or not answer.location.startswith(END_SESSION_ENDPOINT):
            raise RuntimeError(f"{self.name} answered {answer.status} {answer.location[:80]!r} for {LOGOUT_PATH}")

    def pin(self, cpus: set[int]) -> None:
        """Keep every thread of the server and its workers on *cpus*."""
        for pid in {self.process.pid, *self.serving_pids()}:
            with contextlib.suppress(OSError):
                for task in Path(f"/proc/{pid}/task").iterdir():
                    os.sched_setaffinity(int(task.name), cpus)

    def serving_pids(self) -> list[int]:
        """The processes that answer requests: gunicorn's workers, or the server itself."""
        pid = self.process.pid
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            return [pid]
        return [int(child) for child in children] or [pid]

    def cpu_ns(self) -> int | None:
        """CPU time the serving processes have used so far, from the scheduler's own count (Linux)."""
        total = 0
        try:
            for pid in self.serving_pids():
                for task in Path(f"/proc/{pid}/task").iterdir():
                    total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return total

    def peak_rss_kib(self) -> int | None:
        """VmHWM of the serving process (the largest, if gunicorn has several workers)."""
        peaks = []
        try:
            for pid in self.serving_pids():
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peaks.append(int(line.split()[1]))
        except (OSError, ValueError):
            return None
        return max(peaks, default=None)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@contextmanager
def _running(kind: ServerKind, app: str) -> Iterator[Server]:
    with tempfile.TemporaryFile() as log:
        server = Server(kind, app, log)
        try:
            yield server
        finally:
            server.stop()


def load_generator() -> str:
    wrk = shutil.which("wrk")
    if wrk is None:
        return "benchmarks.loadgen (Python)"
    probe = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
    return (probe.stdout + probe.stderr).split(" [", 1)[0].strip() or "wrk"


@dataclass(frozen=True)
class Placement:
    """Which CPUs the servers and the load generator may use; empty sets leave it to the OS."""

    server_cpus: frozenset[int]
    client_cpus: frozenset[int]

    @classmethod
    def choose(cls) -> Placement:
        # Left to itself the scheduler keeps each server on whichever CPU it
        # started on, and on a virtual machine two CPUs can differ in speed
        # by more than the 3 % being measured; all servers on one CPU and the
        # client on another puts the bare and the wrapped app on equal terms.
        try:
            cpus = sorted(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            return cls(frozenset(), frozenset())
        if len(cpus) < 2:
            return cls(frozenset(), frozenset())
        return cls(frozenset(cpus[:1]), frozenset(cpus[1:2]))


def _load(server: Server, path: str, seconds: int, plan: ServedPlan, placement: Placement) -> Load:
    port = server.port
    wrk = shutil.which("wrk")
    if wrk is not None:
        command = [wrk, "-t1", f"-c{plan.connections}", f"-d{seconds}s", "--timeout", "5s", "-s", str(_WRK_SCRIPT)]
        command += [arg for header in _LOAD_HEADERS for arg in ("-H", header)]
        command.append(f"http://127.0.0.1:{port}{path}")
    else:
        command = [sys.executable, "-m", "benchmarks.loadgen", str(port), path, "--seconds", str(seconds)]
        command += ["--max-requests", str(plan.max_requests), "--connections", str(plan.connections)]
        command += [arg for header in _LOAD_HEADERS for arg in ("--header", header)]
    env = {**os.environ, "BENCH_MAX_REQUESTS": str(plan.max_requests)}
    client_cpus = placement.client_cpus

    def pin_client() -> None:
        if client_cpus:
            os.sched_setaffinity(0, client_cpus)

    cpu_before = server.cpu_ns()
    # preexec_fn is unsafe only in a process with threads, which this one is not.
    finished = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        env=env,
        cwd=_PROJECT_ROOT,
        check=True,
        preexec_fn=pin_client,
    )
    cpu_after = server.cpu_ns()
    report = json.loads(next(line for line in reversed(finished.stdout.splitlines()) if line.startswith("{")))
    if report["requests"] == 0:
        raise RuntimeError(f"no request to 127.0.0.1:{port}{path} was answered:\n{finished.stdout}{finished.stderr}")
    elapsed = report["duration_us"] / 1e6
    return Load(
        requests=report["requests"],
        seconds=elapsed,
        requests_per_second=report["requests"] / elapsed,
        p50_ms=report["p50_us"] / 1000,
        p99_ms=report["p99_us"] / 1000,
        errors=sum(report["errors"].values()),
        cpu_us_per_request=None
        if cpu_before is None or cpu_after is None
        else (cpu_after - cpu_before) / 1000 / report["requests"],
    )


def _start_all(stack: ExitStack, timeout: float) -> dict[tuple[str, str], Server]:
    """Start the bare and the wrapped app under each server, and wait until all of them answer."""
    # All four start at once: an idle server costs nothing, and starting them
    # together saves their import time three times over.
    servers = {(kind.name, app): stack.enter_context(_running(kind, app)) for kind in SERVERS for app in _APPS}
    for kind in SERVERS:
        for app in _APPS:
            for attempt in range(3):
                try:
                    servers[kind.name, app].wait_until_serving(timeout)
                    break
                except ServerExitedError:
                    if attempt == 2:
                        raise
                    servers[kind.name, app] = stack.enter_context(_running(kind, app))
    return servers


def _summary(kind: ServerKind, app: str, route: str, rounds: list[Load]) -> ServedCase:
    cpu = [load.cpu_us_per_request for load in rounds if load.cpu_us_per_request is not None]
    best_cpu = min(cpu) if len(cpu) == len(rounds) else None
    return ServedCase(
        server=kind.name,
        protocol=kind.protocol,
        app=app,
        route=route,
        requests_per_second=max(load.requests_per_second for load in rounds),
        median_requests_per_second=median([load.requests_per_second for load in rounds]),
        p50_ms=median([load.p50_ms for load in rounds]),
        p99_ms=median([load.p99_ms for load in rounds]),
        errors=sum(load.errors for load in rounds),
        cpu_us_per_request=best_cpu,
        requests_per_cpu_second=None if best_cpu is None else 1e6 / best_cpu,
        rounds=rounds,
    )


def run(plan: ServedPlan, say: Callable[[str], None] = print) -> ServedResult:
    runs: dict[str, list[Load]] = {f"{kind.name}/{app}/{route}": [] for kind in SERVERS for app, route in _LOADS}
    placement = Placement.choose()
    peak_rss: dict[str, int | None] = {}
    with ExitStack() as stack:
        servers = _start_all(stack, plan.startup_timeout)
        for kind in SERVERS:
            servers[kind.name, "ours"].check_logout()
        if placement.server_cpus:
            for server in servers.values():
                server.pin(set(placement.server_cpus))
        if plan.warmup_seconds:
            for kind in SERVERS:
                for app, route in _LOADS:
                    _load(servers[kind.name, app], ROUTES[route], plan.warmup_seconds, plan, placement)
        for round_ in range(plan.rounds):
            say(f"served round {round_ + 1} of {plan.rounds}")
            shift = round_ % len(_LOADS)
            for kind in SERVERS if round_ % 2 == 0 else SERVERS[::-1]:
                for app, route in _LOADS[shift:] + _LOADS[:shift]:
                    load = _load(servers[kind.name, app], ROUTES[route], plan.seconds, plan, placement)
                    runs[f"{kind.name}/{app}/{route}"].append(load)
        for (name, app), server in servers.items():
            peak_rss[f"{name}/{app}"] = server.peak_rss_kib()

    cases = {
        f"{kind.name}/{app}/{route}": _summary(kind, app, route, runs[f"{kind.name}/{app}/{route}"])
        for kind in SERVERS
        for app, route in _LOADS
    }
    throughput = {}
    capacity: dict[str, float | None] = {}
    for kind in SERVERS:
        ours, bare = cases[f"{kind.name}/ours/pass-through"], cases[f"{kind.name}/bare/pass-through"]
        throughput[kind.name] = ours.requests_per_second / bare.requests_per_second
        if ours.requests_per_cpu_second is None or bare.requests_per_cpu_second is None:
            capacity[kind.name] = None
        else:
            capacity[kind.name] = ours.requests_per_cpu_second / bare.requests_per_cpu_second
    return ServedResult(
        load_generator=load_generator(),
        connections=plan.connections,
        seconds_per_run=plan.seconds,
        rounds=plan.rounds,
        server_cpus=sorted(placement.server_cpus),
        client_cpus=sorted(placement.client_cpus),
        cases=cases,
        throughput_ratio=throughput,
        capacity_ratio=capacity,
        peak_rss_kib=peak_rss,
    )
