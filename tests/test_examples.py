"""Every example, served by a real server, walked through on the raw wire.

Each example runs once, under gunicorn if it is WSGI and uvicorn if it is
ASGI, configured through the environment as a user would.  The test client
keeps no cookies: each test sends the ``Cookie`` header itself, from the
``Set-Cookie`` lines it read, so that what is checked is what was sent.

The apps that sign in for real (FastAPI with Authlib, Flask with Authlib,
Django with mozilla-django-oidc) talk to the real provider of
``examples/provider``, started once for the module over plain HTTP.  What
needs a browser and a sign-in is in ``tests/e2e/test_sign_in_libraries.py``;
here, a session is made the way the app itself would sign it, with the
app's secret, and the tests check that the app reads it, that ``/logout``
sends its id_token to the discovered end-session endpoint and deletes the
session, and that the same cookie sent again is signed out.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest

from tests.e2e.conftest import PROVIDER_DIR, _installed_as_locked
from tests.support.servers import REPO_ROOT, free_port, serve_asgi, serve_process, serve_wsgi
from tests.support.sessions import starlette_session

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

#: Each example, and the status its own /login redirects with (its framework's choice, not the middleware's).
CASES = [
    pytest.param(serve_asgi, "starlette_app:app", (), 303, id="starlette"),
    pytest.param(serve_asgi, "litestar_app:app", (), 302, id="litestar"),
    pytest.param(serve_wsgi, "pyramid_app:app", (), 302, id="pyramid"),
    pytest.param(serve_wsgi, "bare_wsgi:app", (), 303, id="bare-wsgi"),
    pytest.param(serve_asgi, "bare_asgi:app", (), 303, id="bare-asgi"),
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


def log_in(client: httpx.Client, status: int) -> dict[str, str]:
    """Sign in at /login, which redirects home with *status*, and return the cookies it set."""
    response = client.get("/login")
    assert response.status_code == status, response.text
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
@pytest.mark.parametrize(("serve", "app_spec", "extra_args", "login_status"), CASES)
def test_example(serve: Serve, app_spec: str, extra_args: tuple[str, ...], login_status: int) -> None:
    # The server is started here, not in a fixture, so that a failure prints its output.
    with serve(app_spec, env=ENV, app_dir=EXAMPLES, extra_args=extra_args) as base_url, wire_client(base_url) as client:
        check_home(client, {}, present=False)
        cookies = log_in(client, login_status)
        check_home(client, cookies, present=True)
        first = log_out(client, cookies, ENDPOINT, REDIRECT, CLIENT_ID)
        second = log_out(client, cookies, ENDPOINT, REDIRECT, CLIENT_ID)
        assert state_of(first) != state_of(second), "the state must be fresh on every logout"


# -- the apps that sign in for real ---------------------------------------------------

SIGN_IN_CLIENT_ID = "example-app-under-test"
SIGN_IN_CLIENT_SECRET = secrets.token_urlsafe(24)
# Not the examples' default, and not where the server listens: only the URLs built from it show it.
SIGN_IN_BASE_URL = "https://app.example.test"
SIGNED_IN = "Signed in as alice"
SIGNED_OUT = "Not signed in"
STATUS = re.compile(r'<p id="status">([^<]*)</p>')

SIGN_IN_CASES = [
    pytest.param(serve_asgi, "fastapi_app:app", (), "starlette", id="fastapi"),
    pytest.param(serve_wsgi, "flask_app:app", (), "flask", id="flask"),
    pytest.param(serve_wsgi, "flask_pyoidc_app:app", (), "flask-pyoidc", id="flask-pyoidc"),
    pytest.param(serve_wsgi, "django_app.wsgi:application", (), "django", id="django-wsgi"),
    pytest.param(serve_asgi, "django_app.asgi:application", ("--lifespan=off",), "django", id="django-asgi"),
]
SESSION_COOKIES = {"starlette": "session", "flask": "session", "flask-pyoidc": "session", "django": "sessionid"}
#: How each framework deletes its emptied session: the value and the attributes it sends.
SESSION_DELETIONS = {
    "starlette": ("null", {"expires": EXPIRED, "path": "/"}),
    "flask": ("", {"expires": EXPIRED, "max-age": "0", "path": "/"}),
    "flask-pyoidc": ("", {"expires": EXPIRED, "max-age": "0", "path": "/"}),
    "django": ('""', {"expires": EXPIRED, "max-age": "0", "path": "/"}),
}


@pytest.fixture(scope="module")
def provider() -> Iterator[dict[str, Any]]:
    """The real provider over plain HTTP, as ``python examples/demo.py`` runs it; yields its discovery document."""
    node, npm = _tool("node"), _tool("npm")
    if not _installed_as_locked(PROVIDER_DIR):
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=PROVIDER_DIR, check=True, timeout=300)
    port = free_port()
    clients = [{"client_id": SIGN_IN_CLIENT_ID, "urls": [SIGN_IN_BASE_URL]}]
    env = {"RP_CLIENTS": json.dumps(clients), "CLIENT_SECRET": SIGN_IN_CLIENT_SECRET}
    argv, discovery = [node, "provider.mjs", str(port)], "/.well-known/openid-configuration"
    with serve_process(argv, port=port, env=env, cwd=PROVIDER_DIR, ready_path=discovery) as url:
        yield httpx.get(url + discovery, trust_env=False).raise_for_status().json()


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"the sign-in examples need {name!r} on PATH (Node.js 20 or newer, with npm)", pytrace=False)
    return path


def fake_id_token(issuer: str) -> str:
    """An id_token as the provider would issue it, but signed by nobody: the app's own session vouches for it."""
    now = int(time.time())
    claims = {"iss": issuer, "aud": SIGN_IN_CLIENT_ID, "sub": "alice", "sid": secrets.token_urlsafe(12)}
    claims |= {"iat": now, "exp": now + 600}
    parts = [{"alg": "RS256", "kid": "op"}, claims]
    encoded = [base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode() for part in parts]
    return ".".join([*encoded, base64.urlsafe_b64encode(secrets.token_bytes(256)).rstrip(b"=").decode()])


