"""Validation of Back-Channel Logout 1.0 logout tokens (section 2.6), without I/O.

The caller fetches the provider's JWK Set and passes it in parsed; a token
naming a ``kid`` the set does not hold raises :class:`UnknownKeyError`, so
the caller can refetch the set once (the provider may have rotated its keys)
and try again.  Replay detection (``jti`` seen before) belongs to the
revocation store, not here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import LogoutTokenError, TokenError, UnknownKeyError
from .jws import check_alg, decode_payload, read_header, verify_signature, whole_seconds

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
    try:
        header = precheck_logout_token(token, algorithms=algorithms, client_secret=client_secret)
        claims = verify_signature(token, header, header["alg"], jwks=jwks, client_secret=client_secret)
    except UnknownKeyError:
        raise
    except TokenError as exc:
        raise LogoutTokenError(str(exc), reason="signature") from None
    return _check_claims(
        claims,
        issuer=issuer,
        client_id=client_id,
        now=now,
        leeway=leeway,
        accept_missing_exp_max_age=accept_missing_exp_max_age,
    )


def precheck_logout_token(token: str, *, algorithms: Sequence[str], client_secret: str | None) -> dict[str, Any]:
    """The checks that need no key: size, shape, ``alg`` and ``typ``; return the header.

    Run before anything is fetched from the provider, so that garbage costs
    no request to it.

    :raises LogoutTokenError: the token cannot be a logout token of this provider.
    """
    try:
        header = read_header(token, max_size=MAX_TOKEN_SIZE, kind="logout token")
    except TokenError as exc:
        raise LogoutTokenError(str(exc), reason="malformed") from None
    try:
        check_alg(header, algorithms, client_secret)
    except TokenError as exc:
        raise LogoutTokenError(str(exc), reason="algorithm") from None
    typ = header.get("typ")
    if typ is not None and (not isinstance(typ, str) or typ.lower() not in _TYPES):
        raise LogoutTokenError("typ must be absent, JWT or logout+jwt", reason="typ")
    return header


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
    return decode_payload(id_token, max_size=_MAX_ID_TOKEN_SIZE)


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
        raise LogoutTokenError("iss is not the expected issuer", reason="issuer")
    aud = claims.get("aud")
    if not (aud == client_id or (isinstance(aud, list) and client_id in aud)):
        raise LogoutTokenError("aud does not contain the client_id", reason="audience")
    iat = whole_seconds(claims.get("iat"))
    if iat is None:
        raise LogoutTokenError("iat is missing or not a number", reason="iat")
    if iat > now + leeway:
        raise LogoutTokenError("iat is in the future", reason="iat")
    exp = whole_seconds(claims.get("exp"))
    if "exp" in claims and exp is None:
        raise LogoutTokenError("exp is not a number", reason="exp")
    if exp is None:
        if accept_missing_exp_max_age is None:
            raise LogoutTokenError("exp is missing", reason="exp")
        if now - iat > accept_missing_exp_max_age:
            raise LogoutTokenError("exp is missing and iat is too old", reason="exp")
    elif now >= exp + leeway:
        raise LogoutTokenError("token expired", reason="exp")
    sub = claims.get("sub")
    sid = claims.get("sid")
    for name, value in (("sub", sub), ("sid", sid)):
        if value is not None and (not isinstance(value, str) or not value):
            raise LogoutTokenError(f"{name} is not a non-empty string", reason="sid_sub")
    if sub is None and sid is None:
        raise LogoutTokenError("neither sid nor sub", reason="sid_sub")
    events = claims.get("events")
    if not isinstance(events, dict):
        raise LogoutTokenError("events claim is missing or not an object", reason="events")
    if BACKCHANNEL_LOGOUT_EVENT not in events:
        raise LogoutTokenError(f"events claim lacks {BACKCHANNEL_LOGOUT_EVENT}", reason="events")
    if not isinstance(events[BACKCHANNEL_LOGOUT_EVENT], dict):
        raise LogoutTokenError(f"events member {BACKCHANNEL_LOGOUT_EVENT} is not an object", reason="events")
    if "nonce" in claims:
        raise LogoutTokenError("nonce must not be present", reason="nonce")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti:
        raise LogoutTokenError("jti is missing", reason="jti")
    return LogoutClaims(iss=issuer, sub=sub, sid=sid, jti=jti, iat=iat, exp=exp)
