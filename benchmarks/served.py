"""Served, under wrk: the minimal app under uvicorn and gunicorn, and the gateway of ``tests/test_nginx.py``."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

from logout_middleware.stores import open_store
from tests.support.gateway import gateway_stack
from tests.support.polling import eventually
from tests.support.redis_server import redis_server
from tests.support.servers import QUIET_GUNICORN, QUIET_UVICORN, REPO_ROOT, serve_asgi, serve_wsgi
from tests.support.transports import http_sender

from . import checks
from .browser import APP_PATH, END_SESSION, LOGOUT_PATH, header_lines, signed_in
from .provider import GATEWAY_REVOCATIONS, Plan, Setup, fill, id_token
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
    return _served(setup) | _through_gateway(setup, directory / "gateway")


def _served(setup: Setup) -> dict[str, Figure]:
    plan, cookie = setup.plan, signed_in(setup.live_token)
    headers, available = header_lines(cookie), sorted(os.sched_getaffinity(0))
    with ExitStack() as stack:
        # The servers inherit this process's CPU as they start; wrk gets the next one.
        os.sched_setaffinity(0, available[:1])
        try:
            urls = {key: stack.enter_context(serve(spec, app_dir=REPO_ROOT, extra_args=args))
                    for key, (serve, spec, args) in SERVERS.items()}  # fmt: skip
        finally:
            os.sched_setaffinity(0, available)
        for server in ("uvicorn", "gunicorn"):  # wrk sees each answer's status, not what a logout does
            answer = http_sender(urls[server, "ours"])("GET", LOGOUT_PATH, {"Cookie": cookie})
            checks.logs_out(f"{server}/ours", answer, cookie)

        def measure(figure: str) -> float:
            server, app, path = LOADS[figure]
            return wrk(urls[server, app] + path, plan, headers, cpus=available[1:2])

        return in_rounds(list(LOADS), plan.rounds, measure, "req/s")


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


def _check_gateway(base_url: str, services: Sequence[str], cookies: dict[str, str]) -> None:
    """Each service stops the revoked session (once it has loaded Redis); through nginx, each load is answered right."""
    revoked = {"Cookie": cookies["revoked"]}
    for send in map(http_sender, services):
        if not eventually(lambda send=send: send("GET", "/auth", revoked).status == 401, 30):
            raise checks.MisbehavedError(f"a logout service let a revoked session through for 30 s: {services}")
    for load, (_, status) in GATEWAY_LOADS.items():
        headers = {"Host": GATEWAY_HOST} | ({"Cookie": cookies[load]} if cookies[load] else {})
        answer = http_sender(base_url)("GET", APP_PATH, headers)
        seen = json.loads(answer.body).get("cookie") if answer.status == 200 else None
        if answer.status != status or (status == 200 and seen != cookies[load]):
            raise checks.MisbehavedError(f"gateway, {load}: answered {answer.status}, the app saw {seen!r:.80}")
        if status == 401 and not answer.deleted_cookies() >= _DELETED:
            raise checks.MisbehavedError(f"gateway: a revoked session's 401 deleted {answer.deleted_cookies()}")


def _through_gateway(setup: Setup, directory: Path) -> dict[str, Figure]:
    """The whole stack, the revoked session and many more revoked in Redis, under wrk."""
    plan = setup.plan
    directory.mkdir()
    cookies = {"anonymous": ""} | {
        load: f"id_token={id_token(setup.issuer, sid)}; session=s-{sid}; csrftoken=c-{sid}"
        for load, sid in (("signed-in", "live-1"), ("revoked", "gone-1"))}  # fmt: skip
    with redis_server(directory / "redis") as redis:
        store = open_store(redis.url)
        store.revoke_session(setup.issuer, "gone-1")
        fill(store, setup.issuer, GATEWAY_REVOCATIONS)
        store.close()
        options = {"ISSUER": setup.issuer, "CLIENT_ID": setup.client_id, "END_SESSION_ENDPOINT": END_SESSION,
                   "POST_LOGOUT_REDIRECT_URI": f"https://{GATEWAY_HOST}/", "COOKIE_DOMAIN": "example.test",
                   "CLEAR_COOKIES": "session,csrftoken", "REVOCATION_STORE": redis.url,
                   "BACKCHANNEL_LOGOUT_PATH": "/backchannel-logout"}  # fmt: skip
        env = {f"LOGOUT_MIDDLEWARE_{name}": value for name, value in options.items()}
        with gateway_stack(directory, env, quiet=True) as gateway:
            base_url = gateway.nginx.base_url
            _check_gateway(base_url, gateway.services, cookies)

            def measure(load: str) -> float:
                headers = [f"Host: {GATEWAY_HOST}", *header_lines(cookies[load])]
                return wrk(base_url + APP_PATH, plan, headers, refusing=GATEWAY_LOADS[load][1] >= 400)

            figures = in_rounds(list(GATEWAY_LOADS), plan.rounds, measure, "req/s")
            _check_gateway(base_url, gateway.services, cookies)  # after the loads too: a refusal was a 401, not a 5xx
    return {f"gateway/{load}": figure for load, figure in figures.items()}
