"""The per-request check: does this request belong to a session that was signed out?

It keys on the session the app trusts, never on a value the client can edit:

* an id_token inside the app's session (``scope["session"]``, ``flask.session``,
  Django's ``request.session``, or Starlette's signed cookie read with
  ``session_secret``) is trusted because the framework signed or stored it;
* an id_token in a cookie of its own is trusted only once its signature
  verifies against the provider's keys.  Until then the login cookies that
  came with it count for nothing: they are stripped, as for a revoked session.

Every value of a cookie sent more than once is looked at, so that no way of
reading duplicates (the first, as WebOb does, or the last, as Django and
Starlette do) can pick one this check did not see.

No I/O: :meth:`SessionCheck.inspect` answers with an :class:`Inspection`
naming the sessions to look up; the driver asks the revocation store about
them, and :class:`~logout_middleware.core.enforcement.Enforcement` turns the
answer into a verdict.  Decoded and
verified tokens are cached, bounded, by their value: a returning session
costs a few dictionary lookups.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import TokenError, UnknownKeyError
from ..specs.id_token import SessionClaims, read_session_claims, verify_id_token
from ..web.cookies import cookie_values, read_cookie
from .app_sessions import SignedSessionCookie, find_id_token
from .provider_keys import ProviderKeys
from .values import LogoutRequest, SessionRef, Steps

__all__ = ["PASS", "Inspection", "SessionCheck"]

_CACHE_SIZE = 8192
# Longer values are checked every time rather than kept: the cache must not be a way to fill memory.
_CACHEABLE = 8 * 1024


@dataclass(frozen=True, slots=True)
class Inspection:
    """What the check found in a request: the sessions to look up, or what to do instead."""

    #: Ask the store about each: if any is revoked, the request loses its login cookies.
    refs: tuple[SessionRef, ...] = ()
    #: Login cookies came without a verified id_token: strip them whatever the store says.
    untrusted: bool = False
    #: The id_token cookie can only be verified with the provider's keys: fetch them, then inspect again
    #: (once more set after that fetch: the keys cannot be had; ``refs`` are then the tokens' own, unverified
    #: claims, which may refuse the request but never let it through).
    needs_keys: bool = False
    #: The id_token named a key the provider's set lacks: fetch the set again (it may have rotated).
    unknown_key: bool = False
    #: The session is the framework's own: a revoked one is emptied, not only its cookie stripped.
    in_session: bool = False
    #: The sessions came from the signed session cookie: a revoked one loses that cookie too.
    signed_session: bool = False

    @property
    def passes(self) -> bool:
        """Whether the request goes to the app untouched, without asking the store."""
        return not (self.refs or self.untrusted or self.needs_keys)


#: The inspection of a request that belongs to no session worth checking.
PASS = Inspection()
_UNTRUSTED = Inspection(untrusted=True)
_NEEDS_KEYS = Inspection(needs_keys=True)
_UNKNOWN_KEY = Inspection(needs_keys=True, unknown_key=True)
_ANONYMOUS = ()  # a signed session that holds no id_token


class SessionCheck:
    """Finds the session a request belongs to, as the revocation store knows it.

    :param issuer: the provider; id_tokens of another issuer are never trusted.
    :param client_id: the ``aud`` an id_token cookie must be for.
    :param id_token_cookie: the cookie an app may keep its id_token in.
    :param login_cookies: cookies that count only together with a verified id_token.
    :param session_cookie: the framework's session cookie, never one of those.
    :param key_paths: where the app's session keeps the id_token.
    :param signed_cookie: reads the session cookie itself, when the framework's session is not at hand.
    :param keys: the provider's keys (only those at hand are used here; fetching is the caller's).
    :param algorithms: the ``alg`` values the provider signs with.
    :param seen: told of each provider session (``iss``, ``sid``) found in a trusted request.
    """

    def __init__(
        self,
        *,
        issuer: str | None,
        client_id: str | None,
        id_token_cookie: str,
        login_cookies: Sequence[str],
        session_cookie: str,
        key_paths: tuple[tuple[str, ...], ...],
        signed_cookie: SignedSessionCookie | None = None,
        keys: ProviderKeys,
        algorithms: Sequence[str],
        client_secret: str | None = None,
        seen: Callable[[str, str], None] | None = None,
    ) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self.id_token_cookie = id_token_cookie
        self.session_cookie = session_cookie
        self._key_paths = key_paths
        self._signed_cookie = signed_cookie
        self._keys = keys
        self._algorithms = tuple(algorithms)
        self._client_secret = client_secret
        self._seen = seen
        self._login_cookies = tuple(name for name in login_cookies if name != id_token_cookie)
        # With the framework's session at hand, its cookie is judged by what it holds.
        self._login_cookies_beside_session = tuple(name for name in self._login_cookies if name != session_cookie)
        # The decoded claims of id_tokens, and whether their signature was verified.
        self._tokens: dict[str, tuple[SessionRef, bool]] = {}
        # The sessions in signed session cookies: their refs, or () for a session without an id_token.
        self._cookies: dict[str, tuple[SessionRef, ...]] = {}
        # Whole Cookie headers whose inspection is settled (verified sessions, or none to check), and the
        # inspections of id_tokens in the framework's session: the same object for the same session.
        self._headers: dict[str, Inspection] = {}
        self._in_session: dict[str, Inspection] = {}

    def inspect(self, cookie_header: str, session: Any = None, *, keys_fetched: bool = False) -> Inspection:
        """Find the sessions *cookie_header* (and the framework's *session*, if given) belong to.

        :param session: the framework's session of this request (anything with ``get``), or None.
        :param keys_fetched: the provider's keys were just fetched for this request: ask for them no more.
        """
        if session is None:
            # A returning browser sends the very same header: one lookup instead of parsing it.
            known = self._headers.get(cookie_header)
            if known is not None:
                return known
            inspection = self._inspect_header(cookie_header, keys_fetched)
            if inspection is PASS or (inspection.refs and not (inspection.untrusted or inspection.needs_keys)):
                self._remember(self._headers, cookie_header, inspection)  # settled: verified, or nothing to check
            return inspection
        id_token = find_id_token(session, self._key_paths)
        if id_token is not None:
            known = self._in_session.get(id_token)
            if known is not None:
                return known
            ref = self._trusted(id_token)
            if ref is None:
                return PASS
            inspection = Inspection(refs=(ref,), in_session=True)
            self._remember(self._in_session, id_token, inspection)
            return inspection
        return self._inspect_cookies(cookie_header, self._login_cookies_beside_session, keys_fetched)

    def _inspect_header(self, cookie_header: str, keys_fetched: bool) -> Inspection:
        if self._signed_cookie is not None and self.session_cookie in cookie_header:
            refs = self._signed_sessions(cookie_header)
            if refs:
                return Inspection(refs=refs, signed_session=True)
            if refs is not None:  # a session signed by the app, without an id_token: anonymous
                return self._inspect_cookies(cookie_header, self._login_cookies_beside_session, keys_fetched)
        return self._inspect_cookies(cookie_header, self._login_cookies, keys_fetched)

    def inspect_id_token(self, id_token: str, *, trusted: bool, keys_fetched: bool = False) -> Inspection:
        """Inspect an id_token the app handed over (the ``id_token_getter``'s answer)."""
        if trusted:
            ref = self._trusted(id_token)
            return Inspection(refs=(ref,)) if ref is not None else _UNTRUSTED
        return self._inspect_tokens((id_token,), keys_fetched)

    def claims_of(self, id_token: str, *, trusted: bool) -> SessionClaims | None:
        """The session claims of *id_token*, if it can be trusted (verified, when not *trusted*)."""
        if trusted:
            claims = read_session_claims(id_token)
            return claims if claims is not None and self._issuer_fits(claims.iss) else None
        keys = self._keys.current()
        if keys is None or self.issuer is None or self.client_id is None:
            return None
        try:
            return verify_id_token(
                id_token,
                jwks=keys,
                issuer=self.issuer,
                client_id=self.client_id,
                algorithms=self._algorithms,
                client_secret=self._client_secret,
            )
        except TokenError:
            return None

    def find_id_token(self, request: LogoutRequest) -> tuple[str | None, bool]:
        """The request's id_token, and whether it came from the app's session (so needs no verification).

        In order: the framework's session, Starlette's signed session cookie,
        the app's ``id_token_getter``, the id_token cookie.
        """
        if request.session is not None:
            found = find_id_token(request.session, self._key_paths)
            if found is not None:
                return found, True
        if self._signed_cookie is not None:
            # The last one, as Starlette reads a cookie sent twice.
            for value in reversed(cookie_values(request.cookie, self.session_cookie)):
                session = self._signed_cookie.read(value)
                found = find_id_token(session, self._key_paths) if session is not None else None
                if found is not None:
                    return found, True
        if request.app_id_token is not None:
            return request.app_id_token, False
        return read_cookie(request.cookie, self.id_token_cookie) or None, False

    def trusted_claims(self, request: LogoutRequest) -> Steps[SessionClaims | None]:
        """The claims of the request's session, if its id_token can be trusted (fetching the keys to verify it)."""
        id_token, trusted = self.find_id_token(request)
        if id_token is None:
            return None
        if not trusted and self._keys.current() is None:
            yield from self._keys.fetch()
        claims = self.claims_of(id_token, trusted=trusted)
        if claims is None and not trusted:
            # Perhaps signed with a key the provider added since: look once more.
            yield from self._keys.fetch(unknown_key=True)
            claims = self.claims_of(id_token, trusted=trusted)
        return claims

    def holds_a_session(self, request: LogoutRequest) -> bool:
        """Whether the request brings the framework's session (in scope, or its signed cookie)."""
        return bool(request.session) or (self._signed_cookie is not None and self.session_cookie in request.cookie)

    # -- the parts -------------------------------------------------------------

    def _inspect_cookies(self, cookie_header: str, login_cookies: tuple[str, ...], keys_fetched: bool) -> Inspection:
        tokens = cookie_values(cookie_header, self.id_token_cookie)
        if tokens:
            return self._inspect_tokens(tokens, keys_fetched)
        for name in login_cookies:
            if name in cookie_header and cookie_values(cookie_header, name):
                return _UNTRUSTED
        return PASS

    def _inspect_tokens(self, tokens: Sequence[str], keys_fetched: bool) -> Inspection:
        refs = []
        for token in tokens:
            cached = self._tokens.get(token)
            if cached is not None and cached[1]:
                refs.append(cached[0])
                continue
            ref = self._verified(token)
            if isinstance(ref, Inspection):
                if ref.unknown_key and keys_fetched:
                    return _UNTRUSTED  # fetched again, and the key is still not the provider's
                if ref.needs_keys and keys_fetched:
                    return self._unverifiable(tokens)  # fetched, and the keys still cannot be had
                return ref
            refs.append(ref)
        return Inspection(refs=tuple(refs))

    def _unverifiable(self, tokens: Sequence[str]) -> Inspection:
        """Without the provider's keys, the tokens' own claims are looked up, but only to refuse.

        A client can edit those claims, but editing them can only get its own
        request refused: a session the store knows as revoked is stripped
        whatever the fail policy, and the policy decides the rest.
        """
        refs = []
        for token in tokens:
            claims = read_session_claims(token)
            if claims is not None and self._issuer_fits(claims.iss):
                refs.append((claims.iss, claims.key, claims.sub, claims.iat))
        return Inspection(refs=tuple(refs), needs_keys=True)

    def _verified(self, token: str) -> SessionRef | Inspection:
        keys = self._keys.current()
        if keys is None:
            return _NEEDS_KEYS
        if self.issuer is None or self.client_id is None:
            return _UNTRUSTED
        try:
            claims = verify_id_token(
                token,
                jwks=keys,
                issuer=self.issuer,
                client_id=self.client_id,
                algorithms=self._algorithms,
                client_secret=self._client_secret,
            )
        except UnknownKeyError:
            return _UNKNOWN_KEY
        except TokenError:
            return _UNTRUSTED
        ref = self._ref(claims)
        self._remember(self._tokens, token, (ref, True))
        return ref

    def _trusted(self, id_token: str) -> SessionRef | None:
        cached = self._tokens.get(id_token)
        if cached is not None:
            return cached[0]
        claims = read_session_claims(id_token)
        if claims is None or not self._issuer_fits(claims.iss):
            return None
        ref = self._ref(claims)
        self._remember(self._tokens, id_token, (ref, False))
        return ref

    def _signed_sessions(self, cookie_header: str) -> tuple[SessionRef, ...] | None:
        """The sessions of every signed session cookie in the header; None when none is signed by the app."""
        assert self._signed_cookie is not None  # noqa: S101 - the caller checks
        found: tuple[SessionRef, ...] | None = None
        for value in cookie_values(cookie_header, self.session_cookie):
            refs = self._cookies.get(value)
            if refs is None:
                session = self._signed_cookie.read(value)
                if session is None:
                    continue  # not signed by the app: the framework ignores it too
                id_token = find_id_token(session, self._key_paths)
                ref = self._trusted(id_token) if id_token is not None else None
                refs = (ref,) if ref is not None else _ANONYMOUS
                self._remember(self._cookies, value, refs)
            found = (found or ()) + refs
        return found

    def _ref(self, claims: SessionClaims) -> SessionRef:
        if claims.sid is not None and self._seen is not None:
            self._seen(claims.iss, claims.sid)
        return (claims.iss, claims.key, claims.sub, claims.iat)

    def _issuer_fits(self, iss: str) -> bool:
        return self.issuer is None or iss == self.issuer

    @staticmethod
    def _remember(cache: dict[str, Any], key: str, value: Any) -> None:
        if len(key) > _CACHEABLE:
            return
        if len(cache) >= _CACHE_SIZE:
            del cache[next(iter(cache))]  # the oldest entry: dicts keep insertion order
        cache[key] = value
