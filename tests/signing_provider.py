"""A provider on 127.0.0.1 that signs id_tokens and logout tokens and serves the keys to check them.

It serves only what back-channel logout needs (the discovery document and
the JWK Set); end-session requests never reach it in the tests.

.. code-block:: python

    with signing_provider(client_id="rp") as provider:
        cookie = provider.id_token(sid="s1", sub="alice")
        token = provider.logout_token(sid="s1", sub="alice")  # POST it as logout_token
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey

from logout_middleware.logout_token import BACKCHANNEL_LOGOUT_EVENT

__all__ = ["SigningProvider", "signing_provider"]

# One key for the whole test session: generating an RSA key takes a noticeable moment.
_KEY = RSAKey.generate_key(2048, parameters={"kid": "test-key", "use": "sig", "alg": "RS256"})


class SigningProvider:
    """Signs tokens as the provider at *issuer* for the client *client_id*."""

    def __init__(self, issuer: str, client_id: str) -> None:
        self.issuer = issuer
        self.client_id = client_id

    def metadata(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "jwks_uri": f"{self.issuer}/jwks",
            "end_session_endpoint": f"{self.issuer}/session/end",
            "id_token_signing_alg_values_supported": ["RS256"],
            "backchannel_logout_supported": True,
            "backchannel_logout_session_supported": True,
        }

    def jwks(self) -> dict[str, Any]:
        return {"keys": [_KEY.as_dict(private=False)]}

    def id_token(self, *, sid: str, sub: str, lifetime: int = 3600) -> str:
        """An id_token for a session, as the app would keep it in its cookie."""
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": self.client_id, "sub": sub, "sid": sid, "iat": now, "exp": now + lifetime}
        return self._sign(claims, "JWT")

    def logout_token(self, *, sid: str | None = None, sub: str | None = None) -> str:
        """A Back-Channel Logout 1.0 logout token for a session (sid) or every session of a user (sub)."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.client_id,
            "iat": now,
            "exp": now + 120,
            "jti": secrets.token_urlsafe(12),
            "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
        }
        claims.update({name: value for name, value in (("sid", sid), ("sub", sub)) if value is not None})
        return self._sign(claims, "logout+jwt")

    @staticmethod
    def _sign(claims: dict[str, Any], typ: str) -> str:
        return jwt.encode({"alg": "RS256", "kid": _KEY.kid, "typ": typ}, claims, _KEY)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep the test output clean

    def do_GET(self) -> None:
        provider = self.server.provider
        documents = {"/.well-known/openid-configuration": provider.metadata, "/jwks": provider.jwks}
        document = documents.get(self.path)
        body = json.dumps(document() if document else {"error": "not found"}).encode()
        self.send_response(200 if document else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    provider: SigningProvider


@contextmanager
def signing_provider(*, client_id: str) -> Iterator[SigningProvider]:
    """Serve a signing provider on a free 127.0.0.1 port until the block ends."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.provider = SigningProvider(f"http://127.0.0.1:{server.server_address[1]}", client_id)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield server.provider
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
