"""An id_token too large for a URL goes to the provider by a self-submitting form POST."""

from __future__ import annotations

import re

from tests.support.forms import FormReader
from tests.support.transports import middleware_sender

BIG_TOKEN = "eyJhbGciOiJSUzI1NiJ9." + "a" * 9000 + ".c2ln"


def test_large_token_goes_by_form_post(kind: str) -> None:
    send = middleware_sender(kind, end_session_endpoint="https://op.example/end?tenant=a&b=<x>",
                             post_logout_redirect_uri="https://app.example/bye", client_id="rp")  # fmt: skip
    response = send("GET", "/logout", {"Cookie": f"id_token={BIG_TOKEN}"})
    assert response.status == 200
    assert response.get("Content-Type") == "text/html; charset=utf-8"
    assert response.get("Cache-Control") == "no-store"
    assert response.get("Location") is None
    assert response.get_all("Set-Cookie")[0].startswith("id_token=; Max-Age=0")
    policy = response.get("Content-Security-Policy") or ""
    assert re.fullmatch(
        r"default-src 'none'; script-src 'sha256-[A-Za-z0-9+/=]{44}'; form-action https://op.example "
        r"https://app.example; base-uri 'none'; frame-ancestors 'none'",
        policy,
    )
    form = FormReader()
    form.feed(response.body.decode())
    assert (form.method, form.action) == ("post", "https://op.example/end?tenant=a&b=<x>")
    assert [name for name, _ in form.fields] == ["post_logout_redirect_uri", "id_token_hint", "state", "client_id"]
    assert dict(form.fields)["id_token_hint"] == BIG_TOKEN
    assert form.scripts == 1
    assert b"&amp;b=&lt;x&gt;" in response.body, "the action is HTML-escaped"


def test_the_limit_is_configurable(kind: str) -> None:
    token = "eyJhbGciOiJSUzI1NiJ9." + "a" * 400 + ".c2ln"
    send = middleware_sender(kind, end_session_endpoint="https://op.example/end", max_url_length=300)
    assert send("GET", "/logout", {"Cookie": f"id_token={token}"}).status == 200
    assert send("GET", "/logout", {}).status == 303


def test_field_names_and_values_are_escaped(kind: str) -> None:
    send = middleware_sender(kind, end_session_endpoint="https://op.example/end", client_id='rp"><b>&amp;',
                             extra_params={'x"<': '"><script>alert(1)</script>'})  # fmt: skip
    response = send("GET", "/logout", {"Cookie": f"id_token={BIG_TOKEN}"})
    assert response.status == 200
    assert b"<script>alert" not in response.body
    assert b"<b>" not in response.body
    form = FormReader()
    form.feed(response.body.decode())
    assert dict(form.fields)["client_id"] == 'rp"><b>&amp;'
    assert dict(form.fields)['x"<'] == '"><script>alert(1)</script>'
