"""Single sign-out: signing out of one app signs the user out of the other, through the back channel.

Two apps use the same provider: app A (one instance) and app B, which runs
as two instances, B1 (Starlette under uvicorn) and B2 (Flask under
gunicorn), that share their revocations through a real redis-server.  The
provider knows B's Back-Channel Logout URI at B1 only, as a provider knows
one URL per client, while the browser uses B2.

The browser signs in to A, then to B (no credentials asked: the provider
session is reused), and logs out at A.  The provider POSTs a logout token
to B1; B1's middleware checks it and records the session as revoked in
Redis, which tells B2.  B2, which never heard from the provider, then
treats the user as signed out: it hides the login cookies from the app and
deletes them in the browser.

A and B have host names of their own (``rp-a.test``, ``rp-b.test``,
resolved to 127.0.0.1 by Chromium): browsers keep cookies apart by host,
not by port, so on 127.0.0.1 alone each app's cookies would overwrite the
other's.
"""

from __future__ import annotations

import base64
import json
import re
import time
from typing import TYPE_CHECKING, Any

import pytest
import redis
from playwright.sync_api import Page, Response, expect

from logout_middleware.stores.revocations import session_digest
from tests.support.transports import deleted_cookies

from .browsing import USERNAME, Hops, check_no_escape, check_provider_session_ended, rp_cookies, sign_in

if TYPE_CHECKING:
    from .conftest import BlockedRequests, Provider, RelyingParty, Stack

pytestmark = pytest.mark.e2e

#: The cookies a sign-in at an RP leaves; the middleware deletes them all (session is in clear_cookies).
LOGIN_COOKIES = frozenset(("id_token", "session", "access_token"))
#: How long the revocation may take to reach the other instance (Redis pub/sub: milliseconds, in fact).
PROPAGATION_DEADLINE = 5.0


def claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, unverified: the browser's copy of what the app was given."""
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


def sign_in_without_credentials(page: Page, op: Provider, rp: RelyingParty) -> None:
    """Sign in while the provider session lives: at most the consent page for a new client, no login form."""
    page.goto(rp.url + "/login")
    login_form = page.locator("input[name=password]")
    consent = page.get_by_role("button", name="Continue")
    status = page.locator("#status")
    consent.or_(status).or_(login_form).wait_for()
    assert not login_form.is_visible(), f"the provider asked for credentials again at {page.url}"
    if consent.is_visible():
        consent.click()
    page.wait_for_url(rp.url + "/")
    expect(status).to_have_text(f"Signed in as {USERNAME}")


def app_cookies(page: Page) -> set[str]:
    """The names of the cookies the app itself was given, as its home page lists them."""
    return set((page.locator("#cookies").text_content() or "").split())


def deleted_by(response: Response) -> set[str]:
    """The names of the cookies a response deletes."""
    return deleted_cookies(
        header["value"] for header in response.headers_array() if header["name"].lower() == "set-cookie"
    )


