"""The core, assembled from the configuration: what each path answers, and the per-request check.

:class:`LogoutHandler` owns no socket, file, thread or store.  A front door
(the WSGI and ASGI adapters, the Flask and Django doors) translates a
request for one of :attr:`LogoutHandler.endpoints` into a
:class:`~.values.LogoutRequest` and has a driver (:mod:`logout_middleware.drivers`)
run :meth:`LogoutHandler.handle`, performing what it yields; every other
request, while revocations are checked, goes through :meth:`inspect` and
:meth:`verdict`.  The flows themselves live in :mod:`.logout`,
:mod:`.provider_logout` and :mod:`.forward_auth`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..config import LogoutConfig
from ..errors import ConfigError, Refusal
from ..specs.discovery import MetadataCache, ProviderMetadata
from ..specs.jwks import JwksCache
from ..web.cookies import CookieDeletions
from .allowance import SeenSessions
from .app_sessions import SignedSessionCookie, parse_key_paths
from .enforcement import Enforcement
from .forward_auth import ForwardAuth
from .logout import RelyingPartyLogout, logout_needs_discovery, token_cookies
from .metrics_endpoint import MetricsEndpoint
from .provider_keys import ProviderKeys
from .provider_logout import MAX_BODY, BackchannelLogout, FrontchannelLogout
from .session_check import Inspection, SessionCheck
from .values import LogoutRequest, Lookup, Reply, Steps, Verdict, plain_reply

__all__ = ["Endpoint", "LogoutHandler"]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A path the middleware answers itself, and what the front door must give it."""

    #: The path, relative to where the app is mounted.
    path: str
    #: Whether the front door reads the request body (at most ``max_body`` + 1 bytes) into the request.
    reads_body: bool = False
    #: The longest body the endpoint takes.
    max_body: int = 0


