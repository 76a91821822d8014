"""Shape checks for id_tokens, without decoding or verifying them."""

from __future__ import annotations

import string

_BASE64URL = string.ascii_letters + string.digits + "-_"
_BASE64URL_AND_DOT = _BASE64URL + "."


def is_compact_jwt(value: str) -> bool:
    """Tell whether *value* has the shape of a compact JWS or JWE.

    A JWS has three base64url segments (header, payload, signature) and a JWE
    five (header, encrypted key, IV, ciphertext, tag).  The header must start
    with ``ey``, the base64url form of ``{"``: every JOSE header is a JSON
    object, so a cookie holding anything else is not a token.  Nothing is
    decoded: this runs on untrusted cookie values and must stay cheap.
    """
    # rstrip() leaves a non-empty string exactly when a character outside the
    # alphabet is present; it runs in C, unlike a per-character loop.
    if not value.startswith("ey") or value.rstrip(_BASE64URL_AND_DOT):
        return False
    segments = value.split(".")
    if len(segments) == 3:
        required: tuple[str, ...] = (segments[0], segments[1])
    elif len(segments) == 5:
        required = (segments[0], segments[3])
    else:
        return False
    if not all(required):
        return False
    # A base64url segment can never be one character longer than a multiple of 4.
    return all(len(segment) % 4 != 1 for segment in segments)
