"""The sans-I/O core: given a request as plain values, decide the response.

The adapters in :mod:`logout_middleware.wsgi` and :mod:`logout_middleware.asgi`
only translate a request into a :class:`LogoutRequest`, run
:meth:`LogoutHandler.handle` (sending the provider requests it yields, see
:mod:`logout_middleware.outbound`) and translate the :class:`Reply` back.
"""

from __future__ import annotations

import logging
import secrets
import time
from urllib.parse import parse_qsl

from .browser_checks import cross_site_reason, prefetch_reason
from .config import LogoutConfig
from .cookies import deletion_header, read_cookie
from .discovery import DiscoveryError, MetadataCache, ProviderMetadata
from .errors import ConfigError, LogoutError
from .form_post import form_post_page
from .messages import LogoutRequest, Refusal, Reply, plain_reply, query_params, single_param
from .outbound import Steps
from .providers import preset_logout_url
from .receivers import MAX_BODY, ProviderLogout
from .return_to import is_local_path, pack_state_cookie, unpack_state_cookie
from .revocation import open_store
from .sessions import SessionGuard, strip_cookies
from .token_revocation import describe_answer, revocation_request
from .tokens import is_compact_jwt
from .urls import endpoint_and_separator

__all__ = ["MAX_BODY", "LogoutHandler", "LogoutRequest", "Reply"]

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
        self._provider_logout = (
            ProviderLogout(config, self.guard, deletions=self.deletions, metadata=self.provider_metadata)
            if self.guard is not None
            else None
        )
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
            receiver = self._provider_logout
            assert receiver is not None  # noqa: S101 - the config turns it on with these paths
            if request.path == config.backchannel_logout_path:
                return (yield from receiver.backchannel(request))
            if request.path == config.frontchannel_logout_path:
                return (yield from receiver.frontchannel(request))
            return receiver.forward_auth(request)
        except Refusal as refusal:
            return refusal.reply

    def screen(self, cookie_header: str, secure: bool) -> tuple[str, list[tuple[str, str]]] | None:
        """What a request with *cookie_header* may take to the app.

        None when it belongs to no revoked session (or checks are off);
        otherwise the Cookie header without the login cookies, for the app,
        and the ``Set-Cookie`` lines that delete them, for the response.

        :raises Refusal: (503) the store cannot tell and is set to fail closed.
        """
        guard = self.guard
        if guard is None or not guard.is_revoked(cookie_header):
            return None
        return strip_cookies(cookie_header, self.login_cookie_names), self._deletions[secure]

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
        self._refuse_unwanted(request)
        params = query_params(request.query_string)
        redirect_uri = self._requested_redirect(params) or config.post_logout_redirect_uri
        return_to = self._requested_return_to(params)

        cookie_header = request.cookie
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
                    return plain_reply(status, why + "; please try again later")  # fmt: skip
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
            return plain_reply(
                502, "the identity provider has no logout endpoint (set provider='google' for local logout)"
            )

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
        prefetch = prefetch_reason(request.headers)
        if prefetch:
            logger.info(PREFETCH_REFUSED, prefetch)
            raise Refusal(503, "logout is not done for a prefetch")
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
        state = single_param(query_params(request.query_string), "state")
        cookie = read_cookie(request.cookie, config.state_cookie)
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
