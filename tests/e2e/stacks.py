"""The sign-in stacks of ``examples/``, each under its real server, signing in at the real provider.

:func:`run_sign_in_stacks` starts on 127.0.0.1 (once per test module, as a fixture):

* the provider (``examples/provider/provider.mjs``) over HTTPS, with a CA
  made for the run that the apps trust through ``SSL_CERT_FILE`` (httpx:
  Authlib's Starlette client, the middleware) and ``REQUESTS_CA_BUNDLE``
  (requests: Authlib's Flask client, mozilla-django-oidc);
* a redis-server, through which the back-channel instances share revocations;
* every app of :data:`APPS`: the examples themselves, configured through the
  environment only, as their docstrings say.  Each plain app is a client of
  its own.  Each back-channel app runs as two instances of one client that
  share their session secret (and, for Django, their database) and Redis;
  the provider sends that client's logout tokens to instance 1 only.

Everything is stopped on the way out, whatever happens.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import secrets
import sqlite3
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.redis_server import RedisServer

from .conftest import (
    REPO_ROOT,
    Provider,
    Server,
    _free_ports,
    _gunicorn_extra_args,
    _make_tls_files,
    _start,
    _wait_until_answering,
    start_provider,
    start_redis,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Route

EXAMPLES = REPO_ROOT / "examples"
BACKCHANNEL_PATH = "/backchannel-logout"
LOGOUT_CALLBACK_PATH = "/logout/callback"
#: The cookie each framework keeps its session in.
SESSION_COOKIES = {"starlette": "session", "flask": "session", "django": "sessionid"}
_NOT_LOOPBACK = re.compile(r"^(?!https?://127\.0\.0\.1:\d+/|data:|about:)")


@dataclass(frozen=True)
class AppSpec:
    """One example under one server, and the client it is at the provider."""

    example: str  # module:attribute, imported from examples/
    server: str  # "uvicorn" or "gunicorn"
    kind: str  # whose session: "starlette", "flask" or "django"
    client_id: str
    #: BACKCHANNEL=on, and the revocations go to the shared redis-server.
    backchannel: bool = False
    #: The provider sends this client's logout tokens to this instance.
    backchannel_target: bool = False
    #: The SQLite file of a Django app, by name: the instances of one app share it.
    database: str | None = None
    #: Where the sign-in library keeps the id_token in the session, as a key path.
    id_token_path: tuple[str, ...] = ("token", "id_token")


#: mozilla-django-oidc's session key.
DJANGO = ("oidc_id_token",)

#: Every app server, by name.  The back-channel pairs mix servers where that costs nothing.
APPS = {
    "fastapi": AppSpec("fastapi_app:app", "uvicorn", "starlette", "fastapi"),
    "flask": AppSpec("flask_app:app", "gunicorn", "flask", "flask"),
    "flask-pyoidc": AppSpec(
        "flask_pyoidc_app:app", "gunicorn", "flask", "flask-pyoidc", id_token_path=("id_token_jwt",)
    ),
    "django-wsgi": AppSpec(
        "django_app.wsgi:application", "gunicorn", "django", "django-wsgi", database="wsgi", id_token_path=DJANGO
    ),
    "django-asgi": AppSpec(
        "django_app.asgi:application", "uvicorn", "django", "django-asgi", database="asgi", id_token_path=DJANGO
    ),
    "fastapi-bc1": AppSpec(
        "fastapi_app:app", "uvicorn", "starlette", "fastapi-bc", backchannel=True, backchannel_target=True
    ),
    "fastapi-bc2": AppSpec("fastapi_app:app", "uvicorn", "starlette", "fastapi-bc", backchannel=True),
    "flask-bc1": AppSpec("flask_app:app", "gunicorn", "flask", "flask-bc", backchannel=True, backchannel_target=True),
    "flask-bc2": AppSpec("flask_app:app", "gunicorn", "flask", "flask-bc", backchannel=True),
    "django-bc1": AppSpec(
        "django_app.asgi:application",
        "uvicorn",
        "django",
        "django-bc",
        backchannel=True,
        backchannel_target=True,
        database="bc",
        id_token_path=DJANGO,
    ),
    "django-bc2": AppSpec(
        "django_app.wsgi:application",
        "gunicorn",
        "django",
        "django-bc",
        backchannel=True,
        database="bc",
        id_token_path=DJANGO,
    ),
}


@dataclass(frozen=True)
class App:
    """One running app server."""

    name: str
    spec: AppSpec
    url: str
    server: Server
    #: SESSION_SECRET, or DJANGO_SECRET_KEY: the same for every instance of the client.
    secret: str
    database: Path | None

    @property
    def client_id(self) -> str:
        return self.spec.client_id

    def report_servers(self) -> list[Server]:
        """Whose log a failed test that used this app shows."""
        return [self.server]

    @property
    def session_cookie(self) -> str:
        return SESSION_COOKIES[self.spec.kind]

    @property
    def post_logout_redirect_uri(self) -> str:
        return self.url + LOGOUT_CALLBACK_PATH

    @property
    def backchannel_logout_uri(self) -> str:
        return self.url + BACKCHANNEL_PATH

    def session(self, cookie: str) -> dict[str, Any]:
        """What the session behind *cookie* holds, read the way the framework stores it (signature unchecked)."""
        if self.spec.kind == "starlette":
            # base64(JSON) "." timestamp "." signature (itsdangerous TimestampSigner).
            return _json(base64.b64decode(cookie.split(".", maxsplit=1)[0]))
        if self.spec.kind == "flask":
            # ["."] base64url([zlib](JSON)) "." timestamp "." signature (itsdangerous URLSafeTimedSerializer).
            return _itsdangerous_payload(cookie, ".")
        assert self.database is not None
        with contextlib.closing(sqlite3.connect(self.database)) as db:
            row = db.execute("SELECT session_data FROM django_session WHERE session_key = ?", (cookie,)).fetchone()
        assert row is not None, f"no django_session row for {cookie!r}"
        # django.core.signing: ["."] base64url([zlib](JSON)) ":" timestamp ":" signature.
        return _itsdangerous_payload(row[0], ":")

    def session_row_exists(self, cookie: str) -> bool:
        assert self.database is not None
        with contextlib.closing(sqlite3.connect(self.database)) as db:
            query = "SELECT COUNT(*) FROM django_session WHERE session_key = ?"
            count: int = db.execute(query, (cookie,)).fetchone()[0]
        return count == 1

    def session_id_token(self, cookie: str) -> str:
        """The id_token the sign-in library kept in the session."""
        value: Any = self.session(cookie)
        for key in self.spec.id_token_path:
            value = value[key]
        assert isinstance(value, str), value
        return value

    def edited_session_cookie(self, cookie: str, sid: str) -> str:
        """*cookie* with the session's ``sid`` changed and the old signature kept, as a client could forge it.

        A Django session cookie holds no data, only the row's key: one character of it changes.
        """
        if self.spec.kind == "django":
            return cookie[:-1] + ("a" if cookie[-1] != "a" else "b")
        session = self.session(cookie)
        token = session["token"]
        header, payload, signature = token["id_token"].split(".")
        claims = _json(_b64url_decode(payload)) | {"sid": sid}
        token["id_token"] = f"{header}.{_b64url_encode(json.dumps(claims).encode())}.{signature}"
        token["userinfo"]["sid"] = sid
        data = json.dumps(session, separators=(",", ":")).encode()
        if self.spec.kind == "starlette":
            return base64.b64encode(data).decode() + cookie[cookie.index(".") :]
        compressed = cookie.startswith(".")
        rest = cookie.lstrip(".").partition(".")[2]
        encoded = _b64url_encode(zlib.compress(data) if compressed else data)
        return ("." if compressed else "") + encoded + "." + rest


@dataclass(frozen=True)
class SignInStacks:
    provider: Provider
    apps: dict[str, App]
    client_secret: str
    redis: RedisServer

    def report_servers(self) -> list[Server]:
        """Whose log a failed test shows (with those of the apps it used)."""
        return [self.provider.server]


def claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, unverified."""
    return _json(_b64url_decode(token.split(".")[1]))