class LogoutHandler:
    """The sans-I/O core of one middleware: every decision, none of the I/O.

    :param config: the options; all the work that does not depend on the
        request (the deleting ``Set-Cookie`` lines, the allowed redirect URIs,
        the fixed headers) is done once here.
    :raises ConfigError: a feature's extra is not installed, or the end-session URL cannot be built.
    """

    def __init__(self, config: LogoutConfig) -> None:
        self.config = config
        #: Whether every request is checked against the revoked sessions.
        self.checks_requests = config.enforces_revocations
        deletions = CookieDeletions(config.cookies_to_delete(), samesite=config.cookie_samesite)
        needs_discovery = (
            logout_needs_discovery(config) or config.backchannel_logout_path is not None or self.checks_requests
        )
        discovery = (
            MetadataCache(config.issuer, ttl=config.discovery_ttl, timeout=config.http_timeout)
            if needs_discovery and config.issuer
            else None
        )
        _check_extras(config, discovery is not None or bool(token_cookies(config)))
        #: The provider's metadata and signing keys, shared by every flow.
        self.keys = ProviderKeys(discovery, JwksCache(ttl=config.discovery_ttl, timeout=config.http_timeout))
        #: The provider sessions this process has seen in trusted requests (for front-channel logout).
        self.seen = SeenSessions()
        #: The per-request check: which sessions a request belongs to.
        self.check = SessionCheck(
            issuer=config.issuer,
            client_id=config.client_id,
            id_token_cookie=config.id_token_cookie,
            login_cookies=tuple(deletions.names) if config.login_cookies_need_id_token else (),
            session_cookie=config.session_cookie,
            key_paths=parse_key_paths(tuple(config.id_token_session_keys)),
            signed_cookie=SignedSessionCookie(config.session_secret) if config.session_secret else None,
            keys=self.keys,
            algorithms=self.signing_algorithms,
            client_secret=config.client_secret,
            seen=self.seen.add,
        )
        self._enforcement = Enforcement(
            deletions, session_cookie=config.session_cookie, fail_open=config.revocation_store_fail_open
        )
        logout = RelyingPartyLogout(
            config, keys=self.keys, check=self.check, deletions=deletions, records=self.checks_requests
        )
        logout.check_endpoint()
        routes: dict[str, tuple[Endpoint, Callable[[LogoutRequest], Steps[Reply]]]] = {
            config.logout_path: (Endpoint(config.logout_path), logout.logout)
        }
        if config.logout_callback_path is not None:
            routes[config.logout_callback_path] = (Endpoint(config.logout_callback_path), logout.callback)
        if config.backchannel_logout_path is not None:
            receiver = BackchannelLogout(config, keys=self.keys, algorithms=self.signing_algorithms)
            endpoint = Endpoint(config.backchannel_logout_path, reads_body=True, max_body=MAX_BODY)
            routes[endpoint.path] = (endpoint, receiver)
        if config.frontchannel_logout_path is not None:
            frame = FrontchannelLogout(config, keys=self.keys, check=self.check, deletions=deletions, seen=self.seen)
            routes[config.frontchannel_logout_path] = (Endpoint(config.frontchannel_logout_path), frame)
        if config.forward_auth_path is not None:
            asked = ForwardAuth(check=self.check, keys=self.keys, enforcement=self._enforcement)
            routes[config.forward_auth_path] = (Endpoint(config.forward_auth_path), asked)
        if config.metrics:
            routes[config.metrics_path] = (Endpoint(config.metrics_path), MetricsEndpoint())
        self._routes = routes
        #: The paths the middleware answers itself, relative to the mount point, and what each needs.
        self.endpoints: dict[str, Endpoint] = {path: endpoint for path, (endpoint, _) in routes.items()}

    @property
    def signing_algorithms(self) -> tuple[str, ...]:
        """The algorithms the provider signs with: the registered one (RS256 unless configured)."""
        return tuple(self.config.signing_algorithms) or ("RS256",)

    def handle(self, request: LogoutRequest) -> Steps[Reply]:
        """Decide the answer to a request for one of :attr:`endpoints`, yielding what it needs first."""
        _, flow = self._routes[request.path]
        try:
            return (yield from flow(request))
        except Refusal as refusal:
            return plain_reply(refusal.status, str(refusal), *refusal.headers)

    def inspect(
        self, cookie_header: str, session: Any = None, app_id_token: str | None = None, *, keys_fetched: bool = False
    ) -> Inspection:
        """The per-request check, part one: which sessions the request belongs to (see :class:`SessionCheck`).

        :param app_id_token: what the app's ``id_token_getter`` returned, which then stands for the cookies.
        :param keys_fetched: the provider's keys were just fetched for this request: ask for them no more.
        """
        if app_id_token is not None:
            return self.check.inspect_id_token(app_id_token, trusted=False, keys_fetched=keys_fetched)
        return self.check.inspect(cookie_header, session, keys_fetched=keys_fetched)

    def fetch_keys(self, *, unknown_key: bool = False) -> Steps[None]:
        """What an inspection that ``needs_keys`` waits for: the provider's keys, fetched (again)."""
        return (yield from self.keys.fetch(unknown_key=unknown_key))

    def verdict(
        self, inspection: Inspection, lookup: Lookup | None, cookie_header: str, secure: bool
    ) -> Verdict | None:
        """The per-request check, part two: with the store's answer about the inspection's sessions, what
        reaches the app.  None lets the request through untouched."""
        return self._enforcement.verdict(inspection, lookup, cookie_header, secure, endpoint="app")

    def provider_metadata(self) -> Steps[ProviderMetadata | None]:
        """Discovery metadata (fetched if stale), or None when discovery is not used."""
        return (yield from self.keys.metadata())


def _check_extras(config: LogoutConfig, uses_http: bool) -> None:
    """Fail at start-up, naming what to install, rather than on the first logout."""
    if uses_http:
        _require("httpx", "http", "issuer= (discovery) and token revocation")
    if config.enforces_revocations:
        _require("joserfc", "backchannel", "back-channel logout and checking id_tokens")
    if config.metrics:
        _require("prometheus_client", "metrics", "metrics=True (the Prometheus metrics)")


def _require(module: str, extra: str, feature: str) -> None:
    try:
        __import__(module)
    except ImportError:
        raise ConfigError(f"{feature} need {module}: pip install 'logout-middleware[{extra}]'") from None
