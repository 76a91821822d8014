"""Core decisions that the shared table does not cover, through both adapters."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from logout_middleware import LogoutConfig, Reply
from logout_middleware.core import logout as handler_module
from logout_middleware.wsgi import LogoutMiddleware as WsgiMiddleware
from tests.support.apps import ID_TOKEN, echo_wsgi
from tests.support.transports import Send, middleware_sender

END = "https://op.example/end"


def make(kind: str, scheme: str = "http", host: str = "app.example", **options: Any) -> Send:
    """A sender for the *kind* adapter's middleware made with *options* (the end-session endpoint END unless given)."""
    options.setdefault("end_session_endpoint", END)
    return middleware_sender(kind, scheme=scheme, host=host, **options)


def query(location: str | None) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(location or "").query))


def test_https_deletions_are_secure(kind: str) -> None:
    send = make(kind, scheme="https", clear_cookies=("session",), cookie_domain="example.com", cookie_path="/app")
    response = send("GET", "/logout", {"Cookie": f"id_token={ID_TOKEN}"})
    assert response.status == 303
    assert response.get_all("Set-Cookie") == [
        "id_token=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/app; Domain=example.com; Secure;"
        " HttpOnly; SameSite=Lax",
        "session=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/app; Domain=example.com; Secure;"
        " HttpOnly; SameSite=Lax",
    ]


def test_clear_site_data_only_when_asked(kind: str) -> None:
    assert make(kind, clear_site_data=True)("GET", "/logout", {}).get("Clear-Site-Data") == '"cookies"'
    assert make(kind)("GET", "/logout", {}).get("Clear-Site-Data") is None


def test_without_hint_or_client_id_no_redirect_is_sent(kind: str, caplog: pytest.LogCaptureFixture) -> None:
    send = make(kind, post_logout_redirect_uri="https://app.example/bye")
    with caplog.at_level(logging.INFO, logger="logout_middleware"):
        without = send("GET", "/logout", {})
    assert without.status == 303
    assert without.get("Location") == END, "no redirect, no state: the provider would refuse them"
    assert handler_module.NO_REDIRECT_WITHOUT_HINT in caplog.messages
    with_token = query(send("GET", "/logout", {"Cookie": f"id_token={ID_TOKEN}"}).get("Location"))
    assert with_token["post_logout_redirect_uri"] == "https://app.example/bye"
    assert with_token["id_token_hint"] == ID_TOKEN
    assert "client_id" not in with_token


def test_no_redirect_configured_sends_hint_only(kind: str) -> None:
    response = make(kind)("GET", "/logout", {"Cookie": f"id_token={ID_TOKEN}"})
    assert response.get("Location") == f"{END}?id_token_hint={ID_TOKEN}"


def test_redirect_param_can_be_turned_off(kind: str) -> None:
    send = make(
        kind,
        post_logout_redirect_uri="https://app.example/bye",
        client_id="c",
        redirect_param=None,
        allowed_redirect_uris=["https://app.example/other"],
    )
    response = send("GET", "/logout?redirect_uri=https%3A%2F%2Fapp.example%2Fother", {})
    assert query(response.get("Location"))["post_logout_redirect_uri"] == "https://app.example/bye"


def test_custom_path_methods_cookie_and_params(kind: str) -> None:
    send = make(
        kind,
        logout_path="/auth/sign-out",
        methods=("POST",),
        id_token_cookie="__Secure-idt",
        extra_params={"prompt": "none"},
        client_id="c",
    )
    assert send("GET", "/auth/sign-out", {}).status == 405
    assert send("GET", "/auth/sign-out", {}).get("Allow") == "POST"
    assert send("GET", "/logout", {}).get("X-App") == "echo"
    response = send("POST", "/auth/sign-out", {"Cookie": f"__Secure-idt={ID_TOKEN}"})
    assert response.status == 303
    assert query(response.get("Location")) == {"id_token_hint": ID_TOKEN, "client_id": "c", "prompt": "none"}
    assert response.get_all("Set-Cookie")[0].startswith("__Secure-idt=; ")
    assert "; Secure;" in response.get_all("Set-Cookie")[0]


def test_cross_site_allowed_when_turned_off(kind: str) -> None:
    send = make(kind, block_cross_site=False)
    assert send("POST", "/logout", {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}).status == 303


@pytest.mark.parametrize(
    ("origin", "host", "allowed"),
    [
        pytest.param("https://app.example", "app.example", True, id="tls-ended-by-proxy"),
        pytest.param("https://app.example", "app.example:443", True, id="explicit-default-port"),
        pytest.param("http://app.example:8080", "app.example:8080", True, id="same-port"),
        pytest.param("http://APP.example", "app.EXAMPLE", True, id="case"),
        pytest.param("http://app.example:8080", "app.example", False, id="port-differs"),
        pytest.param("https://app.example", "app.example:8443", False, id="https-origin-other-port"),
        pytest.param("ftp://app.example", "app.example", False, id="other-scheme"),
        pytest.param("http://[::1", "app.example", False, id="unparsable"),
        pytest.param("http://", "app.example", False, id="no-host"),
    ],
)
def test_origin_matching(kind: str, origin: str, host: str, allowed: bool) -> None:
    response = make(kind, host=host)("POST", "/logout", {"Origin": origin})
    assert response.status == (303 if allowed else 403)


def test_logs_say_why_and_never_hold_a_token(kind: str, caplog: pytest.LogCaptureFixture) -> None:
    send = make(kind, client_id="c", post_logout_redirect_uri="https://app.example/bye")
    bad_token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0"  # two segments: refused, must not be logged
    with caplog.at_level(logging.DEBUG, logger="logout_middleware"):
        send("GET", "/logout", {"Cookie": f"id_token={ID_TOKEN}"})
        send("GET", "/logout", {"Cookie": f"id_token={bad_token}"})
        send("GET", "/logout?redirect_uri=https%3A%2F%2Fevil.example", {})
        send("PATCH", "/logout", {})
        send("GET", "/logout", {"Sec-Fetch-Site": "cross-site"})
        send("GET", "/logout", {"Sec-Purpose": "prefetch"})
    log = "\n".join(caplog.messages)
    assert ID_TOKEN not in log and bad_token not in log
    formats = [record.msg for record in caplog.records]
    assert formats == [
        handler_module.LOGGED_OUT,
        handler_module.MALFORMED_ID_TOKEN,
        handler_module.LOGGED_OUT,
        handler_module.REDIRECT_REFUSED,
        handler_module.METHOD_REFUSED,
        handler_module.CROSS_SITE_REFUSED,
        handler_module.PREFETCH_REFUSED,
    ]
    assert "'https://evil.example'" in log


def test_reply_status_line() -> None:
    assert Reply(303, []).status_line == "303 See Other"
    assert Reply(405, []).status_line == "405 Method Not Allowed"


def test_config_and_options_combine() -> None:
    config = LogoutConfig(end_session_endpoint=END, client_id="a")
    middleware = WsgiMiddleware(echo_wsgi, config, client_id="b")
    assert middleware.config.client_id == "b"
    assert config.client_id == "a"


def test_ui_locales_option(kind: str) -> None:
    response = make(kind, ui_locales="de fr-CA", client_id="c")("GET", "/logout", {})
    assert response.get("Location") == f"{END}?client_id=c&ui_locales=de%20fr-CA"