def test_signing_out_of_one_app_signs_the_user_out_of_the_other_through_the_back_channel(
    e2e_stack: Stack, page: Page, blocked_requests: BlockedRequests
) -> None:
    op = e2e_stack.provider
    rps = e2e_stack.rps
    app_a, b1, b2 = rps["sso-a"], rps["sso-b1"], rps["sso-b2"]
    assert b1.client_id == b2.client_id != app_a.client_id
    hops = Hops()
    hops.watch(page)

    # Sign in to A with credentials, then to B at its instance B2 without: single sign-on.
    sign_in(page, op, app_a)
    sign_in_without_credentials(page, op, b2)
    a_cookies, b_cookies = rp_cookies(page, app_a.url), rp_cookies(page, b2.url)
    assert a_cookies.keys() >= LOGIN_COOKIES
    assert b_cookies.keys() >= LOGIN_COOKIES
    # Both apps take the user as signed in; each has its own cookies, and its
    # own id_token with a session id ("sid") for the back channel.
    page.goto(app_a.url + "/")
    expect(page.locator("#status")).to_have_text(f"Signed in as {USERNAME}")
    a_token, b_token = claims(a_cookies["id_token"]), claims(b_cookies["id_token"])
    assert (a_token["aud"], b_token["aud"]) == (app_a.client_id, b2.client_id)
    assert a_token["sub"] == b_token["sub"]
    assert a_token["sid"] and b_token["sid"]

    # Control: until A's logout, B2 takes the user as signed in, and its app gets the login cookies.
    # Without this, the end of the test would prove nothing.
    response = page.goto(b2.url + "/")
    assert response is not None
    assert response.status == 200
    expect(page.locator("#status")).to_have_text(f"Signed in as {USERNAME}")
    assert app_cookies(page) >= LOGIN_COOKIES
    assert not deleted_by(response)
    for rp in (b1, b2):
        assert "/backchannel-logout" not in rp.server.log_text(), f"{rp.name} was called too early"

    # Log out at A, and confirm at the provider: the provider ends its session
    # and, before it sends the browser back to A, POSTs a logout token to
    # every client of the session that has a back-channel URI.
    logs_before = {server.name: len(server.log_text()) for server in (op.server, b1.server, b2.server)}
    page.goto(app_a.url + "/")
    expect(page.locator("#status")).to_have_text(f"Signed in as {USERNAME}")
    page.get_by_role("link", name="Sign out").click()
    page.wait_for_url(op.end_session_endpoint + "?**")
    hops.clear()
    page.get_by_role("button", name="Yes, sign me out").click()
    page.wait_for_url(app_a.url + "/")
    assert hops.to(op.url + "/session/end/confirm", method="POST").status == 303, hops.describe()
    expect(page.locator("#status")).to_have_text("Not signed in")
    assert not rp_cookies(page, app_a.url).keys() & LOGIN_COOKIES

    # The provider sent B's logout token, for B's session, to B1 (and A's to A), and B1 answered 200.
    sent = op.server.wait_for_log(
        rf"^backchannel\.success: {b1.client_id} sid=(\S+) -> {re.escape(b1.backchannel_logout_uri)}$",
        after=logs_before[op.server.name],
    )
    assert sent.group(1) == b_token["sid"]
    op.server.wait_for_log(rf"^backchannel\.success: {app_a.client_id} sid=", after=logs_before[op.server.name])
    assert "backchannel.error" not in op.server.log_text()[logs_before[op.server.name] :]
    b1.server.wait_for_log(r'"POST /backchannel-logout HTTP/1\.1" 200', after=logs_before[b1.server.name])
    b1.server.wait_for_log(r"back-channel logout: the session revoked", after=logs_before[b1.server.name])
    # B1 recorded it in Redis, where B2 learns of it.
    digest = session_digest(op.url, b_token["sid"])
    with redis.Redis.from_url(e2e_stack.redis.url) as client:
        assert [key for key in client.keys("logout:sessions:*") if client.sismember(key, digest)]

    # B2 never heard from the provider, yet its next request is signed out: the
    # middleware hid the login cookies from the app and deleted them in the browser.
    deadline = time.monotonic() + PROPAGATION_DEADLINE
    while True:
        response = page.goto(b2.url + "/")
        assert response is not None
        assert response.status == 200
        if page.locator("#status").text_content() == "Not signed in":
            break
        assert time.monotonic() < deadline, f"B2 still takes the user as signed in after {PROPAGATION_DEADLINE} s"
        page.wait_for_timeout(50)
    assert not app_cookies(page) & LOGIN_COOKIES, app_cookies(page)
    assert deleted_by(response) >= LOGIN_COOKIES
    assert not rp_cookies(page, b2.url).keys() & LOGIN_COOKIES
    assert "/backchannel-logout" not in b2.server.log_text()[logs_before[b2.server.name] :]

    # The provider session is gone too: signing in to B asks for credentials.
    check_provider_session_ended(page, op, b2)
    check_no_escape(blocked_requests)
