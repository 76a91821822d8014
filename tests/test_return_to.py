"""return_to: out through the provider with a state cookie, and back through the callback."""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, urlsplit

import pytest
from webob import Request

from logout_middleware import ConfigError, LogoutConfig
from logout_middleware.web.return_to import is_local_path, pack_state_cookie, unpack_state_cookie
from logout_middleware.wsgi import LogoutMiddleware
from tests.support.apps import ID_TOKEN, echo_wsgi
from tests.support.transports import Raw, Send, middleware_sender

CALLBACK = "https://app.example/logout/callback"


@pytest.mark.parametrize(
    ("value", "local"),
    [
        pytest.param("/", True, id="root"),
        pytest.param("/account/settings?tab=1", True, id="path-and-query"),
        pytest.param("/caf%C3%A9", True, id="encoded-unicode"),
        pytest.param("//evil.example", False, id="scheme-relative"),
        pytest.param("/\\evil.example", False, id="backslash"),
        pytest.param("/%2F%2Fevil.example", False, id="encoded-slashes"),
        pytest.param("/%5Cevil.example", False, id="encoded-backslash"),
        pytest.param("/%2fevil.example", False, id="encoded-slash-lower"),
        pytest.param("https://evil.example/", False, id="absolute"),
        pytest.param("evil.example", False, id="no-slash"),
        pytest.param("javascript:alert(1)", False, id="javascript"),
        pytest.param("/a\r\nSet-Cookie: x=1", False, id="crlf"),
        pytest.param("/a b", False, id="space"),
        pytest.param("/caf\u00e9", False, id="raw-unicode"),
        pytest.param("/" + "a" * 3000, False, id="too-long"),
        pytest.param("", False, id="empty"),
    ],
)
def test_is_local_path(value: str, local: bool) -> None:
    assert is_local_path(value) is local


@pytest.mark.parametrize(
    ("cookie", "state", "now", "expected"),
    [
        pytest.param(pack_state_cookie("n1", "/a?b=1", 1000), "n1", 1500, "/a?b=1", id="good"),
        pytest.param(pack_state_cookie("n1", "/a", 1000), "n2", 1001, None, id="other-state"),
        pytest.param(pack_state_cookie("n1", "/a", 1000), "n1", 1601, None, id="expired"),
        pytest.param(pack_state_cookie("n1", "/a", 1000), "n1", 999, None, id="from-the-future"),
        pytest.param(pack_state_cookie("n1", "//evil.example", 1000), "n1", 1001, None, id="tampered-page"),
        pytest.param("n1.x.Lw", "n1", 1001, None, id="bad-time"),
        pytest.param("n1.1000.!!!", "n1", 1001, None, id="bad-base64"),
        pytest.param("n1.1000._w", "n1", 1001, None, id="not-utf8"),
        pytest.param("n1", "n1", 1001, None, id="truncated"),
        pytest.param("n1.\u00b2.Lw", "n1", 1001, None, id="non-ascii-digit"),
    ],
)
def test_unpack_state_cookie(cookie: str, state: str, now: int, expected: str | None) -> None:
    assert unpack_state_cookie(cookie, state, now=now, max_age=600) == expected


@pytest.fixture
def send(kind: str) -> Send:
    return middleware_sender(
        kind,
        end_session_endpoint="https://op.example/end",
        post_logout_redirect_uri=CALLBACK,
        logout_callback_path="/logout/callback",
        client_id="rp",
    )


def state_and_cookie(response: Raw) -> tuple[str, str]:
    state = dict(parse_qsl(urlsplit(response.get("Location") or "").query))["state"]
    line = next(line for line in response.get_all("Set-Cookie") if line.startswith("logout_state="))
    return state, line


def test_round_trip_returns_to_the_page(send: Send) -> None:
    out = send("GET", "/logout?return_to=" + quote("/orders?page=2", safe=""), {"Cookie": f"id_token={ID_TOKEN}"})
    assert out.status == 303
    state, line = state_and_cookie(out)
    value, _, attributes = line.partition("; ")
    assert attributes == "Max-Age=600; Path=/logout/callback; HttpOnly; SameSite=Lax"
    assert value.split("=", 1)[1].startswith(state + ".")
    back = send("GET", f"/logout/callback?state={state}", {"Cookie": value})
    assert back.status == 303
    assert back.get("Location") == "/orders?page=2"
    assert back.get_all("Set-Cookie") == [
        "logout_state=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/logout/callback; HttpOnly; SameSite=Lax"
    ]
    replay = send("GET", f"/logout/callback?state={state}", {})
    assert replay.status == 400, "the cookie is gone after the first use"


