"""The demo, started as the README has a newcomer start it, walked through in the browser.

``python examples/demo.py`` starts the real provider beside a demo app
wrapped by the middleware.  The browser signs in at the provider, logs out
through the middleware, confirms at the provider and comes back signed out;
the demo's page shows the hops on the way.  Then Ctrl-C stops both
processes, cleanly.  The stand-in end-session page the other examples
point at is checked too.
"""

from __future__ import annotations

import html
import signal
import socket
import subprocess
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Page, expect

from .browsing import USERNAME, Hops, check_no_escape, rp_cookies

if TYPE_CHECKING:
    from .conftest import BlockedRequests, Demo

pytestmark = pytest.mark.e2e

CLIENT_ID = "demo-client"


def check_escaping(demo: Demo) -> None:
    """What the demo shows from a request is escaped, and its stand-in provider links only to this machine."""
    script = "<script>alert(1)</script>"
    with httpx.Client(base_url=demo.url, trust_env=False, timeout=10) as client:
        home = client.get("/", headers={"Cookie": f"evil={script}"})
        stand_in = client.get(
            "/provider/session/end",
            params={"state": script, "client_id": script, "post_logout_redirect_uri": "https://evil.example/"},
        )
        local = client.get("/provider/session/end", params={"post_logout_redirect_uri": "http://127.0.0.1:8001/"})
    for response in (home, stand_in):
        assert response.status_code == 200
        assert script not in response.text
        assert html.escape(script) in response.text
    assert "Continue" not in stand_in.text, "an unregistered redirect URI must not be linked"
    assert '<a href="http://127.0.0.1:8001/">Continue</a>' in local.text


def test_the_demo_signs_in_and_out_at_the_real_provider(
    demo: Demo, page: Page, blocked_requests: BlockedRequests
) -> None:
    hops = Hops()
    hops.watch(page)
    status = page.locator("#status")
    trail = page.locator("#hops")

    page.goto(demo.url + "/")
    expect(status).to_have_text("Not signed in")

    # Sign in at the provider's development login page: any username will do.
    page.get_by_role("link", name="Sign in").click()
    page.wait_for_url(demo.provider_url + "/interaction/**")
    page.locator("input[name=login]").fill(USERNAME)
    page.locator("input[name=password]").fill("any password will do")
    page.get_by_role("button", name="Sign-in").click()
    page.get_by_role("button", name="Continue").click()  # the consent page, for a new client
    page.wait_for_url(demo.url + "/")
    expect(status).to_have_text(f"Signed in as {USERNAME}")
    id_token = rp_cookies(page)["id_token"]
    # The page shows the cookie, the token's claims, and the sign-in's hops.
    expect(page.locator("#cookies")).to_contain_text("id_token")
    expect(page.locator("body")).to_contain_text(f"aud{CLIENT_ID}")
    expect(trail).to_contain_text("GET /callback")
    expect(trail).to_contain_text("POST /token at the provider → 200")

    # Log out: the middleware sends the browser to the provider's end-session
    # endpoint, found by discovery, with what the provider needs.
    hops.clear()
    page.get_by_role("link", name="Log out").click()
    page.wait_for_url(demo.provider_url + "/session/end?**")
    assert hops.to(demo.url + "/logout").status == 303, hops.describe()
    end_session = hops.to(demo.provider_url + "/session/end")
    assert end_session.status == 200, hops.describe()
    sent = end_session.query
    assert sent.keys() == {"post_logout_redirect_uri", "id_token_hint", "state", "client_id"}, sent
    assert sent["post_logout_redirect_uri"] == demo.url + "/logout/callback"
    assert (sent["id_token_hint"], sent["client_id"]) == (id_token, CLIENT_ID)
    assert "id_token" not in rp_cookies(page)

    # Confirm at the provider; it sends the browser to the middleware's callback, which sends it home.
    hops.clear()
    page.get_by_role("button", name="Yes, sign me out").click()
    page.wait_for_url(demo.url + "/")
    assert hops.to(demo.provider_url + "/session/end/confirm", method="POST").status == 303, hops.describe()
    callback = hops.to(demo.url + "/logout/callback")
    assert (callback.query, callback.status) == ({"state": sent["state"]}, 303), hops.describe()
    expect(status).to_have_text("Not signed in")
    assert not rp_cookies(page).keys() & {"id_token", "logout_state"}

    # Every hop of the logout is on the page, with what the middleware sent.
    for text in (
        "GET /logout to the app → 303",
        "id_token=;",
        "GET /session/end at the provider → 200",
        "POST /session/end/confirm at the provider → 303",
        f"GET /logout/callback?state={sent['state']} to the app → 303",
    ):
        expect(trail).to_contain_text(text)
    check_no_escape(blocked_requests)
    check_escaping(demo)

    # Ctrl-C: the demo stops the app and the provider, and says so.
    process = demo.server.process
    process.send_signal(signal.SIGINT)
    try:
        assert process.wait(timeout=10) == 0
    except subprocess.TimeoutExpired:
        pytest.fail(f"the demo did not stop on Ctrl-C:\n{demo.server.log_tail()}")
    log = demo.server.log_text()
    assert "Stopped the app and the provider." in log
    assert "Traceback" not in log, log
    provider = urlsplit(demo.provider_url)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((provider.hostname, provider.port), timeout=2).close()
