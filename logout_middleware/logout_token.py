"""Validation of Back-Channel Logout 1.0 logout tokens (section 2.6), without I/O.

The caller fetches the provider's JWK Set and passes it in parsed; a token
naming a ``kid`` the set does not hold raises :class:`UnknownKeyError`, so
the caller can refetch the set once (the provider may have rotated its keys)
and try again.  Replay detection (``jti`` seen before) belongs to the
revocation store, not here.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import LogoutError

if TYPE_CHECKING:
    from joserfc.jwk import Key

__all__ = [
    "BACKCHANNEL_LOGOUT_EVENT",
    "MAX_TOKEN_SIZE",
    "LogoutClaims",
    "LogoutTokenError",
    "UnknownKeyError",
    "unverified_claims",
    "validate_logout_token",
]

#: The member of the ``events`` claim that makes a JWT a logout token.
BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
#: Longest logout token accepted, in characters; real ones are well under 2 KiB.
MAX_TOKEN_SIZE = 16 * 1024
# The app's own id_token cookie may be larger than a logout token, but not without bound.
_MAX_ID_TOKEN_SIZE = 64 * 1024
_TYPES = frozenset({"jwt", "logout+jwt", "application/jwt", "application/logout+jwt"})
# Only values of this shape are repeated in error messages: the rest is attacker-chosen text.
_PRINTABLE_ALG = re.compile(r"[A-Za-z0-9+_-]{1,32}")


class LogoutTokenError(LogoutError):
    """A logout token failed a check; the message names it and suits ``error_description``."""


class UnknownKeyError(LogoutTokenError):
    """No key of the JWK Set fits the token: refetch the set once, then validate again."""


@dataclass(frozen=True, slots=True)
class LogoutClaims:
    """The claims of a valid logout token that say what to log out.

    A ``sid`` ends that one session at ``iss``; a ``sub`` without ``sid``
    ends every session of that user at ``iss``.  At least one of them is set.
    Remember ``jti`` (for replay detection) until ``exp``, or, for a token
    without ``exp`` accepted under ``accept_missing_exp_max_age``, until
    ``iat`` plus that age.
    """

    iss: str
    sub: str | None
    sid: str | None
    jti: str
    iat: float
    exp: float | None


def validate_logout_token(
    token: str,
    *,
    jwks: Mapping[str, Any],
    issuer: str,
    client_id: str,
    now: float,
    algorithms: Sequence[str] = ("RS256",),
    client_secret: str | None = None,
    leeway: int = 60,
    accept_missing_exp_max_age: int | None = None,
) -> LogoutClaims:
    """Check a logout token as OpenID Connect Back-Channel Logout 1.0 section 2.6 says.

    After a size bound, the checks run in the order of the specification:
    ``alg`` and ``typ``, the signature (with the key of *jwks* named by
    ``kid``, or the only key that fits when the header names none), then
    ``iss``, ``aud``, ``iat``, ``exp``, ``sub``/``sid``, ``events``,
    ``nonce`` and ``jti``.  Unknown claims and header parameters are
    ignored.  Encrypted (JWE) logout tokens are not supported.

    .. warning::

        Pass only the algorithms the provider really signs with (its
        registered ``id_token_signed_response_alg``, usually ``RS256``):
        with a key that carries no ``alg`` of its own, every algorithm in
        *algorithms* is accepted for it.

    :param token: the ``logout_token`` form parameter, as received.
    :param jwks: the provider's JWK Set (its ``jwks_uri`` document, parsed).
    :param issuer: the provider's issuer identifier; ``iss`` must equal it exactly.
    :param client_id: this client's id; ``aud`` must be it or a list holding it.
    :param now: the current time, in seconds since the epoch.
    :param algorithms: the ``alg`` values accepted; ``none`` is always refused.
    :param client_secret: the key for ``HS256``/``HS384``/``HS512``, which are
        refused without it even when listed in *algorithms*.
    :param leeway: seconds of clock skew allowed on ``iat`` and ``exp``.
    :param accept_missing_exp_max_age: ``exp`` is required (errata set 1 of
        2023); set this to accept tokens without ``exp`` from older providers
        when ``iat`` is at most this many seconds old.
    :returns: the claims that say which sessions to end.
    :raises UnknownKeyError: no key of *jwks* fits the token's ``kid`` and ``alg``.
    :raises LogoutTokenError: any other check failed.
    :raises ImportError: joserfc is not installed (``pip install 'logout-middleware[backchannel]'``).

    .. code-block:: python

        try:
            claims = validate_logout_token(
                form["logout_token"], jwks=jwks, issuer=ISSUER, client_id=CLIENT_ID, now=time.time()
            )
        except LogoutTokenError as error:
            return 400, {"error": "invalid_request", "error_description": str(error)}
    """
    if len(token) > MAX_TOKEN_SIZE:
        raise LogoutTokenError("token too large")
    segments = token.split(".")
    if len(segments) == 5:
        raise LogoutTokenError("encrypted logout tokens are not supported")
    if len(segments) != 3:
        raise LogoutTokenError("token is not a compact JWS")
    header = _decode_json(segments[0])
    if header is None:
        raise LogoutTokenError("token header is not a base64url JSON object")
    # Imported here, not at the top, so that the rest of the package (unverified_claims
    # included) works without the optional joserfc.
    from joserfc.errors import BadSignatureError, JoseError  # noqa: PLC0415
    from joserfc.jws import JWSRegistry, deserialize_compact  # noqa: PLC0415

    alg = _check_alg(header.get("alg"), algorithms, client_secret, supported=JWSRegistry.algorithms)
    typ = header.get("typ")
    if typ is not None and (not isinstance(typ, str) or typ.lower() not in _TYPES):
        raise LogoutTokenError("typ must be absent, JWT or logout+jwt")
    key = _select_key(header, alg, jwks, client_secret)
    # The registry allows exactly the one algorithm already checked, so joserfc
    # cannot be talked into another one; unknown header parameters are ignored
    # as RFC 7515 asks (``crit`` is still enforced).
    registry = JWSRegistry(algorithms=[alg], strict_check_header=False)
    try:
        payload = deserialize_compact(token, key, registry=registry).payload
    except BadSignatureError:
        raise LogoutTokenError("signature does not verify") from None
    except (JoseError, ValueError, TypeError):
        raise LogoutTokenError("token is not a well-formed JWS for this key") from None
    claims = _decode_json_bytes(payload)
    if claims is None:
        raise LogoutTokenError("token payload is not a JSON object")
    return _check_claims(
        claims,
        issuer=issuer,
        client_id=client_id,
        now=now,
        leeway=leeway,
        accept_missing_exp_max_age=accept_missing_exp_max_age,
    )


def unverified_claims(id_token: str) -> dict[str, Any] | None:
    """Return the payload of a compact JWS without verifying anything, or None.

    Meant for reading ``iss``, ``sid``, ``sub`` and ``iat`` from the app's own
    id_token cookie on every request, to ask the revocation store about it.
    Cheap, and never raises: garbage, encrypted tokens and oversized values
    give None.

    .. warning::

        Nothing here is verified: use the result only to look a session up,
        never to grant anything.
    """
    if not isinstance(id_token, str) or len(id_token) > _MAX_ID_TOKEN_SIZE or id_token.count(".") != 2:
        return None
    return _decode_json(id_token.split(".", 2)[1])


def _check_alg(alg: object, algorithms: Sequence[str], client_secret: str | None, *, supported: Container[str]) -> str:
    """Return the header's ``alg`` if it may be used, else raise."""
    if not isinstance(alg, str):
        raise LogoutTokenError("alg is missing")
    if alg.lower() == "none":
        raise LogoutTokenError("alg none is not allowed")
    shown = alg if _PRINTABLE_ALG.fullmatch(alg) else "of the token"
    if alg not in algorithms:
        raise LogoutTokenError(f"alg {shown} is not an expected algorithm")
    if alg not in supported:
        raise LogoutTokenError(f"alg {shown} is not supported")
    if alg.startswith("HS") and not client_secret:
        raise LogoutTokenError(f"alg {alg} needs a client_secret and none is configured")
    return alg


