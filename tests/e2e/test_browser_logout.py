"""A real browser signs in at a real OpenID provider, then logs out through our middleware.

Every test runs once per adapter (ASGI under uvicorn, WSGI under gunicorn).
The middleware is given the provider's issuer and no endpoint, so every
logout also proves that it found the end-session and revocation endpoints by
discovery.  The tests check what only a browser and a real provider can show
together:

* the logout redirect carries what the provider needs to identify the client
  and send the browser back, and the provider accepts it;
* the provider sends the browser to the middleware's callback with our
  ``state``, and the callback sends it on to the page the logout asked for
  (``return_to``), or to ``/``; the same callback URL a second time is refused;
* the RP's access and refresh tokens are revoked at the provider (RFC 7009)
  before the browser even gets there;
* the login cookies are gone from the browser's jar, and the provider session
  has really ended, so the next sign-in asks for credentials again;
* when the end-session URL would be too long, the parameters reach the
  provider by a self-submitting form POST that the page's own
  Content-Security-Policy lets through.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import httpx
import pytest
from playwright.sync_api import Page, expect

from .browsing import (
    USERNAME,
    Console,
    Hop,
    Hops,
    check_no_escape,
    check_provider_session_ended,
    rp_cookies,
    sign_in,
)

if TYPE_CHECKING:
    # Types only: importing a conftest at run time depends on pytest's import mode.
    from .conftest import BlockedRequests, Provider, RelyingParty, Stack

pytestmark = pytest.mark.e2e

#: The cookies a sign-in leaves, all of which logout must delete.
LOGIN_COOKIES = frozenset(("id_token", "session", "access_token", "refresh_token"))
#: The middleware's cookie that ties the logout's ``state`` to this browser.
STATE_COOKIE = "logout_state"
#: The logout parameters the middleware sends the provider, by redirect or by form.
LOGOUT_PARAMS = frozenset(("post_logout_redirect_uri", "id_token_hint", "state", "client_id"))


def introspect(stack: Stack, rp: RelyingParty, token: str) -> dict[str, Any]:
    """Ask the provider about *token* (RFC 7662), authenticated as the RP's client."""
    response = httpx.post(
        stack.provider.introspection_endpoint,
        data={"token": token},
        auth=(rp.client_id, stack.client_secret),
        timeout=10.0,
        trust_env=False,
        verify=stack.provider.ssl_context(),
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def check_logout_params(sent: dict[str, str], rp: RelyingParty, id_token: str) -> None:
    assert sent.keys() == LOGOUT_PARAMS, sent
    assert sent["id_token_hint"] == id_token
    assert sent["post_logout_redirect_uri"] == rp.post_logout_redirect_uri
    assert sent["client_id"] == rp.client_id
    assert len(sent["state"]) >= 16


def confirm_at_provider(page: Page, hops: Hops, op: Provider, rp: RelyingParty, state: str, landing: str) -> Hop:
    """Confirm the logout at the provider and follow the browser back to *landing* on the RP.

    Return the hop to the middleware's callback, after checking that it
    carried exactly our *state* and sent the browser on.
    """
    hops.clear()
    page.get_by_role("button", name="Yes, sign me out").click()
    page.wait_for_url(rp.url + landing)
    assert hops.to(op.url + "/session/end/confirm", method="POST").status == 303, hops.describe()
    callback = hops.to(rp.post_logout_redirect_uri)
    assert callback.query == {"state": state}
    assert callback.status == 303, hops.describe()
    return callback


def check_signed_out(page: Page) -> None:
    """The RP page shows nobody signed in, and no login cookie, nor the state cookie, is left."""
    expect(page.locator("#status")).to_have_text("Not signed in")
    left = rp_cookies(page).keys() & (LOGIN_COOKIES | {STATE_COOKIE})
    assert not left, left


@pytest.mark.parametrize("name", ["asgi", "wsgi"])
def test_logout_ends_the_session_at_the_provider(
    e2e_stack: Stack, page: Page, blocked_requests: BlockedRequests, name: str
) -> None:
    op, rp = e2e_stack.provider, e2e_stack.rps[name]
    hops = Hops()
    hops.watch(page)

    # Sign in with the authorization-code flow, with offline_access: a refresh token too.
    sign_in(page, op, rp, offline=True)
    assert rp_cookies(page).keys() >= LOGIN_COOKIES

    # Control: while the provider session lives, signing in again asks nothing.
    # Without this, the last step below would prove nothing.
    hops.clear()
    page.goto(rp.url + "/login")
    page.wait_for_url(rp.url + "/")
    assert not [hop for hop in hops.hops if "/interaction/" in hop.url], hops.describe()
    cookies = rp_cookies(page)
    id_token, access_token, refresh_token = cookies["id_token"], cookies["access_token"], cookies["refresh_token"]
    assert introspect(e2e_stack, rp, access_token)["active"] is True
    assert introspect(e2e_stack, rp, refresh_token)["active"] is True

    # Log out with the home page's link (no return_to): our middleware answers
    # 303 to the end-session endpoint it found in the discovery document.
    hops.clear()
    page.get_by_role("link", name="Sign out").click()
    page.wait_for_url(op.end_session_endpoint + "?**")
    assert hops.to(rp.url + "/logout").status == 303, hops.describe()
    end_session = hops.to(op.end_session_endpoint)
    sent = end_session.query
    check_logout_params(sent, rp, id_token)
    # The provider accepted the request: it asks to confirm instead of showing an error.
    assert end_session.status == 200, hops.describe()
    cookies = rp_cookies(page)
    assert not cookies.keys() & LOGIN_COOKIES, cookies.keys()
    assert STATE_COOKIE in cookies
    # Both tokens are dead already, while the provider session still lives (its
    # confirm page is showing): the middleware revoked them, not the
    # provider's logout.  The refresh token would even outlive that: an
    # offline_access grant is kept when the provider session ends.
    assert introspect(e2e_stack, rp, refresh_token) == {"active": False}
    assert introspect(e2e_stack, rp, access_token) == {"active": False}

    # Confirm at the provider; it sends the browser to the middleware's
    # callback with our state, which sends it on to default_return_to.
    confirm_at_provider(page, hops, op, rp, sent["state"], "/")
    assert hops.to(rp.url + "/").status == 200, hops.describe()
    check_signed_out(page)
    check_provider_session_ended(page, op, rp)
    check_no_escape(blocked_requests)


@pytest.mark.parametrize("name", ["asgi", "wsgi"])
def test_logout_brings_the_user_back_to_the_page_asked_for(
    e2e_stack: Stack, page: Page, blocked_requests: BlockedRequests, name: str
) -> None:
    op, rp = e2e_stack.provider, e2e_stack.rps[name]
    hops = Hops()
    hops.watch(page)

    sign_in(page, op, rp)
    page.goto(rp.url + "/orders?page=2")
    expect(page.locator("#page")).to_have_text("2")
    expect(page.locator("#status")).to_have_text(f"Signed in as {USERNAME}")
    cookies = rp_cookies(page)
    # No offline_access: an access token only, so its revocation is checked alone.
    assert "refresh_token" not in cookies
    access_token = cookies["access_token"]
    assert introspect(e2e_stack, rp, access_token)["active"] is True

    # The page's link asks to come back to it.
    hops.clear()
    sign_out = page.get_by_role("link", name="Sign out")
    expect(sign_out).to_have_attribute("href", "/logout?return_to=/orders%3Fpage%3D2")
    sign_out.click()
    page.wait_for_url(op.end_session_endpoint + "?**")
    assert hops.to(rp.url + "/logout").status == 303, hops.describe()
    end_session = hops.to(op.end_session_endpoint)
    sent = end_session.query
    check_logout_params(sent, rp, cookies["id_token"])
    assert end_session.status == 200, hops.describe()
    assert introspect(e2e_stack, rp, access_token) == {"active": False}

    # Back from the provider through the callback, to the page and its query.
    callback = confirm_at_provider(page, hops, op, rp, sent["state"], "/orders?page=2")
    assert hops.to(rp.url + "/orders").status == 200, hops.describe()
    expect(page.locator("#page")).to_have_text("2")
    check_signed_out(page)

    # The provider's redirect once more, as an attacker or the back button
    # would replay it: the state cookie is gone, so the middleware refuses it.
    replay = page.goto(callback.url)
    assert replay is not None
    assert replay.status == 400
    assert page.url == callback.url
    expect(page.locator("body")).to_contain_text("this logout link is not valid any more")

    check_provider_session_ended(page, op, rp)
    check_no_escape(blocked_requests)


@pytest.mark.parametrize("name", ["asgi-form", "wsgi-form"])
def test_a_logout_url_too_long_goes_to_the_provider_by_form_post(
    e2e_stack: Stack, page: Page, blocked_requests: BlockedRequests, name: str
) -> None:
    op, rp = e2e_stack.provider, e2e_stack.rps[name]
    assert rp.variant.max_url_length is not None
    hops = Hops()
    hops.watch(page)
    console = Console()
    console.watch(page)

    sign_in(page, op, rp)
    id_token = rp_cookies(page)["id_token"]

    # The middleware answers with a page whose script POSTs the form to the
    # provider, which shows its confirm page: it took the parameters.
    hops.clear()
    page.get_by_role("link", name="Sign out").click()
    page.wait_for_url(op.end_session_endpoint)
    logout = hops.to(rp.url + "/logout")
    assert logout.status == 200, hops.describe()
    assert logout.response is not None
    policy = logout.response.all_headers()["content-security-policy"]
    directives = {d.split()[0]: d.split()[1:] for d in policy.split(";") if d.strip()}
    assert op.url in directives["form-action"], policy
    form_post = hops.to(op.end_session_endpoint, method="POST")
    assert form_post.status == 200, hops.describe()
    assert not hops.all_to(op.end_session_endpoint), hops.describe()  # no GET at all
    sent = form_post.form
    check_logout_params(sent, rp, id_token)
    # As a GET, these parameters would have made a URL longer than allowed.
    assert len(f"{op.end_session_endpoint}?{urlencode(sent)}") > rp.variant.max_url_length
    cookies = rp_cookies(page)
    assert not cookies.keys() & LOGIN_COOKIES, cookies.keys()
    assert STATE_COOKIE in cookies

    confirm_at_provider(page, hops, op, rp, sent["state"], "/")
    check_signed_out(page)

    # Nothing was blocked by the policy, and the form page's script ran cleanly.
    csp_errors = [message.text for message in console.messages if "Content Security Policy" in message.text]
    assert not csp_errors
    assert not console.page_errors

    check_provider_session_ended(page, op, rp)
    check_no_escape(blocked_requests)