def _json(data: bytes) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(data)
    return decoded


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _itsdangerous_payload(value: str, sep: str) -> dict[str, Any]:
    compressed = value.startswith(".")
    data = _b64url_decode(value.lstrip(".").split(sep)[0])
    return _json(zlib.decompress(data) if compressed else data)


def new_context(browser: Browser) -> BrowserContext:
    """A fresh browser context (its own cookie jar) that never leaves loopback."""
    # The provider's certificate comes from the run's CA, which Chromium does not know.
    context = browser.new_context(ignore_https_errors=True)
    context.set_default_timeout(10_000)

    def abort(route: Route) -> None:
        route.abort()

    context.route(_NOT_LOOPBACK, abort)
    return context


def _command(spec: AppSpec, port: int) -> list[str]:
    if spec.server == "uvicorn":
        argv = [sys.executable, "-m", "uvicorn", spec.example, "--app-dir", str(EXAMPLES)]
        argv += ["--host", "127.0.0.1", "--port", str(port)]
        # Django does not speak the lifespan protocol.
        return argv + (["--lifespan", "off"] if spec.kind == "django" else [])
    argv = [sys.executable, "-m", "gunicorn", spec.example, "--chdir", str(EXAMPLES)]
    argv += ["--bind", f"127.0.0.1:{port}", "--workers", "1", "--access-logfile", "-"]
    return argv + _gunicorn_extra_args()


