"""Served, under wrk: the minimal app under uvicorn and gunicorn, and the gateway of ``tests/test_nginx.py``."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

from tests.support.gateway import GatewayStack, gateway_stack, refused_everywhere
from tests.support.redis_server import redis_server
from tests.support.servers import QUIET_GUNICORN, QUIET_UVICORN, REPO_ROOT, serve_asgi, serve_wsgi
from tests.support.transports import http_sender

from . import checks
from .browser import APP_PATH, END_SESSION, LOGOUT_PATH, header_lines, signed_in
from .provider import GATEWAY_REVOCATIONS, Plan, Setup, filled
from .report import Figure, Row, in_rounds

SERVERS = {
    ("uvicorn", "bare"): (serve_asgi, "benchmarks.contestants:hello_asgi", [*QUIET_UVICORN, "--lifespan=off"]),
    ("uvicorn", "ours"): (serve_asgi, "benchmarks.contestants:SERVED_ASGI", [*QUIET_UVICORN, "--lifespan=off"]),
    ("gunicorn", "bare"): (serve_wsgi, "benchmarks.contestants:hello_wsgi", QUIET_GUNICORN),
    ("gunicorn", "ours"): (serve_wsgi, "benchmarks.contestants:SERVED_WSGI", QUIET_GUNICORN),
}
#: Every load by its figure: (server, app, path).
LOADS = {f"served/{server}/{app}{'-logout' if path == LOGOUT_PATH else ''}": (server, app, path)
         for server in ("uvicorn", "gunicorn") for app, path in (("bare", APP_PATH), ("ours", APP_PATH),
                                                                 ("ours", LOGOUT_PATH))}  # fmt: skip
GATEWAY_HOST = "shop.example.test"
#: The gateway's loads: what each sends, and the status every answer must have.
GATEWAY_LOADS = {"anonymous": ("anonymous (no cookie)", 200), "signed-in": ("signed in, a live session", 200),
                 "revoked": ("a revoked session (401, its cookies deleted)", 401)}  # fmt: skip
#: What a revoked session's 401 deletes: the login cookies and the ones CLEAR_COOKIES names.
_DELETED = {"id_token", "session", "csrftoken"}


def wrk(url: str, plan: Plan, headers: Sequence[str], *, cpus: Sequence[int] = (), refusing: bool = False) -> float:
    """Requests a second to *url*, one wrk thread for the plan's seconds, with no socket error.

    Every answer must be a 2xx or 3xx, or none *refusing* (wrk counts no more than that).  *cpus* pins wrk
    (with taskset).  Requests in flight when the run stops are never counted.
    """
    command = ["taskset", "-c", ",".join(map(str, cpus))] if cpus else []
    command += ["wrk", "-t1", f"-c{plan.connections}", f"-d{plan.seconds}s", "--timeout", "5s", url]
    report = subprocess.run([*command, *(part for header in headers for part in ("-H", header))], capture_output=True,
                            text=True, check=True, timeout=plan.seconds + 60).stdout  # fmt: skip
    requests = re.search(r"^\s+(\d+) requests in", report, re.MULTILINE)
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", report, re.MULTILINE)
    refused = re.search(r"Non-2xx or 3xx responses: (\d+)", report)
    answered, refused_count = int(requests[1]) if requests else 0, int(refused[1]) if refused else 0
    if not answered or rate is None or "Socket errors" in report or refused_count != (answered if refusing else 0):
        wanted = "a 4xx or 5xx" if refusing else "a 2xx or 3xx"
        raise checks.MisbehavedError(f"wrk to {url}: not every answer was {wanted}:\n{report}")
    return float(rate[1])


def run(setup: Setup, directory: Path) -> dict[str, Figure]:
    """Every load, the served apps' and the gateway's, in rounds: wrk on a CPU of its own for the served apps."""
    plan, cookie, available = setup.plan, signed_in(setup.live_token), sorted(os.sched_getaffinity(0))
    gateway_cookies = {"anonymous": "", "signed-in": _gateway_cookie(setup.live_token),
                       "revoked": _gateway_cookie(setup.revoked_token)}  # fmt: skip
    with ExitStack() as stack:
        os.sched_setaffinity(0, available[:1])  # the servers inherit this process's CPU as they start
        try:
            urls = {key: stack.enter_context(serve(spec, app_dir=REPO_ROOT, extra_args=args))
                    for key, (serve, spec, args) in SERVERS.items()}  # fmt: skip
        finally:
            os.sched_setaffinity(0, available)
        for server in ("uvicorn", "gunicorn"):  # wrk sees each answer's status, not what a logout does
            answer = http_sender(urls[server, "ours"])("GET", LOGOUT_PATH, {"Cookie": cookie})
            checks.logs_out(f"{server}/ours", answer, cookie)
        gateway = _gateway(stack, setup, directory / "gateway")
        _check_gateway(gateway, gateway_cookies)

        def measure(figure: str) -> float:
            if figure in LOADS:
                server, app, path = LOADS[figure]
                return wrk(urls[server, app] + path, plan, header_lines(cookie), cpus=available[1:2])
            load = figure.removeprefix("gateway/")
            headers = [f"Host: {GATEWAY_HOST}", *header_lines(gateway_cookies[load])]
            return wrk(gateway.nginx.base_url + APP_PATH, plan, headers, refusing=GATEWAY_LOADS[load][1] >= 400)

        figures = in_rounds([*LOADS, *(f"gateway/{load}" for load in GATEWAY_LOADS)], plan.rounds, measure, "req/s")
        _check_gateway(gateway, gateway_cookies)  # after the loads too: a refusal was a 401, not a 5xx
    return figures


def rows(setup: Setup) -> list[Row]:
    plan, found = setup.plan, []
    for server, protocol in (("uvicorn", "ASGI"), ("gunicorn", "WSGI")):
        section, name = f"{server} ({protocol}), served, {plan.connections} connections", f"served/{server}/"
        found += [
            Row(section, "bare app", name + "bare"),
            Row(section, "ours, pass-through", name + "ours", name + "bare", target=("≥ 0.97x bare", 0.97)),
            Row(section, "ours, logout", name + "ours-logout", name + "bare"),
        ]
    section, target = f"Gateway forward-auth through nginx, {plan.connections} connections", ("≥ 0.8x", 0.8)
    return [*found, Row(section, GATEWAY_LOADS["anonymous"][0], "gateway/anonymous"),
            *(Row(section, GATEWAY_LOADS[load][0], f"gateway/{load}", "gateway/anonymous", target=target)
              for load in ("signed-in", "revoked"))]  # fmt: skip


def _gateway_cookie(id_token: str) -> str:
    return f"id_token={id_token}; session=s-{id_token[-8:]}; csrftoken=c-{id_token[-8:]}"


def _gateway(stack: ExitStack, setup: Setup, directory: Path) -> GatewayStack:
    """The stack of tests/test_nginx.py, entered into *stack*: its Redis holds the revoked session and many more."""
    redis = stack.enter_context(redis_server(directory / "redis"))
    filled(redis.url, setup.issuer, GATEWAY_REVOCATIONS).close()
    options = {"ISSUER": setup.issuer, "CLIENT_ID": setup.client_id, "END_SESSION_ENDPOINT": END_SESSION,
               "POST_LOGOUT_REDIRECT_URI": f"https://{GATEWAY_HOST}/", "COOKIE_DOMAIN": "example.test",
               "CLEAR_COOKIES": "session,csrftoken", "REVOCATION_STORE": redis.url,
               "BACKCHANNEL_LOGOUT_PATH": "/backchannel-logout"}  # fmt: skip
    env = {f"LOGOUT_MIDDLEWARE_{name}": value for name, value in options.items()}
    return stack.enter_context(gateway_stack(directory, env, quiet=True))


def _check_gateway(gateway: GatewayStack, cookies: dict[str, str]) -> None:
    """Each service stops the revoked session (once it has loaded Redis); through nginx, each load is answered right."""
    if not refused_everywhere(gateway.services, cookies["revoked"], 30):
        raise checks.MisbehavedError(f"a logout service let a revoked session through for 30 s: {gateway.services}")
    for load, (_, status) in GATEWAY_LOADS.items():
        headers = {"Host": GATEWAY_HOST} | ({"Cookie": cookies[load]} if cookies[load] else {})
        answer = http_sender(gateway.nginx.base_url)("GET", APP_PATH, headers)
        seen = json.loads(answer.body).get("cookie") if answer.status == 200 else None
        if answer.status != status or (status == 200 and seen != cookies[load]):
            raise checks.MisbehavedError(f"gateway, {load}: answered {answer.status}, the app saw {seen!r:.80}")
        if status == 401 and not answer.deleted_cookies() >= _DELETED:
            raise checks.MisbehavedError(f"gateway: a revoked session's 401 deleted {answer.deleted_cookies()}")
