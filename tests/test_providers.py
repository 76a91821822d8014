"""Each preset builds exactly the URL its provider documents."""

from __future__ import annotations

from typing import Any

import pytest

from logout_middleware import ConfigError, LogoutConfig
from logout_middleware.specs.providers import PRESETS
from tests.support.apps import ID_TOKEN
from tests.support.transports import middleware_sender

BACK = "https://app.example/signed-out"
COOKIE = {"Cookie": f"id_token={ID_TOKEN}"}


def location_without_state(kind: str, headers: dict[str, str], **options: Any) -> str:
    response = middleware_sender(kind, post_logout_redirect_uri=BACK, **options)("GET", "/logout", headers)
    assert response.status == 303
    location = response.get("Location") or ""
    before, _, after = location.partition("&state=")
    return before + ("&" + after.partition("&")[2] if "&" in after else "") if after else location


@pytest.mark.parametrize(
    ("options", "headers", "expected"),
    [
        pytest.param(
            {"provider": "authing", "issuer": "https://example.authing.cn/oidc"},
            COOKIE,
            "https://example.authing.cn/oidc/session/end?post_logout_redirect_uri=https%3A%2F%2Fapp.example"
            f"%2Fsigned-out&id_token_hint={ID_TOKEN}",
            id="authing",
        ),
        pytest.param(
            {"provider": "keycloak", "issuer": "https://sso.example/realms/acme", "client_id": "app"},
            {},
            "https://sso.example/realms/acme/protocol/openid-connect/logout?post_logout_redirect_uri=https%3A%2F%2F"
            "app.example%2Fsigned-out&client_id=app",
            id="keycloak-client-id-without-token",
        ),
        pytest.param(
            {"provider": "okta", "issuer": "https://acme.okta.com/oauth2/default", "client_id": "app"},
            COOKIE,
            "https://acme.okta.com/oauth2/default/v1/logout?post_logout_redirect_uri=https%3A%2F%2Fapp.example"
            f"%2Fsigned-out&id_token_hint={ID_TOKEN}&client_id=app",
            id="okta",
        ),
        pytest.param(
            {"provider": "okta", "issuer": "https://acme.okta.com/oauth2/default", "client_id": "app"},
            {},
            "https://acme.okta.com/oauth2/default/v1/logout?client_id=app",
            id="okta-without-token-asks-no-redirect",
        ),
        pytest.param(
            {
                "provider": "entra",
                "end_session_endpoint": "https://login.microsoftonline.com/contoso/oauth2/v2.0/logout",
                "client_id": "app",
            },
            COOKIE,
            "https://login.microsoftonline.com/contoso/oauth2/v2.0/logout?post_logout_redirect_uri=https%3A%2F%2F"
            f"app.example%2Fsigned-out&id_token_hint={ID_TOKEN}&client_id=app",
            id="entra",
        ),
        pytest.param(
            {"provider": "auth0", "issuer": "https://acme.eu.auth0.com/", "client_id": "abc"},
            COOKIE,
            "https://acme.eu.auth0.com/v2/logout?client_id=abc&returnTo=https%3A%2F%2Fapp.example%2Fsigned-out",
            id="auth0",
        ),
        pytest.param(
            {
                "provider": "cognito",
                "end_session_endpoint": "https://acme.auth.eu-west-1.amazoncognito.com/logout",
                "client_id": "abc",
            },
            COOKIE,
            "https://acme.auth.eu-west-1.amazoncognito.com/logout?client_id=abc&logout_uri=https%3A%2F%2F"
            "app.example%2Fsigned-out",
            id="cognito",
        ),
        pytest.param(
            {"provider": "google", "client_id": "abc"},
            COOKIE,
            BACK,
            id="google-local-only",
        ),
    ],
)
def test_preset_urls(kind: str, options: dict[str, Any], headers: dict[str, str], expected: str) -> None:
    assert location_without_state(kind, headers, **options) == expected


def test_standard_presets_send_state(kind: str) -> None:
    send = middleware_sender(kind, provider="keycloak", issuer="https://sso.example/realms/a", client_id="app",
                             post_logout_redirect_uri=BACK)  # fmt: skip
    assert "&state=" in (send("GET", "/logout", {}).get("Location") or "")


def test_google_deletes_cookies_and_honours_return_to(kind: str) -> None:
    send = middleware_sender(kind, provider="google", client_id="abc", clear_cookies=["session"])
    response = send("GET", "/logout?return_to=/bye", COOKIE)
    assert response.get("Location") == "/bye"
    assert [line.split("=")[0] for line in response.get_all("Set-Cookie")] == ["id_token", "session"]
    assert send("GET", "/logout", COOKIE).get("Location") == "/"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"provider": "nope", "issuer": "https://x.example"}, "provider must be one of", id="unknown"),
        pytest.param({"provider": "auth0", "issuer": "https://x.example"}, "client_id is required", id="auth0-id"),
        pytest.param({"provider": "cognito", "issuer": "https://x.example", "client_id": "a"},
                     "end_session_endpoint is required with provider='cognito'", id="cognito-endpoint"),
    ],
)  # fmt: skip
def test_preset_configuration_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        LogoutConfig(**options)


def test_every_preset_links_its_documentation() -> None:
    assert set(PRESETS) == {"authing", "keycloak", "okta", "entra", "auth0", "cognito", "google"}
    assert all(preset.documentation.startswith("https://") for preset in PRESETS.values())
