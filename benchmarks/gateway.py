"""Forward-auth through nginx: the gateway example under load, with and without revoked sessions.

The stack is the one ``tests/test_nginx.py`` runs: ``examples/gateway/nginx.conf``
as users get it (free ports put in), the two example apps (WSGI under
gunicorn, ASGI under uvicorn), two ``python -m logout_middleware``
processes configured by environment variables alone and sharing one
redis-server, all on 127.0.0.1.  nginx asks a logout-service process
(``auth_request`` to ``/auth``) before every request: 204 lets it through
to the app; a revoked session gets 401, is asked about once more for the
deleting headers, and never reaches an app.

Three loads, in alternating runs bounded in count and time: anonymous
requests (no cookie), signed-in requests of live sessions, and a mix where
a third carry a revoked session (the other two thirds are the first two
kinds).  The issue's requirement, that "the forward-auth check holds its
throughput with and without revocations", is the target: signed-in and
mixed throughput at least 0.8x the anonymous one.  Redis counts the
commands it processes during each run, to show the check makes no round
trip to it.
"""

from __future__ import annotations

import functools
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from time import monotonic, sleep
from typing import Any

from gunicorn.config import KNOWN_SETTINGS  # type: ignore[import-untyped]

from tests.nginx_server import gateway_config, nginx_binary, nginx_server
from tests.redis_server import redis_server
from tests.servers import HOST, free_port, serve_asgi, serve_process

from .fixtures import APP_PATH, BROWSER_HEADERS, CLIENT_ID, END_SESSION_ENDPOINT, ISSUER, browser_cookie, make_id_token
from .served import load_generator
from .stores import RedisCommandCounter, prefill
from .timing import median

_PROJECT_ROOT = Path(__file__).resolve().parent.parent
_EXAMPLE = _PROJECT_ROOT / "examples" / "gateway"
_WRK_SCRIPT = Path(__file__).with_name("wrk_mix.lua")
HOSTS = ("shop.example.test", "wiki.example.test")
# Every request carries a browser's headers; Host and Cookie come from the mix.
_LOAD_HEADERS = [
    f"{name.title()}: {value}" for name, value in BROWSER_HEADERS if name not in ("host", "connection", "cookie")
]
LOADS = {
    "anonymous": "anonymous (no cookie)",
    "signed-in": "signed in, live sessions",
    "mixed": "a third each: anonymous, signed in, revoked (401)",
}


@dataclass(frozen=True)
class GatewayPlan:
    rounds: int
    #: Length of one load run; wrk counts whole seconds.
    seconds: int
    warmup_seconds: int
    connections: int
    #: A cap on one run's requests, so that a run is bounded in count as well as time.  wrk
    #: waits out its whole duration even when stopped early, so a run that reaches the cap
    #: would understate its throughput: keep it above what the stack answers in *seconds*.
    max_requests: int
    #: Live sessions, and as many revoked ones, that the loads take in turn.
    sessions: int
    #: Sessions revoked in Redis besides, as a busy provider leaves the store.
    revoked_sessions: int
    startup_timeout: float = 30.0


@dataclass
class GatewayLoad:
    """One load run through nginx."""

    requests: int
    seconds: float
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    #: Answers by status; a 401 is the right answer to a revoked session, not an error.
    statuses: dict[str, int]
    #: Socket errors and timeouts.
    errors: int
    #: Commands the Redis server processed during the run.
    redis_commands: int


@dataclass
class GatewayCase:
    label: str
    #: The best round's throughput: outside load only ever takes some away.
    requests_per_second: float
    median_requests_per_second: float
    #: Medians over the rounds.
    p50_ms: float
    p99_ms: float
    statuses: dict[str, int]
    errors: int
    redis_commands_per_request: float
    rounds: list[GatewayLoad] = field(repr=False)