def _provider_clients(apps: dict[str, tuple[AppSpec, str]]) -> list[dict[str, object]]:
    """The provider's clients (see provider.mjs): one per client_id, with each instance's URL."""
    clients: dict[str, dict[str, Any]] = {}
    for spec, url in apps.values():
        client = clients.setdefault(spec.client_id, {"client_id": spec.client_id, "urls": []})
        client["urls"].append(url)
        if spec.backchannel_target:
            client["backchannel_logout_uri"] = url + BACKCHANNEL_PATH
    return list(clients.values())


@contextlib.contextmanager
def run_sign_in_stacks(node: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SignInStacks]:
    """Start the provider, Redis and every app of :data:`APPS`; stop them all on the way out, whatever happens."""
    log_dir = tmp_path_factory.mktemp("sign-in-logs")
    data_dir = tmp_path_factory.mktemp("sign-in-data")
    tls = _make_tls_files(tmp_path_factory.mktemp("sign-in-tls"))
    op_port, *ports = _free_ports(1 + len(APPS))
    urls = {name: f"http://127.0.0.1:{port}" for name, port in zip(APPS, ports, strict=True)}
    client_secret = secrets.token_urlsafe(24)
    app_secrets = {spec.client_id: secrets.token_urlsafe(32) for spec in APPS.values()}
    base_env = {key: value for key, value in os.environ.items() if "proxy" not in key.lower()}

    with contextlib.ExitStack() as cleanup:
        redis = start_redis(cleanup, tmp_path_factory.mktemp("sign-in-redis"))
        provider = start_provider(
            cleanup,
            node,
            op_port,
            clients=_provider_clients({name: (spec, urls[name]) for name, spec in APPS.items()}),
            client_secret=client_secret,
            tls=tls,
            env=base_env,
            log_dir=log_dir,
        )
        op_url, op_server = provider.url, provider.server

        apps: dict[str, App] = {}
        # Two waves: the second instance of a Django app starts once the first has migrated their database.
        first, second = [], []
        databases: set[str] = set()
        for name, spec in APPS.items():
            (second if spec.database in databases else first).append(name)
            if spec.database is not None:
                databases.add(spec.database)
        for wave in (first, second):
            for name in wave:
                spec = APPS[name]
                secret = app_secrets[spec.client_id]
                database = data_dir / f"{spec.database}.sqlite3" if spec.database else None
                env = {
                    **base_env,
                    "PYTHONUNBUFFERED": "1",
                    "SSL_CERT_FILE": str(tls.ca),
                    "REQUESTS_CA_BUNDLE": str(tls.ca),
                    "ISSUER": op_url,
                    "CLIENT_ID": spec.client_id,
                    "CLIENT_SECRET": client_secret,
                    "BASE_URL": urls[name],
                    "SESSION_SECRET": secret,
                    "DJANGO_SECRET_KEY": secret,
                    # The example only sets a default, which the test runner's environment could beat.
                    "DJANGO_SETTINGS_MODULE": "django_app.settings",
                    "BACKCHANNEL": "on" if spec.backchannel else "off",
                }
                if database is not None:
                    env["DJANGO_DATABASE"] = str(database)
                if spec.backchannel:
                    env["REVOCATION_STORE"] = redis.url
                argv = _command(spec, int(urls[name].rpartition(":")[2]))
                server = _start(f"app-{name}", argv, env=env, url=urls[name], log_dir=log_dir, cwd=EXAMPLES)
                cleanup.callback(server.stop)
                apps[name] = App(name, spec, urls[name], server, secret, database)
            for name in wave:
                _wait_until_answering(apps[name].server)
        # Runs first on the way out: every server is told to exit before the stop() callbacks wait for each.
        cleanup.callback(lambda: [server.terminate() for server in (op_server, *(a.server for a in apps.values()))])
        yield SignInStacks(provider, apps, client_secret, redis)


__all__ = ["APPS", "App", "SignInStacks", "claims", "new_context", "run_sign_in_stacks"]
