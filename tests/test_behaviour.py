"""The behaviour table of ``/logout``: every row runs against the WSGI and the ASGI adapter alike.

The rows run against the shared apps of tests/support/apps.py (made from its
CONFIG), which tests/test_servers.py serves with gunicorn and uvicorn and runs
the same rows against.  The tables of the other endpoints are in
tests/test_behaviour_*.py; the machinery rows share is tests/support/tables.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import pytest

from tests.support.apps import CONFIG, ID_TOKEN, OTHER_REDIRECT, REDIRECT, asgi_app, shared_sender, wsgi_app
from tests.support.tables import Case, Values, run_case
from tests.support.transports import Raw, Send

EXPIRED = "Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT"
DELETIONS_HTTP = [
    f"id_token=; {EXPIRED}; Path=/; HttpOnly; SameSite=Lax",
    f"session=; {EXPIRED}; Path=/; HttpOnly; SameSite=Lax",
    f"__Host-csrf=; {EXPIRED}; Path=/; Secure; HttpOnly; SameSite=Lax",
    f"sso=; {EXPIRED}; Path=/; Domain=example.test; HttpOnly; SameSite=Lax",
    f"api_token=; {EXPIRED}; Path=/api; HttpOnly; SameSite=Lax",
]
STATE = re.compile(r"[A-Za-z0-9_-]{22,}")


def logged_out(response: Raw, *, hint: str | None = ID_TOKEN, redirect: str | None = REDIRECT) -> None:
    """Assert a complete logout: 303 to the provider, every cookie deleted, nothing cached."""
    assert response.status == 303, response.body
    assert response.get("Cache-Control") == "no-store"
    assert response.get_all("Set-Cookie") == DELETIONS_HTTP
    assert response.get("Clear-Site-Data") is None
    assert response.get("X-App") is None, "the wrapped app must not be called"
    location = urlsplit(response.get("Location") or "")
    assert (location.scheme, location.netloc, location.path) == ("https", "op.example", "/oidc/session/end")
    params = parse_qsl(location.query, strict_parsing=True)
    names = [name for name, _ in params]
    values = dict(params)
    expected = ["tenant"]
    if redirect:
        expected += ["post_logout_redirect_uri"]
    if hint:
        expected += ["id_token_hint"]
    if redirect:
        expected += ["state"]
    expected += ["client_id"]
    assert names == expected
    assert values["tenant"] == "acme"
    assert values["client_id"] == "rp-1"
    assert values.get("id_token_hint") == hint
    assert values.get("post_logout_redirect_uri") == redirect
    if redirect:
        assert STATE.fullmatch(values["state"])


def refused(status: int) -> Callable[[Raw], None]:
    def check(response: Raw) -> None:
        assert response.status == status, response.body
        assert response.get_all("Set-Cookie") == [], "a refused logout must delete nothing"
        assert response.get("Location") is None
        assert response.get("X-App") is None, "the wrapped app must not be called"
        assert response.get("Cache-Control") == "no-store"
        assert response.body.endswith(b"\n") and len(response.body) < 200

    return check


def passed_through(response: Raw) -> None:
    assert response.status == 200
    assert response.get("X-App") == "echo"
    assert response.get_all("Set-Cookie") == []
    assert response.body.startswith(b"app saw ")


WITH_TOKEN = {"Cookie": f"session=abc; id_token={ID_TOKEN}; theme=dark"}
HOSTILE_REDIRECTS = [
    "https://evil.example/signed-out",
    "//evil.example",
    "https:evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "javascript:alert(1)",
    "https://app.example.evil.example/signed-out",
    "https://app.example/signed-out.evil.example",
    "https://app.example/signed-out/",
    "https://app.example/signed-out?x=1",
    "https://app.example/signed-out#x",
    "https://app.example@evil.example/signed-out",
    "HTTPS://APP.EXAMPLE/signed-out",
    " https://app.example/signed-out",
    "https://app.example/signed-out\r\nSet-Cookie: x=1",
    quote(REDIRECT, safe=""),  # arrives double-encoded
    "/signed-out",
]

ROWS = [
    pytest.param(Case(headers=WITH_TOKEN), logged_out, id="get-logs-out-with-hint"),
    pytest.param(
        Case("POST", headers={**WITH_TOKEN, "Origin": "http://{host}", "Sec-Fetch-Site": "same-origin"}),
        logged_out,
        id="post-same-origin",
    ),
    pytest.param(Case("POST", headers=WITH_TOKEN), logged_out, id="post-without-origin"),
    pytest.param(Case(), lambda r: logged_out(r, hint=None), id="no-cookie-sends-client-id"),
    pytest.param(Case(headers={"Cookie": f'id_token="{ID_TOKEN}"'}), logged_out, id="quoted-cookie-value"),
    pytest.param(
        Case(headers={"Cookie": "id_token=<script>alert(1)</script>"}),
        lambda r: logged_out(r, hint=None),
        id="malformed-token-not-forwarded",
    ),
    pytest.param(Case(headers={"Cookie": "id_token=a.b.c"}), lambda r: logged_out(r, hint=None), id="not-a-jwt"),
    pytest.param(Case(headers={"Cookie": "id_token="}), lambda r: logged_out(r, hint=None), id="empty-cookie"),
    pytest.param(
        Case(headers={"Cookie": ";;=;id_token;==;"}), lambda r: logged_out(r, hint=None), id="garbage-cookies"
    ),
    pytest.param(
        Case(headers={"Cookie": "; ".join(f"c{i}={'x' * 60}" for i in range(100)) + f"; id_token={ID_TOKEN}"}),
        logged_out,
        id="huge-cookie-header",
    ),
    pytest.param(
        Case(target="/logout?" + urlencode({"redirect_uri": OTHER_REDIRECT}), headers=WITH_TOKEN),
        lambda r: logged_out(r, redirect=OTHER_REDIRECT),
        id="allowed-redirect-param",
    ),
    pytest.param(Case(target="/logout?redirect_uri=", headers=WITH_TOKEN), logged_out, id="empty-redirect-param"),
    pytest.param(Case(target="/logout?utm=%FF%FE&x", headers=WITH_TOKEN), logged_out, id="non-utf8-other-param"),
    pytest.param(Case(target="/logout?redirect_uri=%FF", headers=WITH_TOKEN), refused(400), id="non-utf8-redirect"),
    pytest.param(
        Case(target="/logout?" + urlencode([("redirect_uri", REDIRECT), ("redirect_uri", OTHER_REDIRECT)])),
        refused(400),
        id="duplicate-redirect-param",
    ),
    pytest.param(Case(target="/logout?" + "&".join(f"p{i}=1" for i in range(100))), refused(400), id="too-many-params"),
    *[
        pytest.param(
            Case(target="/logout?" + urlencode({"redirect_uri": evil}), headers=WITH_TOKEN),
            refused(400),
            id=f"hostile-redirect-{i}",
        )
        for i, evil in enumerate(HOSTILE_REDIRECTS)
    ],
    pytest.param(Case("PUT", headers=WITH_TOKEN), refused(405), id="put-is-405"),
    pytest.param(Case("DELETE", headers=WITH_TOKEN), refused(405), id="delete-is-405"),
    pytest.param(Case(headers={**WITH_TOKEN, "Sec-Fetch-Site": "cross-site"}), refused(403), id="cross-site-get"),
    pytest.param(Case("POST", headers={**WITH_TOKEN, "Origin": "null"}), refused(403), id="post-origin-null"),
    pytest.param(
        Case("POST", headers={**WITH_TOKEN, "Origin": "http://evil.example"}), refused(403), id="post-origin-other-host"
    ),
    pytest.param(
        Case("POST", headers={**WITH_TOKEN, "Origin": "http://{host}:1"}), refused(403), id="post-origin-other-port"
    ),
    pytest.param(
        Case("POST", headers={**WITH_TOKEN, "Origin": "http://{host}.evil.example"}),
        refused(403),
        id="post-origin-lookalike",
    ),
    pytest.param(Case(headers={**WITH_TOKEN, "Sec-Fetch-Site": "same-site"}), logged_out, id="same-site-allowed"),
    pytest.param(Case(headers={**WITH_TOKEN, "Sec-Purpose": "prefetch;prerender"}), refused(503), id="prefetch"),
    pytest.param(Case(headers={**WITH_TOKEN, "Purpose": "prefetch"}), refused(503), id="purpose-prefetch"),
    pytest.param(Case(headers={**WITH_TOKEN, "X-Moz": "prefetch"}), refused(503), id="x-moz-prefetch"),
    *[
        pytest.param(Case(target=path, headers=WITH_TOKEN), passed_through, id=f"passes-{path}")
        for path in ("/", "/logout/", "/logoutx", "/api/logout", "/LOGOUT", "/log%20out", "/%C3%A9", "/%FF")
    ],
    pytest.param(
        Case("POST", "/other", {**WITH_TOKEN, "Sec-Fetch-Site": "cross-site"}),
        passed_through,
        id="other-path-any-headers",
    ),
]


@pytest.fixture
def send(kind: str) -> Send:
    return shared_sender(kind)


@pytest.mark.parametrize(("case", "check"), ROWS)
def test_behaviour(send: Send, case: Case, check: Callable[[Raw], None]) -> None:
    check(run_case(send, case, Values(host="app.example")))


def test_state_is_fresh_per_request(send: Send) -> None:
    states = {
        dict(parse_qsl(urlsplit(send("GET", "/logout", {}).get("Location") or "").query))["state"] for _ in range(20)
    }
    assert len(states) == 20


def test_the_shared_apps_run_the_table_config() -> None:
    """The apps the table runs against, here and under the servers, are made from CONFIG alone: what the rows say."""
    assert wsgi_app.config is CONFIG
    assert asgi_app.config is CONFIG
    assert list(wsgi_app.handler.endpoints) == list(asgi_app.handler.endpoints) == ["/logout"]
