"""The Django front door: ``request.session`` and ``django.contrib.auth``, through real WSGI requests."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from logout_middleware.stores import MemoryStore
from tests.support.django_project import ISSUER, django_app
from tests.support.tokens import id_token
from tests.support.transports import Raw, Send, wsgi_sender

TOKEN = id_token(ISSUER, sid="sid-django")
OPTIONS: dict[str, Any] = {
    "end_session_endpoint": f"{ISSUER}/session/end",
    "issuer": ISSUER,
    "client_id": "rp",
    "post_logout_redirect_uri": "https://app.example/bye",
}


def sign_in(send: Send, token: str = TOKEN) -> str:
    response = send("GET", "/login?" + urlencode({"id_token": token}), {})
    assert response.status == 200, response.body
    # Django writes each Set-Cookie value with a leading space, which browsers ignore.
    pairs = [line.partition(";")[0].strip() for line in response.get_all("Set-Cookie")]
    [session] = [pair for pair in pairs if pair.startswith("sessionid=")]
    return session


def user_of(send: Send, cookie: str) -> tuple[bytes, list[str]]:
    response = send("GET", "/page", {"Cookie": cookie})
    assert response.status == 200, response.body
    return response.body, response.get_all("Set-Cookie")


def hint_of(response: Raw) -> str | None:
    assert response.status == 303, response.body
    hints = parse_qs(urlsplit(response.get("Location") or "").query).get("id_token_hint", [])
    return hints[0] if hints else None


def test_logout_sends_the_hint_and_flushes_the_session_row() -> None:
    send = wsgi_sender(django_app(**OPTIONS))
    cookie = sign_in(send)
    assert user_of(send, cookie)[0] == b"user=alice cookies=['sessionid']"
    response = send("GET", "/logout", {"Cookie": cookie})
    assert hint_of(response) == TOKEN
    assert [line.strip() for line in response.get_all("Set-Cookie")] == [
        'id_token=""; expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Max-Age=0; Path=/; SameSite=Lax',
        'sessionid=""; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/; SameSite=Lax',  # Django's own
    ]
    assert user_of(send, cookie)[0] == b"user=anonymous cookies=['sessionid']", "the row is gone: a replay is anonymous"


def test_logout_sends_the_user_logged_out_signal() -> None:
    from django.contrib.auth.signals import user_logged_out

    seen: list[str] = []

    def record(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
        seen.append(user.get_username())

    user_logged_out.connect(record)
    try:
        send = wsgi_sender(django_app(**OPTIONS))
        send("GET", "/logout", {"Cookie": sign_in(send)})
    finally:
        user_logged_out.disconnect(record)
    assert seen == ["alice"]


def test_a_backchannel_revocation_logs_the_django_session_out() -> None:
    store = MemoryStore()
    send = wsgi_sender(
        django_app(**OPTIONS, enforce_revocations=True, revocation_store=store, clear_cookies=["csrftoken"])
    )
    cookie = sign_in(send)
    other = sign_in(send, id_token(ISSUER, sid="sid-other", sub="bob"))
    store.revoke_session(ISSUER, "sid-django")  # as the back-channel receiver records it
    body, lines = user_of(send, f"{cookie}; csrftoken=c; theme=dark")
    assert body == b"user=anonymous cookies=['sessionid', 'theme']"
    names = sorted(line.partition("=")[0].strip() for line in lines)
    assert names == ["csrftoken", "id_token", "sessionid"], lines
    assert user_of(send, cookie)[0].startswith(b"user=anonymous"), "flushed for good, not only for this request"
    assert user_of(send, other)[0].startswith(b"user=alice"), "another session lives on"


def test_without_a_session_cookie_the_session_is_not_loaded() -> None:
    send = wsgi_sender(django_app(**OPTIONS, enforce_revocations=True))
    response = send("GET", "/plain", {"Cookie": "theme=dark"})
    assert (response.status, response.get("Vary")) == (200, None)


def test_a_logout_needs_no_csrf_token_and_keeps_its_refusals() -> None:
    send = wsgi_sender(django_app(**OPTIONS))
    assert send("POST", "/logout", {"Origin": "http://app.example", "Cookie": sign_in(send)}).status == 303
    assert send("POST", "/logout", {"Origin": "https://evil.example"}).status == 403
    assert send("PUT", "/logout", {}).status == 405


def test_the_middleware_must_follow_session_middleware(monkeypatch: pytest.MonkeyPatch) -> None:
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.handlers.wsgi import WSGIHandler

    django_app(**OPTIONS)
    monkeypatch.setattr(settings, "MIDDLEWARE", ["logout_middleware.django.LogoutMiddleware"])
    with pytest.raises(ImproperlyConfigured, match=r"after django\.contrib\.sessions"):
        WSGIHandler()  # Django builds its middleware here, at start-up
