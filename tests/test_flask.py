"""The Flask front door: ``flask.session``, read inside the app, through real WSGI requests."""

from __future__ import annotations

import datetime
import logging
from typing import Any
from urllib.parse import parse_qs, urlsplit

import flask
import pytest

from logout_middleware.core import logout as handler_module
from logout_middleware.flask import FlaskLogout
from logout_middleware.stores import MemoryStore
from tests.support.tokens import id_token
from tests.support.transports import Raw, Send, wsgi_sender

ISSUER = "https://op.example"
TOKEN = id_token(ISSUER, sid="sid-flask")
OPTIONS: dict[str, Any] = {
    "end_session_endpoint": f"{ISSUER}/session/end",
    "issuer": ISSUER,
    "client_id": "rp",
    "post_logout_redirect_uri": "https://app.example/bye",
}


def make_app(**options: Any) -> flask.Flask:
    app = flask.Flask(__name__)
    app.secret_key = "flask-secret-for-the-tests"

    @app.get("/login")
    def login() -> str:
        # What Authlib's Flask client leaves after authorize_access_token().
        flask.session["token"] = {"id_token": flask.request.args.get("id_token", TOKEN), "access_token": "at"}
        return "signed in"

    @app.get("/cart")
    def cart() -> str:
        flask.session["cart"] = ["book"]
        return "anonymous"

    @app.get("/plain")
    def plain() -> str:
        return "a page that never looks at the session"

    @app.get("/page")
    def page() -> str:
        token = flask.session.get("token", {}).get("id_token")
        return f"signed in={token is not None} cookies={sorted(flask.request.cookies)}"

    FlaskLogout(app, **{**OPTIONS, **options})
    return app


def session_cookie(send: Send, path: str = "/login") -> str:
    response = send("GET", path, {})
    assert response.status == 200
    [line] = response.get_all("Set-Cookie")
    return line.partition(";")[0]


def hint_of(response: Raw) -> str | None:
    assert response.status == 303, response.body
    hints = parse_qs(urlsplit(response.get("Location") or "").query).get("id_token_hint", [])
    return hints[0] if hints else None


def test_logout_sends_the_hint_from_flask_session_and_ends_it() -> None:
    send = wsgi_sender(make_app())
    cookie = session_cookie(send)
    response = send("GET", "/logout", {"Cookie": cookie})
    assert hint_of(response) == TOKEN
    assert response.get_all("Set-Cookie") == [
        "id_token=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; HttpOnly; SameSite=Lax",
        "session=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; HttpOnly; Path=/",  # Flask's own, for its session
    ]
    assert response.get("Cache-Control") == "no-store"


def test_options_come_from_app_config_too() -> None:
    app = flask.Flask(__name__)
    app.secret_key = "s"
    app.config["LOGOUT_MIDDLEWARE"] = {**OPTIONS, "logout_path": "/sign-out"}
    FlaskLogout(app, client_id="from-code")
    door = app.extensions["logout_middleware"]
    assert (door.config.logout_path, door.config.client_id) == ("/sign-out", "from-code")
    assert door.config.max_token_lifetime == 31 * 24 * 3600, "Flask's PERMANENT_SESSION_LIFETIME"


def test_init_app_later_and_a_session_lifetime_of_the_app() -> None:
    app = flask.Flask(__name__)
    app.secret_key = "s"
    app.permanent_session_lifetime = datetime.timedelta(hours=8)
    app.config["SESSION_COOKIE_NAME"] = "flask_session"
    logout = FlaskLogout(**OPTIONS)
    logout.init_app(app)
    door = app.extensions["logout_middleware"]
    assert (door.config.max_token_lifetime, door.config.session_cookie) == (8 * 3600, "flask_session")


def test_a_replayed_session_cookie_is_signed_out_after_logout() -> None:
    store = MemoryStore()
    send = wsgi_sender(make_app(enforce_revocations=True, revocation_store=store, clear_cookies=["remember_token"]))
    cookie = session_cookie(send)
    assert send("GET", "/page", {"Cookie": cookie}).body.startswith(b"signed in=True")
    assert send("GET", "/logout", {"Cookie": cookie}).status == 303
    assert store.is_revoked(ISSUER, "sid-flask", "alice", None)
    replayed = send("GET", "/page", {"Cookie": f"{cookie}; remember_token=r; theme=dark"})
    assert replayed.body == b"signed in=False cookies=['theme']", "the remember cookie is stripped too"
    lines = replayed.get_all("Set-Cookie")
    assert [line.partition("=")[0] for line in lines] == ["id_token", "remember_token", "session"], lines
    other = session_cookie(send, f"/login?id_token={id_token(ISSUER, sid='sid-other')}")
    assert send("GET", "/page", {"Cookie": other}).body.startswith(b"signed in=True")


def test_an_anonymous_session_passes_and_costs_no_vary_header() -> None:
    send = wsgi_sender(make_app(enforce_revocations=True))
    cart = session_cookie(send, "/cart")
    response = send("GET", "/page", {"Cookie": cart})
    assert response.body.startswith(b"signed in=False")
    assert response.get_all("Set-Cookie") == []
    assert send("GET", "/plain", {"Cookie": "theme=dark"}).get("Vary") is None, "the session is not touched"


def test_a_tampered_flask_session_is_empty_for_flask_and_for_us() -> None:
    send = wsgi_sender(make_app(enforce_revocations=True))
    cookie = session_cookie(send)
    tampered = cookie[:-3] + ("AAA" if not cookie.endswith("AAA") else "BBB")
    assert send("GET", "/page", {"Cookie": tampered}).body.startswith(b"signed in=False")
    assert hint_of(send("GET", "/logout", {"Cookie": tampered})) is None


def test_no_id_token_in_the_session_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    send = wsgi_sender(make_app())
    cart = session_cookie(send, "/cart")
    with caplog.at_level(logging.WARNING, logger="logout_middleware"):
        assert hint_of(send("GET", "/logout", {"Cookie": cart})) is None
    assert [record.msg for record in caplog.records] == [handler_module.NO_ID_TOKEN_IN_SESSION]


def test_other_paths_and_methods_keep_their_usual_answers() -> None:
    send = wsgi_sender(make_app())
    assert send("PUT", "/logout", {}).status == 405
    assert send("GET", "/logout", {"Sec-Fetch-Site": "cross-site"}).status == 403
    assert send("GET", "/nowhere", {}).status == 404


def test_discover_fetches_the_metadata_now(stub: Any) -> None:
    app = flask.Flask(__name__)
    FlaskLogout(app, issuer=stub.issuer, client_id="rp")
    metadata = FlaskLogout.discover(app)
    assert metadata is not None and metadata.end_session_endpoint == f"{stub.issuer}/session/end"
