"""In-process throughput: apps driven straight through their ASGI / WSGI interface, no HTTP.

Without sockets and parsing in the way, what is left is the cost of the
middleware itself, set against a bare app, against a wrapper that does
nothing but call the app (the floor no middleware can go under) and against
the same logout written with Starlette's ``BaseHTTPMiddleware`` or WebOb's
``wsgify``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from time import perf_counter_ns
from typing import TYPE_CHECKING, Any

from . import apps, minimal
from .fixtures import (
    APP_PATH,
    COOKIES_TO_DELETE,
    END_SESSION_ENDPOINT,
    ID_TOKEN,
    LOGOUT_PATH,
    MOUNT_POINT,
    asgi_scope,
    wsgi_environ,
)
from .minimal import ASGIApp, Message, Scope
from .timing import Batch, Plan, best, interleave, median

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication, WSGIEnvironment

Headers = list[tuple[str, str]]


@dataclass(frozen=True)
class Contestant:
    label: str
    batch: Batch
    #: One request, answered with its status and headers, to check the contestant before timing it.
    response: Callable[[], tuple[int, Headers]]


# --- Drivers ------------------------------------------------------------------

_REQUEST_MESSAGE: Message = {"type": "http.request", "body": b"", "more_body": False}


async def _receive() -> Message:
    return _REQUEST_MESSAGE


async def _discard(message: Message) -> None:
    pass


def asgi_contestant(label: str, app: ASGIApp, scope: Scope, loop: asyncio.AbstractEventLoop) -> Contestant:
    async def drive(n: int) -> int:
        start = perf_counter_ns()
        for _ in range(n):
            # Servers hand every request a new scope; sharing one would let an
            # app cache things in it that a real request would pay for.
            await app(scope.copy(), _receive, _discard)
        return perf_counter_ns() - start

    def response() -> tuple[int, Headers]:
        sent: list[Message] = []

        async def record(message: Message) -> None:
            sent.append(message)

        loop.run_until_complete(app(scope.copy(), _receive, record))
        start = next(message for message in sent if message["type"] == "http.response.start")
        return start["status"], [(name.decode("latin-1"), value.decode("latin-1")) for name, value in start["headers"]]

    return Contestant(label, lambda n: loop.run_until_complete(drive(n)), response)


def _no_write(data: bytes) -> None:
    pass


def _start_response(status: str, headers: Headers, exc_info: Any = None) -> Callable[[bytes], None]:
    return _no_write


def wsgi_contestant(label: str, app: WSGIApplication, environ: WSGIEnvironment) -> Contestant:
    def drive(n: int) -> int:
        start = perf_counter_ns()
        for _ in range(n):
            # A fresh environ, as a server gives: WebOb caches parsed cookies in it.
            # None of these apps returns an iterable with close(), so none is called.
            b"".join(app(environ.copy(), _start_response))
        return perf_counter_ns() - start

    def response() -> tuple[int, Headers]:
        captured: list[tuple[str, Headers]] = []

        def start_response(status: str, headers: Headers, exc_info: Any = None) -> Callable[[bytes], None]:
            captured.append((status, headers))
            return _no_write

        b"".join(app(environ.copy(), start_response))
        status, headers = captured[0]
        return int(status.split()[0]), list(headers)

    return Contestant(label, drive, response)


def _check_pass_through(key: str, contestant: Contestant) -> None:
    status, _headers = contestant.response()
    if status != 200:
        raise RuntimeError(f"{contestant.label} ({key}) answered {status} to a request for the app")


def _check_logout(key: str, contestant: Contestant) -> None:
    """Fail loudly if a contestant skips part of the logout: the comparison would be void."""
    status, headers = contestant.response()
    location = [value for name, value in headers if name.lower() == "location"]
    deleted = {value.split("=", 1)[0] for name, value in headers if name.lower() == "set-cookie"}
    problems = []
    if status != 303:
        problems.append(f"status {status}")
    if not (location and location[0].startswith(END_SESSION_ENDPOINT + "?") and ID_TOKEN in location[0]):
        problems.append(f"Location {location!r:.120}")
    if not deleted >= set(COOKIES_TO_DELETE):
        problems.append(f"deleted cookies {sorted(deleted)}")
    if problems:
        raise RuntimeError(f"{contestant.label} ({key}) did not log out: " + ", ".join(problems))


# --- Results ------------------------------------------------------------------


@dataclass
class Case:
    """One contestant's figures.

    The time is the best round: on a shared machine noise only ever adds
    time, so the fastest of many short rounds is the one closest to the
    code's own cost.  The median is kept to show the spread.
    """

    label: str
    ns_per_request: float
    median_ns: float
    requests_per_second: float
    #: Time added to its baseline's: the bare app for the pass-through, see each benchmark.
    overhead_ns: float | None
    rounds_ns: list[float] = field(repr=False)


@dataclass
class PassThrough:
    protocol: str
    cases: dict[str, Case]
    #: Our time per request over the do-nothing wrapper's: 1.0 would be free.
    ratio_to_floor: float
    mounted_ratio_to_floor: float
    alternative: str
    #: How many times more the alternative adds to a request than ours does.
    alternative_overhead_ratio: float


@dataclass
class LogoutPath:
    protocol: str
    cases: dict[str, Case]
    alternative: str
    #: The alternative's time per logout over ours.
    speedup: float


def measure(contestants: dict[str, Contestant], plan: Plan, baselines: dict[str, str]) -> dict[str, Case]:
    """Time *contestants* in alternating rounds; *baselines* names, by key, what each one's overhead is over."""
    samples = interleave({key: contestant.batch for key, contestant in contestants.items()}, plan)
    cases = {}
    for key, rounds in samples.items():
        ns = best(rounds)
        overhead = ns - best(samples[baselines[key]]) if key in baselines else None
        cases[key] = Case(contestants[key].label, ns, median(rounds), 1e9 / ns, overhead, rounds)
    return cases


