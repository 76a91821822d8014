"""The one configuration object, validated when it is built."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .cookies import CookieSpec, check_cookie_domain, check_cookie_name, check_cookie_path
from .errors import ConfigError, LogoutError
from .urls import check_absolute_url, encode_value

__all__ = ["LogoutConfig"]

_METHOD = re.compile(r"[A-Z]+")
_PATH = re.compile(r"/[^\s?#<>\"\\\x00-\x1f\x7f]*")  # no query, fragment, spaces or controls


@dataclass(frozen=True, slots=True, kw_only=True)
class LogoutConfig:
    """Everything the middleware needs to know, checked once at start-up.

    Any wrong value raises :class:`ConfigError` naming the option.  Lists are
    accepted wherever a tuple is shown and stored as tuples.
    """

    #: The provider's end-session URL (``end_session_endpoint`` in its discovery document).
    end_session_endpoint: str
    #: Where the provider sends the browser after logout; must be registered there.
    post_logout_redirect_uri: str | None = None
    #: The path the middleware answers, relative to where the app is mounted.
    logout_path: str = "/logout"
    #: The HTTP methods that log out; any other gets 405 on ``logout_path``.
    methods: tuple[str, ...] = ("GET", "POST")
    #: The cookie holding the id_token; it is sent as ``id_token_hint`` and deleted.
    id_token_cookie: str = "id_token"
    #: More cookies to delete: names, or CookieSpec with their own Path/Domain.
    clear_cookies: tuple[str | CookieSpec, ...] = ()
    #: The Path the login cookies were set with.
    cookie_path: str = "/"
    #: The Domain the login cookies were set with; None for host-only cookies.
    cookie_domain: str | None = None
    #: The SameSite attribute of the deleting headers.
    cookie_samesite: Literal["Lax", "Strict", "None"] = "Lax"
    #: The client's id at the provider; sent with every logout.
    client_id: str | None = None
    #: Redirect URIs a logout request may pick with ``redirect_param``, besides the default.
    allowed_redirect_uris: tuple[str, ...] = ()
    #: The query parameter a logout request names its redirect URI with; None turns it off.
    redirect_param: str | None = "redirect_uri"
    #: Refuse logout requests that a browser marks as coming from another site.
    block_cross_site: bool = True
    #: Also send ``Clear-Site-Data: "cookies"`` (whole registrable domain, HTTPS only).
    clear_site_data: bool = False
    #: More parameters for the end-session URL, for providers that want them.
    extra_params: tuple[tuple[str, str], ...] = field(default=())

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        check_absolute_url(self.end_session_endpoint, "end_session_endpoint")
        if self.post_logout_redirect_uri is not None:
            check_absolute_url(self.post_logout_redirect_uri, "post_logout_redirect_uri")
        set_(self, "allowed_redirect_uris", _as_tuple(self.allowed_redirect_uris, "allowed_redirect_uris"))
        for uri in self.allowed_redirect_uris:
            check_absolute_url(uri, "allowed_redirect_uris")
        if not isinstance(self.logout_path, str) or not _PATH.fullmatch(self.logout_path):
            raise ConfigError(
                f"logout_path must be a path starting with '/', without '?', '#', spaces or control characters,"
                f" got {self.logout_path!r}"
            )
        set_(self, "methods", _methods(self.methods))
        check_cookie_name(self.id_token_cookie, "id_token_cookie")
        check_cookie_path(self.cookie_path, "cookie_path")
        if self.cookie_domain is not None:
            check_cookie_domain(self.cookie_domain, "cookie_domain")
        if self.cookie_samesite not in ("Lax", "Strict", "None"):
            raise ConfigError(f"cookie_samesite must be 'Lax', 'Strict' or 'None', got {self.cookie_samesite!r}")
        set_(self, "clear_cookies", _clear_cookies(self.clear_cookies))
        for spec in self.cookies_to_delete():
            _check_prefix_rules(spec)
        for option in ("client_id", "redirect_param"):
            value = getattr(self, option)
            if value is not None:
                _check_text(value, option)
        for option in ("block_cross_site", "clear_site_data"):
            if not isinstance(getattr(self, option), bool):
                raise ConfigError(f"{option} must be True or False, got {getattr(self, option)!r}")
        set_(self, "extra_params", _extra_params(self.extra_params))

    def cookies_to_delete(self) -> tuple[CookieSpec, ...]:
        """The id_token cookie and ``clear_cookies``, each with its Path and Domain filled in."""
        specs = [CookieSpec(self.id_token_cookie)]
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

    @classmethod
    def from_options(cls, config: LogoutConfig | None = None, **options: Any) -> LogoutConfig:
        """Build a config from keyword options, or copy *config* with some options changed."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(f"unknown option {unknown[0]!r}; the options are: {', '.join(sorted(known))}")
        if config is None:
            if "end_session_endpoint" not in options:
                raise ConfigError("end_session_endpoint is required: the provider's end-session URL")
            return cls(**options)
        if not isinstance(config, cls):
            raise ConfigError(f"config must be a LogoutConfig, not {type(config).__name__}")
        return dataclasses.replace(config, **options) if options else config


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
        _check_text(name, "extra_params name")
        _check_text(text, f"extra_params[{name!r}]")
        pairs.append((name, text))
    return tuple(pairs)