@dataclass
class GatewayResult:
    load_generator: str
    nginx: str
    connections: int
    seconds_per_run: int
    rounds: int
    #: Live sessions and revoked sessions the loads carry, each.
    sessions: int
    #: Revoked sessions in the shared store, those the loads carry included.
    revoked_in_store: int
    cases: dict[str, GatewayCase]
    #: Best throughput of the signed-in and the mixed load over the anonymous one's.
    ratio_to_anonymous: dict[str, float]


@dataclass(frozen=True)
class _Stack:
    base_url: str
    redis_url: str
    #: The logout-service processes, for asking them directly.
    services: tuple[str, ...]


def _status(base_url: str, path: str, headers: dict[str, str]) -> int:
    host, port = base_url.removeprefix("http://").rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


@contextmanager
def _without_logout_variables() -> Iterator[None]:
    """Keep the developer's own LOGOUT_MIDDLEWARE_* variables away from the service processes.

    serve_process() adds to a copy of os.environ, so they must leave os.environ
    itself while the services start; they come back afterwards.
    """
    saved = {name: value for name, value in os.environ.items() if name.upper().startswith("LOGOUT_MIDDLEWARE_")}
    for name in saved:
        del os.environ[name]
    try:
        yield
    finally:
        os.environ.update(saved)


@functools.cache
def _no_control_socket() -> tuple[str, ...]:
    # Gunicorn 25.1+ opens a control socket at a fixed path in the home
    # directory, which would clash with any other gunicorn; older ones lack the option.
    if any(setting.name == "control_socket_disable" for setting in KNOWN_SETTINGS):
        return ("--no-control-socket",)
    return ()


@contextmanager
def _gateway(directory: Path, plan: GatewayPlan, revoked_sids: list[str]) -> Iterator[_Stack]:
    """Start the whole stack, with *revoked_sids* and the filler revoked in Redis; stop it on exit."""
    timeout = plan.startup_timeout
    with ExitStack() as stack:
        redis = stack.enter_context(redis_server(directory / "redis"))
        # Before the services start, so that each loads the store at its first sync.
        prefill(redis.url, ISSUER, revoked=revoked_sids, filler=plan.revoked_sessions)
        env = {
            "LOGOUT_MIDDLEWARE_ISSUER": ISSUER,
            "LOGOUT_MIDDLEWARE_CLIENT_ID": CLIENT_ID,
            "LOGOUT_MIDDLEWARE_END_SESSION_ENDPOINT": END_SESSION_ENDPOINT,
            "LOGOUT_MIDDLEWARE_POST_LOGOUT_REDIRECT_URI": f"https://{HOSTS[0]}/",
            "LOGOUT_MIDDLEWARE_COOKIE_DOMAIN": "example.test",
            "LOGOUT_MIDDLEWARE_CLEAR_COOKIES": "session,csrftoken",
            "LOGOUT_MIDDLEWARE_REVOCATION_STORE": redis.url,
            "LOGOUT_MIDDLEWARE_BACKCHANNEL_LOGOUT_PATH": "/backchannel-logout",
        }
        services = []
        with _without_logout_variables():
            for _ in range(2):
                port = free_port()
                argv = [sys.executable, "-m", "logout_middleware", "--host", HOST, "--port", str(port)]
                service = serve_process(argv, port=port, env=env, ready_path="/healthz", timeout=timeout)
                services.append(stack.enter_context(service))
        # The apps as the example's README runs them: no access log of their own.
        shop_port = free_port()
        shop_argv = [
            *(sys.executable, "-m", "gunicorn", f"--bind={HOST}:{shop_port}", "--workers=1", "--worker-class=sync"),
            *(f"--chdir={_EXAMPLE}", "--log-level=warning", *_no_control_socket(), "app_wsgi:app"),
        ]
        shop = stack.enter_context(serve_process(shop_argv, port=shop_port, cwd=_EXAMPLE, timeout=timeout))
        wiki_options = ["--no-access-log", "--log-level=warning", "--lifespan=off"]
        wiki = stack.enter_context(serve_asgi("app_asgi:app", app_dir=_EXAMPLE, extra_args=wiki_options))
        port = free_port()
        addresses = {
            "gateway": f"{HOST}:{port}",
            "shop": shop.removeprefix("http://"),
            "wiki": wiki.removeprefix("http://"),
            "logout_1": services[0].removeprefix("http://"),
            "logout_2": services[1].removeprefix("http://"),
        }
        config = gateway_config(directory / "nginx", addresses)
        nginx = stack.enter_context(nginx_server(config, directory / "nginx", port=port))
        yield _Stack(nginx.base_url, redis.url, tuple(services))


