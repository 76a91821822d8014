"""The stand-in provider on 127.0.0.1: the one fake provider of the tests.

It serves a discovery document shaped like the real provider's (see
examples/provider) and the JWK Set of :mod:`tests.support.tokens`, signs
id_tokens and logout tokens with that key, records every request, and can be
told to be slow, to break its JSON, to claim another issuer, to fail, or to
stop answering: the failure modes a real provider will not produce on demand.
What it answers is written once, in :func:`provider_answer`: served over HTTP
by :func:`provider_stub`, and handed to the core without a socket by
:class:`tests.support.scripted.ScriptedProvider`.

.. code-block:: python

    with provider_stub() as stub:
        cookie = f"id_token={stub.id_token(sid='s1')}"
        stub.mode = "500"  # discovery now fails
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support import tokens


@dataclass
class StubState:
    issuer: str = ""
    #: The client its tokens are for.
    client_id: str = tokens.CLIENT_ID
    #: "ok", "slow", "invalid-json", "wrong-issuer", "500", "404", "not-object", "no-end-session"
    mode: str = "ok"
    revocation_status: int = 200
    #: The JWK Set served at /jwks, or raw bytes to serve instead, with ``jwks_status``.
    jwks: dict[str, Any] | bytes = field(default_factory=lambda: tokens.JWKS)
    jwks_status: int = 200
    #: The discovery document's id_token_signing_alg_values_supported.
    algorithms: list[str] = field(default_factory=lambda: ["RS256", "ES256"])
    delay: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)

    def id_token(self, *, sid: str | None = "sid-1", sub: str = "alice", **claims: Any) -> str:
        """An id_token of this provider for the session *sid* of *sub*, as the app would keep it."""
        return tokens.id_token(self.issuer, sid=sid, sub=sub, aud=self.client_id, **claims)

    def logout_token(self, *, sid: str | None = "sid-1", sub: str | None = None, **claims: Any) -> str:
        """A Back-Channel Logout 1.0 logout token of this provider for a session (sid) or a user (sub)."""
        return tokens.logout_token(self.issuer, sid=sid, sub=sub, aud=self.client_id, **claims)

    def metadata(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/auth",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "end_session_endpoint": f"{self.issuer}/session/end",
            "revocation_endpoint": f"{self.issuer}/token/revocation",
            "id_token_signing_alg_values_supported": self.algorithms,
            "backchannel_logout_supported": True,
            "backchannel_logout_session_supported": True,
            "frontchannel_logout_supported": False,
            "response_types_supported": ["code"],
        }
        if self.mode == "no-end-session":
            del document["end_session_endpoint"]
        if self.mode == "wrong-issuer":
            document["issuer"] = "https://impostor.example"
        return document


def provider_answer(
    state: StubState, method: str, path: str, headers: dict[str, str], body: bytes
) -> tuple[int, bytes]:
    """What the stand-in provider answers a request (status and JSON body), and the request recorded.

    The one place its behaviour is written: :func:`provider_stub` serves it over HTTP, and
    :class:`tests.support.scripted.ScriptedProvider` hands it to the core with no socket.
    """
    state.requests.append({"method": method, "path": path, "headers": headers, "body": body})
    return _respond(state, path)


def _respond(state: StubState, path: str) -> tuple[int, bytes]:
    if path == "/.well-known/openid-configuration":
        return _discovery(state)
    if path == "/jwks":
        jwks = state.jwks
        return state.jwks_status, jwks if isinstance(jwks, bytes) else json.dumps(jwks).encode()
    if path == "/token/revocation":
        return state.revocation_status, b"{}"
    return 404, b"{}"


def _discovery(state: StubState) -> tuple[int, bytes]:
    if state.mode in ("500", "404"):
        return int(state.mode), b"{}"
    if state.mode == "invalid-json":
        return 200, b'{"issuer": '
    if state.mode == "not-object":
        return 200, b"[1, 2]"
    return 200, json.dumps(state.metadata()).encode()


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep the test output clean

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def _answer(self) -> None:
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        state.requests.append(
            {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": self.rfile.read(length)}
        )
        if state.mode == "slow" or state.delay:
            time.sleep(state.delay or 3)
        status, body = _respond(state, self.path)
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting, as the slow-provider test wants


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: StubState


@contextmanager
def provider_stub(*, client_id: str = tokens.CLIENT_ID) -> Iterator[StubState]:
    """Serve a stub provider on a free 127.0.0.1 port until the block ends."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.state = StubState(issuer=f"http://127.0.0.1:{server.server_address[1]}", client_id=client_id)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield server.state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
