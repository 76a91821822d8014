"""One logout service in front of many apps, for a reverse proxy: ``logout-gateway``.

:func:`build_gateway` returns an ASGI app that is nothing but
:class:`~logout_middleware.asgi.LogoutMiddleware` around a tiny app: the
middleware answers ``logout_path`` (and the callback, back-channel and
front-channel paths when configured) and ``forward_auth_path``, which a
reverse proxy asks before every request to the apps behind it (nginx
``auth_request``, Traefik ``ForwardAuth``): ``204`` lets the request
through, ``401`` with the deleting ``Set-Cookie`` lines stops a session that
the provider has logged out.  With prometheus-client installed (the
``gateway`` extra brings it), it also serves its metrics at ``metrics_path``
(``/metrics``) in the Prometheus text format; ``metrics = false`` turns them
off.  Everything else is the tiny app's: ``GET /healthz`` answers ``200 ok``,
any other path ``404``.

:func:`main` is the command line, also run as ``python -m logout_middleware``::

    logout-gateway [--config FILE] [--host 127.0.0.1] [--port 8080] [--check-config]

The options come from ``--config`` (TOML) and ``LOGOUT_MIDDLEWARE_*``
environment variables, which win (see :mod:`logout_middleware.settings`).
``--check-config`` prints the options in force, secrets masked, and exits;
any configuration error ends the command with status 2 and one line saying
what is wrong.  ``examples/gateway/`` holds an nginx configuration and a
Traefik one.

.. warning:: Several processes must share one ``revocation_store``
   (``redis://`` across machines, ``sqlite:///`` on one machine): with the
   default ``memory://`` each process knows only the logouts it received.
   And the proxy must send the scheme (``X-Forwarded-Proto``) from an address
   uvicorn trusts (``FORWARDED_ALLOW_IPS``, default ``127.0.0.1``), or the
   deleting headers lack ``Secure``.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .config import LogoutConfig
from .errors import ConfigError
from .settings import load_config, render_config

if TYPE_CHECKING:
    from .asgi import LogoutMiddleware

__all__ = ["DEFAULT_FORWARD_AUTH_PATH", "HEALTH_PATH", "build_gateway", "main"]

#: The forward-auth path the gateway serves when the config names none.
DEFAULT_FORWARD_AUTH_PATH = "/auth"
#: The path of the liveness check.
HEALTH_PATH = "/healthz"

_EXIT_CONFIG = 2
_INSTALL_HINT = "the gateway needs uvicorn and starlette: pip install 'logout-middleware[gateway]'"
_TEXT = (b"content-type", b"text/plain; charset=utf-8")
_NO_STORE = (b"cache-control", b"no-store")


def build_gateway(config: LogoutConfig) -> LogoutMiddleware:
    """Return the logout service as an ASGI app.

    :param config: the options; ``forward_auth_path`` is set to
        :data:`DEFAULT_FORWARD_AUTH_PATH` when it is None, since a gateway
        without it could not stop a revoked session; ``metrics`` left at None
        is on when prometheus-client is installed.
    :raises ConfigError: the options cannot work together, the
        ``revocation_store`` cannot be opened, or ``metrics`` is on without
        prometheus-client.

    .. code-block:: python

        app = build_gateway(load_config("gateway.toml"))  # then: uvicorn.run(app, ...)
    """
    from .asgi import LogoutMiddleware  # noqa: PLC0415 - starlette is an optional extra

    if config.forward_auth_path is None:
        config = dataclasses.replace(config, forward_auth_path=DEFAULT_FORWARD_AUTH_PATH)
    if config.metrics is None:
        config = dataclasses.replace(config, metrics=_prometheus_client_installed())
    if config.metrics and config.metrics_path == HEALTH_PATH:
        raise ConfigError(f"metrics_path {HEALTH_PATH!r} is the gateway's health check; choose another path")
    return LogoutMiddleware(_service, config)


def _prometheus_client_installed() -> bool:
    try:
        import prometheus_client  # noqa: F401, PLC0415 - an optional extra
    except ImportError:
        return False
    return True


async def _service(scope: Any, receive: Any, send: Any) -> None:
    """The app behind the middleware: lifespan, the health check, and 404 for the rest."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
        return
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path):
        path = path[len(root_path) :]
    headers = [_TEXT, _NO_STORE]
    if path != HEALTH_PATH:
        status, body = 404, b"Not Found\n"
    elif scope["method"] in ("GET", "HEAD"):
        status, body = 200, b"ok\n"
    else:
        status, body = 405, b"Method Not Allowed\n"
        headers.append((b"allow", b"GET, HEAD"))
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``logout-gateway`` command with *argv* (default: ``sys.argv[1:]``); return the exit status."""
    parser = argparse.ArgumentParser(
        prog="logout-gateway",
        description="Serve OpenID Connect logout and forward-auth for a reverse proxy in front of many apps.",
        epilog="Every option can also be set by a LOGOUT_MIDDLEWARE_<OPTION> environment variable,"
        " which wins over the file.",
    )
    parser.add_argument("--config", metavar="FILE", help="a TOML file of LogoutConfig options")
    parser.add_argument("--host", default="127.0.0.1", help="the address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8080, help="the port to listen on (default: %(default)s)")
    parser.add_argument(
        "--check-config", action="store_true", help="print the options in force, secrets masked, and exit"
    )
    args = parser.parse_args(argv)
    try:
        app = build_gateway(load_config(args.config))
    except ConfigError as exc:
        print(f"logout-gateway: configuration error: {exc}", file=sys.stderr)
        return _EXIT_CONFIG
    except ImportError:
        print(f"logout-gateway: {_INSTALL_HINT}", file=sys.stderr)
        return _EXIT_CONFIG
    if args.check_config:
        print(render_config(app.config), end="")
        return 0
    try:
        import uvicorn  # noqa: PLC0415 - an optional extra
        from uvicorn.config import LOGGING_CONFIG  # noqa: PLC0415
    except ImportError:
        print(f"logout-gateway: {_INSTALL_HINT}", file=sys.stderr)
        return _EXIT_CONFIG
    # The library logs why it refused or revoked something; show that beside uvicorn's lines.
    log_config = copy.deepcopy(LOGGING_CONFIG)
    log_config["loggers"]["logout_middleware"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    uvicorn.run(app, host=args.host, port=args.port, lifespan="on", proxy_headers=True, log_config=log_config)
    return 0