def test_without_return_to_the_callback_goes_to_the_default(send: Send) -> None:
    state, line = state_and_cookie(send("GET", "/logout", {"Cookie": f"id_token={ID_TOKEN}"}))
    back = send("GET", f"/logout/callback?state={state}", {"Cookie": line.partition("; ")[0]})
    assert back.get("Location") == "/"


@pytest.mark.parametrize("target", ["//evil.example", "https://evil.example", "/%2F%2Fevil.example", "/\\x"])
def test_hostile_return_to_is_refused(send: Send, target: str) -> None:
    response = send("GET", "/logout?return_to=" + quote(target, safe=""), {"Cookie": f"id_token={ID_TOKEN}"})
    assert response.status == 400
    assert response.get_all("Set-Cookie") == []


def test_forged_state_is_refused(send: Send) -> None:
    _, line = state_and_cookie(send("GET", "/logout?return_to=/x", {}))
    forged = send("GET", "/logout/callback?state=forged", {"Cookie": line.partition("; ")[0]})
    assert forged.status == 400
    assert forged.body == b"Bad Request: this logout link is not valid any more\n"
    assert send("GET", "/logout/callback", {"Cookie": line.partition("; ")[0]}).status == 400


def test_provider_initiated_arrival_without_state_goes_home(send: Send) -> None:
    response = send("GET", "/logout/callback", {})
    assert (response.status, response.get("Location")) == (303, "/")


def test_callback_takes_get_only(send: Send) -> None:
    response = send("POST", "/logout/callback", {})
    assert (response.status, response.get("Allow")) == (405, "GET, HEAD")


def test_mounted_app_scopes_the_state_cookie_to_the_mount() -> None:
    app = LogoutMiddleware(echo_wsgi, end_session_endpoint="https://op.example/end",
                           post_logout_redirect_uri=CALLBACK, logout_callback_path="/cb", client_id="rp")  # fmt: skip
    request = Request.blank("/logout", environ={"SCRIPT_NAME": "/shop"}, headers={"Host": "app.example"})
    response = request.get_response(app)
    (state_cookie,) = [line for line in response.headers.getall("Set-Cookie") if line.startswith("logout_state=")]
    assert state_cookie.endswith("; Max-Age=600; Path=/shop/cb; HttpOnly; SameSite=Lax")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"provider": "auth0", "issuer": "https://t.auth0.com/"}, "cannot work with provider='auth0'",
                     id="preset-without-state"),
        pytest.param({"state_cookie": "__Host-logout_state"}, "__Host-", id="host-prefix-on-a-path"),
    ],
)  # fmt: skip
def test_callback_options_that_could_never_work_are_refused(options: dict[str, str], message: str) -> None:
    options = {"end_session_endpoint": "https://op.example/end", "client_id": "rp", **options}
    with pytest.raises(ConfigError, match=message):
        LogoutConfig(post_logout_redirect_uri=CALLBACK, logout_callback_path="/logout/callback", **options)


def test_over_https_the_state_cookie_and_its_deletion_are_secure(kind: str) -> None:
    send = middleware_sender(kind, scheme="https", end_session_endpoint="https://op.example/end",
                             post_logout_redirect_uri=CALLBACK, logout_callback_path="/logout/callback",
                             client_id="rp")  # fmt: skip
    state, line = state_and_cookie(send("GET", "/logout", {"Cookie": f"id_token={ID_TOKEN}"}))
    assert line.endswith("; Max-Age=600; Path=/logout/callback; Secure; HttpOnly; SameSite=Lax")
    back = send("GET", f"/logout/callback?state={state}", {"Cookie": line.partition("; ")[0]})
    assert back.get_all("Set-Cookie") == [
        "logout_state=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/logout/callback; Secure; HttpOnly;"
        " SameSite=Lax"
    ]


def test_a_mounted_callback_deletes_the_state_cookie_at_the_mount() -> None:
    app = LogoutMiddleware(echo_wsgi, end_session_endpoint="https://op.example/end",
                           post_logout_redirect_uri=CALLBACK, logout_callback_path="/cb", client_id="rp")  # fmt: skip
    out = Request.blank("/logout", environ={"SCRIPT_NAME": "/shop"}, headers={"Host": "app.example"}).get_response(app)
    state = dict(parse_qsl(urlsplit(out.headers["Location"]).query))["state"]
    (line,) = [value for value in out.headers.getall("Set-Cookie") if value.startswith("logout_state=")]
    back = Request.blank(
        f"/cb?state={state}", environ={"SCRIPT_NAME": "/shop"},
        headers={"Host": "app.example", "Cookie": line.partition("; ")[0]},
    ).get_response(app)  # fmt: skip
    assert back.status_int == 303
    assert back.headers.getall("Set-Cookie") == [
        "logout_state=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/shop/cb; HttpOnly; SameSite=Lax"
    ]
