"""Tokens signed as a provider signs them: id_tokens for the app's cookie or session, and logout tokens.

One RSA key for the whole test run (generating one takes a noticeable
moment); serve :data:`JWKS` as the provider's key set.

.. code-block:: python

    stub.jwks = JWKS
    cookie = f"id_token={id_token(stub.issuer, sid='s1')}"
    form = {"logout_token": logout_token(stub.issuer, sid="s1")}
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from joserfc import jws
from joserfc.jwk import RSAKey

from logout_middleware.specs.logout_token import BACKCHANNEL_LOGOUT_EVENT

__all__ = ["CLIENT_ID", "JWKS", "KEY", "ROTATED", "b64", "id_token", "logout_token", "sign", "unsigned"]

KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})
#: A key the provider rotates to: not in :data:`JWKS`.
ROTATED = RSAKey.generate_key(2048, parameters={"kid": "k2"})
#: The provider's key set, as its jwks_uri serves it.
JWKS = {"keys": [KEY.as_dict(private=False)]}
#: The client the tokens are for.
CLIENT_ID = "rp"


def b64(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def sign(claims: dict[str, Any], *, key: RSAKey = KEY, alg: str = "RS256") -> str:
    registry = jws.JWSRegistry(algorithms=[alg])
    return jws.serialize_compact({"alg": alg, "kid": key.kid}, json.dumps(claims).encode(), key, registry=registry)


def id_token(
    iss: str,
    *,
    sid: str | None = "sid-1",
    sub: str = "alice",
    iat: float | None = None,
    aud: str = CLIENT_ID,
    key: RSAKey = KEY,
    **claims: Any,
) -> str:
    """An id_token for the session *sid* of *sub*, signed by the provider (by *key*)."""
    payload = {"iss": iss, "sub": sub, "sid": sid, "aud": aud, "iat": int(iat or time.time()) - 10, **claims}
    return sign({name: value for name, value in payload.items() if value is not None}, key=key)


def unsigned(token: str, **changes: Any) -> str:
    """*token* with its payload changed and the signature kept: what a client can forge."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return f"{header}.{b64({**claims, **changes})}.{signature}"


def logout_token(iss: str, *, key: RSAKey = KEY, alg: str = "RS256", **claims: Any) -> str:
    """A logout token for the session ``sid-1`` unless *claims* say otherwise; None drops a claim."""
    now = int(time.time())
    body = {"iss": iss, "aud": CLIENT_ID, "iat": now, "exp": now + 120, "jti": f"jti-{time.monotonic_ns()}",
            "sid": "sid-1", "events": {BACKCHANNEL_LOGOUT_EVENT: {}}, **claims}  # fmt: skip
    return sign({name: value for name, value in body.items() if value is not None}, key=key, alg=alg)
