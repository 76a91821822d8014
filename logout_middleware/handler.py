"""The sans-I/O core: given a request as plain values, decide the response.

The adapters in :mod:`logout_middleware.wsgi` and :mod:`logout_middleware.asgi`
only translate a request into a :class:`LogoutRequest`, run
:meth:`LogoutHandler.handle` (sending the provider requests it yields, see
:mod:`logout_middleware.outbound`) and translate the :class:`Reply` back.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from dataclasses import dataclass
from typing import cast
from urllib.parse import parse_qsl

from .allowance import SeenSessions
from .app_sessions import SignedSessionCookie, find_id_token, parse_key_paths
from .browser_checks import cross_site_reason, not_same_origin_reason, prefetch_reason
from .config import LogoutConfig
from .cookies import deletion_header, needs_secure, read_cookie
from .discovery import DiscoveryError, MetadataCache, ProviderMetadata
from .errors import ConfigError, LogoutError
from .form_post import form_post_page
from .id_token import SessionClaims
from .jwks import JwksCache
from .messages import LogoutRequest, Refusal, Reply, plain_reply, query_params, single_param
from .outbound import Blocking, Steps
from .providers import preset_logout_url
from .receivers import MAX_BODY, ProviderLogout
from .return_to import is_local_path, pack_state_cookie, unpack_state_cookie
from .revocation import (
    ProcessLocalStore,
    StoreDeferredError,
    StoreUnavailableError,
    default_store_path,
    store_opener,
)
from .sessions import Inspection, SessionCheck, cookie_values, strip_cookies
from .token_revocation import describe_answer, revocation_request
from .tokens import is_compact_jwt
from .urls import endpoint_and_separator

__all__ = ["MAX_BODY", "LogoutHandler", "LogoutRequest", "Reply", "Verdict"]

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
PROVIDER_FAILED = "logout failed: %s"
REVOKED = "logout: %s revoked at the provider"
REVOCATION_FAILED = "logout: revoking the %s failed (%s); the logout goes on"
CALLBACK_REFUSED = "logout callback refused: %s"
NO_ID_TOKEN_IN_SESSION = (
    "logout: the app's session holds no id_token under %s, so the provider gets no id_token_hint"
    " and may not end its session; set id_token_session_keys to where your sign-in code keeps it"
)
NO_ID_TOKEN = (
    "logout: no id_token found (no session holding one, no %r cookie), so the provider gets no"
    " id_token_hint and may not end its session; keep it in the app's session, or set id_token_cookie"
    " or id_token_getter"
)
SESSION_DEFERRED = "logout: recorded here, and in the shared store once it is back: %s"
SESSION_NOT_RECORDED = "logout: the signed-out session could not be recorded as revoked (%s); a copy of it stays valid"
HOOK_FAILED = "logout: the on_logout hook raised %s; the logout goes on"
CHECK_UNAVAILABLE = "sign-in state cannot be checked and checks fail closed: %s"
KEYS_UNAVAILABLE = "the provider's keys cannot be fetched, so id_token cookies cannot be verified: %s"
_UNAVAILABLE_MESSAGE = "sign-in state cannot be checked right now; please try again"


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a request the per-request check stopped takes to the app instead, or the answer it gets."""

    #: The Cookie header the app gets: without the login cookies.
    cookie_header: str
    #: ``Set-Cookie`` lines that delete the login cookies, added to the app's response.
    deletions: list[tuple[str, str]]
    #: Empty the framework's session too (it belongs to the revoked session).
    clear_session: bool = False
    #: Answer this instead of calling the app: the check could not be made and fails closed.
    reply: Reply | None = None

    def deletions_except(self, names: set[str]) -> list[tuple[str, str]]:
        """The deletions, but none for a cookie the app's own response sets (a new sign-in wins)."""
        if not names:
            return self.deletions
        return [line for line in self.deletions if line[1].partition("=")[0] not in names]


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
        # Stored as (name, value) pairs, whatever form was given.
        self._extra_params = cast("tuple[tuple[str, str], ...]", tuple(config.extra_params))
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
        enforces = config.enforces_revocations
        # The logout asks the provider's metadata only for an endpoint it has no other way to know.
        self._logout_needs_discovery = bool(
            (self._endpoint is None and not self._local_only)
            or (self._token_cookies and config.revocation_endpoint is None)
        )
        needs_discovery = self._logout_needs_discovery or config.backchannel_logout_path is not None or enforces
        self.discovery = (
            MetadataCache(config.issuer, ttl=config.discovery_ttl, timeout=config.http_timeout)
            if needs_discovery and config.issuer
            else None
        )
        self._check_extras()
        self._time = time.time
        #: The provider's signing keys, for logout tokens and id_token cookies.
        self.jwks = JwksCache(ttl=config.discovery_ttl, timeout=config.http_timeout)
        self._key_paths = parse_key_paths(tuple(config.id_token_session_keys))
        self._signed_cookie = SignedSessionCookie(config.session_secret) if config.session_secret else None
        #: The login cookies, by name: what a revoked session's request loses before the app sees it.
        self.login_cookie_names = frozenset(spec.name for spec in config.cookies_to_delete())
        self._session_cookie_names = self.login_cookie_names | {config.session_cookie}
        #: The provider sessions this process has seen in trusted requests (for front-channel logout).
        self.seen = SeenSessions()
        self.check = SessionCheck(
            issuer=config.issuer,
            client_id=config.client_id,
            id_token_cookie=config.id_token_cookie,
            login_cookies=tuple(self.login_cookie_names) if config.login_cookies_need_id_token else (),
            session_cookie=config.session_cookie,
            key_paths=self._key_paths,
            signed_cookie=self._signed_cookie,
            keys=self.jwks.current,
            algorithms=self.signing_algorithms,
            client_secret=config.client_secret,
            seen=self.seen.add,
        )
        #: Where revoked sessions are kept, opened by the process that first uses it;
        #: None when requests are not checked against them.
        self.store: ProcessLocalStore | None = None
        if enforces:
            opener = store_opener(
                config.revocation_store,
                max_token_lifetime=config.max_token_lifetime,
                fail_open=config.revocation_store_fail_open,
                default_path=default_store_path(config.issuer, config.client_id),
            )
            self.store = ProcessLocalStore(opener)
        self._provider_logout = (
            ProviderLogout(self, deletions=self.deletions, metadata=self.provider_metadata) if enforces else None
        )
        self._warned_no_id_token = False
        if self._endpoint is not None:
            self._check_endpoint(self._endpoint)

    def open_store(self) -> None:
        """Open the revocation store in this process now, rather than at the first request that needs it."""
        if self.store is not None:
            self.store.current()

    def close(self) -> None:
        """Close the revocation store this process opened, if any (its connections and threads)."""
        if self.store is not None:
            self.store.close()

    @property
    def signing_algorithms(self) -> tuple[str, ...]:
        """The algorithms the provider signs with: the registered one (RS256 unless configured)."""
        return tuple(self.config.signing_algorithms) or ("RS256",)

    def _check_extras(self) -> None:
        # Fail at start-up, naming what to install, rather than on the first logout.
        config = self.config
        if self.discovery is not None or self._token_cookies:
            _require("httpx", "http", "issuer= (discovery) and token revocation")
        if config.enforces_revocations:
            _require("joserfc", "backchannel", "back-channel logout and checking id_tokens")

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
                extra_params=self._extra_params,
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
            receiver = self._provider_logout
            assert receiver is not None  # noqa: S101 - the config turns it on with these paths
            if request.path == config.backchannel_logout_path:
                return (yield from receiver.backchannel(request))
            if request.path == config.frontchannel_logout_path:
                return (yield from receiver.frontchannel(request))
            return (yield from receiver.forward_auth(request))
        except Refusal as refusal:
            return refusal.reply

    def judge(self, inspection: Inspection, cookie_header: str, secure: bool) -> Verdict | None:
        """What becomes of a request the check inspected: None lets it through untouched.

        Asks the revocation store about the sessions the inspection names; a
        revoked one, or login cookies that came without a verified id_token,
        lose their cookies (and the framework's session) before the app sees
        the request.
        """
        if inspection.needs_keys:
            # The keys could not be fetched: fail open or closed, as the store does when Redis is away.
            if self.config.revocation_store_fail_open:
                return None
            return self._unavailable(cookie_header, "the provider's keys are not at hand")
        if not inspection.untrusted:
            store = self.store
            if store is None:
                return None
            try:
                if not any(store.is_revoked(*ref) for ref in inspection.refs):
                    return None
            except StoreUnavailableError as exc:  # raised only by a store set to fail closed
                return self._unavailable(cookie_header, str(exc))
        with_session = inspection.in_session or inspection.signed_session
        names = self._session_cookie_names if with_session else self.login_cookie_names
        stripped = strip_cookies(cookie_header, names)
        return Verdict(stripped, self._deletions[secure], clear_session=inspection.in_session)

    def _unavailable(self, cookie_header: str, why: str) -> Verdict:
        logger.error(CHECK_UNAVAILABLE, why)
        return Verdict(cookie_header, [], reply=plain_reply(503, _UNAVAILABLE_MESSAGE))

    def fetch_keys(self, *, unknown_key: bool = False) -> Steps[None]:
        """Fetch the provider's keys (again, after an unknown ``kid``); failures are logged, never raised."""
        try:
            metadata = yield from self.provider_metadata(patient=True)
            if metadata is None or metadata.jwks_uri is None:
                raise DiscoveryError("the discovery document has no jwks_uri", unavailable=False)
            if unknown_key:
                yield from self.jwks.refresh_for_unknown_key(metadata.jwks_uri)
            else:
                yield from self.jwks.get(metadata.jwks_uri)
        except DiscoveryError as exc:
            logger.warning(KEYS_UNAVAILABLE, exc)

    def trusted_claims(self, request: LogoutRequest) -> Steps[SessionClaims | None]:
        """The claims of the request's session, if its id_token can be trusted (verified when it must be)."""
        id_token, trusted = self._find_id_token(request)
        if id_token is None:
            return None
        if not trusted and self.jwks.current() is None:
            yield from self.fetch_keys()
        claims = self.check.claims_of(id_token, trusted=trusted)
        if claims is None and not trusted:
            # Perhaps signed with a key the provider added since: look once more.
            yield from self.fetch_keys(unknown_key=True)
            claims = self.check.claims_of(id_token, trusted=trusted)
        return claims

    def _find_id_token(self, request: LogoutRequest) -> tuple[str | None, bool]:
        """The request's id_token, and whether it came from the app's session (so needs no verification)."""
        if request.session is not None:
            found = find_id_token(request.session, self._key_paths)
            if found is not None:
                return found, True
        if self._signed_cookie is not None:
            # The last one, as Starlette reads a cookie sent twice.
            for value in reversed(cookie_values(request.cookie, self.config.session_cookie)):
                session = self._signed_cookie.read(value)
                found = find_id_token(session, self._key_paths) if session is not None else None
                if found is not None:
                    return found, True
        if request.app_id_token is not None:
            return request.app_id_token, False
        return read_cookie(request.cookie, self.config.id_token_cookie) or None, False

    def deletions(self, secure: bool) -> list[tuple[str, str]]:
        """The ``Set-Cookie`` headers that delete every login cookie."""
        return self._deletions[secure]

    def provider_metadata(self, *, patient: bool = False) -> Steps[ProviderMetadata | None]:
        """Discovery metadata (fetched if stale), or None when discovery is not used.

        :param patient: fail at once after a failure moments ago, rather than ask again.
        """
        if self.discovery is None:
            return None
        return (yield from self.discovery.get(patient=patient))

    # -- the logout request ----------------------------------------------------

    def _logout(self, request: LogoutRequest) -> Steps[Reply]:
        config = self.config
        self._refuse_unwanted(request)
        params = query_params(request.query_string)
        redirect_uri = self._requested_redirect(params) or config.post_logout_redirect_uri
        return_to = self._requested_return_to(params)

        id_token, trusted = self._find_id_token(request)
        if id_token is None:
            self._warn_no_id_token(request)
        elif not is_compact_jwt(id_token):
            logger.warning(MALFORMED_ID_TOKEN, config.id_token_cookie)
            id_token = None

        found = yield from self._logout_metadata()
        metadata = found if isinstance(found, ProviderMetadata) else None
        endpoint = self._endpoint or (metadata.end_session_endpoint if metadata else None)
        if endpoint is None and not self._local_only:
            # Nothing is deleted, so that the retry can still send id_token_hint.
            return self._provider_failed(found)
        if self._token_cookies:
            yield from self._revoke_tokens(request.cookie, metadata)
        # The app's session ends here, before the provider is asked: a user who
        # leaves at the provider's confirmation page is signed out of the app.
        yield from self._end_session(id_token, trusted)
        secure = request.scheme == "https"
        set_cookies = list(self._deletions[secure])
        if endpoint is None:  # a provider with no end-session endpoint: local logout only
            logger.info(LOGGED_OUT_LOCALLY, len(set_cookies))
            location = return_to or redirect_uri or config.default_return_to
            return Reply(303, [("Location", location), *self._fixed_headers, *set_cookies], clear_session=True)

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
            ui_locales=config.ui_locales,
            extra_params=self._extra_params,
        )
        if len(location) > config.max_url_length:
            logger.info(LOGGED_OUT_BY_FORM, len(location))
            action, separator = endpoint_and_separator(endpoint)
            # The endpoint's own query string stays in the action URL; ours goes in the form.
            fields = parse_qsl(location[len(action) + len(separator) :])
            body, page_headers = form_post_page(action, fields, redirect_uri)
            return Reply(200, [*page_headers, *self._fixed_headers, *set_cookies], body, clear_session=True)
        logger.info(LOGGED_OUT, len(set_cookies), "sent" if id_token else "none")
        headers = [("Location", location), ("Content-Length", "0"), *self._fixed_headers, *set_cookies]
        return Reply(303, headers, clear_session=True)

    def _logout_metadata(self) -> Steps[ProviderMetadata | DiscoveryError | None]:
        """The discovery metadata, or why there is none; None when the logout needs none."""
        if self.discovery is None or not self._logout_needs_discovery:
            return None
        try:
            return (yield from self.discovery.get())
        except DiscoveryError as exc:
            return exc

    def _provider_failed(self, metadata: ProviderMetadata | DiscoveryError | None) -> Reply:
        if isinstance(metadata, DiscoveryError):
            logger.error(PROVIDER_FAILED, metadata)
            if metadata.unavailable:
                return plain_reply(503, "the identity provider is not answering; please try again later")
            return plain_reply(502, "the identity provider's configuration is not usable; please try again later")
        logger.error(PROVIDER_FAILED, "the discovery document has no end_session_endpoint")
        return plain_reply(502, "the identity provider has no logout endpoint (set provider='google' for local logout)")

    def _end_session(self, id_token: str | None, trusted: bool) -> Steps[None]:
        """Record the session as revoked (when requests are checked) and tell the app's on_logout hook."""
        config = self.config
        store, hook = self.store, config.on_logout
        if store is None and hook is None:
            return
        claims = None
        if id_token is not None:
            if not trusted and self.jwks.current() is None:
                yield from self.fetch_keys()
            claims = self.check.claims_of(id_token, trusted=trusted)
        if store is not None and claims is not None:
            expires_at = self._time() + config.max_token_lifetime
            iss, key = claims.iss, claims.key
            try:
                yield Blocking(lambda: store.revoke_session(iss, key, expires_at))
            except StoreDeferredError as exc:
                logger.warning(SESSION_DEFERRED, exc)
            except StoreUnavailableError as exc:
                logger.error(SESSION_NOT_RECORDED, exc)
        if hook is not None:
            try:
                yield Blocking(lambda: hook(claims))
            except Exception as exc:  # the app's code: whatever it raises, the logout goes on
                logger.exception(HOOK_FAILED, type(exc).__name__)

    def _warn_no_id_token(self, request: LogoutRequest) -> None:
        config = self.config
        in_session = bool(request.session) or (
            self._signed_cookie is not None and config.session_cookie in request.cookie
        )
        if in_session:
            message, argument = NO_ID_TOKEN_IN_SESSION, ", ".join(config.id_token_session_keys)
        else:
            message, argument = NO_ID_TOKEN, config.id_token_cookie
        # Once per process at WARNING, so that a misconfiguration shows; then quietly.
        logger.log(logging.INFO if self._warned_no_id_token else logging.WARNING, message, argument)
        self._warned_no_id_token = True

    def _refuse_unwanted(self, request: LogoutRequest) -> None:
        config = self.config
        if request.method not in config.methods:
            logger.info(METHOD_REFUSED, request.method[:20], config.methods)
            raise Refusal(405, "log out with " + " or ".join(config.methods), self._allow_header)
        prefetch = prefetch_reason(request.headers)
        if prefetch:
            logger.info(PREFETCH_REFUSED, prefetch)
            raise Refusal(503, "logout is not done for a prefetch")
        if config.require_same_origin:
            cross_site = not_same_origin_reason(request.host, request.headers)
            if cross_site:
                logger.warning(CROSS_SITE_REFUSED, cross_site)
                raise Refusal(403, "logout must be requested from this site")
        if config.block_cross_site:
            cross_site = cross_site_reason(request.method, request.host, request.headers)
            if cross_site:
                logger.warning(CROSS_SITE_REFUSED, cross_site)
                raise Refusal(403, "logout must be requested from this site")

    def _requested_redirect(self, params: list[tuple[str, str]]) -> str | None:
        name = self.config.redirect_param
        value = single_param(params, name) if name else None
        if value is not None and value not in self._allowed_redirects:
            logger.warning(REDIRECT_REFUSED, name, value[:200])
            raise Refusal(400, f"{name} is not an allowed post-logout redirect URI")
        return value

    def _requested_return_to(self, params: list[tuple[str, str]]) -> str | None:
        config = self.config
        if config.logout_callback_path is None and not self._local_only:
            return None
        name = config.return_to_param
        value = single_param(params, name)
        if value is not None and not is_local_path(value):
            logger.warning(RETURN_TO_REFUSED, name, value[:200])
            raise Refusal(400, f"{name} must be a path on this site, such as /account")
        return value

    def _state_cookie(self, request: LogoutRequest, state: str, return_to: str | None, secure: bool) -> tuple[str, str]:
        config = self.config
        value = pack_state_cookie(state, return_to or config.default_return_to, int(self._time()))
        path = _callback_cookie_path(request.root_path, config.logout_callback_path or "/")
        # A __Secure- or __Host- name is dropped by browsers without Secure, over http as well.
        secure = secure or needs_secure(config.state_cookie)
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
        state = single_param(query_params(request.query_string), "state")
        cookie = read_cookie(request.cookie, config.state_cookie)
        headers = [*self._fixed_headers]
        if cookie is not None:
            path = _callback_cookie_path(request.root_path, config.logout_callback_path or "/")
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


def _require(module: str, extra: str, feature: str) -> None:
    try:
        __import__(module)
    except ImportError:
        raise ConfigError(f"{feature} need {module}: pip install 'logout-middleware[{extra}]'") from None


# A mount point as a server may give it (from SCRIPT_NAME, which gunicorn takes from a
# client's header): only what may stand in a cookie's Path goes there.
_SAFE_PATH = re.compile(r"(?:/[A-Za-z0-9._~!$&'()*+,=:@%-]*)*")


def _callback_cookie_path(root_path: str, callback_path: str) -> str:
    if not _SAFE_PATH.fullmatch(root_path):
        logger.warning(CALLBACK_REFUSED, "the mount path of this request cannot go into a cookie's Path")
        raise Refusal(400, "this request's mount path cannot be used")
    return root_path + callback_path
