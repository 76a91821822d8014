"""Compact JWS: reading a token's parts without trusting them, and checking its signature against a JWK Set.

Shared by the logout token (Back-Channel Logout 1.0, section 2.6) and the
id_token the app keeps (Core 1.0, section 3.1.3.7, steps 6 and 7).  No I/O:
the caller passes the provider's JWK Set in, parsed.  A token naming a
``kid`` the set does not hold raises :class:`UnknownKeyError`, so that the
caller can fetch the set again (the provider may have rotated its keys).
"""

from __future__ import annotations

import base64
import functools
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import TokenError, UnknownKeyError

if TYPE_CHECKING:
    from joserfc.jwk import Key
    from joserfc.jws import JWSRegistry

__all__ = ["decode_payload", "read_header", "verify_signature", "whole_seconds"]

# Only values of this shape are repeated in error messages: the rest is attacker-chosen text.
_PRINTABLE_ALG = re.compile(r"[A-Za-z0-9+_-]{1,32}")
# Larger times are not times: 10**11 seconds is the year 5138.  Python's ints have no
# bound, and float() of a 400-digit one raises OverflowError.
_LATEST_TIME = 10**11


def read_header(token: str, *, max_size: int, kind: str = "token") -> dict[str, Any]:
    """The protected header of a compact JWS, checked for shape only; raise TokenError otherwise.

    *kind* names the token in the messages (``"logout token"``).
    """
    if len(token) > max_size:
        raise TokenError("token too large")
    segments = token.split(".")
    if len(segments) == 5:
        raise TokenError(f"encrypted {kind}s are not supported")
    if len(segments) != 3:
        raise TokenError("token is not a compact JWS")
    header = decode_segment(segments[0])
    if header is None:
        raise TokenError("token header is not a base64url JSON object")
    return header


def check_alg(header: Mapping[str, Any], algorithms: Sequence[str], client_secret: str | None) -> str:
    """The header's ``alg`` if it is one of *algorithms* and can be used, else raise TokenError."""
    from joserfc.jws import JWSRegistry  # noqa: PLC0415 - joserfc is an optional extra

    alg = header.get("alg")
    if not isinstance(alg, str):
        raise TokenError("alg is missing")
    if alg.lower() == "none":
        raise TokenError("alg none is not allowed")
    shown = alg if _PRINTABLE_ALG.fullmatch(alg) else "of the token"
    if alg not in algorithms:
        raise TokenError(f"alg {shown} is not an expected algorithm")
    if alg not in JWSRegistry.algorithms:
        raise TokenError(f"alg {shown} is not supported")
    if alg.startswith("HS") and not client_secret:
        raise TokenError(f"alg {alg} needs a client_secret and none is configured")
    return alg


def verify_signature(
    token: str, header: Mapping[str, Any], alg: str, *, jwks: Mapping[str, Any], client_secret: str | None
) -> dict[str, Any]:
    """Check the signature of *token* (whose header and ``alg`` were checked) and return its claims.

    The key is the client secret for HMAC (Core 1.0, section 10.1), else
    the JWK of *jwks* named by ``kid``, or the only one that fits when the
    header names none.  Unknown header parameters are ignored as RFC 7515
    asks (``crit`` is still enforced).

    :raises UnknownKeyError: no key of *jwks* fits the ``kid`` and ``alg``.
    :raises TokenError: the signature does not verify, or the payload is not a JSON object.
    """
    from joserfc.errors import BadSignatureError, JoseError  # noqa: PLC0415
    from joserfc.jws import deserialize_compact  # noqa: PLC0415

    key = _select_key(header, alg, jwks, client_secret)
    # The registry allows exactly the one algorithm already checked, so joserfc
    # cannot be talked into another one.
    registry = _registry(alg)
    try:
        payload = deserialize_compact(token, key, registry=registry).payload
    except BadSignatureError:
        raise TokenError("signature does not verify") from None
    except (JoseError, ValueError, TypeError):
        raise TokenError("token is not a well-formed JWS for this key") from None
    claims = decode_json(payload)
    if claims is None:
        raise TokenError("token payload is not a JSON object")
    return claims


@functools.lru_cache(maxsize=16)
def _registry(alg: str) -> JWSRegistry:
    from joserfc.jws import JWSRegistry  # noqa: PLC0415

    return JWSRegistry(algorithms=[alg], strict_check_header=False)


def decode_payload(token: str, *, max_size: int) -> dict[str, Any] | None:
    """The payload of a compact JWS, decoded but NOT verified; None for anything else.

    Cheap and never raises: garbage, encrypted tokens and oversized values give None.
    """
    if not isinstance(token, str) or len(token) > max_size or token.count(".") != 2:
        return None
    return decode_segment(token.split(".", 2)[1])


def whole_seconds(value: object) -> float | None:
    """A JSON number that can be a time in seconds since the epoch (bool is not one), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, int):
        return float(value) if -_LATEST_TIME <= value <= _LATEST_TIME else None
    # json.loads accepts NaN and Infinity, which would pass every comparison check.
    return value if math.isfinite(value) and abs(value) <= _LATEST_TIME else None


def decode_segment(segment: str) -> dict[str, Any] | None:
    """Decode a base64url segment holding a JSON object, or return None."""
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except ValueError:
        return None
    return decode_json(raw)


def decode_json(raw: bytes | None) -> dict[str, Any] | None:
    """Parse bytes holding a JSON object, or return None."""
    try:
        value = json.loads(raw or b"")
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _select_key(header: Mapping[str, Any], alg: str, jwks: Mapping[str, Any], client_secret: str | None) -> Key:
    """Pick the key to verify with: the client secret for HMAC, else the JWK named by ``kid``."""
    from joserfc.errors import JoseError  # noqa: PLC0415
    from joserfc.jwk import OctKey  # noqa: PLC0415
    from joserfc.jws import JWSRegistry  # noqa: PLC0415

    if alg.startswith("HS"):
        # OpenID Connect Core 10.1: the UTF-8 octets of the client secret are the HMAC key.
        secret_key: Key = OctKey.import_key(client_secret or "")
        return secret_key
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise TokenError("kid is not a string")
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
        raise TokenError(f"the key named by kid cannot verify alg {alg}")
    if kid is None and len(fitting) > 1:
        # OpenID Connect Core 10.1: with several keys in the set, the kid MUST be given.
        raise TokenError("kid is missing and several keys of the JWKS fit")
    try:
        return _imported(json.dumps(fitting[0], sort_keys=True))
    except (JoseError, ValueError, TypeError):
        raise TokenError("the key of the JWKS cannot be read") from None


@functools.lru_cache(maxsize=64)
def _imported(jwk: str) -> Key:
    """A JWK, given as JSON, read into a key: once, as reading an RSA key costs more than verifying with it."""
    from joserfc.jwk import JWKRegistry  # noqa: PLC0415

    key: Key = JWKRegistry.import_key(json.loads(jwk))
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
