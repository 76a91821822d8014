"""Served, under wrk: the minimal app under uvicorn and gunicorn, and the gateway of ``tests/test_nginx.py``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from logout_middleware.stores import open_store
from tests.support.gateway import gateway_stack
from tests.support.redis_server import redis_server
from tests.support.servers import QUIET_GUNICORN, QUIET_UVICORN, REPO_ROOT, serve_asgi, serve_wsgi
from tests.support.transports import http_sender

from . import checks
from .browser import APP_PATH, END_SESSION, LOGIN_COOKIES, LOGOUT_PATH, header_lines, signed_in
from .provider import Plan, Setup, fill, id_token
from .report import Figure, Row, at_least

_MIX = Path(__file__).with_name("wrk_mix.lua")
T = TypeVar("T")
SERVERS = {
    ("uvicorn", "bare"): (serve_asgi, "benchmarks.contestants:hello_asgi", [*QUIET_UVICORN, "--lifespan=off"]),
    ("uvicorn", "ours"): (serve_asgi, "benchmarks.contestants:served", [*QUIET_UVICORN, "--lifespan=off", "--factory"]),
    ("gunicorn", "bare"): (serve_wsgi, "benchmarks.contestants:hello_wsgi", QUIET_GUNICORN),
    ("gunicorn", "ours"): (serve_wsgi, "benchmarks.contestants:served('wsgi')", QUIET_GUNICORN),
}
#: Every load by its figure: (server, app, path).
LOADS = {f"served/{server}/{app}{'-logout' if path == LOGOUT_PATH else ''}": (server, app, path)
         for server in ("uvicorn", "gunicorn") for app, path in (("bare", APP_PATH), ("ours", APP_PATH),
                                                                 ("ours", LOGOUT_PATH))}  # fmt: skip
GATEWAY_HOSTS = ("shop.example.test", "wiki.example.test")
GATEWAY_LOADS = {"anonymous": "anonymous (no cookie)", "signed-in": "signed in, live sessions",
                 "mixed": "a third each: anonymous, signed in, revoked (401)"}  # fmt: skip
#: What a revoked session's 401 deletes: the login cookies and the ones CLEAR_COOKIES names.
_DELETED = {"id_token", "session", "csrftoken"}


@dataclass(frozen=True)
class Load:
    requests: int
    requests_per_second: float
    #: Answers of another status than 2xx or 3xx; a 401 is one.
    refused: int
    socket_errors: int


def wrk(url: str, plan: Plan, headers: Sequence[str], *, cpus: Sequence[int] = (), mix: Path | None = None) -> Load:
    """Load *url* with one thread for the plan's seconds; *cpus* pins wrk (with taskset), *mix* names the requests."""
    command = ["taskset", "-c", ",".join(map(str, cpus))] if cpus else []
    command += ["wrk", "-t1", f"-c{plan.connections}", f"-d{plan.seconds}s", "--timeout", "5s"]
    command += [part for header in headers for part in ("-H", header)]
    command += ["-s", str(_MIX), url, "--", str(mix)] if mix else [url]
    report = subprocess.run(command, capture_output=True, text=True, check=True, timeout=plan.seconds + 60).stdout
    requests = re.search(r"^\s+(\d+) requests in", report, re.MULTILINE)
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", report, re.MULTILINE)
    if requests is None or rate is None or int(requests[1]) == 0:
        raise RuntimeError(f"wrk got no answer from {url}:\n{report}")
    refused = re.search(r"Non-2xx or 3xx responses: (\d+)", report)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", report)
    return Load(int(requests[1]), float(rate[1]), int(refused[1]) if refused else 0,
                sum(map(int, errors.groups())) if errors else 0)  # fmt: skip


def in_rounds(loads: Sequence[T], count: int, measure: Callable[[T], Load]) -> dict[T, Figure]:
    """Each load's req/s, once a round in an order rotated every round, after a warm-up round when there are several.

    A burst of outside load then falls on every contestant alike rather than on one.
    """
    values: dict[T, list[float]] = {load: [] for load in loads}
    for round_ in range(-1 if count > 1 else 0, count):
        shift = round_ % len(loads)
        for load in [*loads[shift:], *loads[:shift]]:
            rate = measure(load).requests_per_second
            if round_ >= 0:
                values[load].append(rate)
    return {load: Figure("req/s", tuple(rates)) for load, rates in values.items()}


def run(setup: Setup, directory: Path) -> dict[str, Figure]:
    return _served(setup, setup.plan) | _through_gateway(setup, setup.plan, directory / "gateway")


def _served(setup: Setup, plan: Plan) -> dict[str, Figure]:
    cookie = signed_in(setup.live_token)
    headers = header_lines(cookie)
    available = sorted(os.sched_getaffinity(0))
    with ExitStack() as stack:
        # The servers inherit this process's CPU as they start; wrk gets the next one.
        os.sched_setaffinity(0, available[:1])
        try:
            urls = {key: stack.enter_context(serve(spec, app_dir=REPO_ROOT, extra_args=args))
                    for key, (serve, spec, args) in SERVERS.items()}  # fmt: skip
        finally:
            os.sched_setaffinity(0, available)
        as_browser = dict(line.split(": ", 1) for line in headers)
        for (server, app), url in urls.items():
            checks.passes(f"{server}/{app}", http_sender(url)("GET", APP_PATH, as_browser), sent=cookie, seen=None)
            if app == "ours":
                answer = http_sender(url)("GET", LOGOUT_PATH, as_browser)
                checks.logs_out(f"{server}/ours", answer, id_token=setup.live_token, login_cookies=LOGIN_COOKIES)

        def measure(figure: str) -> Load:
            server, app, path = LOADS[figure]
            load = wrk(urls[server, app] + path, plan, headers, cpus=available[1:2])
            if load.refused or load.socket_errors:
                raise checks.MisbehavedError(f"{figure} under load: {load}")
            return load

        return in_rounds(list(LOADS), plan.rounds, measure)


