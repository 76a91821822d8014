"""The sign-in libraries people use, signed out through the middleware in a real browser.

The apps are ``examples/``: FastAPI with Authlib's Starlette client (its
token in Starlette's signed session cookie) under uvicorn, Flask with
Authlib's Flask client (its token in Flask's signed session cookie) under
gunicorn, Flask with Flask-pyoidc (the id_token in Flask's session too, under
its own key), and Django with mozilla-django-oidc (its id_token in the
server-side session) under gunicorn and under uvicorn.  Each signs in for
real at the provider (``examples/provider``) in Chromium.  For each, the
tests check that:

* the sign-in lands on the app signed in, the id_token in the session;
* ``/logout`` sends that id_token as ``id_token_hint``, with the
  ``post_logout_redirect_uri`` and a ``state``;
* confirming at the provider ends the provider session: the next sign-in
  asks for credentials;
* the session cookie copied before the logout, replayed from a fresh
  browser, is signed out (Django: its session row is gone; the cookie
  sessions: refused by the revocation the logout recorded);
* a user who leaves at the provider's confirm page is signed out of the app.

With back-channel logout, each app runs as two instances sharing Redis (and,
for Django, the database: instance 1 under uvicorn, instance 2 under
gunicorn), and the provider knows instance 1 only.  The user signs in at
instance 2 and signs out at the provider itself; then instance 2 refuses the
old session cookie, replayed, edited, or sent twice beside another value, in
either order.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from .browsing import USERNAME, Hops, check_provider_session_ended, sign_in
from .stacks import App, SignInStacks, claims, new_context, run_sign_in_stacks

if TYPE_CHECKING:
    from playwright.sync_api import Cookie

    from .conftest import Provider, Server

pytestmark = pytest.mark.e2e

#: The apps signed out by /logout, each a client of its own, none with back-channel logout.
PLAIN_APPS = ["fastapi", "flask", "flask-pyoidc", "django-wsgi", "django-asgi"]
#: The apps run as two instances with back-channel logout: "<name>-bc1" and "<name>-bc2".
BACKCHANNEL_APPS = ["fastapi", "flask", "django"]
LOGOUT_PARAMS = frozenset(("post_logout_redirect_uri", "id_token_hint", "state", "client_id"))
STATE = re.compile(r"[A-Za-z0-9_-]{22,}")
STATUS = re.compile(r'<p id="status">([^<]*)</p>')
SIGNED_IN = f"Signed in as {USERNAME}"
SIGNED_OUT = "Not signed in"
#: Which of two cookies of the same name each framework reads: Werkzeug the first, Starlette and Django the last.
READS_LAST_DUPLICATE = {"starlette": True, "flask": False, "django": True}
EXPIRED = "Thu, 01 Jan 1970 00:00:00 GMT"
#: How long a revocation may take to reach the other instance (Redis pub/sub: milliseconds, in fact).
PROPAGATION_DEADLINE = 5.0


@pytest.fixture(scope="module")
def sign_in_stacks(node_for_provider: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SignInStacks]:
    """The provider, Redis and every app, started once for this module."""
    with run_sign_in_stacks(node_for_provider, tmp_path_factory) as stacks:
        yield stacks


@pytest.fixture(params=PLAIN_APPS)
def app(request: pytest.FixtureRequest, sign_in_stacks: SignInStacks) -> App:
    return sign_in_stacks.apps[request.param]


def session_cookie(page: Page, app: App) -> Cookie:
    """The app's session cookie in the page's jar."""
    found = [cookie for cookie in page.context.cookies(app.url) if cookie["name"] == app.session_cookie]
    assert len(found) == 1, page.context.cookies(app.url)
    return found[0]


def shown_status(page: Page) -> str:
    return page.locator("#status").text_content() or ""


def status_of(response: httpx.Response) -> str:
    match = STATUS.search(response.text)
    assert match is not None, response.text
    return match.group(1)


def get_home(app: App, cookie_header: str) -> httpx.Response:
    """``GET /`` on the raw wire with exactly this ``Cookie`` header; no redirect followed, nothing kept."""
    with httpx.Client(trust_env=False, follow_redirects=False, timeout=10) as client:
        return client.get(app.url + "/", headers={"Cookie": cookie_header})


def go_to_confirm_page(page: Page, op: Provider) -> None:
    """Click "Sign out" on the app's home page and stop at the provider's confirm page."""
    page.get_by_role("link", name="Sign out").click()
    page.wait_for_url(op.end_session_endpoint + "?**")
    expect(page.get_by_role("button", name="Yes, sign me out")).to_be_visible()


def sign_out(page: Page, op: Provider, app: App) -> None:
    """Sign out through /logout, confirm at the provider, and land back on the app signed out."""
    go_to_confirm_page(page, op)
    page.get_by_role("button", name="Yes, sign me out").click()
    page.wait_for_url(app.url + "/")
    expect(page.locator("#status")).to_have_text(SIGNED_OUT)


def replay(browser: Browser, app: App, cookie: Cookie) -> str:
    """What the app shows a fresh browser that holds only *cookie*."""
    context = new_context(browser)
    try:
        context.add_cookies([cookie])
        page = context.new_page()
        page.goto(app.url + "/")
        return shown_status(page)
    finally:
        context.close()


def test_sign_in_lands_signed_in_with_the_id_token_in_the_session(
    sign_in_stacks: SignInStacks, page: Page, app: App
) -> None:
    op = sign_in_stacks.provider
    sign_in(page, op, app)
    expect(page.locator("#status")).to_have_text(SIGNED_IN)
    id_token = claims(app.session_id_token(session_cookie(page, app)["value"]))
    assert (id_token["iss"], id_token["aud"], id_token["sub"]) == (op.url, app.client_id, USERNAME)


def test_logout_sends_the_id_token_of_the_session_as_hint(sign_in_stacks: SignInStacks, page: Page, app: App) -> None:
    op = sign_in_stacks.provider
    sign_in(page, op, app)
    id_token = app.session_id_token(session_cookie(page, app)["value"])
    hops = Hops()
    hops.watch(page)

    go_to_confirm_page(page, op)
    assert hops.to(app.url + "/logout").status == 303, hops.describe()
    sent = hops.to(op.end_session_endpoint).query
    assert sent.keys() == LOGOUT_PARAMS, sent
    assert sent["id_token_hint"] == id_token
    assert sent["post_logout_redirect_uri"] == app.post_logout_redirect_uri
    assert sent["client_id"] == app.client_id
    assert STATE.fullmatch(sent["state"]), sent["state"]


def test_confirming_at_the_provider_ends_the_provider_session(
    sign_in_stacks: SignInStacks, page: Page, app: App
) -> None:
    op = sign_in_stacks.provider
    sign_in(page, op, app)
    sign_out(page, op, app)
    check_provider_session_ended(page, op, app)


def test_the_old_session_cookie_replayed_from_a_fresh_browser_is_signed_out(
    sign_in_stacks: SignInStacks, browser: Browser, page: Page, app: App
) -> None:
    op = sign_in_stacks.provider
    sign_in(page, op, app)
    cookie = session_cookie(page, app)
    # Control: before the logout, the copy alone signs a fresh browser in.
    assert replay(browser, app, cookie) == SIGNED_IN

    sign_out(page, op, app)
    if app.spec.kind == "django":
        # Server-side: the session row itself is gone.
        assert not app.session_row_exists(cookie["value"])
    assert replay(browser, app, cookie) == SIGNED_OUT


def test_leaving_at_the_confirm_page_signs_out_of_the_app(sign_in_stacks: SignInStacks, page: Page, app: App) -> None:
    op = sign_in_stacks.provider
    sign_in(page, op, app)
    go_to_confirm_page(page, op)
    # The user never confirms, and comes back to the app.
    page.goto(app.url + "/")
    expect(page.locator("#status")).to_have_text(SIGNED_OUT)


# -- back-channel logout, two instances sharing Redis -------------------------------------


class Revoked:
    """Session cookies of one provider session, each from a sign-in at instance 2, all revoked by the back channel."""

    def __init__(self, receiver: App, app: App, cookies: list[str]) -> None:
        self.receiver = receiver
        self.app = app
        self._cookies = cookies

    def report_servers(self) -> list[Server]:
        return [self.receiver.server, self.app.server]

    def take(self) -> str:
        """A cookie no test has sent yet: a Django row may be flushed by the first request that shows it revoked."""
        return self._cookies.pop()


def sign_in_again(page: Page, app: App) -> None:
    """Sign in while the provider session lives: no credentials asked."""
    page.goto(app.url + "/login")
    page.wait_for_url(app.url + "/")
    expect(page.locator("#status")).to_have_text(SIGNED_IN)


@pytest.fixture(scope="module", params=BACKCHANNEL_APPS)
def revoked(request: pytest.FixtureRequest, sign_in_stacks: SignInStacks, browser: Browser) -> Revoked:
    """Sign in at instance 2 five times in one provider session, then sign out at the provider itself."""
    op = sign_in_stacks.provider
    receiver, app = sign_in_stacks.apps[f"{request.param}-bc1"], sign_in_stacks.apps[f"{request.param}-bc2"]
    context = new_context(browser)
    try:
        page = context.new_page()
        sign_in(page, op, app)
        cookies = [session_cookie(page, app)["value"]]
        for _ in range(4):
            # A new app session each time (Django would otherwise cycle the old one's key).
            context.clear_cookies(name=app.session_cookie)
            sign_in_again(page, app)
            cookies.append(session_cookie(page, app)["value"])
        # One provider session: one session id for this client, in every id_token.
        (sid,) = {claims(app.session_id_token(cookie))["sid"] for cookie in cookies}
        # Control: until the provider says otherwise, each cookie is signed in at instance 2.
        for cookie in cookies:
            assert status_of(get_home(app, f"{app.session_cookie}={cookie}")) == SIGNED_IN

        # Sign out at the provider's own end-session page: the app hears of it only through the back channel.
        log_start = len(op.server.log_text())
        page.goto(op.end_session_endpoint)
        page.get_by_role("button", name="Yes, sign me out").click()
        page.wait_for_url(op.url + "/session/end/success**")
    finally:
        context.close()
    uri = re.escape(receiver.backchannel_logout_uri)
    op.server.wait_for_log(rf"^backchannel\.success: {app.client_id} sid={re.escape(sid)} -> {uri}$", after=log_start)
    assert "backchannel.error" not in op.server.log_text()[log_start:]
    assert "/backchannel-logout" not in app.server.log_text(), "instance 2 must hear of it only through Redis"

    # Instance 1 recorded the revocation; wait until instance 2 has it, spending one cookie.
    first = cookies.pop(0)
    deadline = time.monotonic() + PROPAGATION_DEADLINE
    while status_of(get_home(app, f"{app.session_cookie}={first}")) != SIGNED_OUT:
        assert time.monotonic() < deadline, f"instance 2 still signs the session in after {PROPAGATION_DEADLINE} s"
        time.sleep(0.05)
    return Revoked(receiver, app, cookies)


def deleted_cookies(response: httpx.Response) -> set[str]:
    """The names of the cookies the response deletes; any other Set-Cookie line fails the test."""
    deleted = set()
    for line in response.headers.get_list("set-cookie"):
        pair, *attributes = (part.strip() for part in line.split(";"))
        name, _, value = pair.partition("=")
        parsed = {key.lower(): attribute for key, _, attribute in (part.partition("=") for part in attributes)}
        # Each framework has its own way: Starlette sends "null" and a 1970 Expires, Django quotes the empty value.
        assert value in ("", '""', "null"), line
        assert parsed.get("max-age") == "0" or parsed.get("expires") == EXPIRED, line
        assert parsed.get("path") == "/", line
        deleted.add(name)
    return deleted


def test_a_replayed_session_cookie_is_refused_after_backchannel_logout(revoked: Revoked) -> None:
    app = revoked.app
    response = get_home(app, f"{app.session_cookie}={revoked.take()}")
    assert response.status_code == 200
    assert status_of(response) == SIGNED_OUT
    # Refused like a session signed out here: deleted in the browser (with the id_token cookie, always deleted).
    assert deleted_cookies(response) == {app.session_cookie, "id_token"}


def test_a_session_cookie_with_an_edited_sid_is_anonymous(revoked: Revoked) -> None:
    app = revoked.app
    edited = app.edited_session_cookie(revoked.take(), sid="not-the-revoked-one")
    response = get_home(app, f"{app.session_cookie}={edited}")
    assert response.status_code == 200
    assert status_of(response) == SIGNED_OUT
    # The framework finds no session in it; Django deletes a cookie whose session it does not have.
    assert deleted_cookies(response) == ({app.session_cookie} if app.spec.kind == "django" else set())


@pytest.mark.parametrize("revoked_last", [True, False], ids=["garbage-then-revoked", "revoked-then-garbage"])
def test_duplicate_session_cookies_are_refused(revoked: Revoked, revoked_last: bool) -> None:
    app = revoked.app
    pair = [f"{app.session_cookie}=garbage", f"{app.session_cookie}={revoked.take()}"]
    response = get_home(app, "; ".join(pair if revoked_last else pair[::-1]))
    assert response.status_code == 200
    assert status_of(response) == SIGNED_OUT
    if revoked_last == READS_LAST_DUPLICATE[app.spec.kind]:
        # The framework reads the revoked session: refused, and deleted.
        assert deleted_cookies(response) == {app.session_cookie, "id_token"}
    else:
        # The framework reads the garbage: no session at all (Django deletes the cookie it cannot find).
        assert deleted_cookies(response) == ({app.session_cookie} if app.spec.kind == "django" else set())