def _pass_through(protocol: str, contestants: dict[str, Contestant], alternative: str, plan: Plan) -> PassThrough:
    for key, contestant in contestants.items():
        _check_pass_through(key, contestant)
    baselines = {key: "bare_mounted" if "mounted" in key else "bare" for key in contestants if "bare" not in key}
    cases = measure(contestants, plan, baselines)
    # Our overhead is tens of nanoseconds: clamp it so that a round that
    # happens to read zero cannot turn the ratio into a division by zero.
    our_overhead = max(cases["ours"].overhead_ns or 0.0, 1.0)
    return PassThrough(
        protocol=protocol,
        cases=cases,
        ratio_to_floor=cases["ours"].ns_per_request / cases["floor"].ns_per_request,
        mounted_ratio_to_floor=cases["ours_mounted"].ns_per_request / cases["floor_mounted"].ns_per_request,
        alternative=alternative,
        alternative_overhead_ratio=(cases[alternative].overhead_ns or 0.0) / our_overhead,
    )


def _logout(protocol: str, contestants: dict[str, Contestant], alternative: str, plan: Plan) -> LogoutPath:
    for key, contestant in contestants.items():
        _check_logout(key, contestant)
    cases = measure(contestants, plan, {})
    speedup = cases[alternative].ns_per_request / cases["ours"].ns_per_request
    return LogoutPath(protocol, cases, alternative, speedup)


def pass_through_asgi(plan: Plan, loop: asyncio.AbstractEventLoop) -> PassThrough:
    scope = asgi_scope(APP_PATH)
    mounted = asgi_scope(MOUNT_POINT + APP_PATH, root_path=MOUNT_POINT)
    hello = minimal.hello_asgi
    contestants = {
        "bare": asgi_contestant("bare app", hello, scope, loop),
        "floor": asgi_contestant("do-nothing wrapper (floor)", minimal.PassThroughASGI(hello), scope, loop),
        "ours": asgi_contestant("logout_middleware.asgi", apps.ours_asgi_app(hello), scope, loop),
        "starlette": asgi_contestant("Starlette BaseHTTPMiddleware", apps.StarletteLogout(hello), scope, loop),
        "bare_mounted": asgi_contestant("bare app, mounted", hello, mounted, loop),
        "floor_mounted": asgi_contestant("floor, mounted", minimal.PassThroughASGI(hello), mounted, loop),
        "ours_mounted": asgi_contestant("logout_middleware.asgi, mounted", apps.ours_asgi_app(hello), mounted, loop),
    }
    return _pass_through("ASGI", contestants, "starlette", plan)


def pass_through_wsgi(plan: Plan) -> PassThrough:
    environ = wsgi_environ(APP_PATH)
    mounted = wsgi_environ(APP_PATH, script_name=MOUNT_POINT)
    hello = minimal.hello_wsgi
    contestants = {
        "bare": wsgi_contestant("bare app", hello, environ),
        "floor": wsgi_contestant("do-nothing wrapper (floor)", minimal.PassThroughWSGI(hello), environ),
        "ours": wsgi_contestant("logout_middleware.wsgi", apps.ours_wsgi_app(hello), environ),
        "webob": wsgi_contestant("WebOb @wsgify.middleware", apps.webob_logout(hello), environ),
        "bare_mounted": wsgi_contestant("bare app, mounted", hello, mounted),
        "floor_mounted": wsgi_contestant("floor, mounted", minimal.PassThroughWSGI(hello), mounted),
        "ours_mounted": wsgi_contestant("logout_middleware.wsgi, mounted", apps.ours_wsgi_app(hello), mounted),
    }
    return _pass_through("WSGI", contestants, "webob", plan)


def logout_asgi(plan: Plan, loop: asyncio.AbstractEventLoop) -> LogoutPath:
    scope = asgi_scope(LOGOUT_PATH)
    hello = minimal.hello_asgi
    contestants = {
        "ours": asgi_contestant("logout_middleware.asgi", apps.ours_asgi_app(hello), scope, loop),
        "starlette": asgi_contestant("Starlette BaseHTTPMiddleware", apps.StarletteLogout(hello), scope, loop),
    }
    return _logout("ASGI", contestants, "starlette", plan)


def logout_wsgi(plan: Plan) -> LogoutPath:
    environ = wsgi_environ(LOGOUT_PATH)
    hello = minimal.hello_wsgi
    contestants = {
        "ours": wsgi_contestant("logout_middleware.wsgi", apps.ours_wsgi_app(hello), environ),
        "webob": wsgi_contestant("WebOb @wsgify.middleware", apps.webob_logout(hello), environ),
    }
    return _logout("WSGI", contestants, "webob", plan)
