"""Fixtures for the end-to-end tests: a real OpenID provider, real RPs and a real browser.

Everything runs on 127.0.0.1:

* the provider is ``oidc-provider`` under Node (``provider/provider.mjs``),
  installed with ``npm ci`` on first use.  It serves HTTPS, as providers do,
  with a certificate from a CA made for the run: the RPs (and so the
  middleware's own requests for discovery and revocation) trust that CA
  through ``SSL_CERT_FILE``, and the browser ignores certificate errors.
  HTTPS is what lets oidc-provider take a logout by form POST at all;
* relying parties wrapped by our middleware, each in its own server
  process: Starlette under uvicorn (``rp_asgi.py``) and Flask under gunicorn
  (``rp_wsgi.py``), each once as configured by default and once with a tiny
  ``max_url_length``, so that its logout goes to the provider by form POST;
  and, for single sign-out through Back-Channel Logout, an app "A" and an
  app "B" run as two instances (B1 under uvicorn, B2 under gunicorn) that
  share their revocations through a real ``redis-server`` (see
  :data:`RP_VARIANTS`);
* Debian's Chromium, driven by Playwright.

The provider is the one ``examples/demo.py`` runs (``examples/provider``).

Nothing is skipped when a tool is missing: the e2e suite is meant to run in
CI, so a missing ``npm`` or Chromium fails with a message saying what to
install.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import json
import os
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

import httpx
import pytest

from tests.support.redis_server import RedisServer

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Route

# The browser helpers assert too: show their failures as pytest does in tests.
pytest.register_assert_rewrite("tests.e2e.browsing")

E2E_DIR = Path(__file__).resolve().parent
REPO_ROOT = E2E_DIR.parents[1]
#: The provider and its npm lock file, shared with the demo.
PROVIDER_DIR = REPO_ROOT / "examples" / "provider"
CHROMIUM = Path(os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium"))
#: How long a server may take to answer its first request.
STARTUP_TIMEOUT = 30.0
#: The longest end-session URL the "-form" RPs send by redirect: less than any id_token.
FORM_POST_MAX_URL_LENGTH = 300
#: Where the RPs with back-channel logout serve it (the middleware's ``backchannel_logout_path``).
BACKCHANNEL_PATH = "/backchannel-logout"
#: The host names of the single-sign-out apps A and B, which Chromium resolves to 127.0.0.1.
#: Browsers keep cookies apart by host, not by port: on 127.0.0.1 alone, A's and
#: B's ``id_token`` and ``session`` cookies would overwrite each other.
SSO_HOSTS = ("rp-a.test", "rp-b.test")


@dataclass(frozen=True)
class Variant:
    """One RP server to start: its adapter, the client it is registered as, and its middleware tweaks."""

    kind: str  # "asgi" or "wsgi"
    client_id: str
    max_url_length: int | None = None
    #: The host name the browser uses for it (the server listens on 127.0.0.1 whatever it is).
    host: str = "127.0.0.1"
    #: With a store (``memory://``, or ``redis`` for the test's redis-server), the
    #: middleware serves Back-Channel Logout at :data:`BACKCHANNEL_PATH`.
    revocation_store: str | None = None
    #: The provider sends this client's logout tokens to this instance (one per client).
    backchannel_target: bool = False


#: Every RP, by name.  Each has its own client at the provider, as each has its own URL,
#: except the two instances of app B: one app, one client, one store shared through Redis.
RP_VARIANTS = {
    "asgi": Variant("asgi", "asgi-rp"),
    "wsgi": Variant("wsgi", "wsgi-rp"),
    "asgi-form": Variant("asgi", "asgi-form-rp", FORM_POST_MAX_URL_LENGTH),
    "wsgi-form": Variant("wsgi", "wsgi-form-rp", FORM_POST_MAX_URL_LENGTH),
    "sso-a": Variant("asgi", "sso-a-rp", host="rp-a.test", revocation_store="memory://", backchannel_target=True),
    "sso-b1": Variant("asgi", "sso-b-rp", host="rp-b.test", revocation_store="redis", backchannel_target=True),
    "sso-b2": Variant("wsgi", "sso-b-rp", host="rp-b.test", revocation_store="redis"),
}

# The apps' own names go to 127.0.0.1, every other name but 127.0.0.1 itself fails to resolve.
_HOST_RULES = [*(f"MAP {host} 127.0.0.1" for host in SSO_HOSTS), "MAP * ~NOTFOUND", "EXCLUDE 127.0.0.1"]
# Chromium's own switches: no GPU, no QUIC, and none of the background
# services (updates, sync, ...) that would try to reach the internet.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Belt and braces for "loopback only": no proxy, and every host name but
    # 127.0.0.1 and the apps' own names (mapped to it) fails to resolve (the
    # provider's pages @import web fonts).
    "--no-proxy-server",
    "--host-resolver-rules=" + ", ".join(_HOST_RULES),
]
# Every URL but those of the loopback servers: the browser's requests for them are aborted.
_LOOPBACK_HOSTS = "|".join(re.escape(host) for host in ("127.0.0.1", *SSO_HOSTS))
_NOT_LOOPBACK = re.compile(rf"^(?!https?://(?:{_LOOPBACK_HOSTS}):\d+/|data:|about:)")


def pytest_configure(config: pytest.Config) -> None:
    # Registered here so that `--strict-markers` accepts it however pytest is run.
    config.addinivalue_line("markers", "e2e: end-to-end test with a real OpenID provider, servers and browser")


@dataclass
class Server:
    """A server subprocess and the file its output goes to."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    _log: IO[bytes] = field(repr=False)

    def log_text(self) -> str:
        """Everything the server has written so far."""
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:]) or "(no output)"

    def wait_for_log(self, pattern: str, *, timeout: float = 5.0, after: int = 0) -> re.Match[str]:
        """Poll the log until *pattern* (a regular expression) matches past offset *after*; fail at the deadline."""
        regex = re.compile(pattern, re.MULTILINE)
        deadline = time.monotonic() + timeout
        while True:
            match = regex.search(self.log_text(), after)
            if match is not None:
                return match
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{self.name} never logged {pattern!r}:\n{self.log_tail()}", pytrace=False)
            time.sleep(0.05)

    def terminate(self) -> None:
        """Ask the server to exit, without waiting for it."""
        if self.process.poll() is None:
            self.process.terminate()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