def authlib_session(id_token: str) -> dict[str, Any]:
    """What the examples keep after Authlib's ``authorize_access_token()``: ``session["token"] = token``."""
    userinfo = json.loads(_b64url(id_token.split(".")[1]))
    token = {"access_token": secrets.token_urlsafe(32), "token_type": "Bearer", "expires_in": 3600}
    return {"token": token | {"id_token": id_token, "scope": "openid", "userinfo": userinfo}}


def pyoidc_session(id_token: str) -> dict[str, Any]:
    """What Flask-pyoidc keeps after its callback: the claims, the token itself, the access token."""
    claims = json.loads(_b64url(id_token.split(".")[1]))
    now = int(time.time())
    return {
        "current_provider": "default",
        "access_token": secrets.token_urlsafe(32),
        "access_token_expires_at": now + 3600,
        "id_token": claims,
        "id_token_jwt": id_token,
        "last_authenticated": now,
    }


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def signed_session(kind: str, id_token: str, env: dict[str, str]) -> str:
    """A session cookie holding *id_token*, made with the app's secret the way the app's framework makes it."""
    if kind == "starlette":
        return starlette_session(authlib_session(id_token), env["SESSION_SECRET"])
    if kind in ("flask", "flask-pyoidc"):
        from flask import Flask
        from flask.sessions import SecureCookieSessionInterface

        forge = Flask("forge")
        forge.secret_key = env["SESSION_SECRET"]
        serializer = SecureCookieSessionInterface().get_signing_serializer(forge)
        assert serializer is not None
        return str(serializer.dumps(authlib_session(id_token) if kind == "flask" else pyoidc_session(id_token)))
    # Django keeps the session in its database: make the row there, as mozilla-django-oidc's sign-in would.
    result = subprocess.run(
        [sys.executable, "-c", MAKE_DJANGO_SESSION, id_token],
        cwd=EXAMPLES,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


MAKE_DJANGO_SESSION = """
import sys
import django
django.setup()
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore
user, _ = get_user_model().objects.get_or_create(username="alice")
session = SessionStore()
session.update({
    SESSION_KEY: str(user.pk),
    BACKEND_SESSION_KEY: "django_app.auth.SubjectBackend",
    HASH_SESSION_KEY: user.get_session_auth_hash(),
    "oidc_id_token": sys.argv[1],
})
session.create()
print(session.session_key)
"""


def status_of(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    match = STATUS.search(response.text)
    assert match is not None, response.text
    return match.group(1)


def check_login(client: httpx.Client, discovery: dict[str, Any], session_cookie: str) -> None:
    """``/login`` starts the authorization-code flow at the discovered endpoint, its state kept in the session."""
    response = client.get("/login")
    assert response.status_code == 302, (
        response.text
    )  # Authlib's authorize_redirect, Flask-pyoidc's, mozilla-django-oidc's view
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == discovery["authorization_endpoint"]
    params = parse_qs(location.query, strict_parsing=True)
    assert params["client_id"] == [SIGN_IN_CLIENT_ID]
    assert params["response_type"] == ["code"]
    assert params["scope"] == ["openid"]
    assert params["redirect_uri"][0].endswith("/callback")
    assert params["state"] and params["nonce"]
    names = [parse_set_cookie(line)[0] for line in response.headers.get_list("set-cookie")]
    assert names == [session_cookie]


def check_sign_in_logout(
    client: httpx.Client, discovery: dict[str, Any], kind: str, cookie: str, id_token: str
) -> None:
    """``/logout`` with the session: the hint from the session, the session deleted, the state cookie set."""
    session_cookie = SESSION_COOKIES[kind]
    response = client.get("/logout", headers={"Cookie": f"{session_cookie}={cookie}"})
    assert response.status_code == 303, response.text
    assert response.headers["cache-control"] == "no-store"
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == discovery["end_session_endpoint"]
    params = parse_qs(location.query, keep_blank_values=True, strict_parsing=True)
    assert all(len(values) == 1 for values in params.values()), params
    assert STATE.fullmatch(params.pop("state")[0])
    assert params == {
        "post_logout_redirect_uri": [SIGN_IN_BASE_URL + "/logout/callback"],
        "id_token_hint": [id_token],
        "client_id": [SIGN_IN_CLIENT_ID],
    }
    cookies = {}
    for line in response.headers.get_list("set-cookie"):
        name, value, attributes = parse_set_cookie(line)
        cookies[name] = (value, attributes)
    # The session, deleted the framework's own way; the id_token cookie the middleware always deletes.
    assert cookies.keys() == {session_cookie, "id_token", "logout_state"}, response.headers.get_list("set-cookie")
    value, attributes = cookies[session_cookie]
    expected_value, expected_attributes = SESSION_DELETIONS[kind]
    assert value == expected_value
    assert attributes.items() >= expected_attributes.items(), attributes
    value, attributes = cookies["id_token"]
    assert value == ('""' if kind == "django" else "")  # Django quotes an empty value
    assert (attributes.get("max-age"), attributes.get("path")) == ("0", "/"), attributes


@pytest.mark.servers
@pytest.mark.parametrize(("serve", "app_spec", "extra_args", "kind"), SIGN_IN_CASES)
def test_sign_in_example(
    provider: dict[str, Any], tmp_path: Path, serve: Serve, app_spec: str, extra_args: tuple[str, ...], kind: str
) -> None:
    env = {
        "ISSUER": provider["issuer"],
        "CLIENT_ID": SIGN_IN_CLIENT_ID,
        "CLIENT_SECRET": SIGN_IN_CLIENT_SECRET,
        "BASE_URL": SIGN_IN_BASE_URL,
        "SESSION_SECRET": secrets.token_urlsafe(32),
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(32),
        "DJANGO_DATABASE": str(tmp_path / "db.sqlite3"),
        "DJANGO_SETTINGS_MODULE": "django_app.settings",
    }
    session_cookie = SESSION_COOKIES[kind]
    with serve(app_spec, env=env, app_dir=EXAMPLES, extra_args=extra_args) as base_url, wire_client(base_url) as client:
        response = client.get("/")
        assert status_of(response) == SIGNED_OUT
        assert "set-cookie" not in response.headers
        check_login(client, provider, session_cookie)

        id_token = fake_id_token(provider["issuer"])
        cookie = signed_session(kind, id_token, env)
        assert status_of(client.get("/", headers={"Cookie": f"{session_cookie}={cookie}"})) == SIGNED_IN
        check_sign_in_logout(client, provider, kind, cookie, id_token)
        # The same cookie again: Django flushed the row, the cookie sessions are refused as revoked.
        assert status_of(client.get("/", headers={"Cookie": f"{session_cookie}={cookie}"})) == SIGNED_OUT


def test_every_example_is_tested() -> None:
    served = {re.split(r"[.:]", str(param.values[1]))[0] for param in CASES + SIGN_IN_CASES}
    on_disk = {path.stem for path in EXAMPLES.glob("*.py")} | {path.parent.name for path in EXAMPLES.glob("*/wsgi.py")}
    assert on_disk - {"demo"} == served
