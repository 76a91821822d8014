"""A real browser signs in at a real OpenID provider, then logs out through our middleware.

One test per adapter (ASGI under uvicorn, WSGI under gunicorn).  It checks
what only a browser and a real provider can show together: the logout
redirect carries what the provider needs to identify the client and send the
browser back, the provider accepts it and returns our ``state``, the login
cookies are gone from the browser's jar, and the provider session has really
ended, so the next sign-in asks for credentials again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, Request, Response, expect

if TYPE_CHECKING:
    # Types only: importing a conftest at run time depends on pytest's import mode.
    from .conftest import BlockedRequests, Provider, RelyingParty, Stack

pytestmark = pytest.mark.e2e

USERNAME = "alice"


@dataclass
class Hop:
    method: str
    url: str
    status: int | None = None

    @property
    def query(self) -> dict[str, str]:
        # Each logout parameter must come exactly once: a repeat is a failure.
        params = parse_qs(urlsplit(self.url).query, keep_blank_values=True, strict_parsing=True)
        assert all(len(values) == 1 for values in params.values()), params
        return {name: values[0] for name, values in params.items()}


@dataclass
class Hops:
    """Every request the page makes, redirects included, with the status it got."""

    hops: list[Hop] = field(default_factory=list)
    _by_request: dict[Request, Hop] = field(default_factory=dict)

    def watch(self, page: Page) -> None:
        page.on("request", self._on_request)
        page.on("response", self._on_response)

    def _on_request(self, request: Request) -> None:
        hop = Hop(request.method, request.url)
        self.hops.append(hop)
        self._by_request[request] = hop

    def _on_response(self, response: Response) -> None:
        hop = self._by_request.get(response.request)
        if hop is not None:
            hop.status = response.status

    def clear(self) -> None:
        self.hops.clear()
        self._by_request.clear()

    def to(self, url: str, method: str = "GET") -> Hop:
        """The one hop to *url*, whatever its query string."""
        found = [hop for hop in self.hops if hop.method == method and hop.url.partition("?")[0] == url]
        assert len(found) == 1, f"expected one {method} {url}, got:\n{self.describe()}"
        return found[0]

    def describe(self) -> str:
        return "\n".join(f"  {hop.method} {hop.url[:160]} -> {hop.status}" for hop in self.hops)


def rp_cookies(page: Page, rp: RelyingParty) -> dict[str, str]:
    # Cookies are not kept apart by port: on 127.0.0.1 this jar also holds the
    # provider's cookies, which is why the tests look only at named ones.
    return {cookie["name"]: cookie["value"] for cookie in page.context.cookies(rp.url)}


def sign_in(page: Page, op: Provider, rp: RelyingParty) -> None:
    """Fill in the provider's development login form, and its consent page if it shows one."""
    page.wait_for_url(f"{op.url}/interaction/**")
    page.locator("input[name=login]").fill(USERNAME)
    page.locator("input[name=password]").fill("any password will do")
    page.get_by_role("button", name="Sign-in").click()
    consent = page.get_by_role("button", name="Continue")
    # Either the consent page (the first sign-in for a client) or the RP's home page comes next.
    consent.or_(page.locator("#status")).wait_for()
    if consent.is_visible():
        consent.click()
    page.wait_for_url(rp.url + "/")


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
def test_logout_ends_the_session_at_the_provider(
    e2e_stack: Stack, page: Page, blocked_requests: BlockedRequests, kind: str
) -> None:
    op, rp = e2e_stack.provider, e2e_stack.rps[kind]
    hops = Hops()
    hops.watch(page)

    # Sign in with the authorization-code flow.
    page.goto(rp.url + "/login")
    sign_in(page, op, rp)
    expect(page.locator("#status")).to_have_text(f"Signed in as {USERNAME}")
    cookies = rp_cookies(page, rp)
    assert {"id_token", "session"} <= cookies.keys()

    # Control: while the provider session lives, signing in again asks nothing.
    # Without this, the last step below would prove nothing.
    hops.clear()
    page.goto(rp.url + "/login")
    page.wait_for_url(rp.url + "/")
    assert not [hop for hop in hops.hops if "/interaction/" in hop.url], hops.describe()
    id_token = rp_cookies(page, rp)["id_token"]

    # Log out with the RP's own link: our middleware answers 303 to the
    # provider's end-session endpoint.
    hops.clear()
    page.get_by_role("link", name="Sign out").click()
    page.wait_for_url(op.end_session_endpoint + "?**")
    assert hops.to(rp.url + "/logout").status == 303, hops.describe()
    end_session = hops.to(op.end_session_endpoint)
    sent = end_session.query
    assert sent.keys() == {"post_logout_redirect_uri", "id_token_hint", "state", "client_id"}, end_session.url
    assert sent["id_token_hint"] == id_token
    assert sent["post_logout_redirect_uri"] == rp.post_logout_redirect_uri
    assert sent["client_id"] == rp.client_id
    assert len(sent["state"]) >= 16
    # The provider accepted the request: it asks to confirm instead of showing an error.
    assert end_session.status == 200, hops.describe()
    remaining = rp_cookies(page, rp)
    assert "id_token" not in remaining
    assert "session" not in remaining

    # Confirm at the provider; it sends the browser back with our state.
    hops.clear()
    page.get_by_role("button", name="Yes, sign me out").click()
    page.wait_for_url(rp.post_logout_redirect_uri + "?**")
    assert hops.to(op.url + "/session/end/confirm", method="POST").status == 303, hops.describe()
    assert hops.to(rp.post_logout_redirect_uri).query == {"state": sent["state"]}
    expect(page.locator("#state")).to_have_text(sent["state"])
    remaining = rp_cookies(page, rp)
    assert "id_token" not in remaining
    assert "session" not in remaining

    # The RP no longer knows the user...
    page.goto(rp.url + "/")
    expect(page.locator("#status")).to_have_text("Not signed in")
    # ...and neither does the provider: signing in asks for credentials again.
    page.goto(rp.url + "/login")
    page.wait_for_url(f"{op.url}/interaction/**")
    expect(page.locator("input[name=password]")).to_be_visible()
    expect(page.get_by_role("button", name="Sign-in")).to_be_visible()

    # Only the provider's web-font @imports may have tried to leave loopback.
    assert all("fonts.googleapis.com" in url for url in blocked_requests.urls), blocked_requests.urls
