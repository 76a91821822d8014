"""The logout that starts at the app: ``logout_path``, and the provider's redirect back to ``logout_callback_path``.

RP-Initiated Logout 1.0: the request's id_token is found (the app's
session, or a cookie), the app's session is ended and, while requests are
checked, recorded as revoked; the login cookies are deleted and the browser
is sent to the provider's end-session endpoint with ``id_token_hint``,
``post_logout_redirect_uri``, ``state`` and ``client_id``.  No I/O: what
the provider or the store must do is yielded (see :mod:`.values`).
"""

from __future__ import annotations

import re
import secrets
import time
from typing import cast
from urllib.parse import parse_qsl

from .. import events
from ..config import LogoutConfig
from ..errors import ConfigError, DiscoveryError, LogoutError, Refusal
from ..specs.discovery import ProviderMetadata
from ..specs.end_session import endpoint_and_separator
from ..specs.providers import preset_logout_url
from ..specs.token_revocation import describe_answer, revocation_request
from ..specs.token_shape import is_compact_jwt
from ..web.browser_checks import cross_site_reason, not_same_origin_reason, prefetch_reason
from ..web.cookies import CookieDeletions, deletion_header, needs_secure, read_cookie
from ..web.form_post import form_post_page
from ..web.query import query_params, single_param
from ..web.return_to import is_local_path, pack_state_cookie, unpack_state_cookie
from .methods import method_not_allowed
from .provider_keys import ProviderKeys
from .session_check import SessionCheck
from .values import CallOnLogout, LogoutRequest, Reply, RevokeSession, Steps, plain_reply

__all__ = ["RelyingPartyLogout"]

# Log messages, kept here so that tests can check them; the events they go with are in logout_middleware.events.
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
MOUNT_PATH_REFUSED = "%s refused: the mount path of this request cannot go into a cookie's Path"
CALLBACK_RETURNED = "logout callback: state %s, on to the page"
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


def token_cookies(config: LogoutConfig) -> list[tuple[str, str]]:
    """The cookies whose tokens are revoked at the provider (RFC 7009), with their ``token_type_hint``."""
    # RFC 7009 section 2.1: the refresh token first, as revoking it may revoke the access token too.
    revocable = ((config.refresh_token_cookie, "refresh_token"), (config.access_token_cookie, "access_token"))
    return [(name, hint) for name, hint in revocable if name]


def logout_needs_discovery(config: LogoutConfig) -> bool:
    """Whether the logout needs the provider's discovery document: for an endpoint it has no other way to know."""
    preset = config.preset
    local_only = preset is not None and preset.local_only
    return bool(
        (config.static_end_session_endpoint() is None and not local_only)
        or (token_cookies(config) and config.revocation_endpoint is None)
    )