def _select_key(header: Mapping[str, Any], alg: str, jwks: Mapping[str, Any], client_secret: str | None) -> Key:
    """Pick the key to verify with: the client secret for HMAC, else the JWK named by ``kid``."""
    from joserfc.errors import JoseError  # noqa: PLC0415
    from joserfc.jwk import JWKRegistry, OctKey  # noqa: PLC0415
    from joserfc.jws import JWSRegistry  # noqa: PLC0415

    if alg.startswith("HS"):
        # OpenID Connect Core 10.1: the UTF-8 octets of the client secret are the HMAC key.
        secret_key: Key = OctKey.import_key(client_secret or "")
        return secret_key
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise LogoutTokenError("kid is not a string")
    keys = jwks.get("keys")
    if not isinstance(keys, list):
        raise UnknownKeyError("the JWKS holds no keys")
    key_type = JWSRegistry.algorithms[alg].key_type
    named = [jwk for jwk in keys if isinstance(jwk, Mapping) and (kid is None or jwk.get("kid") == kid)]
    fitting = [jwk for jwk in named if _fits(jwk, key_type, alg)]
    if not fitting:
        if kid is None:
            raise UnknownKeyError(f"no key of the JWKS fits alg {alg}")
        if not named:
            raise UnknownKeyError("unknown kid")
        raise LogoutTokenError(f"the key named by kid cannot verify alg {alg}")
    if kid is None and len(fitting) > 1:
        # OpenID Connect Core 10.1: with several keys in the set, the kid MUST be given.
        raise LogoutTokenError("kid is missing and several keys of the JWKS fit")
    try:
        key: Key = JWKRegistry.import_key(dict(fitting[0]))
    except (JoseError, ValueError, TypeError):
        raise LogoutTokenError("the key of the JWKS cannot be read") from None
    return key