def _wait_until_synced(gateway: _Stack, revoked_cookie: str, timeout: float) -> None:
    """Ask each service directly until it stops a revoked session: it answers /healthz before loading Redis."""
    deadline = monotonic() + timeout
    for service in gateway.services:
        while _status(service, "/auth", {"Cookie": revoked_cookie}) != 401:
            if monotonic() > deadline:
                raise RuntimeError(f"{service} did not load the revocations from Redis within {timeout:.0f} s")
            sleep(0.02)


def _mixes(live: list[str], revoked: list[str]) -> dict[str, list[tuple[str, str]]]:
    """The requests of each load as (Host, Cookie) pairs, taken in turn; both apps get half of each kind."""
    mixed = []
    for index, (live_cookie, revoked_cookie) in enumerate(zip(live, revoked, strict=True)):
        host = HOSTS[index % 2]
        mixed += [(host, ""), (host, live_cookie), (host, revoked_cookie)]
    return {
        "anonymous": [(host, "") for host in HOSTS],
        "signed-in": [(HOSTS[index % 2], cookie) for index, cookie in enumerate(live)],
        "mixed": mixed,
    }


def _check(load: str, report: dict[str, Any], connections: int) -> dict[str, int]:
    """The statuses of a run, or RuntimeError if a session got the wrong answer: the comparison would be void."""
    statuses = {str(status): int(count) for status, count in report["statuses"].items()}
    requests = int(report["requests"])
    if load != "mixed":
        right = statuses == {"200": requests}
    else:
        # Requests still in flight when the run stops leave the shares off by at most one per connection.
        right = set(statuses) == {"200", "401"} and abs(statuses["401"] - requests / 3) <= connections + 2
    if not right or requests == 0:
        raise RuntimeError(f"the {load} load through nginx got the statuses {statuses} for {requests} requests")
    return statuses


def _load(gateway: _Stack, load: str, mix_file: Path, seconds: int, plan: GatewayPlan) -> GatewayLoad:
    wrk = shutil.which("wrk")
    if wrk is not None:
        command = [wrk, "-t1", f"-c{plan.connections}", f"-d{seconds}s", "--timeout", "5s", "-s", str(_WRK_SCRIPT)]
        command += [arg for header in _LOAD_HEADERS for arg in ("-H", header)]
        command += [gateway.base_url + APP_PATH, "--", str(mix_file)]
    else:
        port = gateway.base_url.rsplit(":", 1)[1]
        command = [sys.executable, "-m", "benchmarks.loadgen", port, APP_PATH, "--seconds", str(seconds)]
        command += ["--max-requests", str(plan.max_requests), "--connections", str(plan.connections)]
        command += [arg for header in _LOAD_HEADERS for arg in ("--header", header)]
        command += ["--mix", str(mix_file)]
    env = {**os.environ, "BENCH_MAX_REQUESTS": str(plan.max_requests)}
    with closing(RedisCommandCounter(gateway.redis_url)) as counter:
        finished = subprocess.run(
            command, capture_output=True, text=True, timeout=seconds + 60, env=env, cwd=_PROJECT_ROOT, check=True
        )
        redis_commands = counter.since_last()
    report: dict[str, Any] = json.loads(
        next(line for line in reversed(finished.stdout.splitlines()) if line.startswith("{"))
    )
    if wrk is not None and report["requests"] >= plan.max_requests:
        raise RuntimeError(f"a {load} run reached max_requests={plan.max_requests}: raise it, or the req/s are wrong")
    statuses = _check(load, report, plan.connections)
    elapsed = report["duration_us"] / 1e6
    errors = report["errors"]
    return GatewayLoad(
        requests=report["requests"],
        seconds=elapsed,
        requests_per_second=report["requests"] / elapsed,
        p50_ms=report["p50_us"] / 1000,
        p99_ms=report["p99_us"] / 1000,
        statuses=statuses,
        errors=sum(errors[kind] for kind in ("connect", "read", "write", "timeout")),
        redis_commands=redis_commands,
    )