@dataclass(frozen=True)
class Provider:
    url: str
    end_session_endpoint: str
    introspection_endpoint: str
    server: Server
    #: The CA the provider's certificate comes from (PEM).
    ca_file: Path

    def ssl_context(self) -> ssl.SSLContext:
        """A client TLS context that trusts the provider."""
        return ssl.create_default_context(cafile=self.ca_file)


@dataclass(frozen=True)
class RelyingParty:
    name: str
    variant: Variant
    #: The URL the browser uses, with the variant's host name; ``server.url`` is on 127.0.0.1.
    url: str
    server: Server

    @property
    def client_id(self) -> str:
        return self.variant.client_id

    @property
    def post_logout_redirect_uri(self) -> str:
        # The middleware's logout_callback_path, registered at the provider.
        return self.url + "/logout/callback"

    @property
    def backchannel_logout_uri(self) -> str:
        # The provider cannot resolve the browser's host names: it reaches the instance on 127.0.0.1.
        return self.server.url + BACKCHANNEL_PATH


@dataclass(frozen=True)
class Stack:
    provider: Provider
    rps: dict[str, RelyingParty]
    #: The secret of every client at the provider.
    client_secret: str
    #: The redis-server the instances of app B share their revocations through.
    redis: RedisServer


def _require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"the e2e tests need {name!r} on PATH: Node.js 20 or newer, with npm", pytrace=False)
    return path


def _free_ports(count: int) -> list[int]:
    # All sockets stay open until every port is picked, so the ports differ.
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def _start(name: str, argv: list[str], *, env: dict[str, str], url: str, log_dir: Path, cwd: Path) -> Server:
    log_path = log_dir / f"{name}.log"
    log = log_path.open("wb")
    # Output goes to a file, not a pipe: a pipe nobody reads fills up and
    # blocks the server.
    try:
        process = subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
    except OSError:
        log.close()
        raise
    return Server(name, url, process, log_path, log)


