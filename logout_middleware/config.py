"""The one configuration object, validated when it is built."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from .core.app_sessions import DEFAULT_KEYS
from .errors import ConfigError, LogoutError
from .specs.end_session import check_absolute_url, encode_value
from .specs.id_token import SessionClaims
from .specs.providers import PRESETS, Preset
from .stores.opening import store_opener
from .web.cookies import CookieSpec, check_cookie_domain, check_cookie_name, check_cookie_path
from .web.return_to import is_local_path

__all__ = ["LogoutConfig"]

_METHOD = re.compile(r"[A-Z]+")
_PATH = re.compile(r"/[^\s?#<>\"\\\x00-\x1f\x7f]*")  # no query, fragment, spaces or controls
_LOOPBACK = ("localhost", "127.0.0.1", "::1")
_SECRETS = frozenset(("client_secret", "session_secret"))
_KEY_PATH = re.compile(r"[^.\s]+(?:\.[^.\s]+)*")
_MASKED = "'***'"
# The end-session parameters the middleware sets itself; extra_params may not.
_RESERVED_PARAMS = frozenset(
    ("post_logout_redirect_uri", "id_token_hint", "state", "client_id", "logout_hint", "ui_locales")
)
# JWS algorithms (RFC 7518, RFC 8037, RFC 8812) a logout token may be signed with.
_JWS_ALGORITHMS = frozenset(
    ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "ES256K", "EdDSA",
     "Ed25519", "HS256", "HS384", "HS512")
)  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class LogoutConfig:
    """Everything the middleware needs to know, checked once at start-up.

    Any wrong value raises :class:`ConfigError` naming the option.  Lists are
    accepted wherever several values are taken, and stored as tuples.  The
    comment above each field is its documentation: ``docs/options.md`` is
    made from these comments.
    """

    # -- the provider --------------------------------------------------------
    #: The provider's end-session URL; wins over discovery.
    end_session_endpoint: str | None = None
    #: The provider's issuer, for discovery (https, or http on localhost). One of the two is required, except with
    #: `provider="google"`.
    issuer: str | None = None
    #: A preset: `authing`, `keycloak`, `okta`, `entra`, `auth0`, `cognito`, `google`.
    provider: str | None = None
    #: Sent with every logout; needed for a redirect without id_token, for revocation, and by some presets.
    client_id: str | None = None
    #: For token revocation; masked in `repr`.
    client_secret: str | None = None
    #: Seconds the discovery document is used before it is fetched again.
    discovery_ttl: float = 3600.0
    #: Timeout of each request to the provider, in seconds.
    http_timeout: float = 5.0
    #: Seconds a back-channel request's body may take to arrive; then `408` and the connection is closed.
    body_timeout: float = 10.0
    #: ASGI: fetch discovery at lifespan startup.
    discover_at_startup: bool = False

    # -- the logout request --------------------------------------------------
    #: The path served, relative to the mount point.
    logout_path: str = "/logout"
    #: Methods that log out; others get `405`.
    methods: Sequence[str] = ("GET", "POST")
    #: Refuse cross-site logout requests with `403`.
    block_cross_site: bool = True
    #: Stricter: refuse every logout request not shown to come from this origin: `Sec-Fetch-Site` must be `same-origin`
    #: or `none`; without it, an `Origin` or `Referer` of this origin is needed.
    require_same_origin: bool = False
    #: Where the provider sends the browser afterwards; must be registered there.
    post_logout_redirect_uri: str | None = None
    #: Other redirect URIs a request may choose with `redirect_param` (exact match).
    allowed_redirect_uris: Sequence[str] = ()
    #: The query parameter that chooses among them; `None` turns it off.
    redirect_param: str | None = "redirect_uri"
    #: More end-session parameters (mapping or pairs), for providers that want them; not the standard ones the
    #: middleware sets.
    extra_params: Sequence[tuple[str, str]] | Mapping[str, str] = field(default=())
    #: Languages for the provider's logout pages (space-separated BCP 47 tags).
    ui_locales: str | None = None
    #: Longer end-session URLs go to the provider by a self-submitting form POST instead.
    max_url_length: int = 8000

    # -- the cookies ---------------------------------------------------------
    #: The cookie an app may keep its id_token in: sent as `id_token_hint`, deleted, and, while requests are checked,
    #: trusted only once its signature verifies.
    id_token_cookie: str = "id_token"
    #: More cookies to delete: names, or `CookieSpec(name, path=None, domain=None)`.
    clear_cookies: Sequence[str | CookieSpec] = ()
    #: The Path the login cookies were set with.
    cookie_path: str = "/"
    #: The Domain the login cookies were set with; `None` for host-only cookies.
    cookie_domain: str | None = None
    #: SameSite of the deleting headers (`"None"` adds `Secure`).
    cookie_samesite: Literal["Lax", "Strict", "None"] = "Lax"
    #: Also send `Clear-Site-Data: "cookies"` (it clears the whole registrable domain, over HTTPS only).
    clear_site_data: bool = False

    # -- the app's session ---------------------------------------------------------
    #: Where the app's session keeps the id_token: dotted key paths, tried in order (Authlib, mozilla-django-oidc and
    #: Flask-pyoidc are covered).
    id_token_session_keys: Sequence[str] = DEFAULT_KEYS
    #: The framework's session cookie (Starlette's and Flask's default).
    session_cookie: str = "session"
    #: Starlette `SessionMiddleware`'s `secret_key`, to read its signed cookie from outside it (or in the gateway);
    #: masked in `repr`.
    session_secret: str | None = None
    #: A function of the WSGI environ or ASGI scope returning the request's id_token, for apps that keep it elsewhere;
    #: its answer is verified like a cookie's.
    id_token_getter: Callable[[Any], str | None] | None = None
    #: Called at logout with the signed-out session's claims (`iss`, `sub`, `sid`), or `None`; what it raises is
    #: logged, never stops the logout.
    on_logout: Callable[[SessionClaims | None], object] | None = None

    # -- coming back: return_to ------------------------------------------------
    #: Serve the post-logout callback here and check `state`; enables `return_to` (not with `auth0`/`cognito`, which
    #: send no `state` back).
    logout_callback_path: str | None = None
    #: The query parameter naming a local page to come back to.
    return_to_param: str = "return_to"
    #: Where the callback goes when no page was asked for.
    default_return_to: str = "/"
    #: The cookie that ties `state` to the browser.
    state_cookie: str = "logout_state"
    #: Seconds the provider round trip may take.
    state_max_age: int = 600

    # -- token revocation (RFC 7009) -------------------------------------------
    #: A cookie whose refresh token is revoked and deleted.
    refresh_token_cookie: str | None = None
    #: A cookie whose access token is revoked and deleted.
    access_token_cookie: str | None = None
    #: The provider's RFC 7009 endpoint; wins over discovery.
    revocation_endpoint: str | None = None
    #: How the client authenticates to the revocation endpoint: or `"client_secret_post"`.
    token_endpoint_auth_method: Literal["client_secret_basic", "client_secret_post"] = "client_secret_basic"

    # -- logout from the provider: back-channel, front-channel, enforcement --------
    #: Check every request against the revoked sessions; `None`: when a receiver or forward-auth is on; `True` also
    #: records each logout, so a replayed session cookie is refused (needs `issuer`, `client_id`).
    enforce_revocations: bool | None = None
    #: While checks are on, the login cookies count only beside a verified, live id_token cookie; otherwise they are
    #: stripped.
    login_cookies_need_id_token: bool = True
    #: Receive Back-Channel Logout here (needs `issuer`, `client_id`).
    backchannel_logout_path: str | None = None
    #: Receive Front-Channel Logout here (needs `issuer`).
    frontchannel_logout_path: str | None = None
    #: Front-channel requests must carry `iss` and `sid`; without them, only the cookies that came are deleted.
    frontchannel_logout_session_required: bool = True
    #: Answer `204`, or `401` with the deletions for a revoked session, for nginx `auth_request` / Traefik
    #: `ForwardAuth`.
    forward_auth_path: str | None = None
    #: `memory://`, `sqlite:///path.db`, `redis://host:port/db` (or `redis+sentinel://`, `redis+cluster://`), or a
    #: store object; `None`: an SQLite file in a private directory below the temporary directory, shared by the app's
    #: processes on this machine.
    revocation_store: Any = None
    #: Keep answering while the check cannot be made (Redis unreachable, the provider's keys never fetched): from the
    #: local copy; `False` answers checked requests `503` instead.
    revocation_store_fail_open: bool = True
    #: Seconds revocations are kept: the longest a signed-in session lives (set it to the app session's lifetime).
    max_token_lifetime: int = 86400
    #: Algorithms id_tokens and logout tokens may be signed with; empty: `RS256`, the default
    #: `id_token_signed_response_alg`. HMAC ones need `client_secret`.
    signing_algorithms: Sequence[str] = ()
    #: Clock skew allowed on a logout token's `iat` and `exp`, in seconds.
    logout_token_leeway: int = 60
    #: Accept tokens without `exp` if `iat` is at most this old.
    logout_token_max_age_without_exp: int | None = None

    # -- metrics ---------------------------------------------------------------
    #: Serve Prometheus metrics at `metrics_path` (needs `pip install 'logout-middleware[metrics]'`); `None`: on in the
    #: gateway when prometheus-client is installed, off in the middleware.
    metrics: bool | None = None
    #: Where the metrics are served, relative to the mount point, while `metrics` is on.
    metrics_path: str = "/metrics"

    def __post_init__(self) -> None:
        self._check_provider()
        self._check_logout_request()
        self._check_cookies()
        self._check_session()
        self._check_return_to()
        self._check_revocation()
        self._check_provider_logout()
        self._check_metrics()
        for spec in self.cookies_to_delete():
            _check_prefix_rules(spec)

    def __repr__(self) -> str:
        shown = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in _SECRETS and value:
                shown.append(f"{f.name}={_MASKED}")
            else:
                shown.append(f"{f.name}={(repr(mask_url_password(value)) if isinstance(value, str) else repr(value))}")
        return f"LogoutConfig({', '.join(shown)})"

    @property
    def enforces_revocations(self) -> bool:
        """Whether every request is checked against the revoked sessions.

        ``enforce_revocations`` when set; otherwise, whether a receiver or forward-auth is on.
        """
        if self.enforce_revocations is not None:
            return self.enforce_revocations
        return any((self.backchannel_logout_path, self.frontchannel_logout_path, self.forward_auth_path))

    @property
    def preset(self) -> Preset | None:
        """The provider preset, if one was chosen."""
        return PRESETS[self.provider] if self.provider else None

    def cookies_to_delete(self) -> tuple[CookieSpec, ...]:
        """Every login cookie to delete, each with its Path and Domain filled in."""
        token_cookies = (self.id_token_cookie, self.refresh_token_cookie, self.access_token_cookie)
        specs = [CookieSpec(name) for name in token_cookies if name]
        if self.session_secret is not None:
            specs.append(CookieSpec(self.session_cookie))  # read from outside the framework: deleted from outside
        specs += [CookieSpec(item) if isinstance(item, str) else item for item in self.clear_cookies]
        resolved = [
            CookieSpec(
                spec.name,
                path=self.cookie_path if spec.path is None else spec.path,
                domain=self.cookie_domain if spec.domain is None else spec.domain,
            )
            for spec in specs
        ]
        return tuple(dict.fromkeys(resolved))  # drop exact repeats, keep the order

    def static_end_session_endpoint(self) -> str | None:
        """The end-session URL known without discovery: explicit, or fixed below the issuer."""
        if self.end_session_endpoint is not None:
            return self.end_session_endpoint
        preset = self.preset
        if preset is not None and self.issuer is not None:
            return preset.endpoint_from_issuer(self.issuer)
        return None

    @classmethod
    def from_options(cls, config: LogoutConfig | None = None, **options: Any) -> LogoutConfig:
        """Build a config from keyword options, or copy *config* with some options changed."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(f"unknown option {unknown[0]!r}; the options are: {', '.join(sorted(known))}")
        if config is None:
            return cls(**options)
        if not isinstance(config, cls):
            raise ConfigError(f"config must be a LogoutConfig, not {type(config).__name__}")
        return dataclasses.replace(config, **options) if options else config

    # -- validation, one group of options at a time ---------------------------

    def _check_provider(self) -> None:
        if self.provider is not None and self.provider not in PRESETS:
            raise ConfigError(f"provider must be one of {', '.join(sorted(PRESETS))}, got {self.provider!r}")
        if self.end_session_endpoint is not None:
            _check_url(self.end_session_endpoint, "end_session_endpoint")
        if self.issuer is not None:
            parts = _check_url(self.issuer, "issuer")
            if parts.scheme != "https" and parts.hostname not in _LOOPBACK:
                raise ConfigError("issuer must be an https:// URL (http:// is accepted for localhost only)")
        preset = self.preset
        local_only = preset is not None and preset.local_only
        if self.end_session_endpoint is None and self.issuer is None and not local_only:
            raise ConfigError(
                "end_session_endpoint or issuer is required: the provider's end-session URL, or its issuer"
                " for discovery"
            )
        if preset is not None and not preset.standard and self.client_id is None:
            raise ConfigError(f"client_id is required with provider={preset.name!r}")
        if preset is not None and preset.name == "cognito" and self.end_session_endpoint is None:
            raise ConfigError("end_session_endpoint is required with provider='cognito': https://<your domain>/logout")
        for option in ("client_id", "client_secret"):
            if getattr(self, option) is not None:
                _check_text(getattr(self, option), option)
        for option in ("discovery_ttl", "http_timeout", "body_timeout"):
            value = getattr(self, option)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ConfigError(f"{option} must be a positive number of seconds, got {value!r}")
        _check_bool(self, "discover_at_startup")

    def _check_logout_request(self) -> None:
        set_ = object.__setattr__
        _check_path(self.logout_path, "logout_path")
        set_(self, "methods", _methods(self.methods))
        _check_bool(self, "block_cross_site")
        _check_bool(self, "require_same_origin")
        if self.post_logout_redirect_uri is not None:
            _check_url(self.post_logout_redirect_uri, "post_logout_redirect_uri")
        set_(self, "allowed_redirect_uris", _as_tuple(self.allowed_redirect_uris, "allowed_redirect_uris"))
        for uri in self.allowed_redirect_uris:
            _check_url(uri, "allowed_redirect_uris")
        if self.redirect_param is not None:
            _check_text(self.redirect_param, "redirect_param")
        set_(self, "extra_params", _extra_params(self.extra_params))
        if self.ui_locales is not None:
            _check_text(self.ui_locales, "ui_locales")
        if isinstance(self.max_url_length, bool) or not isinstance(self.max_url_length, int):
            raise ConfigError(f"max_url_length must be a whole number, got {self.max_url_length!r}")
        if self.max_url_length < 256:
            raise ConfigError(f"max_url_length must be at least 256, got {self.max_url_length}")

    def _check_cookies(self) -> None:
        check_cookie_name(self.id_token_cookie, "id_token_cookie")
        check_cookie_path(self.cookie_path, "cookie_path")
        if self.cookie_domain is not None:
            check_cookie_domain(self.cookie_domain, "cookie_domain")
        if self.cookie_samesite not in ("Lax", "Strict", "None"):
            raise ConfigError(f"cookie_samesite must be 'Lax', 'Strict' or 'None', got {self.cookie_samesite!r}")
        object.__setattr__(self, "clear_cookies", _clear_cookies(self.clear_cookies))
        _check_bool(self, "clear_site_data")

    def _check_session(self) -> None:
        keys = _as_tuple(self.id_token_session_keys, "id_token_session_keys")
        if not keys:
            raise ConfigError("id_token_session_keys must name at least one key, such as 'id_token'")
        for key in keys:
            if not isinstance(key, str) or not _KEY_PATH.fullmatch(key):
                raise ConfigError(
                    f"id_token_session_keys must hold dotted key paths such as 'token.id_token', got {key!r}"
                )
        object.__setattr__(self, "id_token_session_keys", keys)
        check_cookie_name(self.session_cookie, "session_cookie")
        if self.session_secret is not None and (not isinstance(self.session_secret, str) or not self.session_secret):
            raise ConfigError("session_secret must be the secret_key given to Starlette's SessionMiddleware")
        for option in ("id_token_getter", "on_logout"):
            value = getattr(self, option)
            if value is not None and not callable(value):
                raise ConfigError(f"{option} must be a function, got {value!r}")

    def _check_return_to(self) -> None:
        check_cookie_name(self.state_cookie, "state_cookie")
        _check_text(self.return_to_param, "return_to_param")
        if not isinstance(self.default_return_to, str) or not is_local_path(self.default_return_to):
            raise ConfigError(f"default_return_to must be a path on this site, got {self.default_return_to!r}")
        if isinstance(self.state_max_age, bool) or not isinstance(self.state_max_age, int) or self.state_max_age < 1:
            raise ConfigError(f"state_max_age must be a whole number of seconds, got {self.state_max_age!r}")
        if self.logout_callback_path is None:
            return
        _check_path(self.logout_callback_path, "logout_callback_path")
        if self.logout_callback_path == self.logout_path:
            raise ConfigError("logout_callback_path must differ from logout_path")
        if self.post_logout_redirect_uri is None:
            raise ConfigError(
                "logout_callback_path needs post_logout_redirect_uri: the registered URL of that callback path"
            )
        preset = self.preset
        if preset is not None and not preset.standard:
            raise ConfigError(f"logout_callback_path cannot work with provider={preset.name!r}: it sends no state back")
        _check_prefix_rules(CookieSpec(self.state_cookie, path=self.logout_callback_path))

    def _check_provider_logout(self) -> None:
        paths = [self.logout_path, self.logout_callback_path]
        for option in ("backchannel_logout_path", "frontchannel_logout_path", "forward_auth_path"):
            path = getattr(self, option)
            if path is None:
                continue
            _check_path(path, option)
            if path in paths:
                raise ConfigError(f"{option} {path!r} is already used by another of the middleware's paths")
            paths.append(path)
        _check_bool(self, "frontchannel_logout_session_required")
        _check_bool(self, "revocation_store_fail_open")
        _check_bool(self, "login_cookies_need_id_token")
        if self.enforce_revocations is not None:
            _check_bool(self, "enforce_revocations")
        _check_whole_number(self, "max_token_lifetime", minimum=60)
        _check_whole_number(self, "logout_token_leeway", minimum=0)
        _check_whole_number(self, "logout_token_max_age_without_exp", minimum=1, optional=True)
        algorithms = _as_tuple(self.signing_algorithms, "signing_algorithms")
        for algorithm in algorithms:
            if algorithm not in _JWS_ALGORITHMS:
                raise ConfigError(
                    f"signing_algorithms must name JWS signing algorithms such as 'RS256', got {algorithm!r}"
                )
            if algorithm.startswith("HS") and self.client_secret is None:
                raise ConfigError(f"signing_algorithms has {algorithm}, which needs client_secret to verify")
        object.__setattr__(self, "signing_algorithms", algorithms)
        if self.backchannel_logout_path is not None or self.frontchannel_logout_path is not None:
            if self.issuer is None:
                raise ConfigError("issuer is required for back-channel and front-channel logout")
            if self.backchannel_logout_path is not None and self.client_id is None:
                raise ConfigError("client_id is required for back-channel logout: logout tokens are addressed to it")
        if self.enforces_revocations and (self.issuer is None or self.client_id is None):
            raise ConfigError(
                "issuer and client_id are required to check requests against revoked sessions:"
                " an id_token is trusted only once its signature, issuer and audience are verified"
            )
        if self.revocation_store is not None:
            store_opener(self.revocation_store)  # checks the URL; opens nothing

    def _check_metrics(self) -> None:
        if self.metrics is not None:
            _check_bool(self, "metrics")
        _check_path(self.metrics_path, "metrics_path")
        if not self.metrics:
            return
        for option in ("logout_path", "logout_callback_path", "backchannel_logout_path", "frontchannel_logout_path",
                       "forward_auth_path"):  # fmt: skip
            if getattr(self, option) == self.metrics_path:
                raise ConfigError(f"metrics_path {self.metrics_path!r} is already used by {option}")

    def _check_revocation(self) -> None:
        for option in ("refresh_token_cookie", "access_token_cookie"):
            if getattr(self, option) is not None:
                check_cookie_name(getattr(self, option), option)
        if self.revocation_endpoint is not None:
            _check_url(self.revocation_endpoint, "revocation_endpoint")
        if self.token_endpoint_auth_method not in ("client_secret_basic", "client_secret_post"):
            raise ConfigError(
                "token_endpoint_auth_method must be 'client_secret_basic' or 'client_secret_post',"
                f" got {self.token_endpoint_auth_method!r}"
            )
        if self.refresh_token_cookie is None and self.access_token_cookie is None:
            return
        if self.client_id is None:
            raise ConfigError("client_id is required to revoke tokens (refresh_token_cookie, access_token_cookie)")
        if self.revocation_endpoint is None and self.issuer is None:
            raise ConfigError("revocation_endpoint or issuer is required to revoke tokens")


