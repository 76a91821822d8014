"""What only the WSGI front door does: SCRIPT_NAME mounting, iterables, frameworks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from webob import Request
from webtest import TestApp

from logout_middleware.wsgi import LogoutMiddleware
from tests.support.apps import CONFIG, echo_wsgi
from tests.support.django_project import django_app


class ClosingBody:
    """A response body that records whether the server closed it (PEP 3333 requires it)."""

    def __init__(self) -> None:
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        yield b"one"
        yield b"two"

    def close(self) -> None:
        self.closed = True


def test_pass_through_returns_the_apps_own_iterable() -> None:
    body = ClosingBody()

    def app(environ: Any, start_response: Any) -> ClosingBody:
        start_response("201 Created", [("X-A", "1"), ("X-A", "2")])
        return body

    started: list[tuple[str, list[tuple[str, str]]]] = []
    result = LogoutMiddleware(app, CONFIG)(Request.blank("/stream").environ, lambda *args: started.append(args))
    assert result is body, "the app's iterable, unwrapped: streamed as it comes, and closable by the server"
    assert started == [("201 Created", [("X-A", "1"), ("X-A", "2")])]
    response = Request.blank("/stream").get_response(LogoutMiddleware(app, CONFIG))
    assert (response.status_code, response.body) == (201, b"onetwo")
    assert body.closed


@pytest.mark.parametrize(
    ("script_name", "path_info", "ours"),
    [
        pytest.param("/app", "/logout", True, id="mounted"),
        pytest.param("", "/logout", True, id="root"),
        pytest.param("/app", "/app/logout", False, id="prefix-twice"),
        pytest.param("", "", False, id="empty-path-info"),
        pytest.param("", "/caf\xc3\xa9", False, id="non-ascii-latin1"),
    ],
)
def test_script_name_mounting(script_name: str, path_info: str, ours: bool) -> None:
    request = Request.blank("/")
    request.environ.update(SCRIPT_NAME=script_name, PATH_INFO=path_info)
    response = request.get_response(LogoutMiddleware(echo_wsgi, CONFIG))
    assert response.status_code == (303 if ours else 200)


def test_non_ascii_logout_path() -> None:
    app = LogoutMiddleware(echo_wsgi, CONFIG, logout_path="/d\u00e9connexion")
    request = Request.blank("/")
    request.environ["PATH_INFO"] = "/d\u00e9connexion".encode().decode("latin-1")
    assert request.get_response(app).status_code == 303


def test_missing_path_info_passes_through() -> None:
    request = Request.blank("/")
    del request.environ["PATH_INFO"]
    assert request.get_response(LogoutMiddleware(echo_wsgi, CONFIG)).status_code == 200


def test_flask_wsgi_app() -> None:
    flask_app = Flask(__name__)
    flask_app.add_url_rule("/", "home", lambda: "home")
    flask_app.wsgi_app = LogoutMiddleware(flask_app.wsgi_app, CONFIG)  # type: ignore[method-assign]
    client = TestApp(flask_app)
    assert client.get("/").text == "home"
    response = client.get("/logout", status=303)
    assert response.headers["Location"].startswith("https://op.example/oidc/session/end?tenant=acme&")
    assert len(response.headers.getall("Set-Cookie")) == 5


def test_django_wsgi_application() -> None:
    # Django takes one configuration per process: the project the Django front door's tests use.
    app = LogoutMiddleware(django_app(end_session_endpoint="https://op.example/end"), CONFIG)
    client = TestApp(app, extra_environ={"HTTP_HOST": "app.example"})
    assert client.get("/plain").text == "a page that never looks at the session"
    response = client.get("/logout", status=303)
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Location"].startswith(CONFIG.end_session_endpoint or "")