def _wait_until_answering(server: Server, path: str = "/", *, verify: ssl.SSLContext | bool = True) -> httpx.Response:
    """Poll until the server answers HTTP at all.

    An open port is not enough: gunicorn binds its socket before the worker
    has imported the app, and the RPs fetch the provider's discovery document
    while starting.
    """
    deadline = time.monotonic() + STARTUP_TIMEOUT
    with httpx.Client(timeout=2.0, trust_env=False, verify=verify) as client:
        while True:
            if server.process.poll() is not None:
                pytest.fail(
                    f"{server.name} exited with status {server.process.returncode} while starting:\n"
                    f"{server.log_tail()}",
                    pytrace=False,
                )
            try:
                return client.get(server.url + path)
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"{server.name} did not answer within {STARTUP_TIMEOUT:.0f} s:\n{server.log_tail()}",
                        pytrace=False,
                    )
                time.sleep(0.1)


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    cert: Path
    key: Path


def _make_tls_files(directory: Path) -> TlsFiles:
    """A CA and a certificate it signed for ``127.0.0.1``, all good for one day.

    A real CA and leaf rather than one self-signed certificate: that is what
    OpenSSL's strict verification (Python 3.13's default) accepts.
    """
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    except ImportError:
        pytest.fail("the e2e tests need cryptography, for the provider's certificate: `pip install cryptography`")

    now = datetime.datetime.now(datetime.timezone.utc)

    def certificate(subject: str, key: ec.EllipticCurvePrivateKey) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = "logout-middleware e2e CA"
    ca = (
        certificate(ca_name, ca_key)
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ca_name)]))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        certificate("127.0.0.1", key)
        .issuer_name(ca.subject)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    files = TlsFiles(directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    files.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return files


def _installed_as_locked(directory: Path) -> bool:
    """Whether ``node_modules`` holds exactly the packages of ``package-lock.json`` (npm's own record of it)."""
    try:
        locked = json.loads((directory / "package-lock.json").read_text())["packages"]
        installed = json.loads((directory / "node_modules" / ".package-lock.json").read_text())["packages"]
    except (OSError, ValueError, KeyError):
        return False
    locked = {path: entry.get("version") for path, entry in locked.items() if path}
    return locked == {path: entry.get("version") for path, entry in installed.items()}


@pytest.fixture(scope="session")
def node_for_provider() -> Path:
    """The ``node`` executable, once the provider's npm packages are installed exactly as locked."""
    node = _require_tool("node")
    npm = _require_tool("npm")
    if not _installed_as_locked(PROVIDER_DIR):
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=PROVIDER_DIR,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        if result.returncode != 0:
            pytest.fail(f"`npm ci` in {PROVIDER_DIR} failed:\n{result.stdout}\n{result.stderr}", pytrace=False)
    return Path(node)


# Package scope, not session: the servers and the browser go away once the e2e
# tests are done.  That matters for the browser above all: Playwright's sync
# API keeps an asyncio loop running in the main thread while it lives, and
# asyncio.run() in any later test would fail.
@pytest.fixture(scope="package")
def e2e_stack(node_for_provider: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The provider, Redis and every RP, started once for all e2e tests and always stopped."""
    log_dir = tmp_path_factory.mktemp("e2e-logs")
    tls = _make_tls_files(tmp_path_factory.mktemp("e2e-tls"))
    op_port, *ports = _free_ports(1 + len(RP_VARIANTS))
    rp_ports = dict(zip(RP_VARIANTS, ports, strict=True))
    client_secret = secrets.token_urlsafe(24)
    base_env = {key: value for key, value in os.environ.items() if "proxy" not in key.lower()}

    with contextlib.ExitStack() as cleanup:
        redis = start_redis(cleanup, tmp_path_factory.mktemp("e2e-redis"))
        provider = start_provider(
            cleanup,
            node_for_provider,
            op_port,
            clients=_provider_clients(rp_ports),
            client_secret=client_secret,
            tls=tls,
            env=base_env,
            log_dir=log_dir,
        )
        op_url, op_server = provider.url, provider.server

        python_path = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
        commands = {
            "asgi": lambda port: [
                *(sys.executable, "-m", "uvicorn", "rp_asgi:create_app", "--factory"),
                *("--app-dir", str(E2E_DIR), "--host", "127.0.0.1", "--port", str(port)),
            ],
            "wsgi": lambda port: [
                *(sys.executable, "-m", "gunicorn", "rp_wsgi:create_app()", "--chdir", str(E2E_DIR)),
                *("--bind", f"127.0.0.1:{port}", "--workers", "1", "--access-logfile", "-"),
                *_gunicorn_extra_args(),
            ],
        }
        rps = {}
        # Start every RP before waiting for any: they boot in parallel.
        for name, port in rp_ports.items():
            variant = RP_VARIANTS[name]
            url = f"http://{variant.host}:{port}"
            env = {
                **base_env,
                "PYTHONPATH": python_path,
                "PYTHONUNBUFFERED": "1",
                # Trust the provider's CA: the RP's own httpx clients, and the middleware's.
                "SSL_CERT_FILE": str(tls.ca),
                "RP_ISSUER": op_url,
                "RP_CLIENT_ID": variant.client_id,
                "RP_CLIENT_SECRET": client_secret,
                "RP_BASE_URL": url,
                "RP_SESSION_SECRET": secrets.token_urlsafe(32),
            }
            if variant.max_url_length is not None:
                env["RP_MAX_URL_LENGTH"] = str(variant.max_url_length)
            if variant.revocation_store is not None:
                store = redis.url if variant.revocation_store == "redis" else variant.revocation_store
                env.update(RP_BACKCHANNEL_PATH=BACKCHANNEL_PATH, RP_REVOCATION_STORE=store)
            direct_url = f"http://127.0.0.1:{port}"
            server = _start(
                f"rp-{name}", commands[variant.kind](port), env=env, url=direct_url, log_dir=log_dir, cwd=log_dir
            )
            cleanup.callback(server.stop)
            rps[name] = RelyingParty(name, variant, url, server)
        for rp in rps.values():
            _wait_until_answering(rp.server)
            if rp.variant.revocation_store == "redis" and rp.variant.kind == "asgi":
                # Opened at lifespan startup, the instance listens for revocations published by the
                # others (logged by the store's thread).  A WSGI worker opens it at its first signed-in request.
                rp.server.wait_for_log(r"Redis revocation store connected", timeout=STARTUP_TIMEOUT)
        # Runs first on the way out (an ExitStack unwinds backwards): every
        # server is told to exit before the stop() callbacks wait for each.
        cleanup.callback(lambda: [server.terminate() for server in (op_server, *(rp.server for rp in rps.values()))])
        yield Stack(provider, rps, client_secret, redis)


def start_redis(cleanup: contextlib.ExitStack, directory: Path) -> RedisServer:
    """A redis-server for the apps to share, stopped by *cleanup*."""
    redis = RedisServer(directory)
    try:
        redis.start()
    except RuntimeError as exc:
        pytest.fail(f"the e2e tests need redis-server: {exc}", pytrace=False)
    cleanup.callback(redis.stop)
    return redis


def start_provider(
    cleanup: contextlib.ExitStack,
    node: Path,
    port: int,
    *,
    clients: list[dict[str, object]],
    client_secret: str,
    tls: TlsFiles,
    env: dict[str, str],
    log_dir: Path,
) -> Provider:
    """The provider of ``examples/provider`` over HTTPS, knowing *clients*, answering; stopped by *cleanup*."""
    url = f"https://127.0.0.1:{port}"
    provider_env = {
        **env,
        "RP_CLIENTS": json.dumps(clients),
        "CLIENT_SECRET": client_secret,
        "TLS_CERT": str(tls.cert),
        "TLS_KEY": str(tls.key),
    }
    argv = [str(node), "provider.mjs", str(port)]
    server = _start("provider", argv, env=provider_env, url=url, log_dir=log_dir, cwd=PROVIDER_DIR)
    cleanup.callback(server.stop)
    verify = ssl.create_default_context(cafile=tls.ca)
    discovery = _wait_until_answering(server, "/.well-known/openid-configuration", verify=verify).json()
    return Provider(
        url=url,
        end_session_endpoint=discovery["end_session_endpoint"],
        introspection_endpoint=discovery["introspection_endpoint"],
        server=server,
        ca_file=tls.ca,
    )


def _provider_clients(rp_ports: dict[str, int]) -> list[dict[str, object]]:
    """The clients to register at the provider (see provider.mjs): one per client_id, with each instance's URL."""
    urls: dict[str, list[str]] = {}
    backchannel: dict[str, str] = {}
    for name, port in rp_ports.items():
        variant = RP_VARIANTS[name]
        urls.setdefault(variant.client_id, []).append(f"http://{variant.host}:{port}")
        if variant.backchannel_target:
            backchannel[variant.client_id] = f"http://127.0.0.1:{port}{BACKCHANNEL_PATH}"
    return [
        {"client_id": client_id, "urls": client_urls}
        | ({"backchannel_logout_uri": backchannel[client_id]} if client_id in backchannel else {})
        for client_id, client_urls in urls.items()
    ]


@dataclass(frozen=True)
class Demo:
    """``examples/demo.py`` running: the demo app and the provider it started."""

    url: str
    provider_url: str
    server: Server


@pytest.fixture
def demo(node_for_provider: Path, tmp_path: Path) -> Iterator[Demo]:
    """The demo, started the way the README has a newcomer start it, on free ports; always stopped."""
    app_port, op_port = _free_ports(2)
    env = {key: value for key, value in os.environ.items() if "proxy" not in key.lower()}
    env.update(DEMO_PORT=str(app_port), DEMO_PROVIDER_PORT=str(op_port), PYTHONUNBUFFERED="1")
    # The node the provider's packages were checked with, first on PATH.
    env["PATH"] = os.pathsep.join([str(node_for_provider.parent), env.get("PATH", "")])
    url = f"http://127.0.0.1:{app_port}"
    server = _start("demo", [sys.executable, "examples/demo.py"], env=env, url=url, log_dir=tmp_path, cwd=REPO_ROOT)
    try:
        _wait_until_answering(server)
        yield Demo(url, f"http://127.0.0.1:{op_port}", server)
    finally:
        server.stop()


def _gunicorn_extra_args() -> list[str]:
    # Recent gunicorn opens a control socket under ~/.gunicorn by default; a
    # test server needs none, but older releases do not know the switch.
    from gunicorn.config import Config

    return ["--no-control-socket"] if "control_socket_disable" in Config().settings else []


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """Debian's Chromium under Playwright; Playwright gives it a fresh, temporary profile."""
    if not CHROMIUM.is_file():
        pytest.fail(f"the e2e tests need Chromium at {CHROMIUM}: `apt-get install chromium`", pytrace=False)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the e2e tests need Playwright for Python: `pip install playwright`", pytrace=False)
    with sync_playwright() as playwright:
        # launch() (not launch_persistent_context) makes a new user-data dir
        # for every launch and deletes it on close.
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class BlockedRequests:
    """The URLs the browser tried to fetch beyond loopback (and that were aborted)."""

    urls: list[str] = field(default_factory=list)


@pytest.fixture
def blocked_requests() -> BlockedRequests:
    return BlockedRequests()


@pytest.fixture
def page(browser: Browser, blocked_requests: BlockedRequests) -> Iterator[Page]:
    """A page in a new browser context: its own cookie jar, so no test sees another's login."""
    # The provider's certificate comes from a CA made for the run, which
    # Chromium does not know; what the tests check starts past TLS.
    context = browser.new_context(ignore_https_errors=True)
    context.set_default_timeout(10_000)

    def abort(route: Route) -> None:
        blocked_requests.urls.append(route.request.url)
        route.abort()

    # Only requests that are not for loopback are intercepted at all.
    context.route(_NOT_LOOPBACK, abort)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    # A failed e2e test shows what the servers said: that is usually the why.
    report = yield
    funcargs = getattr(item, "funcargs", {})
    stack, demo = funcargs.get("e2e_stack"), funcargs.get("demo")
    servers = []
    if isinstance(stack, Stack):
        servers += [stack.provider.server, *(rp.server for rp in stack.rps.values())]
    if isinstance(demo, Demo):
        servers.append(demo.server)
    for value in funcargs.values():
        # Other fixtures' values (tests/e2e/stacks.py) name the servers a failure should show.
        report_servers = getattr(value, "report_servers", None)
        if callable(report_servers):
            servers += report_servers()
    if report.failed:
        for server in servers:
            report.sections.append((f"{server.name} log", server.log_tail()))
    return report
