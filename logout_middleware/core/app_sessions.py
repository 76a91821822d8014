"""The app's own session: finding the id_token in it, and reading Starlette's signed session cookie.

Sign-in libraries keep the id_token in the framework's session: Authlib as
``session["token"]["id_token"]`` (or the app as ``session["id_token"]``),
mozilla-django-oidc as ``session["oidc_id_token"]``, Flask-pyoidc as
``session["id_token_jwt"]``.  :data:`DEFAULT_KEYS` tries all of them.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from ..errors import ConfigError

__all__ = ["DEFAULT_KEYS", "SignedSessionCookie", "find_id_token", "parse_key_paths"]

#: Where sign-in libraries keep the id_token in the session, as dotted key paths, tried in order.
DEFAULT_KEYS = ("id_token", "token.id_token", "oidc_id_token", "id_token_jwt")
#: Longer session cookies are not read: browsers keep at most 4 KiB per cookie.
MAX_SESSION_COOKIE = 16 * 1024


def parse_key_paths(paths: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    """``("token.id_token",)`` becomes ``(("token", "id_token"),)``."""
    return tuple(tuple(path.split(".")) for path in paths)


def find_id_token(session: Any, paths: tuple[tuple[str, ...], ...]) -> str | None:
    """The first id_token found at one of *paths* in *session*, or None.

    *session* is anything with ``get``: a dict, Starlette's and Flask's
    sessions, Django's ``request.session``.  A value counts only if it is a
    non-empty string shaped like a compact JWT (two dots).
    """
    for path in paths:
        value = session.get(path[0])
        for key in path[1:]:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, str) and value.count(".") == 2:
            return value
    return None


class SignedSessionCookie:
    """Reads the cookie of Starlette's ``SessionMiddleware``: JSON, base64, signed by itsdangerous.

    The signature is checked with the app's secret, exactly as Starlette
    does (``itsdangerous.TimestampSigner(secret)``), but not the age: a
    revocation must hold for a cookie however old, and Starlette refuses
    the ones past its ``max_age`` itself.

    :raises ConfigError: itsdangerous is not installed.
    """

    def __init__(self, secret: str) -> None:
        try:
            import itsdangerous  # noqa: PLC0415 - only apps with Starlette sessions need it
        except ImportError:
            raise ConfigError(
                "session_secret needs itsdangerous to read Starlette's session cookie:"
                " pip install 'logout-middleware[asgi]'"
            ) from None
        self._signer = itsdangerous.TimestampSigner(secret)
        self._bad_signature = itsdangerous.BadSignature

    def read(self, value: str) -> dict[str, Any] | None:
        """The session a cookie value holds, or None when it is not one signed with the secret."""
        if len(value) > MAX_SESSION_COOKIE:
            return None
        try:
            data = self._signer.unsign(value.encode("utf-8", "surrogateescape"))
            session = json.loads(base64.b64decode(data))
        except (self._bad_signature, binascii.Error, ValueError, RecursionError):
            return None
        return session if isinstance(session, dict) else None
