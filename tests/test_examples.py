"""Every example, served by a real server, walked through on the raw wire.

Each example runs once, under gunicorn if it is WSGI and uvicorn if it is
ASGI, configured through the environment as a user would.  The test client
keeps no cookies: each test sends the ``Cookie`` header itself, from the
``Set-Cookie`` lines it read, so that what is checked is what was sent.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from http.cookiejar import CookieJar, DefaultCookiePolicy
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest

from tests.servers import REPO_ROOT, serve_asgi, serve_wsgi

EXAMPLES = REPO_ROOT / "examples"

# Not the examples' defaults, so that the tests see the environment is read.
ENDPOINT = "https://op.example.test/oidc/session/end"
REDIRECT = "https://app.example.test/signed-out"
CLIENT_ID = "example-client"
ENV = {
    "LOGOUT_END_SESSION_ENDPOINT": ENDPOINT,
    "POST_LOGOUT_REDIRECT_URI": REDIRECT,
    "CLIENT_ID": CLIENT_ID,
    # The Django example only sets a default, which a value in the test runner's environment would beat.
    "DJANGO_SETTINGS_MODULE": "django_app.settings",
}

EXPIRED = "Thu, 01 Jan 1970 00:00:00 GMT"
STATE = re.compile(r"[A-Za-z0-9_-]{22,}")
LOGIN_COOKIES = {"id_token", "session"}

Serve = Callable[..., AbstractContextManager[str]]

CASES = [
    pytest.param(serve_wsgi, "flask_app:app", (), id="flask"),
    pytest.param(serve_wsgi, "django_app.wsgi:application", (), id="django-wsgi"),
    pytest.param(serve_asgi, "django_app.asgi:application", ("--lifespan=off",), id="django-asgi"),
    pytest.param(serve_asgi, "fastapi_app:app", (), id="fastapi"),
    pytest.param(serve_asgi, "starlette_app:app", (), id="starlette"),
    pytest.param(serve_asgi, "litestar_app:app", (), id="litestar"),
    pytest.param(serve_wsgi, "pyramid_app:app", (), id="pyramid"),
    pytest.param(serve_wsgi, "bare_wsgi:app", (), id="bare-wsgi"),
    pytest.param(serve_asgi, "bare_asgi:app", (), id="bare-asgi"),
]


def wire_client(base_url: str) -> httpx.Client:
    """A client that follows no redirect and stores no cookie."""
    no_cookies = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
    return httpx.Client(base_url=base_url, follow_redirects=False, cookies=no_cookies, timeout=10)


def parse_set_cookie(line: str) -> tuple[str, str, dict[str, str]]:
    """Split a raw ``Set-Cookie`` line into name, value and attributes (lower-case names)."""
    pair, *attributes = (part.strip() for part in line.split(";"))
    name, equals, value = pair.partition("=")
    assert equals, f"no '=' in {line!r}"
    parsed = {}
    for attribute in attributes:
        key, _, attribute_value = attribute.partition("=")
        parsed[key.strip().lower()] = attribute_value.strip()
    return name.strip(), value.strip(), parsed


def cookie_header(cookies: dict[str, str]) -> str:
    return "; ".join(f"{name}={value}" for name, value in cookies.items())


def check_home(client: httpx.Client, cookies: dict[str, str], present: bool) -> None:
    headers = {"Cookie": cookie_header(cookies)} if cookies else {}
    response = client.get("/", headers=headers)
    assert response.status_code == 200, response.text
    assert f"id_token cookie: {'present' if present else 'absent'}" in response.text
    assert "set-cookie" not in response.headers


def log_in(client: httpx.Client) -> dict[str, str]:
    """Sign in at /login and return the cookies it set."""
    response = client.get("/login")
    assert response.status_code in (302, 303), response.text
    assert urljoin(str(response.url), response.headers["location"]) == str(client.base_url.join("/"))
    cookies = {}
    for line in response.headers.get_list("set-cookie"):
        name, value, attributes = parse_set_cookie(line)
        # The deletions only reach cookies set with the same Path.
        assert attributes.get("path") == "/", line
        assert "httponly" in attributes, line
        cookies[name] = value
    assert set(cookies) == LOGIN_COOKIES
    header, payload, _signature = cookies["id_token"].split(".")
    assert "alg" in json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    assert json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return cookies


def log_out(client: httpx.Client, cookies: dict[str, str], endpoint: str, redirect_uri: str, client_id: str) -> str:
    """Log out with *cookies*, check the whole answer and return its Location."""
    response = client.get("/logout", headers={"Cookie": cookie_header(cookies)})
    assert response.status_code == 303, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.content == b""

    location = urlsplit(response.headers["location"])
    expected = urlsplit(endpoint)
    assert (location.scheme, location.netloc, location.path) == (expected.scheme, expected.netloc, expected.path)
    params = parse_qs(location.query, keep_blank_values=True, strict_parsing=True)
    assert all(len(values) == 1 for values in params.values()), params
    state = params.pop("state")[0]
    assert STATE.fullmatch(state), state
    assert params == {
        "post_logout_redirect_uri": [redirect_uri],
        "id_token_hint": [cookies["id_token"]],
        "client_id": [client_id],
    }

    deleted = set()
    for line in response.headers.get_list("set-cookie"):
        name, value, attributes = parse_set_cookie(line)
        assert value == "", line
        assert attributes.get("max-age") == "0", line
        assert attributes.get("expires") == EXPIRED, line
        assert attributes.get("path") == "/", line
        assert "domain" not in attributes, line
        deleted.add(name)
    assert deleted == LOGIN_COOKIES
    return response.headers["location"]


def state_of(location: str) -> str:
    return parse_qs(urlsplit(location).query)["state"][0]


@pytest.mark.servers
@pytest.mark.parametrize(("serve", "app_spec", "extra_args"), CASES)
def test_example(serve: Serve, app_spec: str, extra_args: tuple[str, ...]) -> None:
    # The server is started here, not in a fixture, so that a failure prints its output.
    with serve(app_spec, env=ENV, app_dir=EXAMPLES, extra_args=extra_args) as base_url, wire_client(base_url) as client:
        check_home(client, {}, present=False)
        cookies = log_in(client)
        check_home(client, cookies, present=True)
        first = log_out(client, cookies, ENDPOINT, REDIRECT, CLIENT_ID)
        second = log_out(client, cookies, ENDPOINT, REDIRECT, CLIENT_ID)
        assert state_of(first) != state_of(second), "the state must be fresh on every logout"


def test_every_example_is_tested() -> None:
    served = {re.split(r"[.:]", str(param.values[1]))[0] for param in CASES}
    on_disk = {path.stem for path in EXAMPLES.glob("*.py")} | {path.parent.name for path in EXAMPLES.glob("*/wsgi.py")}
    assert on_disk - {"demo"} == served
