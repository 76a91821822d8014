from __future__ import annotations

import dataclasses
import re
import sys
from typing import Any

import pytest

from logout_middleware import ConfigError, CookieSpec, LogoutConfig, LogoutError, LogoutHandler

END = "https://op.example/session/end"


def test_defaults() -> None:
    config = LogoutConfig(end_session_endpoint=END)
    assert config.logout_path == "/logout"
    assert config.methods == ("GET", "POST")
    assert config.id_token_cookie == "id_token"
    assert config.cookies_to_delete() == (CookieSpec("id_token", path="/", domain=None),)
    assert config.block_cross_site is True
    assert config.clear_site_data is False
    assert config.redirect_param == "redirect_uri"


def test_is_frozen_and_lists_become_tuples() -> None:
    config = LogoutConfig(
        end_session_endpoint=END, methods=["post", "get"], clear_cookies=["a", "b"], extra_params={"x": "1"}
    )
    assert config.methods == ("POST", "GET")
    assert config.clear_cookies == ("a", "b")
    assert config.extra_params == (("x", "1"),)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.logout_path = "/x"  # type: ignore[misc]


def test_cookies_to_delete_fill_in_path_and_domain() -> None:
    config = LogoutConfig(
        end_session_endpoint=END,
        cookie_path="/app",
        cookie_domain="example.com",
        clear_cookies=(
            "session",
            CookieSpec("api", path="/api"),
            CookieSpec("local", domain="a.example.com"),
            "session",
        ),
    )
    assert config.cookies_to_delete() == (
        CookieSpec("id_token", path="/app", domain="example.com"),
        CookieSpec("session", path="/app", domain="example.com"),
        CookieSpec("api", path="/api", domain="example.com"),
        CookieSpec("local", path="/app", domain="a.example.com"),
    )


@pytest.mark.parametrize(
    ("options", "names"),
    [
        pytest.param({"end_session_endpoint": "op.example/end"}, "end_session_endpoint", id="endpoint-not-absolute"),
        pytest.param({"post_logout_redirect_uri": "/home"}, "post_logout_redirect_uri", id="relative-redirect"),
        pytest.param(
            {"post_logout_redirect_uri": "https://a.example/#x"}, "post_logout_redirect_uri", id="redirect-fragment"
        ),
        pytest.param({"allowed_redirect_uris": "https://a.example/"}, "allowed_redirect_uris", id="allowed-is-str"),
        pytest.param({"allowed_redirect_uris": ["//evil.example"]}, "allowed_redirect_uris", id="allowed-relative"),
        pytest.param({"logout_path": "logout"}, "logout_path", id="path-no-slash"),
        pytest.param({"logout_path": "/logout?x=1"}, "logout_path", id="path-query"),
        pytest.param({"logout_path": "/log out"}, "logout_path", id="path-space"),
        pytest.param({"methods": ()}, "methods", id="no-methods"),
        pytest.param({"methods": ("GET", "P OST")}, "methods", id="bad-method"),
        pytest.param({"methods": "GET"}, "methods", id="methods-is-str"),
        pytest.param({"id_token_cookie": "id token"}, "id_token_cookie", id="bad-cookie-name"),
        pytest.param({"clear_cookies": ("ok", 3)}, "clear_cookies", id="bad-clear-cookie"),
        pytest.param({"clear_cookies": ("a=b",)}, "clear_cookies", id="clear-cookie-equals"),
        pytest.param({"cookie_path": "app"}, "cookie_path", id="bad-cookie-path"),
        pytest.param({"cookie_domain": "-"}, "cookie_domain", id="bad-cookie-domain"),
        pytest.param({"cookie_samesite": "lax"}, "cookie_samesite", id="bad-samesite"),
        pytest.param(
            {"id_token_cookie": "__Host-id", "cookie_domain": "example.com"}, "__Host-", id="host-prefix-with-domain"
        ),
        pytest.param({"clear_cookies": (CookieSpec("__Host-s", path="/app"),)}, "__Host-", id="host-prefix-path"),
        pytest.param({"client_id": ""}, "client_id", id="empty-client-id"),
        pytest.param({"client_id": "a\nb"}, "client_id", id="crlf-client-id"),
        pytest.param({"redirect_param": ""}, "redirect_param", id="empty-redirect-param"),
        pytest.param({"block_cross_site": "yes"}, "block_cross_site", id="bool-as-str"),
        pytest.param({"clear_site_data": 1}, "clear_site_data", id="bool-as-int"),
        pytest.param({"extra_params": {"a": "\x00"}}, "extra_params", id="extra-control"),
        pytest.param({"extra_params": [("a",)]}, "extra_params", id="extra-not-pairs"),
    ],
)
def test_bad_options_name_the_option(options: dict[str, Any], names: str) -> None:
    with pytest.raises(LogoutError, match=names):
        LogoutConfig(**{"end_session_endpoint": END, **options})


@pytest.mark.parametrize("name", ["state", "id_token_hint", "post_logout_redirect_uri", "client_id", "ui_locales"])
def test_extra_params_cannot_shadow_standard_parameters(name: str) -> None:
    """Refused when the config is built, with or without discovery, not on the first logout."""
    for where in ({"end_session_endpoint": END}, {"issuer": "https://op.example"}):
        with pytest.raises(ConfigError, match=f"extra_params must not set '{name}'"):
            LogoutConfig(**where, extra_params={name: "x"})


def test_from_options() -> None:
    config = LogoutConfig.from_options(end_session_endpoint=END, client_id="a")
    assert config.client_id == "a"
    assert LogoutConfig.from_options(config) is config
    assert LogoutConfig.from_options(config, client_id="b").client_id == "b"
    with pytest.raises(ConfigError, match="unknown option 'end_session_url'"):
        LogoutConfig.from_options(end_session_url=END)
    with pytest.raises(ConfigError, match="end_session_endpoint or issuer is required"):
        LogoutConfig.from_options(client_id="a")
    with pytest.raises(ConfigError, match="config must be a LogoutConfig"):
        LogoutConfig.from_options({"end_session_endpoint": END})  # type: ignore[arg-type]


def test_config_error_is_a_value_error() -> None:
    assert issubclass(ConfigError, ValueError)
    assert issubclass(ConfigError, LogoutError)


@pytest.mark.parametrize(
    ("missing", "options", "install"),
    [
        pytest.param("httpx", {"issuer": "https://op.example"}, "logout-middleware[http]", id="discovery"),
        pytest.param(
            "httpx",
            {
                "end_session_endpoint": "https://op.example/end",
                "revocation_endpoint": "https://op.example/revoke",
                "client_id": "c",
                "refresh_token_cookie": "rt",
            },
            "logout-middleware[http]",
            id="token-revocation",
        ),
        pytest.param(
            "joserfc",
            {"issuer": "https://op.example", "client_id": "c", "backchannel_logout_path": "/bc"},
            "logout-middleware[backchannel]",
            id="back-channel",
        ),
        pytest.param(
            "joserfc",
            {"issuer": "https://op.example", "client_id": "c", "enforce_revocations": True},
            "logout-middleware[backchannel]",
            id="checked-requests",
        ),
    ],
)
def test_a_feature_without_its_extra_fails_at_construction(
    monkeypatch: pytest.MonkeyPatch, missing: str, options: dict[str, Any], install: str
) -> None:
    monkeypatch.setitem(sys.modules, missing, None)  # importing it now fails, as when it is not installed
    with pytest.raises(ConfigError, match=re.escape(f"pip install '{install}'")):
        LogoutHandler(LogoutConfig(**options))