def rows(setup: Setup) -> list[Row]:
    plan, found = setup.plan, []
    for server, protocol in (("uvicorn", "ASGI"), ("gunicorn", "WSGI")):
        section, name = f"{server} ({protocol}), served, {plan.connections} connections", f"served/{server}/"
        found += [
            Row(section, "bare app", name + "bare"),
            Row(section, "ours, pass-through", name + "ours", name + "bare", target=at_least(0.97, "≥ 0.97x bare")),
            Row(section, "ours, logout", name + "ours-logout", name + "bare"),
        ]
    section, target = f"Gateway forward-auth through nginx, {plan.connections} connections", at_least(0.8, "≥ 0.8x")
    return [*found, Row(section, GATEWAY_LOADS["anonymous"], "gateway/anonymous"),
            *(Row(section, GATEWAY_LOADS[load], f"gateway/{load}", "gateway/anonymous", target=target)
              for load in ("signed-in", "mixed"))]  # fmt: skip


def _gateway_cookie(issuer: str, sid: str) -> str:
    return f"id_token={id_token(issuer, sid)}; session=s-{sid}; csrftoken=c-{sid}"


def _check_gateway(base_url: str, services: Sequence[str], live: str, revoked: str) -> None:
    """Each service stops the revoked session (once it has loaded Redis); through nginx, each kind is answered right."""
    deadline = time.monotonic() + 30
    for service in services:
        while http_sender(service)("GET", "/auth", {"Cookie": revoked}).status != 401:
            if time.monotonic() > deadline:
                raise checks.MisbehavedError(f"{service} let a revoked session through for 30 s")
            time.sleep(0.05)
    for host in GATEWAY_HOSTS:
        for cookie, status in (("", 200), (live, 200), (revoked, 401)):
            answer = http_sender(base_url)("GET", APP_PATH, {"Host": host} | ({"Cookie": cookie} if cookie else {}))
            seen = json.loads(answer.body).get("cookie") if answer.status == 200 else None
            if answer.status != status or (status == 200 and seen != cookie):
                raise checks.MisbehavedError(f"gateway: {host} answered {answer.status}, the app saw {seen!r:.80}")
            if status == 401 and not checks.deleted(answer) >= _DELETED:
                raise checks.MisbehavedError(f"gateway: a revoked session's 401 deleted {checks.deleted(answer)}")


def _through_gateway(setup: Setup, plan: Plan, directory: Path) -> dict[str, Figure]:
    """The whole stack, with the revoked sessions of the loads (and many more) revoked in Redis, under wrk."""
    directory.mkdir()
    live = [_gateway_cookie(setup.issuer, f"live-{i}") for i in range(plan.gateway_sessions)]
    revoked = [_gateway_cookie(setup.issuer, f"gone-{i}") for i in range(plan.gateway_sessions)]
    mixes = {"anonymous": [(host, "") for host in GATEWAY_HOSTS],
             "signed-in": [(GATEWAY_HOSTS[i % 2], cookie) for i, cookie in enumerate(live)],
             "mixed": [(GATEWAY_HOSTS[i % 2], cookie) for i, pair in enumerate(zip(live, revoked, strict=True))
                       for cookie in ("", *pair)]}  # fmt: skip
    with redis_server(directory / "redis") as redis:
        store = open_store(redis.url)
        for index in range(plan.gateway_sessions):
            store.revoke_session(setup.issuer, f"gone-{index}")
        fill(store, setup.issuer, plan.gateway_revocations)
        store.close()
        options = {"ISSUER": setup.issuer, "CLIENT_ID": setup.client_id, "END_SESSION_ENDPOINT": END_SESSION,
                   "POST_LOGOUT_REDIRECT_URI": f"https://{GATEWAY_HOSTS[0]}/", "COOKIE_DOMAIN": "example.test",
                   "CLEAR_COOKIES": "session,csrftoken", "REVOCATION_STORE": redis.url,
                   "BACKCHANNEL_LOGOUT_PATH": "/backchannel-logout"}  # fmt: skip
        env = {f"LOGOUT_MIDDLEWARE_{name}": value for name, value in options.items()}
        with gateway_stack(directory, env, quiet=True) as gateway:
            base_url = gateway.nginx.base_url
            _check_gateway(base_url, gateway.services, live[0], revoked[0])
            for load, pairs in mixes.items():
                (directory / f"{load}.tsv").write_text("".join(f"{host}\t{cookie}\n" for host, cookie in pairs))
            headers = [line for line in header_lines() if not line.startswith("Cookie:")]

            def measure(load: str) -> Load:
                result = wrk(base_url + APP_PATH, plan, headers, mix=directory / f"{load}.tsv")
                # Requests in flight when a run stops leave the share of 401s off by at most one per connection.
                due = result.requests / 3 if load == "mixed" else 0
                if result.socket_errors or abs(result.refused - due) > plan.connections + 2:
                    raise checks.MisbehavedError(f"gateway, {load} load: {result}")
                return result

            figures = in_rounds(list(GATEWAY_LOADS), plan.rounds, measure)
    return {f"gateway/{load}": figure for load, figure in figures.items()}