def _summary(load: str, rounds: list[GatewayLoad]) -> GatewayCase:
    statuses: dict[str, int] = {}
    for run in rounds:
        for status, count in run.statuses.items():
            statuses[status] = statuses.get(status, 0) + count
    return GatewayCase(
        label=LOADS[load],
        requests_per_second=max(run.requests_per_second for run in rounds),
        median_requests_per_second=median([run.requests_per_second for run in rounds]),
        p50_ms=median([run.p50_ms for run in rounds]),
        p99_ms=median([run.p99_ms for run in rounds]),
        statuses=statuses,
        errors=sum(run.errors for run in rounds),
        redis_commands_per_request=sum(run.redis_commands for run in rounds) / sum(run.requests for run in rounds),
        rounds=rounds,
    )


def _nginx_version() -> str:
    # nginx -v writes to stderr.
    probe = subprocess.run([nginx_binary(), "-v"], capture_output=True, text=True, check=False)
    return probe.stderr.strip().removeprefix("nginx version: ")


def run(plan: GatewayPlan, say: Callable[[str], None] = print) -> GatewayResult:
    live = [
        browser_cookie(make_id_token(sid=f"live-{index:04d}", sub=f"user-{index:04d}"))
        for index in range(plan.sessions)
    ]
    revoked_sids = [f"gone-{index:04d}" for index in range(plan.sessions)]
    revoked = [browser_cookie(make_id_token(sid=sid, sub=f"user-{sid}")) for sid in revoked_sids]
    runs: dict[str, list[GatewayLoad]] = {load: [] for load in LOADS}
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as temporary:
        directory = Path(temporary)
        mix_files = {}
        for load, pairs in _mixes(live, revoked).items():
            mix_files[load] = directory / f"{load}.tsv"
            mix_files[load].write_text("".join(f"{host}\t{cookie}\n" for host, cookie in pairs))
        say("gateway: starting redis-server, two logout services, two apps and nginx")
        with _gateway(directory, plan, revoked_sids) as gateway:
            _wait_until_synced(gateway, revoked[0], plan.startup_timeout)
            loads = list(LOADS)
            if plan.warmup_seconds:
                for load in loads:
                    _load(gateway, load, mix_files[load], plan.warmup_seconds, plan)
            for round_ in range(plan.rounds):
                say(f"gateway round {round_ + 1} of {plan.rounds}")
                shift = round_ % len(loads)
                for load in loads[shift:] + loads[:shift]:
                    runs[load].append(_load(gateway, load, mix_files[load], plan.seconds, plan))
    cases = {load: _summary(load, rounds) for load, rounds in runs.items()}
    anonymous = cases["anonymous"].requests_per_second
    return GatewayResult(
        load_generator=load_generator(),
        nginx=_nginx_version(),
        connections=plan.connections,
        seconds_per_run=plan.seconds,
        rounds=plan.rounds,
        sessions=plan.sessions,
        revoked_in_store=plan.sessions + plan.revoked_sessions,
        cases=cases,
        ratio_to_anonymous={load: cases[load].requests_per_second / anonymous for load in ("signed-in", "mixed")},
    )
