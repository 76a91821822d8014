"""The id_token the app keeps: the claims that name its session, and how far they can be trusted.

An id_token read from the app's own session (signed or stored by the
framework) is trusted as it is: the client cannot edit it.  One read from a
cookie of its own is trusted only once its signature verifies against the
provider's keys, with ``iss`` and ``aud`` checked (OpenID Connect Core 1.0,
section 3.1.3.7, steps 2, 3 and 6).  ``exp`` is not checked: the app's
session outlives the token, and a revocation must hold as long as the
session does.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import TokenError
from .jws import check_alg, decode_payload, read_header, verify_signature, whole_seconds

__all__ = ["MAX_ID_TOKEN_SIZE", "SessionClaims", "read_session_claims", "verify_id_token"]

#: The longest id_token read, in characters; larger values are not tokens anyone issues.
MAX_ID_TOKEN_SIZE = 64 * 1024
# Identifiers longer than any provider issues are not used to look anything up.
_MAX_IDENTIFIER = 255


@dataclass(frozen=True, slots=True)
class SessionClaims:
    """The claims of an id_token that name the session it stands for.

    ``sid`` is the provider's session id when the token carries one (it
    does when the client registered for back- or front-channel logout);
    ``key`` is what the revocation store knows the session by: the ``sid``,
    or, for a token without one, ``"#"`` and a digest of the token itself,
    so that a logout at this app can still revoke exactly this session.
    """

    iss: str
    sub: str | None
    sid: str | None
    iat: float | None
    key: str


def read_session_claims(id_token: str) -> SessionClaims | None:
    """The session claims of an id_token, decoded WITHOUT any check; None if it is not one.

    For tokens the app's session holds, which the client cannot edit.
    """
    payload = decode_payload(id_token, max_size=MAX_ID_TOKEN_SIZE)
    return None if payload is None else _session_claims(payload, id_token)


def verify_id_token(
    id_token: str,
    *,
    jwks: Mapping[str, Any],
    issuer: str,
    client_id: str,
    algorithms: Sequence[str],
    client_secret: str | None = None,
) -> SessionClaims:
    """Check an id_token's signature, ``iss`` and ``aud``, and return its session claims.

    :param jwks: the provider's JWK Set, parsed.
    :param algorithms: the ``alg`` values the provider signs with; ``none`` is always refused.
    :raises UnknownKeyError: no key of *jwks* fits the token (fetch the set again).
    :raises TokenError: any other check failed.
    """
    header = read_header(id_token, max_size=MAX_ID_TOKEN_SIZE, kind="id_token")
    alg = check_alg(header, algorithms, client_secret)
    payload = verify_signature(id_token, header, alg, jwks=jwks, client_secret=client_secret)
    if payload.get("iss") != issuer:
        raise TokenError("iss is not the expected issuer")
    aud = payload.get("aud")
    if not (aud == client_id or (isinstance(aud, list) and client_id in aud)):
        raise TokenError("aud does not contain the client_id")
    claims = _session_claims(payload, id_token)
    if claims is None:
        raise TokenError("sub, sid or iat is not usable")
    return claims


def _session_claims(payload: Mapping[str, Any], id_token: str) -> SessionClaims | None:
    iss, sub, sid = payload.get("iss"), payload.get("sub"), payload.get("sid")
    if not isinstance(iss, str) or not iss:
        return None
    sub = sub if isinstance(sub, str) and 0 < len(sub) <= _MAX_IDENTIFIER else None
    sid = sid if isinstance(sid, str) and 0 < len(sid) <= _MAX_IDENTIFIER else None
    iat = whole_seconds(payload.get("iat"))
    return SessionClaims(iss=iss, sub=sub, sid=sid, iat=iat, key=sid or token_key(id_token))


def token_key(id_token: str) -> str:
    """The store's name for the session of a token without ``sid``: ``#`` and its SHA-256, base64url."""
    digest = hashlib.sha256(id_token.encode("utf-8", "surrogateescape")).digest()
    return "#" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