def _check_whole_number(config: LogoutConfig, option: str, *, minimum: int, optional: bool = False) -> None:
    value = getattr(config, option)
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{option} must be a whole number of seconds, at least {minimum}, got {value!r}")


def _check_url(value: object, option: str) -> Any:
    try:
        return check_absolute_url(value, option)
    except LogoutError as exc:
        raise ConfigError(str(exc)) from None


def _check_path(value: object, option: str) -> None:
    if not isinstance(value, str) or not _PATH.fullmatch(value):
        raise ConfigError(
            f"{option} must be a path starting with '/', without '?', '#', spaces or control characters, got {value!r}"
        )


def _check_bool(config: LogoutConfig, option: str) -> None:
    if not isinstance(getattr(config, option), bool):
        raise ConfigError(f"{option} must be True or False, got {getattr(config, option)!r}")


def _as_tuple(value: object, option: str) -> tuple[Any, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ConfigError(f"{option} must be a list or tuple, got {value!r}")
    return tuple(value)


def _methods(value: object) -> tuple[str, ...]:
    methods = _as_tuple(value, "methods")
    if not methods:
        raise ConfigError("methods must name at least one HTTP method, such as 'GET' or 'POST'")
    normalized = []
    for method in methods:
        if not isinstance(method, str) or not _METHOD.fullmatch(method.upper()):
            raise ConfigError(f"methods must hold HTTP method names such as 'GET', got {method!r}")
        normalized.append(method.upper())
    return tuple(dict.fromkeys(normalized))


def _clear_cookies(value: object) -> tuple[str | CookieSpec, ...]:
    items = _as_tuple(value, "clear_cookies")
    for item in items:
        if isinstance(item, str):
            check_cookie_name(item, "clear_cookies")
        elif not isinstance(item, CookieSpec):
            raise ConfigError(f"clear_cookies must hold cookie names or CookieSpec objects, got {item!r}")
    return items


def _check_prefix_rules(spec: CookieSpec) -> None:
    # Browsers reject a __Host- cookie header (the deletion too) unless it has
    # Path=/ and no Domain, so such a cookie could never be deleted.
    if spec.name[:7].lower() == "__host-" and (spec.path != "/" or spec.domain is not None):
        raise ConfigError(
            f"cookie {spec.name!r} has the __Host- prefix, so it must use path '/' and no domain"
            f" (got path {spec.path!r}, domain {spec.domain!r})"
        )


def _check_text(value: object, option: str) -> None:
    try:
        encode_value(value, option)
    except LogoutError as exc:
        raise ConfigError(str(exc)) from None


def _extra_params(value: object) -> tuple[tuple[str, str], ...]:
    items = value.items() if isinstance(value, Mapping) else _as_tuple(value, "extra_params")
    pairs = []
    for item in items:
        if not (isinstance(item, tuple) and len(item) == 2):
            raise ConfigError(f"extra_params must be a mapping or (name, value) pairs, got {item!r}")
        name, text = item
        if name in _RESERVED_PARAMS:
            hint = "use the ui_locales option" if name == "ui_locales" else "the middleware sets it"
            raise ConfigError(f"extra_params must not set {name!r}: {hint}")
        _check_text(name, "extra_params name")
        _check_text(text, f"extra_params[{name!r}]")
        pairs.append((name, text))
    return tuple(pairs)


def mask_url_password(value: str) -> str:
    """``redis://:secret@host/0`` becomes ``redis://:***@host/0``; anything else is returned as is."""
    if "@" not in value or "://" not in value:
        return value
    try:
        parts = urlsplit(value)
        password = parts.password
    except ValueError:
        return value
    if not password:
        return value
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return parts._replace(netloc=f"{user}:***@{host}").geturl()