class RelyingPartyLogout:
    """The logout and the callback, with all that does not depend on the request worked out once.

    :param config: the options.
    :param keys: the provider's metadata and keys.
    :param check: finds the request's id_token, and whether it can be trusted.
    :param deletions: the login cookies' deleting lines.
    :param records: whether a logout is recorded in the revocation store (requests are checked).
    """

    def __init__(
        self,
        config: LogoutConfig,
        *,
        keys: ProviderKeys,
        check: SessionCheck,
        deletions: CookieDeletions,
        records: bool,
    ) -> None:
        self.config = config
        self._keys = keys
        self._check = check
        self._deletions = deletions
        self._records = records
        # Stored as (name, value) pairs, whatever form was given.
        self._extra_params = cast("tuple[tuple[str, str], ...]", tuple(config.extra_params))
        self._preset = config.preset
        self._local_only = self._preset is not None and self._preset.local_only
        self._endpoint = config.static_end_session_endpoint()
        self._fixed_headers = [("Cache-Control", "no-store")]
        if config.clear_site_data:
            self._fixed_headers.append(("Clear-Site-Data", '"cookies"'))
        self._allowed_redirects = frozenset(
            uri for uri in (config.post_logout_redirect_uri, *config.allowed_redirect_uris) if uri
        )
        self._allow_header = ("Allow", ", ".join(config.methods))
        self._token_cookies = token_cookies(config)
        self._needs_discovery = logout_needs_discovery(config)
        self._time = time.time
        self._warned_no_id_token = False

    def check_endpoint(self) -> None:
        """Raise ConfigError at start-up, not on the first logout, if the parts cannot form a URL."""
        if self._endpoint is None:
            return
        try:
            preset_logout_url(
                self._preset,
                self._endpoint,
                redirect_uri=self.config.post_logout_redirect_uri,
                id_token=None,
                state="s",
                client_id=self.config.client_id or "c",
                extra_params=self._extra_params,
            )
        except LogoutError as exc:
            raise ConfigError(str(exc)) from None

    def logout(self, request: LogoutRequest) -> Steps[Reply]:
        """RP-Initiated Logout 1.0: end the app's session, delete the cookies, send the browser to the provider."""
        config = self.config
        self._refuse_unwanted(request)
        params = query_params(request.query_string, endpoint="logout")
        redirect_uri = self._requested_redirect(params) or config.post_logout_redirect_uri
        return_to = self._requested_return_to(params)
        # Refused before anything is ended or revoked: a mount path that cannot be the state cookie's Path.
        state_path = None
        if redirect_uri is not None and config.logout_callback_path is not None:
            state_path = _callback_cookie_path(request.root_path, config.logout_callback_path, events.LOGOUT_REFUSED)

        id_token, trusted = self._check.find_id_token(request)
        if id_token is None:
            self._warn_no_id_token(request)
        elif not is_compact_jwt(id_token):
            events.emit(
                events.LOGOUT_ID_TOKEN_MALFORMED, MALFORMED_ID_TOKEN, config.id_token_cookie,
                cookie_name=config.id_token_cookie,
            )  # fmt: skip
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
        secure = request.secure
        set_cookies = list(self._deletions.lines(secure))
        deleted = len(set_cookies)
        if endpoint is None:  # a provider with no end-session endpoint: local logout only
            events.emit(events.LOGOUT_LOCAL, LOGGED_OUT_LOCALLY, deleted, cookies_deleted=deleted)
            location = return_to or redirect_uri or config.default_return_to
            return Reply(303, [("Location", location), *self._fixed_headers, *set_cookies], clear_session=True)

        if redirect_uri is not None and id_token is None:
            if self._preset is not None and self._preset.needs_id_token_for_redirect:
                events.emit(
                    events.LOGOUT_REDIRECT_OMITTED, NO_REDIRECT_WITHOUT_TOKEN, self._preset.name,
                    reason="provider_needs_id_token",
                )  # fmt: skip
                redirect_uri = None
            elif config.client_id is None:
                events.emit(events.LOGOUT_REDIRECT_OMITTED, NO_REDIRECT_WITHOUT_HINT, reason="no_client_id")
                redirect_uri = None
        state = None
        if redirect_uri is not None:
            state = secrets.token_urlsafe(16)
            if state_path is not None:
                set_cookies.append(self._state_cookie(state_path, state, return_to, secure))
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
            events.emit(
                events.LOGOUT_FORM_POST, LOGGED_OUT_BY_FORM, len(location),
                cookies_deleted=deleted, id_token_hint=id_token is not None, url_length=len(location),
            )  # fmt: skip
            action, separator = endpoint_and_separator(endpoint)
            # The endpoint's own query string stays in the action URL; ours goes in the form.
            fields = parse_qsl(location[len(action) + len(separator) :])
            body, page_headers = form_post_page(action, fields, redirect_uri)
            return Reply(200, [*page_headers, *self._fixed_headers, *set_cookies], body, clear_session=True)
        events.emit(
            events.LOGOUT_REDIRECTED, LOGGED_OUT, deleted, "sent" if id_token else "none",
            cookies_deleted=deleted, id_token_hint=id_token is not None,
        )  # fmt: skip
        headers = [("Location", location), ("Content-Length", "0"), *self._fixed_headers, *set_cookies]
        return Reply(303, headers, clear_session=True)

    def _logout_metadata(self) -> Steps[ProviderMetadata | DiscoveryError | None]:
        """The discovery metadata, or why there is none; None when the logout needs none."""
        if not self._needs_discovery:
            return None
        try:
            return (yield from self._keys.metadata())
        except DiscoveryError as exc:
            return exc

    def _provider_failed(self, metadata: ProviderMetadata | DiscoveryError | None) -> Reply:
        if isinstance(metadata, DiscoveryError):
            reason = "provider_unavailable" if metadata.unavailable else "provider_unusable"
            events.emit(events.LOGOUT_FAILED, PROVIDER_FAILED, metadata, reason=reason)
            if metadata.unavailable:
                return plain_reply(503, "the identity provider is not answering; please try again later")
            return plain_reply(502, "the identity provider's configuration is not usable; please try again later")
        events.emit(
            events.LOGOUT_FAILED, PROVIDER_FAILED, "the discovery document has no end_session_endpoint",
            reason="no_end_session_endpoint",
        )  # fmt: skip
        return plain_reply(502, "the identity provider has no logout endpoint (set provider='google' for local logout)")

    def _end_session(self, id_token: str | None, trusted: bool) -> Steps[None]:
        """Ask the store to record the session as revoked (when requests are checked), and the app's hook to run."""
        config = self.config
        if not self._records and config.on_logout is None:
            return
        claims = None
        if id_token is not None:
            if not trusted and self._keys.current() is None:
                yield from self._keys.fetch()
            claims = self._check.claims_of(id_token, trusted=trusted)
        if self._records and claims is not None:
            outcome = yield RevokeSession(claims.iss, claims.key, self._time() + config.max_token_lifetime)
            if outcome.state == "deferred":
                events.emit(events.LOGOUT_SESSION_DEFERRED, SESSION_DEFERRED, outcome.error)
            elif outcome.state == "unavailable":
                events.emit(events.LOGOUT_SESSION_NOT_RECORDED, SESSION_NOT_RECORDED, outcome.error)
        if config.on_logout is not None:
            yield CallOnLogout(claims)

    def _warn_no_id_token(self, request: LogoutRequest) -> None:
        config = self.config
        session = self._check.holds_a_session(request)
        if session:
            message, argument = NO_ID_TOKEN_IN_SESSION, ", ".join(config.id_token_session_keys)
        else:
            message, argument = NO_ID_TOKEN, config.id_token_cookie
        # Once per process at WARNING, so that a misconfiguration shows; then quietly.
        events.emit(events.LOGOUT_NO_ID_TOKEN, message, argument, quiet=self._warned_no_id_token, session=session)
        self._warned_no_id_token = True

    def _refuse_unwanted(self, request: LogoutRequest) -> None:
        config = self.config
        if request.method not in config.methods:
            events.emit(
                events.REQUEST_METHOD_REFUSED, METHOD_REFUSED, request.method[:20], config.methods, endpoint="logout"
            )
            raise Refusal(405, "log out with " + " or ".join(config.methods), self._allow_header)
        prefetch = prefetch_reason(request.headers)
        if prefetch:
            events.emit(events.LOGOUT_PREFETCH_DECLINED, PREFETCH_REFUSED, prefetch)
            raise Refusal(503, "logout is not done for a prefetch")
        if config.require_same_origin:
            cross_site = not_same_origin_reason(request.host, request.headers)
            if cross_site:
                events.emit(events.LOGOUT_REFUSED, CROSS_SITE_REFUSED, cross_site, reason="not_same_origin")
                raise Refusal(403, "logout must be requested from this site")
        if config.block_cross_site:
            cross_site = cross_site_reason(request.method, request.host, request.headers)
            if cross_site:
                events.emit(events.LOGOUT_REFUSED, CROSS_SITE_REFUSED, cross_site, reason="cross_site")
                raise Refusal(403, "logout must be requested from this site")

    def _requested_redirect(self, params: list[tuple[str, str]]) -> str | None:
        name = self.config.redirect_param
        value = single_param(params, name, endpoint="logout") if name else None
        if value is not None and value not in self._allowed_redirects:
            events.emit(events.LOGOUT_REFUSED, REDIRECT_REFUSED, name, value[:200], reason="redirect_uri")
            raise Refusal(400, f"{name} is not an allowed post-logout redirect URI")
        return value

    def _requested_return_to(self, params: list[tuple[str, str]]) -> str | None:
        config = self.config
        if config.logout_callback_path is None and not self._local_only:
            return None
        name = config.return_to_param
        value = single_param(params, name, endpoint="logout")
        if value is not None and not is_local_path(value):
            events.emit(events.LOGOUT_REFUSED, RETURN_TO_REFUSED, name, value[:200], reason="return_to")
            raise Refusal(400, f"{name} must be a path on this site, such as /account")
        return value

    def _state_cookie(self, path: str, state: str, return_to: str | None, secure: bool) -> tuple[str, str]:
        config = self.config
        value = pack_state_cookie(state, return_to or config.default_return_to, int(self._time()))
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
                events.emit(
                    events.LOGOUT_TOKEN_NOT_REVOKED, REVOCATION_FAILED, hint, "no revocation_endpoint is known",
                    token_type=hint, reason="no_endpoint", status=0,
                )  # fmt: skip
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
                events.emit(events.LOGOUT_TOKEN_REVOKED, REVOKED, hint, token_type=hint)
            else:
                events.emit(
                    events.LOGOUT_TOKEN_NOT_REVOKED, REVOCATION_FAILED, hint, problem,
                    token_type=hint, reason="unreachable" if answer.status == 0 else "refused", status=answer.status,
                )  # fmt: skip

    # -- the callback after the provider -----------------------------------------

    def callback(self, request: LogoutRequest) -> Steps[Reply]:
        """The provider's redirect back: check ``state`` against the browser's state cookie, go to the page."""
        yield from ()  # a flow like the others, though it needs nothing from outside
        return self._callback(request)

    def _callback(self, request: LogoutRequest) -> Reply:
        config = self.config
        if request.method not in ("GET", "HEAD"):
            return method_not_allowed("callback", request.method, "the logout callback takes GET", "GET, HEAD")
        state = single_param(query_params(request.query_string, endpoint="callback"), "state", endpoint="callback")
        cookie = read_cookie(request.cookie, config.state_cookie)
        headers = [*self._fixed_headers]
        if cookie is not None:
            path = _callback_cookie_path(request.root_path, config.logout_callback_path or "/", events.CALLBACK_REFUSED)
            deletion = deletion_header(config.state_cookie, path=path, domain=None,
                                       secure=request.secure, samesite="Lax")  # fmt: skip
            headers.append(("Set-Cookie", deletion))
        if state is None and cookie is None:
            # The provider signed the user out on its own and sent them here: nothing to check.
            events.emit(events.CALLBACK_RETURNED, CALLBACK_RETURNED, "not asked", state_checked=False)
            return Reply(303, [("Location", config.default_return_to), ("Content-Length", "0"), *headers])
        if state is None or cookie is None:
            if state is None:
                events.emit(events.CALLBACK_REFUSED, CALLBACK_REFUSED, "no state came back", reason="no_state")
            else:
                events.emit(
                    events.CALLBACK_REFUSED, CALLBACK_REFUSED, "no state cookie: expired, replayed or forged",
                    reason="no_state_cookie",
                )  # fmt: skip
            raise Refusal(400, "this logout link is not valid any more")
        return_to = unpack_state_cookie(cookie, state, now=int(self._time()), max_age=config.state_max_age)
        if return_to is None:
            events.emit(
                events.CALLBACK_REFUSED, CALLBACK_REFUSED, "the state does not match the state cookie, or it expired",
                reason="state_mismatch",
            )  # fmt: skip
            raise Refusal(400, "this logout link is not valid any more")
        events.emit(events.CALLBACK_RETURNED, CALLBACK_RETURNED, "checked", state_checked=True)
        return Reply(303, [("Location", return_to), ("Content-Length", "0"), *headers])


# A mount point as a server may give it (from SCRIPT_NAME, which gunicorn takes from a
# client's header): only what may stand in a cookie's Path goes there.
_SAFE_PATH = re.compile(r"(?:/[A-Za-z0-9._~!$&'()*+,=:@%-]*)*")


def _callback_cookie_path(root_path: str, callback_path: str, refused: events.Event) -> str:
    if not _SAFE_PATH.fullmatch(root_path):
        where = "logout" if refused is events.LOGOUT_REFUSED else "logout callback"
        events.emit(refused, MOUNT_PATH_REFUSED, where, reason="mount_path")
        raise Refusal(400, "this request's mount path cannot be used")
    return root_path + callback_path
