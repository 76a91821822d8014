"""Forward-auth through nginx: the gateway example under wrk, anonymous, signed in, and with a third revoked.

The stack of ``tests/test_nginx.py``, started by its harness; a revoked session gets 401 and never reaches an
app.  Nothing is pinned: the processes share the CPUs.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from logout_middleware.stores import open_store
from tests.support.nginx_server import gateway_config, nginx_server
from tests.support.redis_server import redis_server
from tests.support.servers import HOST, REPO_ROOT, free_port, serve_asgi, serve_process, serve_wsgi

from . import checks
from .browser import APP_PATH, END_SESSION, header_lines
from .drivers import answer_http
from .provider import Plan, Setup, fill, id_token
from .report import Figure, Row, at_least
from .served import GUNICORN_ARGS, UVICORN_ARGS, Load, in_rounds, wrk

_EXAMPLE = REPO_ROOT / "examples" / "gateway"
HOSTS = ("shop.example.test", "wiki.example.test")
LOADS = {"anonymous": "anonymous (no cookie)", "signed-in": "signed in, live sessions",
         "mixed": "a third each: anonymous, signed in, revoked (401)"}  # fmt: skip
_DELETED = {"id_token", "session", "csrftoken"}


def _cookie(sid: str, token: str) -> str:
    return f"id_token={token}; session=s-{sid}; csrftoken=c-{sid}"


@contextmanager
def _gateway(setup: Setup, directory: Path, revoked: list[str], plan: Plan) -> Iterator[tuple[str, list[str]]]:
    """The whole stack, with *revoked* (and many more) revoked in Redis: nginx's URL and the services'."""
    with ExitStack() as stack:
        redis = stack.enter_context(redis_server(directory / "redis"))
        store = open_store(redis.url)
        for sid in revoked:
            store.revoke_session(setup.issuer, sid)
        fill(store, setup.issuer, plan.gateway_revocations)
        store.close()
        options = {"ISSUER": setup.issuer, "CLIENT_ID": setup.client_id, "END_SESSION_ENDPOINT": END_SESSION,
                   "POST_LOGOUT_REDIRECT_URI": f"https://{HOSTS[0]}/", "COOKIE_DOMAIN": "example.test",
                   "CLEAR_COOKIES": "session,csrftoken", "REVOCATION_STORE": redis.url,
                   "BACKCHANNEL_LOGOUT_PATH": "/backchannel-logout"}  # fmt: skip
        env = {f"LOGOUT_MIDDLEWARE_{name}": value for name, value in options.items()}
        services = []
        for _ in range(2):
            port = free_port()
            argv = [sys.executable, "-m", "logout_middleware", "--host", HOST, "--port", str(port)]
            services.append(stack.enter_context(serve_process(argv, port=port, env=env, ready_path="/healthz")))
        shop = stack.enter_context(serve_wsgi("app_wsgi:app", app_dir=_EXAMPLE, extra_args=GUNICORN_ARGS))
        wiki = stack.enter_context(serve_asgi("app_asgi:app", app_dir=_EXAMPLE, extra_args=UVICORN_ARGS))
        port = free_port()
        upstreams = {"shop": shop, "wiki": wiki, "logout_1": services[0], "logout_2": services[1]}
        addresses = {"gateway": f"{HOST}:{port}"} | {role: url[len("http://") :] for role, url in upstreams.items()}
        config = gateway_config(directory / "nginx", addresses)
        nginx = stack.enter_context(nginx_server(config, directory / "nginx", port=port))
        yield nginx.base_url, services


def _check(base_url: str, services: list[str], live: str, revoked: str) -> None:
    """Each service stops the revoked session (once it has loaded Redis); through nginx, each kind is answered right."""
    deadline = time.monotonic() + 30
    for service in services:
        while answer_http(service, "/auth", {"Cookie": revoked}).status != 401:
            if time.monotonic() > deadline:
                raise checks.MisbehavedError(f"{service} let a revoked session through for 30 s")
            time.sleep(0.05)
    for host in HOSTS:
        for cookie, status in (("", 200), (live, 200), (revoked, 401)):
            answer = answer_http(base_url, APP_PATH, {"Host": host} | ({"Cookie": cookie} if cookie else {}))
            seen = json.loads(answer.body).get("cookie") if answer.status == 200 else None
            if answer.status != status or (status == 200 and seen != cookie):
                raise checks.MisbehavedError(f"gateway: {host} answered {answer.status}, the app saw {seen!r:.80}")
            if status == 401 and not checks.deleted(answer) >= _DELETED:
                raise checks.MisbehavedError(f"gateway: a revoked session's 401 deleted {checks.deleted(answer)}")


def run(setup: Setup, plan: Plan) -> dict[str, Figure]:
    live = [_cookie(f"live-{i}", id_token(setup.issuer, f"live-{i}")) for i in range(plan.gateway_sessions)]
    revoked_sids = [f"gone-{i}" for i in range(plan.gateway_sessions)]
    revoked = [_cookie(sid, id_token(setup.issuer, sid)) for sid in revoked_sids]
    mixes = {"anonymous": [(host, "") for host in HOSTS],
             "signed-in": [(HOSTS[i % 2], cookie) for i, cookie in enumerate(live)],
             "mixed": [(HOSTS[i % 2], cookie) for i, pair in enumerate(zip(live, revoked, strict=True))
                       for cookie in ("", *pair)]}  # fmt: skip
    with (
        tempfile.TemporaryDirectory(prefix="bench-gateway-") as temporary,
        _gateway(setup, Path(temporary), revoked_sids, plan) as (base_url, services),
    ):
        _check(base_url, services, live[0], revoked[0])
        for load, pairs in mixes.items():
            (Path(temporary) / f"{load}.tsv").write_text("".join(f"{host}\t{cookie}\n" for host, cookie in pairs))
        headers = [line for line in header_lines() if not line.startswith("Cookie:")]

        def measure(load: str) -> Load:
            result = wrk(base_url + APP_PATH, plan, headers, mix=Path(temporary) / f"{load}.tsv")
            # Requests in flight when a run stops leave the share of 401s off by at most one per connection.
            due = result.requests / 3 if load == "mixed" else 0
            if result.socket_errors or abs(result.refused - due) > plan.connections + 2:
                raise checks.MisbehavedError(f"gateway, {load} load: {result}")
            return result

        return {f"gateway/{load}": figure for load, figure in in_rounds(list(LOADS), plan.rounds, measure).items()}


def rows(plan: Plan) -> list[Row]:
    section, target = f"Gateway forward-auth through nginx, {plan.connections} connections", at_least(0.8, "≥ 0.8x")
    return [Row(section, LOADS["anonymous"], "gateway/anonymous"),
            *(Row(section, LOADS[load], f"gateway/{load}", "gateway/anonymous", target=target)
              for load in ("signed-in", "mixed"))]  # fmt: skip
