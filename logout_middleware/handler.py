"""The sans-I/O core: given a request as plain values, decide the response.

The adapters in :mod:`logout_middleware.wsgi` and :mod:`logout_middleware.asgi`
only translate a request into a :class:`LogoutRequest`, run
:meth:`LogoutHandler.handle` (sending the provider requests it yields, see
:mod:`logout_middleware.outbound`) and translate the :class:`Reply` back.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from .config import LogoutConfig
from .cookies import deletion_header, read_cookie
from .discovery import DiscoveryError, MetadataCache, ProviderMetadata
from .errors import ConfigError, LogoutError
from .form_post import form_post_page
from .jwks import JwksCache
from .outbound import Blocking, Steps
from .providers import preset_logout_url
from .return_to import is_local_path, pack_state_cookie, unpack_state_cookie
from .revocation import StoreUnavailableError, open_store
from .sessions import SessionGuard
from .token_revocation import describe_answer, revocation_request
from .tokens import is_compact_jwt
from .urls import endpoint_and_separator

if TYPE_CHECKING:
    from .logout_token import LogoutClaims

__all__ = ["LogoutHandler", "LogoutRequest", "Reply"]

logger = logging.getLogger("logout_middleware")

# Log messages, kept here so that tests can check them.
LOGGED_OUT = "logout: %d cookie(s) deleted, redirecting to the end-session endpoint (id_token_hint: %s)"
LOGGED_OUT_LOCALLY = "logout: %d cookie(s) deleted; the provider has no logout endpoint, so only locally"
LOGGED_OUT_BY_FORM = "logout: the end-session URL would be %d characters, so the parameters go by form POST"
NO_REDIRECT_WITHOUT_HINT = (
    "logout: no id_token cookie and no client_id configured, so post_logout_redirect_uri is not sent;"
    " the provider will show its own signed-out page"
)
NO_REDIRECT_WITHOUT_TOKEN = "logout: provider %r needs an id_token to redirect back; there is none, so none is asked"
MALFORMED_ID_TOKEN = "logout: the %r cookie does not hold a compact JWT; it is deleted but not sent as id_token_hint"
METHOD_REFUSED = "logout refused: method %s is not in the configured methods %s"
PREFETCH_REFUSED = "logout refused: the browser is only prefetching (%s)"
CROSS_SITE_REFUSED = "logout refused: cross-site request (%s)"
REDIRECT_REFUSED = "logout refused: %s %r is not an allowed post-logout redirect URI"
RETURN_TO_REFUSED = "logout refused: %s %r is not a path on this site"
PARAM_REPEATED = "logout refused: %s is given %d times"
QUERY_REFUSED = "logout refused: the query string cannot be parsed (%s)"
PROVIDER_FAILED = "logout failed: %s"
REVOKED = "logout: %s revoked at the provider"
REVOCATION_FAILED = "logout: revoking the %s failed (%s); the logout goes on"
CALLBACK_REFUSED = "logout callback refused: %s"
BACKCHANNEL_REFUSED = "back-channel logout refused: %s"
BACKCHANNEL_DONE = "back-channel logout: %s revoked"
BACKCHANNEL_UNAVAILABLE = "back-channel logout not recorded, the provider should retry: %s"
FRONTCHANNEL_DONE = "front-channel logout: %s"
FRONTCHANNEL_REFUSED = "front-channel logout refused: %s"

#: The largest request body the back-channel receiver reads; a logout token is far smaller.
MAX_BODY = 64 * 1024

_EXEMPT_FROM_ORIGIN_CHECK = frozenset(("GET", "HEAD"))
_MAX_QUERY_FIELDS = 64
_TEXT = ("Content-Type", "text/plain; charset=utf-8")


@dataclass(frozen=True, slots=True)
class LogoutRequest:
    """A request for one of the middleware's paths, as plain values."""

    #: The request method, upper case.
    method: str
    #: The path relative to where the app is mounted.
    path: str
    #: ``"http"`` or ``"https"``, as the browser used it.
    scheme: str
    #: The ``Host`` the request was sent to, if known.
    host: str | None
    #: The raw query string, bytes decoded as latin-1.
    query_string: str
    #: The request headers; ``get`` with lower-case names.
    headers: Mapping[str, str]
    #: Where the app is mounted (``SCRIPT_NAME``, ASGI ``root_path``).
    root_path: str = ""
    #: The request body, read (up to ``MAX_BODY + 1`` bytes) only for the paths in ``body_paths``.
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class Reply:
    """A complete HTTP response, as plain values."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""

    @property
    def status_line(self) -> str:
        """The status as a WSGI status line, such as ``'303 See Other'``."""
        return f"{self.status} {HTTPStatus(self.status).phrase}"


class Refusal(Exception):
    """Raised inside the handler to answer at once with a short plain-text error."""

    def __init__(self, status: int, message: str, *headers: tuple[str, str]) -> None:
        super().__init__(message)
        self.reply = _plain(status, message, *headers)


def _plain(status: int, message: str, *extra: tuple[str, str]) -> Reply:
    body = f"{HTTPStatus(status).phrase}: {message}\n".encode()
    headers = [_TEXT, ("Content-Length", str(len(body))), ("Cache-Control", "no-store"), *extra]
    return Reply(status, headers, body)


class LogoutHandler:
    """Answers requests to the logout path and the logout callback; shared by both adapters.

    All the work that does not depend on the request (the deleting
    ``Set-Cookie`` lines, the allowed redirect URIs, the fixed headers) is
    done once here.
    """

    def __init__(self, config: LogoutConfig) -> None:
        self.config = config
        #: The paths this handler answers, relative to the mount point.
        self.paths = frozenset(
            path
            for path in (
                config.logout_path,
                config.logout_callback_path,
                config.backchannel_logout_path,
                config.frontchannel_logout_path,
                config.forward_auth_path,
            )
            if path
        )
        #: The paths whose request body the adapter must read and pass on.
        self.body_paths = frozenset(path for path in (config.backchannel_logout_path,) if path)
        self._preset = config.preset
        self._local_only = self._preset is not None and self._preset.local_only
        self._endpoint = config.static_end_session_endpoint()
        self._deletions = {
            secure: [
                ("Set-Cookie", deletion_header(s.name, path=s.path or "/", domain=s.domain, secure=secure,
                                               samesite=config.cookie_samesite))
                for s in config.cookies_to_delete()
            ]
            for secure in (False, True)
        }  # fmt: skip
        self._fixed_headers = [("Cache-Control", "no-store")]
        if config.clear_site_data:
            self._fixed_headers.append(("Clear-Site-Data", '"cookies"'))
        self._allowed_redirects = frozenset(
            uri for uri in (config.post_logout_redirect_uri, *config.allowed_redirect_uris) if uri
        )
        self._allow_header = ("Allow", ", ".join(config.methods))
        # RFC 7009 section 2.1: the refresh token first, as revoking it may revoke the access token too.
        revocable = ((config.refresh_token_cookie, "refresh_token"), (config.access_token_cookie, "access_token"))
        self._token_cookies = [(name, hint) for name, hint in revocable if name]
        needs_discovery = (
            (self._endpoint is None and not self._local_only)
            or (self._token_cookies and config.revocation_endpoint is None)
            or config.backchannel_logout_path is not None
        )
        self.discovery = (
            MetadataCache(config.issuer, ttl=config.discovery_ttl, timeout=config.http_timeout)
            if needs_discovery and config.issuer
            else None
        )
        #: Whether any request may need the provider (so the adapter needs an HTTP client).
        self.uses_network = self.discovery is not None or bool(self._token_cookies)
        self._time = time.time
        #: The revocation check every request goes through, or None when nothing can revoke a session.
        self.guard: SessionGuard | None = None
        if config.enforces_revocations:
            store = open_store(
                config.revocation_store,
                max_token_lifetime=config.max_token_lifetime,
                fail_open=config.revocation_store_fail_open,
            )
            self.guard = SessionGuard(store, issuer=config.issuer, id_token_cookie=config.id_token_cookie)
        #: The login cookies, by name: what a revoked session's request loses before the app sees it.
        self.login_cookie_names = frozenset(spec.name for spec in config.cookies_to_delete())
        self._jwks = JwksCache(ttl=config.discovery_ttl, timeout=config.http_timeout)
        if self._endpoint is not None:
            self._check_endpoint(self._endpoint)

    def _check_endpoint(self, endpoint: str) -> None:
        # Fail at start-up, not on the first logout, if the parts cannot form a URL.
        try:
            preset_logout_url(
                self._preset,
                endpoint,
                redirect_uri=self.config.post_logout_redirect_uri,
                id_token=None,
                state="s",
                client_id=self.config.client_id or "c",
                extra_params=self.config.extra_params,
            )
        except LogoutError as exc:
            raise ConfigError(str(exc)) from None

    def handle(self, request: LogoutRequest) -> Steps[Reply]:
        """Decide the response to *request*, yielding any request the provider must answer first."""
        config = self.config
        try:
            if request.path == config.logout_path:
                return (yield from self._logout(request))
            if request.path == config.logout_callback_path:
                return self._callback(request)
            if request.path == config.backchannel_logout_path:
                return (yield from self._backchannel(request))
            if request.path == config.frontchannel_logout_path:
                return (yield from self._frontchannel(request))
            return self._forward_auth(request)
        except Refusal as refusal:
            return refusal.reply

    def deletions(self, secure: bool) -> list[tuple[str, str]]:
        """The ``Set-Cookie`` headers that delete every login cookie."""
        return self._deletions[secure]

    def provider_metadata(self) -> Steps[ProviderMetadata | None]:
        """Discovery metadata (fetched if stale), or None when discovery is not used."""
        if self.discovery is None:
            return None
        return (yield from self.discovery.get())

    # -- the logout request ----------------------------------------------------

    def _logout(self, request: LogoutRequest) -> Steps[Reply]:
        config = self.config
        headers = request.headers
        self._refuse_unwanted(request)
        params = self._query(request.query_string)
        redirect_uri = self._requested_redirect(params) or config.post_logout_redirect_uri
        return_to = self._requested_return_to(params)

        cookie_header = headers.get("cookie") or ""
        id_token = read_cookie(cookie_header, config.id_token_cookie) or None
        if id_token is not None and not is_compact_jwt(id_token):
            logger.warning(MALFORMED_ID_TOKEN, config.id_token_cookie)
            id_token = None

        metadata = None
        if self.discovery is not None:
            try:
                metadata = yield from self.discovery.get()
            except DiscoveryError as exc:
                if self._endpoint is None and not self._local_only:
                    logger.error(PROVIDER_FAILED, exc)
                    status, why = (
                        (503, "the identity provider is not answering")
                        if exc.unavailable
                        else (502, "the identity provider's configuration is not usable")
                    )
                    return _plain(status, why + "; please try again later")  # fmt: skip
        if self._token_cookies:
            yield from self._revoke_tokens(cookie_header, metadata)

        secure = request.scheme == "https"
        set_cookies = list(self._deletions[secure])
        if self._local_only:
            logger.info(LOGGED_OUT_LOCALLY, len(set_cookies))
            location = return_to or redirect_uri or config.default_return_to
            return Reply(303, [("Location", location), *self._fixed_headers, *set_cookies])

        endpoint = self._endpoint or (metadata.end_session_endpoint if metadata else None)
        if endpoint is None:
            logger.error(PROVIDER_FAILED, "the discovery document has no end_session_endpoint")
            return _plain(502, "the identity provider has no logout endpoint (set provider='google' for local logout)")

        if redirect_uri is not None and id_token is None:
            if self._preset is not None and self._preset.needs_id_token_for_redirect:
                logger.info(NO_REDIRECT_WITHOUT_TOKEN, self._preset.name)
                redirect_uri = None
            elif config.client_id is None:
                logger.info(NO_REDIRECT_WITHOUT_HINT)
                redirect_uri = None
        state = None
        if redirect_uri is not None:
            state = secrets.token_urlsafe(16)
            if config.logout_callback_path is not None:
                set_cookies.append(self._state_cookie(request, state, return_to, secure))
        location = preset_logout_url(
            self._preset,
            endpoint,
            redirect_uri=redirect_uri,
            id_token=id_token,
            state=state,
            client_id=config.client_id,
            extra_params=config.extra_params,
        )
        if len(location) > config.max_url_length:
            logger.info(LOGGED_OUT_BY_FORM, len(location))
            action, separator = endpoint_and_separator(endpoint)
            # The endpoint's own query string stays in the action URL; ours goes in the form.
            fields = parse_qsl(location[len(action) + len(separator) :])
            body, page_headers = form_post_page(action, fields, redirect_uri)
            return Reply(200, [*page_headers, *self._fixed_headers, *set_cookies], body)
        logger.info(LOGGED_OUT, len(set_cookies), "sent" if id_token else "none")
        return Reply(303, [("Location", location), ("Content-Length", "0"), *self._fixed_headers, *set_cookies])

    def _refuse_unwanted(self, request: LogoutRequest) -> None:
        config = self.config
        if request.method not in config.methods:
            logger.info(METHOD_REFUSED, request.method[:20], config.methods)
            raise Refusal(405, "log out with " + " or ".join(config.methods), self._allow_header)
        prefetch = _prefetch_reason(request.headers)
        if prefetch:
            logger.info(PREFETCH_REFUSED, prefetch)
            raise Refusal(503, "logout is not done for a prefetch")
        if config.block_cross_site:
            cross_site = _cross_site_reason(request.method, request.host, request.headers)
            if cross_site:
                logger.warning(CROSS_SITE_REFUSED, cross_site)
                raise Refusal(403, "logout must be requested from this site")

    def _query(self, query_string: str) -> list[tuple[str, str]]:
        if not query_string:
            return []
        try:
            # surrogateescape: bytes that are not UTF-8 survive, and so can never
            # equal an allowed value, instead of failing the whole request.
            return parse_qsl(
                query_string, keep_blank_values=True, errors="surrogateescape", max_num_fields=_MAX_QUERY_FIELDS
            )
        except ValueError as exc:
            logger.warning(QUERY_REFUSED, exc)
            raise Refusal(400, "the query string has too many parameters") from None

    def _requested_redirect(self, params: list[tuple[str, str]]) -> str | None:
        name = self.config.redirect_param
        value = _single(params, name) if name else None
        if value is not None and value not in self._allowed_redirects:
            logger.warning(REDIRECT_REFUSED, name, value[:200])
            raise Refusal(400, f"{name} is not an allowed post-logout redirect URI")
        return value

    def _requested_return_to(self, params: list[tuple[str, str]]) -> str | None:
        config = self.config
        if config.logout_callback_path is None and not self._local_only:
            return None
        name = config.return_to_param
        value = _single(params, name)
        if value is not None and not is_local_path(value):
            logger.warning(RETURN_TO_REFUSED, name, value[:200])
            raise Refusal(400, f"{name} must be a path on this site, such as /account")
        return value

    def _state_cookie(self, request: LogoutRequest, state: str, return_to: str | None, secure: bool) -> tuple[str, str]:
        config = self.config
        value = pack_state_cookie(state, return_to or config.default_return_to, int(self._time()))
        path = request.root_path + (config.logout_callback_path or "/")
        attributes = (
            f"Max-Age={config.state_max_age}; Path={path}; {'Secure; ' if secure else ''}HttpOnly; SameSite=Lax"
        )
        return ("Set-Cookie", f"{config.state_cookie}={value}; {attributes}")

    def _revoke_tokens(self, cookie_header: str, metadata: ProviderMetadata | None) -> Steps[None]:
        config = self.config
        endpoint = config.revocation_endpoint or (metadata.revocation_endpoint if metadata else None)
        for cookie, hint in self._token_cookies:
            token = read_cookie(cookie_header, cookie)
            if not token:
                continue
            if endpoint is None:
                logger.warning(REVOCATION_FAILED, hint, "no revocation_endpoint is known")
                return
            answer = yield revocation_request(
                endpoint,
                token,
                hint,
                client_id=config.client_id or "",
                client_secret=config.client_secret,
                auth_method=config.token_endpoint_auth_method,
                timeout=config.http_timeout,
            )
            problem = describe_answer(answer)
            if problem is None:
                logger.info(REVOKED, hint)
            else:
                logger.warning(REVOCATION_FAILED, hint, problem)

    # -- the callback after the provider -----------------------------------------

    def _callback(self, request: LogoutRequest) -> Reply:
        config = self.config
        if request.method not in ("GET", "HEAD"):
            raise Refusal(405, "the logout callback takes GET", ("Allow", "GET, HEAD"))
        state = _single(self._query(request.query_string), "state")
        cookie = read_cookie(request.headers.get("cookie") or "", config.state_cookie)
        headers = [*self._fixed_headers]
        if cookie is not None:
            path = request.root_path + (config.logout_callback_path or "/")
            deletion = deletion_header(config.state_cookie, path=path, domain=None,
                                       secure=request.scheme == "https", samesite="Lax")  # fmt: skip
            headers.append(("Set-Cookie", deletion))
        if state is None and cookie is None:
            # The provider signed the user out on its own and sent them here: nothing to check.
            return Reply(303, [("Location", config.default_return_to), ("Content-Length", "0"), *headers])
        if state is None or cookie is None:
            reason = "no state came back" if state is None else "no state cookie: expired, replayed or forged"
            logger.warning(CALLBACK_REFUSED, reason)
            raise Refusal(400, "this logout link is not valid any more")
        return_to = unpack_state_cookie(cookie, state, now=int(self._time()), max_age=config.state_max_age)
        if return_to is None:
            logger.warning(CALLBACK_REFUSED, "the state does not match the state cookie, or it expired")
            raise Refusal(400, "this logout link is not valid any more")
        return Reply(303, [("Location", return_to), ("Content-Length", "0"), *headers])

    # -- logout started at the provider --------------------------------------------

    def _backchannel(self, request: LogoutRequest) -> Steps[Reply]:
        """Back-Channel Logout 1.0 section 2.5-2.8: validate the logout token, record the revocation."""
        if request.method != "POST":
            return _plain(405, "back-channel logout takes POST", ("Allow", "POST"))
        content_type = (request.headers.get("content-type") or "").partition(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            logger.warning(BACKCHANNEL_REFUSED, f"content type {content_type[:60]!r}")
            return _plain(415, "send application/x-www-form-urlencoded")
        if len(request.body) > MAX_BODY:
            logger.warning(BACKCHANNEL_REFUSED, "the request body is too large")
            return _plain(413, "a logout token is never this large")
        try:
            claims = yield from self._validated_claims(request.body)
        except BackchannelRefusal as refusal:
            logger.warning(BACKCHANNEL_REFUSED, refusal)
            return _json_reply(400, {"error": "invalid_request", "error_description": str(refusal)})
        except DiscoveryError as exc:
            logger.error(BACKCHANNEL_UNAVAILABLE, exc)
            return _json_reply(503, {"error": "temporarily_unavailable", "error_description": "keys unavailable"})
        guard = self.guard
        assert guard is not None  # noqa: S101 - the config turns the guard on with this path
        store = guard.store
        expires_at = self._time() + self.config.max_token_lifetime
        try:
            # Revoke first, remember the jti last: a provider retrying after a 503 finds no replay.
            if claims.sid is not None:
                yield Blocking(lambda: store.revoke_session(claims.iss, claims.sid or "", expires_at))
            else:
                yield Blocking(lambda: store.revoke_subject(claims.iss, claims.sub or "", claims.iat, expires_at))
            fresh = yield Blocking(lambda: store.check_and_remember_jti(claims.iss, claims.jti, expires_at))
        except StoreUnavailableError as exc:
            logger.error(BACKCHANNEL_UNAVAILABLE, exc)
            return _json_reply(503, {"error": "temporarily_unavailable", "error_description": "store unavailable"})
        if not fresh:
            logger.warning(BACKCHANNEL_REFUSED, "jti was seen before (replay)")
            return _json_reply(400, {"error": "invalid_request", "error_description": "jti was already used"})
        logger.info(BACKCHANNEL_DONE, "the session" if claims.sid else "every session of the subject")
        return _json_reply(200)

    def _validated_claims(self, body: bytes) -> Steps[LogoutClaims]:
        # joserfc is an optional extra, needed only by this receiver.
        from .logout_token import LogoutTokenError, UnknownKeyError, validate_logout_token  # noqa: PLC0415

        config = self.config
        try:
            params = parse_qsl(body.decode("ascii"), keep_blank_values=True, max_num_fields=_MAX_QUERY_FIELDS)
        except ValueError:
            raise BackchannelRefusal("the body is not a form of ASCII parameters") from None
        tokens = [value for name, value in params if name == "logout_token"]
        if len(tokens) != 1 or not tokens[0]:
            raise BackchannelRefusal("logout_token must be given exactly once")
        metadata = yield from self.provider_metadata()
        if metadata is None or metadata.jwks_uri is None:
            raise DiscoveryError("the discovery document has no jwks_uri", unavailable=False)
        algorithms = config.logout_token_algorithms or _asymmetric(metadata.id_token_signing_alg_values_supported)
        keys = yield from self._jwks.get(metadata.jwks_uri)
        for attempt in range(2):
            try:
                return validate_logout_token(
                    tokens[0],
                    jwks=keys,
                    issuer=config.issuer or "",
                    client_id=config.client_id or "",
                    now=self._time(),
                    algorithms=algorithms,
                    client_secret=config.client_secret,
                    leeway=config.logout_token_leeway,
                    accept_missing_exp_max_age=config.logout_token_max_age_without_exp,
                )
            except UnknownKeyError as exc:
                refreshed = (yield from self._jwks.refresh_for_unknown_key(metadata.jwks_uri)) if attempt == 0 else None
                if refreshed is None:
                    raise BackchannelRefusal(str(exc)) from None
                keys = refreshed
            except LogoutTokenError as exc:
                raise BackchannelRefusal(str(exc)) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _frontchannel(self, request: LogoutRequest) -> Steps[Reply]:
        """Front-Channel Logout 1.0 section 2: delete the cookies and record the revocation."""
        config = self.config
        if request.method not in ("GET", "HEAD"):
            return _plain(405, "front-channel logout takes GET", ("Allow", "GET, HEAD"))
        params = self._query(request.query_string)
        iss, sid = _single(params, "iss"), _single(params, "sid")
        if (iss is None) != (sid is None):
            raise Refusal(400, "iss and sid come together or not at all")
        if iss is not None and iss != config.issuer:
            logger.warning(FRONTCHANNEL_REFUSED, "iss is not the configured issuer")
            raise Refusal(400, "iss is not this app's provider")
        guard = self.guard
        assert guard is not None  # noqa: S101 - the config turns the guard on with this path
        session = guard.session(request.headers.get("cookie") or "")
        if config.frontchannel_logout_session_required and sid is None:
            raise Refusal(400, "iss and sid are required")
        expires_at = self._time() + config.max_token_lifetime
        # The cookie may not come at all (browsers block third-party cookies in
        # frames), so the revocation is recorded by iss and sid regardless.
        revoke = (iss, sid) if iss and sid else ((session[0], session[1]) if session and session[1] else None)
        if revoke is not None:
            iss_, sid_ = revoke
            try:
                yield Blocking(lambda: guard.store.revoke_session(iss_, sid_ or "", expires_at))
            except StoreUnavailableError as exc:
                logger.error(FRONTCHANNEL_REFUSED, exc)
                return _plain(503, "the logout could not be recorded; please try again")
        matches = session is not None and (sid is None or (session[0], session[1]) == (iss, sid))
        headers = [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Security-Policy", f"default-src 'none'; frame-ancestors {_origin(config.issuer or '')}"),
            *self._fixed_headers,
        ]
        if matches or not config.frontchannel_logout_session_required:
            headers += self._deletions[request.scheme == "https"]
        logger.info(FRONTCHANNEL_DONE, "session revoked" if revoke else "cookies deleted")
        body = b"<!DOCTYPE html><title>Signed out</title>"
        return Reply(200, [*headers, ("Content-Length", str(len(body)))], body)

    def _forward_auth(self, request: LogoutRequest) -> Reply:
        """For nginx ``auth_request`` and Traefik ``ForwardAuth``: 204, or 401 for a revoked session."""
        guard = self.guard
        assert guard is not None  # noqa: S101 - the config turns the guard on with this path
        if request.method not in ("GET", "HEAD"):
            return _plain(405, "forward auth takes GET", ("Allow", "GET, HEAD"))
        if guard.is_revoked(request.headers.get("cookie") or ""):
            deletions = self._deletions[request.scheme == "https"]
            return _plain(401, "this session was signed out", *deletions)
        return Reply(204, [("Cache-Control", "no-store")])


def _single(params: list[tuple[str, str]], name: str) -> str | None:
    """The one non-empty value of *name*; empty values are ignored, repeated ones refused."""
    values = [value for key, value in params if key == name and value]
    if len(values) > 1:
        logger.warning(PARAM_REPEATED, name, len(values))
        raise Refusal(400, f"{name} is given more than once")
    return values[0] if values else None


def _prefetch_reason(headers: Mapping[str, str]) -> str | None:
    sec_purpose = headers.get("sec-purpose")
    if sec_purpose and "prefetch" in sec_purpose.lower():
        return "Sec-Purpose: " + sec_purpose[:40]
    for name in ("purpose", "x-purpose", "x-moz"):
        value = headers.get(name)
        if value and value.lower() in ("prefetch", "preview"):
            return f"{name}: {value}"
    return None


def _cross_site_reason(method: str, host: str | None, headers: Mapping[str, str]) -> str | None:
    if headers.get("sec-fetch-site") == "cross-site":
        return "Sec-Fetch-Site: cross-site"
    if method in _EXEMPT_FROM_ORIGIN_CHECK:
        return None
    origin = headers.get("origin")
    if origin is None or _same_origin(origin, host):
        return None
    return f"Origin {origin[:100]!r} is not the Host {(host or '')[:100]!r}"


def _same_origin(origin: str, host: str | None) -> bool:
    """Whether an ``Origin`` header names the host and port the request was sent to.

    Both sides drop the default port of the Origin's scheme, so that
    ``https://app.example`` matches ``Host: app.example`` behind a proxy that
    ends TLS as well as ``Host: app.example:443``.
    """
    if not host or origin == "null":
        return False
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    default_port = ":443" if parts.scheme == "https" else ":80"
    return parts.netloc.lower().removesuffix(default_port) == host.lower().removesuffix(default_port)


class BackchannelRefusal(Exception):
    """A logout token or request the back-channel receiver refuses; the message says which check failed."""


def _json_reply(status: int, document: dict[str, str] | None = None) -> Reply:
    body = json.dumps(document).encode() if document is not None else b""
    headers = [("Cache-Control", "no-store"), ("Content-Length", str(len(body)))]
    if document is not None:
        headers.insert(0, ("Content-Type", "application/json"))
    return Reply(status, headers, body)


def _asymmetric(algorithms: tuple[str, ...]) -> tuple[str, ...]:
    """The provider's signing algorithms without ``none`` and HMAC, or RS256 when it names none."""
    kept = tuple(a for a in algorithms if a != "none" and not a.startswith("HS"))
    return kept or ("RS256",)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
