"""Sign in at a real OpenID provider, log out through the middleware, and watch every hop.

Run it from the repository root (``python3 .ci/dev.py demo`` does, after
setting everything up) and open the URL it prints::

    python examples/demo.py     # DEMO_PORT=8080 for another port than 8000

It starts two processes, both on 127.0.0.1 only:

* a real OpenID provider, panva's ``oidc-provider`` under Node.js
  (``examples/provider/``, installed with ``npm ci`` from its lock file on
  the first run), on port 8900 (``DEMO_PROVIDER_PORT``).  Its development
  login page takes any username and password;
* this app, a small Starlette app wrapped by ``LogoutMiddleware``, which is
  given only the provider's issuer, the client's id and secret, the
  ``post_logout_redirect_uri`` and the ``logout_callback_path``: it finds
  the end-session endpoint by discovery.

The app's home page shows the cookies it receives, what the id_token says,
and every hop of the sign-in and of the logout: what the browser sent to
the app and what the app or the middleware answered (status, ``Location``
with its parameters, ``Set-Cookie`` lines), and each request the provider
served.  Ctrl-C stops both processes.

The other examples send their logout to a stand-in for a provider's
end-session page, which this app also serves at /provider/session/end, so
keep the demo running on port 8000 to try them too.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import html
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from logout_middleware.asgi import LogoutMiddleware

HOST = "127.0.0.1"
PORT = int(os.environ.get("DEMO_PORT", "8000"))
PROVIDER_PORT = int(os.environ.get("DEMO_PROVIDER_PORT", "8900"))
BASE_URL = f"http://{HOST}:{PORT}"
ISSUER = f"http://{HOST}:{PROVIDER_PORT}"
PROVIDER_DIR = Path(__file__).resolve().parent / "provider"
CLIENT_ID = "demo-client"
ID_TOKEN_COOKIE = "id_token"  # the middleware's default id_token_cookie
FLOW_COOKIE = "login_flow"  # state, nonce and PKCE verifier, from /login to /callback
LOGOUT_CALLBACK_PATH = "/logout/callback"
#: The cookies this app (or its middleware) sets; the browser sends it the provider's too (same host).
APP_COOKIES = (ID_TOKEN_COOKIE, FLOW_COOKIE, "logout_state")
#: The requests whose hops are shown: the sign-in and the logout, not the page views.
SHOWN_PATHS = frozenset(("/login", "/callback", "/logout", LOGOUT_CALLBACK_PATH))
STARTUP_TIMEOUT = 30.0

# -- the trail of hops, shown on the home page --------------------------------------


@dataclass(frozen=True)
class Hop:
    """One request: to the app (with what its answer said) or to the provider (one log line)."""

    where: str  # "app" or "provider"
    request: str
    status: str
    note: str
    details: tuple[tuple[str, str], ...] = ()


TRAIL: collections.deque[Hop] = collections.deque(maxlen=40)

NOTES = {
    "/login": "the app starts a sign-in: to the provider's authorization endpoint",
    "/callback": "back with a code, which the app exchanged for tokens; it keeps the id_token in a cookie",
    "/logout": "LogoutMiddleware: deletes the id_token cookie, and sends the browser to the provider to sign out",
    LOGOUT_CALLBACK_PATH: "LogoutMiddleware: checks the state against its logout_state cookie, then sends you home",
    "/.well-known/openid-configuration": "discovery: where the provider's endpoints are",
    "/auth": "the authorization request",
    "/token": "the app exchanges the code for tokens",
    "/session/end": "the provider asks whether to sign out",
    "/session/end/confirm": "you said yes: the provider ends its session and sends you to post_logout_redirect_uri",
}


def short(value: str, keep: int = 24) -> str:
    """Long values (tokens) cut, so that the page stays readable."""
    return value if len(value) <= keep + 8 else value[:keep] + "…"


def location_details(location: str) -> list[tuple[str, str]]:
    """A Location header as its address and each query parameter."""
    address, _, query = location.partition("?")
    details = [("Location", address + ("?" if query else ""))]
    details += [(f"  {name}", short(value, 60)) for name, value in parse_qsl(query, keep_blank_values=True)]
    return details


def set_cookie_line(line: str) -> str:
    """A Set-Cookie line with its value cut, and every attribute kept."""
    pair, _, attributes = line.partition(";")
    name, _, value = pair.partition("=")
    return f"{name}={short(value)};{attributes}"


class HopRecorder:
    """An ASGI middleware, outside LogoutMiddleware: records the sign-in and logout requests and their answers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in SHOWN_PATHS:
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        query = scope["query_string"].decode("latin-1")
        request = f"{scope['method']} {path}" + (f"?{short(query, 60)}" if query else "")
        cookie_header = Headers(scope=scope).get("cookie", "")
        cookie_names = [pair.partition("=")[0].strip() for pair in cookie_header.split(";") if pair.strip()]
        sent = ("Cookies sent", " ".join(cookie_names) or "none")

        async def send_recording(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = Headers(raw=message.get("headers", []))
                details = [sent]
                if "location" in headers:
                    details += location_details(headers["location"])
                details += [("Set-Cookie", set_cookie_line(line)) for line in headers.getlist("set-cookie")]
                TRAIL.append(Hop("app", request, str(message["status"]), NOTES.get(path, ""), tuple(details)))
            await send(message)

        await self.app(scope, receive, send_recording)


# -- the app ---------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unverified_claims(token: str) -> dict[str, Any] | None:
    """The claims of a JWT, for display only (the app got it straight from the token endpoint)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    return claims if isinstance(claims, dict) else None


def page(title: str, body: str, status: int = 200) -> HTMLResponse:
    style = (
        "body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.4}"
        "td,th{text-align:left;vertical-align:top;padding:0 .6em}code{word-break:break-all}"
        ".provider{color:#555}li{margin-bottom:.6em}"
    )
    return HTMLResponse(
        f"<!doctype html><html><head><meta charset=utf-8><title>{title}</title><style>{style}</style></head>"
        f"<body><h1>{title}</h1>{body}</body></html>",
        status_code=status,
    )


def rows(pairs: Iterable[tuple[str, str]]) -> str:
    return "".join(f"<tr><th>{html.escape(k)}</th><td><code>{html.escape(v)}</code></td></tr>" for k, v in pairs)


def trail_html() -> str:
    items = []
    for hop in TRAIL:
        where = "to the app" if hop.where == "app" else "at the provider"
        note = f" — {html.escape(hop.note)}" if hop.note else ""
        details = f"<table>{rows(hop.details)}</table>" if hop.details else ""
        items.append(
            f'<li class="{hop.where}"><b>{html.escape(hop.request)}</b> {where} → <b>{html.escape(hop.status)}</b>'
            f"{note}{details}</li>"
        )
    return "".join(items) or "<li>Nothing yet: sign in.</li>"


def create_app(client_secret: str, metadata: dict[str, Any]) -> Starlette:
    """The demo app, wrapped by LogoutMiddleware; *metadata* is the provider's discovery document."""

    async def home(request: Request) -> Response:
        id_token = request.cookies.get(ID_TOKEN_COOKIE)
        claims = unverified_claims(id_token) if id_token else None
        if claims is not None:
            status = f"Signed in as {claims.get('sub')}"
            link = '<a href="/logout">Log out</a> (GET /logout, served by the middleware)'
            shown = rows(
                (name, str(claims[name])) for name in ("iss", "aud", "sub", "sid", "iat", "exp") if name in claims
            )
            token = f"<h2>What the id_token says</h2><table>{shown}</table>"
        else:
            status, link, token = "Not signed in", '<a href="/login">Sign in</a>', ""
        cookies = rows(
            (name, short(value) + ("" if name in APP_COOKIES else "   (the provider's: same host, other port)"))
            for name, value in sorted(request.cookies.items())
        )
        body = (
            f'<p id="status">{html.escape(status)}</p><p>{link}</p>'
            f'<h2>Cookies the browser sent</h2><table id="cookies">{cookies or rows([("none", "")])}</table>{token}'
            f'<h2>Every hop, oldest first</h2><ol id="hops">{trail_html()}</ol>'
            f"<p>The provider is at <code>{html.escape(ISSUER)}</code>; this app is client"
            f" <code>{html.escape(CLIENT_ID)}</code> there.</p>"
        )
        return page("Demo app", body)

    async def login(request: Request) -> Response:
        # The authorization-code flow with PKCE (OpenID Connect Core 1.0, section 3.1; RFC 7636).
        state, nonce, verifier = secrets.token_urlsafe(16), secrets.token_urlsafe(16), secrets.token_urlsafe(48)
        params = {
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": BASE_URL + "/callback",
            "scope": "openid",
            "state": state,
            "nonce": nonce,
            "code_challenge": b64url(hashlib.sha256(verifier.encode()).digest()),
            "code_challenge_method": "S256",
        }
        response = RedirectResponse(f"{metadata['authorization_endpoint']}?{urlencode(params)}", status_code=303)
        flow = f"{state}.{nonce}.{verifier}"
        response.set_cookie(FLOW_COOKIE, flow, max_age=600, path="/callback", httponly=True, samesite="lax")
        return response

    async def callback(request: Request) -> Response:
        params = request.query_params
        state, nonce, verifier = [*(request.cookies.get(FLOW_COOKIE) or "").split("."), "", "", ""][:3]
        problem = id_token = None
        if "error" in params:
            problem = f"the provider said {params['error']}: {params.get('error_description', '')}"
        elif not state or not secrets.compare_digest(params.get("state", ""), state):
            problem = "the state does not match this browser's sign-in (or the sign-in took over 10 minutes)"
        elif params.get("iss", ISSUER) != ISSUER:
            problem = "the answer comes from another issuer"
        else:
            id_token, problem = await redeem(params.get("code", ""), verifier)
        if problem is None and id_token is not None:
            # Straight from the token endpoint, the signature need not be checked (Core 1.0, section
            # 3.1.3.7; over TLS in production); the claims that bind it to this sign-in are.
            claims = unverified_claims(id_token) or {}
            if claims.get("iss") != ISSUER or claims.get("aud") != CLIENT_ID or claims.get("nonce") != nonce:
                problem = "the id_token is not for this sign-in"
        if problem is not None or id_token is None:
            return page("Sign-in failed", f'<p>{html.escape(str(problem))}</p><p><a href="/">Home</a></p>', 400)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(ID_TOKEN_COOKIE, id_token, path="/", httponly=True, samesite="lax")
        response.delete_cookie(FLOW_COOKIE, path="/callback")
        return response

    async def redeem(code: str, verifier: str) -> tuple[str | None, str | None]:
        """Exchange the code for tokens at the token endpoint; return the id_token, or what went wrong."""
        data = {"grant_type": "authorization_code", "code": code, "code_verifier": verifier}
        data["redirect_uri"] = BASE_URL + "/callback"
        try:
            async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
                answer = await client.post(metadata["token_endpoint"], data=data, auth=(CLIENT_ID, client_secret))
            id_token = answer.json().get("id_token") if answer.status_code == 200 else None
        except (httpx.HTTPError, ValueError, AttributeError) as exc:
            return None, f"the token endpoint did not answer usably: {exc}"
        if not isinstance(id_token, str):
            return None, f"the token endpoint answered {answer.status_code}: {answer.text[:200]}"
        return id_token, None

    return Starlette(
        routes=[
            Route("/", home),
            Route("/login", login),
            Route("/callback", callback),
            Route("/provider/session/end", stand_in_end_session),
        ],
        middleware=[
            Middleware(HopRecorder),
            Middleware(
                LogoutMiddleware,
                issuer=ISSUER,
                client_id=CLIENT_ID,
                client_secret=client_secret,
                post_logout_redirect_uri=BASE_URL + LOGOUT_CALLBACK_PATH,
                logout_callback_path=LOGOUT_CALLBACK_PATH,
            ),
        ],
    )


# -- the stand-in end-session page the other examples point at --------------------------


async def stand_in_end_session(request: Request) -> Response:
    """Shows what an example's middleware sent, and links back if the redirect URI is on this machine."""
    params = request.query_params
    shown = ("post_logout_redirect_uri", "id_token_hint", "state", "client_id")
    table = rows((name, short(params[name]) if name in params else "(not sent)") for name in shown)
    body = f"<p>A real provider would end its session now. It received:</p><table>{table}</table>"
    redirect_uri, state = params.get("post_logout_redirect_uri"), params.get("state")
    parts = urlsplit(redirect_uri or "")
    if redirect_uri and parts.scheme == "http" and parts.hostname in (HOST, "localhost") and not parts.fragment:
        target = redirect_uri
        if state is not None:
            target += ("&" if parts.query else "?") + urlencode({"state": state})
        body += f'<p><a href="{html.escape(target)}">Continue</a> back to the app.</p>'
    else:
        body += "<p>No post_logout_redirect_uri on this machine: a real provider would stop here.</p>"
    return page("Stand-in provider: signed out", body)


# -- the provider process ----------------------------------------------------------------

_REQUEST_LINE = re.compile(r"^(GET|POST|HEAD) (\S+) -> (\d{3})$")


def install_provider() -> None:
    """``npm ci`` in examples/provider, unless its node_modules already hold exactly the locked packages."""
    try:
        locked = json.loads((PROVIDER_DIR / "package-lock.json").read_text())["packages"]
        installed = json.loads((PROVIDER_DIR / "node_modules" / ".package-lock.json").read_text())["packages"]
        if {path: entry.get("version") for path, entry in locked.items() if path} == {
            path: entry.get("version") for path, entry in installed.items()
        }:
            return
    except (OSError, ValueError, KeyError):
        pass
    print(f"Installing the provider's npm packages (npm ci in {PROVIDER_DIR}) ...", flush=True)
    subprocess.run([require("npm"), "ci", "--no-audit", "--no-fund"], cwd=PROVIDER_DIR, check=True)


def require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        sys.exit(f"The demo needs {tool!r}: install Node.js 20 or newer with npm (Debian: apt-get install nodejs npm)")
    return path


def check_port_free(port: int, variable: str) -> None:
    with socket.socket() as sock:
        # As the servers do: connections of an earlier run, still in TIME_WAIT, do not count.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            sys.exit(f"Port {port} on {HOST} is in use: set {variable} to another port")


def start_provider(client_secret: str) -> subprocess.Popen[str]:
    clients = [{"client_id": CLIENT_ID, "urls": [BASE_URL]}]
    env = {**os.environ, "RP_CLIENTS": json.dumps(clients), "CLIENT_SECRET": client_secret}
    env["OP_EXIT_WITH_STDIN"] = "1"  # the provider exits when this process does, however it ends
    argv = [require("node"), "provider.mjs", str(PROVIDER_PORT)]
    return subprocess.Popen(
        argv,
        cwd=PROVIDER_DIR,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # A session of its own: Ctrl-C reaches only this process, which stops the app, then the provider.
        start_new_session=True,
    )


class ProviderOutput(threading.Thread):
    """Prints the provider's lines and adds its requests to the trail; if the provider dies, stops the app."""

    def __init__(self, output: IO[str] | None) -> None:
        super().__init__(name="provider-output", daemon=True)
        self.output = output
        #: Set once the demo is stopping the provider itself.
        self.stopping = threading.Event()
        #: The app's server, to stop when the provider dies.
        self.app_server: uvicorn.Server | None = None
        self.provider_died = False

    def run(self) -> None:
        for raw in self.output or ():
            line = raw.rstrip()
            print(f"[provider] {line}", flush=True)
            match = _REQUEST_LINE.match(line)
            if match and not match.group(2).endswith((".ico", ".css")):
                method, path, status = match.groups()
                interaction = path.startswith("/interaction/")
                note = "the provider's login and consent pages" if interaction else NOTES.get(path, "")
                TRAIL.append(Hop("provider", f"{method} {path}", status, note))
        if not self.stopping.is_set():
            self.provider_died = True
            print("The provider stopped; stopping the demo.", file=sys.stderr, flush=True)
            if self.app_server is not None:
                self.app_server.should_exit = True


def wait_for_discovery(provider: subprocess.Popen[str]) -> dict[str, Any]:
    """The provider's discovery document, once it answers; exit if it does not start."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        while provider.poll() is None and time.monotonic() < deadline:
            try:
                document: dict[str, Any] = client.get(ISSUER + "/.well-known/openid-configuration").json()
            except (httpx.TransportError, ValueError):
                time.sleep(0.1)
                continue
            return document
    sys.exit("The provider did not start: see its output above.")


def stop(provider: subprocess.Popen[str]) -> None:
    if provider.poll() is None:
        provider.terminate()
        try:
            provider.wait(timeout=5)
        except subprocess.TimeoutExpired:
            provider.kill()
            provider.wait()


def main() -> int:
    check_port_free(PORT, "DEMO_PORT")
    check_port_free(PROVIDER_PORT, "DEMO_PROVIDER_PORT")
    install_provider()
    # The provider is started here and forgets everything when it stops: a fresh secret every run.
    client_secret = secrets.token_urlsafe(24)
    # Ctrl-C and SIGTERM alike: uvicorn shuts the app down, then this stops the provider.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    provider = start_provider(client_secret)
    relay = ProviderOutput(provider.stdout)
    relay.start()
    try:
        metadata = wait_for_discovery(provider)
        server = uvicorn.Server(uvicorn.Config(create_app(client_secret, metadata), host=HOST, port=PORT))
        relay.app_server = server
        if provider.poll() is None:
            print(f"\nOpen {BASE_URL}/ in a browser: sign in (any username and password), then log out.\n", flush=True)
            server.run()
    except KeyboardInterrupt:
        pass  # uvicorn passes Ctrl-C on once the app is down; before it was up, it comes straight here
    finally:
        relay.stopping.set()
        stop(provider)
        relay.join(timeout=5)
        print("Stopped the app and the provider.", flush=True)
    return 1 if relay.provider_died else 0


if __name__ == "__main__":
    sys.exit(main())
