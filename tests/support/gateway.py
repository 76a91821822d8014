"""The gateway of ``examples/gateway`` for real: nginx in front of the two example apps and two logout services.

The tests of ``tests/test_nginx.py`` and the gateway benchmarks start the same stack with this.

.. code-block:: python

    env = {"LOGOUT_MIDDLEWARE_ISSUER": issuer, "LOGOUT_MIDDLEWARE_REVOCATION_STORE": redis_url, ...}
    with gateway_stack(tmp_path, env) as gateway:
        httpx.get(gateway.nginx.base_url, headers={"Host": "shop.example.test"})
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from .nginx_server import Nginx, gateway_config, nginx_server
from .polling import eventually
from .servers import HOST, QUIET_GUNICORN, QUIET_UVICORN, REPO_ROOT, free_port, serve_asgi, serve_process, serve_wsgi

__all__ = ["EXAMPLE", "GatewayStack", "gateway_stack", "refused_everywhere"]

EXAMPLE = REPO_ROOT / "examples" / "gateway"


@dataclass(frozen=True)
class GatewayStack:
    nginx: Nginx
    #: The base URLs of the two logout-service processes, for asking them directly.
    services: tuple[str, ...]


@contextmanager
def gateway_stack(
    directory: Path,
    service_env: Mapping[str, str],
    *,
    cookie_logs: Mapping[str, Path] | None = None,
    quiet: bool = False,
) -> Iterator[GatewayStack]:
    """Run the stack until the block ends, the services configured by *service_env* alone, as in a container.

    :param cookie_logs: where the ``shop`` and ``wiki`` apps write each Cookie header they receive.
    :param quiet: no access logs, for load.
    """
    logs = cookie_logs or {}
    with ExitStack() as stack:
        services = []
        for _ in range(2):
            port = free_port()
            argv = [sys.executable, "-m", "logout_middleware", "--host", HOST, "--port", str(port)]
            services.append(stack.enter_context(serve_process(argv, port=port, env=service_env, ready_path="/healthz")))
        apps = {}
        for app, serve, args in (("shop", serve_wsgi, QUIET_GUNICORN), ("wiki", serve_asgi, QUIET_UVICORN)):
            env = {"COOKIE_LOG": str(logs[app])} if app in logs else None
            spec = f"app_{'wsgi' if app == 'shop' else 'asgi'}:app"
            apps[app] = stack.enter_context(serve(spec, app_dir=EXAMPLE, env=env, extra_args=args if quiet else ()))
        port = free_port()
        upstreams = {**apps, "logout_1": services[0], "logout_2": services[1]}
        addresses = {"gateway": f"{HOST}:{port}"} | {
            role: url.removeprefix("http://") for role, url in upstreams.items()
        }
        config = gateway_config(directory / "nginx", addresses)
        yield GatewayStack(stack.enter_context(nginx_server(config, directory / "nginx", port=port)), tuple(services))


def refused_everywhere(services: Sequence[str], cookie: str, within: float) -> bool:
    """Whether each logout service refuses *cookie* (``401`` from ``/auth``) within *within* seconds, all told."""
    deadline = time.monotonic() + within

    def refuses(service: str) -> bool:
        return httpx.get(service + "/auth", headers={"Cookie": cookie}, timeout=5).status_code == 401

    return all(eventually(functools.partial(refuses, service), deadline - time.monotonic()) for service in services)
