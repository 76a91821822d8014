"""The per-request check: was the session in this request's id_token cookie revoked?

Runs on every request while back-channel or front-channel logout is on, so
it does no network round trip (the Redis store answers from its local copy)
and reads the cookie's claims without verifying them: the app set that
cookie, and a forged one can only sign its own bearer out.
"""

from __future__ import annotations

import logging

from .cookies import read_cookie
from .logout_token import unverified_claims
from .messages import Refusal
from .revocation import RevocationStore, StoreUnavailableError

__all__ = ["SessionGuard", "strip_cookies"]

logger = logging.getLogger("logout_middleware")

STORE_UNAVAILABLE = "the revocation store is unavailable and fails closed: %s"

_CACHE_SIZE = 4096
# Larger cookies are decoded every time rather than kept: the cache must not be a way to fill memory.
_CACHEABLE_TOKEN = 8 * 1024
Session = tuple[str, "str | None", "str | None", "float | None"]  # iss, sid, sub, iat


class SessionGuard:
    """Asks the revocation store about the session an id_token cookie belongs to."""

    def __init__(self, store: RevocationStore, *, issuer: str | None, id_token_cookie: str) -> None:
        self.store = store
        self.issuer = issuer
        self.id_token_cookie = id_token_cookie
        self._marker = id_token_cookie + "="
        # Decoding a token costs more than the store lookup; the same cookie comes back on every request.
        self._sessions: dict[str, Session] = {}

    def session(self, cookie_header: str) -> Session | None:
        """The (iss, sid, sub, iat) of the request's id_token cookie, if it holds a readable token."""
        if self._marker not in cookie_header:
            return None
        token = read_cookie(cookie_header, self.id_token_cookie)
        if not token:
            return None
        cached = self._sessions.get(token)
        if cached is not None:
            return cached
        session = _session_of(token)
        if session is not None and len(token) <= _CACHEABLE_TOKEN:
            if len(self._sessions) >= _CACHE_SIZE:
                self._sessions.clear()
            self._sessions[token] = session
        return session

    def is_revoked(self, cookie_header: str) -> bool:
        """Whether the request carries the id_token of a revoked session.

        :raises Refusal: (503) the store cannot tell and is set to fail closed.
        """
        session = self.session(cookie_header)
        if session is None or (self.issuer is not None and session[0] != self.issuer):
            return False
        try:
            return self.store.is_revoked(*session)
        except StoreUnavailableError as exc:
            logger.error(STORE_UNAVAILABLE, exc)
            raise Refusal(503, "sign-in state cannot be checked right now; please try again") from None


def _session_of(token: str) -> Session | None:
    claims = unverified_claims(token)
    if claims is None or not isinstance(claims.get("iss"), str):
        return None
    sid, sub, iat = claims.get("sid"), claims.get("sub"), claims.get("iat")
    return (
        claims["iss"],
        sid if isinstance(sid, str) else None,
        sub if isinstance(sub, str) else None,
        float(iat) if isinstance(iat, (int, float)) and not isinstance(iat, bool) else None,
    )


def strip_cookies(cookie_header: str, names: frozenset[str]) -> str:
    """The Cookie header without the named cookies, so the app sees an anonymous request."""
    kept = [pair for pair in cookie_header.split(";") if pair.partition("=")[0].strip() not in names]
    return ";".join(kept).strip()
