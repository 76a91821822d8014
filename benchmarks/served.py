"""Served: the minimal app under uvicorn (ASGI) and gunicorn (WSGI, one sync worker), bare and wrapped, under wrk.

The servers are the test suite's, started while this process is pinned to
the first CPU so that they inherit it; wrk runs on the second, so it never
takes the servers' CPU.
"""

from __future__ import annotations

import os
from contextlib import ExitStack

from tests.support.servers import REPO_ROOT, serve_asgi, serve_wsgi

from . import checks, wrk
from .drivers import APP_PATH, LOGIN_COOKIES, LOGOUT_PATH, answer_http, header_lines, signed_in
from .plan import Plan
from .provider import Setup
from .report import Figure, Row, at_least

UVICORN_ARGS = ["--no-access-log", "--log-level=warning", "--lifespan=off"]
# The harness has gunicorn log every request; the last --access-logfile wins, and /dev/null costs least.
GUNICORN_ARGS = ["--access-logfile=/dev/null", "--log-level=warning"]
SERVERS = {
    ("uvicorn", "bare"): (serve_asgi, "benchmarks.contestants:hello_asgi", UVICORN_ARGS),
    ("uvicorn", "ours"): (serve_asgi, "benchmarks.contestants:served_asgi", [*UVICORN_ARGS, "--factory"]),
    ("gunicorn", "bare"): (serve_wsgi, "benchmarks.contestants:hello_wsgi", GUNICORN_ARGS),
    ("gunicorn", "ours"): (serve_wsgi, "benchmarks.contestants:served_wsgi()", GUNICORN_ARGS),
}
#: Every load: (server, app, path, figure).
LOADS = [(server, app, path, f"served/{server}/{app}{'-logout' if path == LOGOUT_PATH else ''}")
         for server in ("uvicorn", "gunicorn") for app, path in (("bare", APP_PATH), ("ours", APP_PATH),
                                                                 ("ours", LOGOUT_PATH))]  # fmt: skip


def run(setup: Setup, plan: Plan) -> dict[str, Figure]:
    cookie = signed_in(setup.live_token)
    headers = header_lines(cookie)
    available = sorted(os.sched_getaffinity(0))
    values: dict[str, list[float]] = {figure: [] for *_, figure in LOADS}
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
            checks.passes(f"{server}/{app}", answer_http(url, APP_PATH, as_browser), sent=cookie, seen=None)
            if app == "ours":
                answer = answer_http(url, LOGOUT_PATH, as_browser)
                checks.logs_out(f"{server}/ours", answer, id_token=setup.live_token, login_cookies=LOGIN_COOKIES)
        for counts, (server, app, path, figure) in wrk.rounds(LOADS, plan.rounds):
            load = wrk.run(urls[server, app] + path, seconds=plan.seconds, connections=plan.connections,
                           headers=headers, cpus=available[1:2])  # fmt: skip
            if load.refused or load.socket_errors:
                raise checks.MisbehavedError(f"{figure} under load: {load}")
            if counts:
                values[figure].append(load.requests_per_second)
    return {figure: Figure("req/s", tuple(rates)) for figure, rates in values.items()}


def rows(plan: Plan) -> list[Row]:
    found = []
    for server, protocol in (("uvicorn", "ASGI"), ("gunicorn", "WSGI")):
        section, name = f"{server} ({protocol}), served, {plan.connections} connections", f"served/{server}/"
        found += [
            Row(section, "bare app", name + "bare"),
            Row(section, "ours, pass-through", name + "ours", name + "bare", target=at_least(0.97, "≥ 0.97x bare")),
            Row(section, "ours, logout", name + "ours-logout", name + "bare"),
        ]
    return found