def _fits(jwk: Mapping[str, Any], key_type: str, alg: str) -> bool:
    """Tell whether a JWK may verify a signature made with *alg*."""
    key_ops = jwk.get("key_ops")
    return (
        jwk.get("kty") == key_type
        and jwk.get("use", "sig") == "sig"
        and jwk.get("alg", alg) == alg
        and (key_ops is None or (isinstance(key_ops, list) and "verify" in key_ops))
    )


def _check_claims(
    claims: dict[str, Any],
    *,
    issuer: str,
    client_id: str,
    now: float,
    leeway: int,
    accept_missing_exp_max_age: int | None,
) -> LogoutClaims:
    """Run the claim checks of section 2.6, steps 3 to 7."""
    if claims.get("iss") != issuer:
        raise LogoutTokenError("iss is not the expected issuer")
    aud = claims.get("aud")
    if not (aud == client_id or (isinstance(aud, list) and client_id in aud)):
        raise LogoutTokenError("aud does not contain the client_id")
    iat = _number(claims.get("iat"))
    if iat is None:
        raise LogoutTokenError("iat is missing or not a number")
    if iat > now + leeway:
        raise LogoutTokenError("iat is in the future")
    exp = _number(claims.get("exp"))
    if "exp" in claims and exp is None:
        raise LogoutTokenError("exp is not a number")
    if exp is None:
        if accept_missing_exp_max_age is None:
            raise LogoutTokenError("exp is missing")
        if now - iat > accept_missing_exp_max_age:
            raise LogoutTokenError("exp is missing and iat is too old")
    elif now >= exp + leeway:
        raise LogoutTokenError("token expired")
    sub = claims.get("sub")
    sid = claims.get("sid")
    for name, value in (("sub", sub), ("sid", sid)):
        if value is not None and (not isinstance(value, str) or not value):
            raise LogoutTokenError(f"{name} is not a non-empty string")
    if sub is None and sid is None:
        raise LogoutTokenError("neither sid nor sub")
    events = claims.get("events")
    if not isinstance(events, dict):
        raise LogoutTokenError("events claim is missing or not an object")
    if BACKCHANNEL_LOGOUT_EVENT not in events:
        raise LogoutTokenError(f"events claim lacks {BACKCHANNEL_LOGOUT_EVENT}")
    if not isinstance(events[BACKCHANNEL_LOGOUT_EVENT], dict):
        raise LogoutTokenError(f"events member {BACKCHANNEL_LOGOUT_EVENT} is not an object")
    if "nonce" in claims:
        raise LogoutTokenError("nonce must not be present")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti:
        raise LogoutTokenError("jti is missing")
    return LogoutClaims(iss=issuer, sub=sub, sid=sid, jti=jti, iat=iat, exp=exp)


def _number(value: object) -> float | None:
    """Return a finite JSON number as is (bool is not one), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    # json.loads accepts NaN and Infinity, which would pass every comparison check.
    return value if math.isfinite(value) else None


def _decode_json(segment: str) -> dict[str, Any] | None:
    """Decode a base64url segment holding a JSON object, or return None."""
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except ValueError:
        return None
    return _decode_json_bytes(raw)


def _decode_json_bytes(raw: bytes | None) -> dict[str, Any] | None:
    """Parse bytes holding a JSON object, or return None."""
    try:
        value = json.loads(raw or b"")
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None
