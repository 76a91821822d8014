"""What the end-to-end tests do in the browser: watch every hop, read cookies, sign in."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import ConsoleMessage, Error, Page, Request, Response, expect

if TYPE_CHECKING:
    # Types only: importing a conftest at run time depends on pytest's import mode.
    from .conftest import BlockedRequests, Provider, RelyingParty

#: The development login form takes any username (and any password).
USERNAME = "alice"


def _single_values(query: str) -> dict[str, str]:
    # Each logout parameter must come exactly once: a repeat is a failure.
    params = parse_qs(query, keep_blank_values=True, strict_parsing=True)
    assert all(len(values) == 1 for values in params.values()), params
    return {name: values[0] for name, values in params.items()}


@dataclass
class Hop:
    method: str
    url: str
    post_data: str | None = None
    response: Response | None = None

    @property
    def status(self) -> int | None:
        return self.response.status if self.response is not None else None

    @property
    def query(self) -> dict[str, str]:
        return _single_values(urlsplit(self.url).query)

    @property
    def form(self) -> dict[str, str]:
        """The fields of a form POST."""
        assert self.post_data is not None, f"{self.method} {self.url} has no body"
        return _single_values(self.post_data)


@dataclass
class Hops:
    """Every request the page makes, redirects included, with the response it got."""

    hops: list[Hop] = field(default_factory=list)
    _by_request: dict[Request, Hop] = field(default_factory=dict)

    def watch(self, page: Page) -> None:
        page.on("request", self._on_request)
        page.on("response", self._on_response)

    def _on_request(self, request: Request) -> None:
        hop = Hop(request.method, request.url, request.post_data)
        self.hops.append(hop)
        self._by_request[request] = hop

    def _on_response(self, response: Response) -> None:
        hop = self._by_request.get(response.request)
        if hop is not None:
            hop.response = response

    def clear(self) -> None:
        self.hops.clear()
        self._by_request.clear()

    def to(self, url: str, method: str = "GET") -> Hop:
        """The one hop to *url*, whatever its query string."""
        found = self.all_to(url, method)
        assert len(found) == 1, f"expected one {method} {url}, got:\n{self.describe()}"
        return found[0]

    def all_to(self, url: str, method: str = "GET") -> list[Hop]:
        return [hop for hop in self.hops if hop.method == method and hop.url.partition("?")[0] == url]

    def describe(self) -> str:
        return "\n".join(f"  {hop.method} {hop.url[:160]} -> {hop.status}" for hop in self.hops)


@dataclass
class Console:
    """What the page's scripts and the browser said in the console, and the scripts' uncaught errors."""

    messages: list[ConsoleMessage] = field(default_factory=list)
    page_errors: list[Error] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        # Bound methods, not list.append: Playwright tags each handler with an attribute.
        page.on("console", self._on_console)
        page.on("pageerror", self._on_page_error)

    def _on_console(self, message: ConsoleMessage) -> None:
        self.messages.append(message)

    def _on_page_error(self, error: Error) -> None:
        self.page_errors.append(error)


def rp_cookies(page: Page, url: str | None = None) -> dict[str, str]:
    """Every cookie in the page's jar, whatever its path; or only those the browser would send to *url*.

    Cookies are not kept apart by port: on 127.0.0.1 this jar also holds the
    provider's cookies, which is why the tests look only at named ones.  Each
    test has a jar of its own, so the RP cookies are those of its one RP,
    unless the RPs have host names of their own (then pass *url*).
    """
    cookies = page.context.cookies(url) if url is not None else page.context.cookies()
    return {cookie["name"]: cookie["value"] for cookie in cookies}


def sign_in(page: Page, op: Provider, rp: RelyingParty, *, offline: bool = False) -> None:
    """Sign in through the provider's development login form, and its consent page if it shows one.

    With *offline*, the RP asks for ``offline_access`` too, so that it gets a
    refresh token; the provider then always asks for consent.
    """
    page.goto(rp.url + ("/login?offline=1" if offline else "/login"))
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
    expect(page.locator("#status")).to_have_text(f"Signed in as {USERNAME}")


def check_provider_session_ended(page: Page, op: Provider, rp: RelyingParty) -> None:
    """Signing in again asks for credentials: the provider session is gone."""
    page.goto(rp.url + "/login")
    page.wait_for_url(f"{op.url}/interaction/**")
    expect(page.locator("input[name=password]")).to_be_visible()
    expect(page.get_by_role("button", name="Sign-in")).to_be_visible()


def check_no_escape(blocked_requests: BlockedRequests) -> None:
    # Only the provider's web-font @imports may have tried to leave loopback.
    assert all("fonts.googleapis.com" in url for url in blocked_requests.urls), blocked_requests.urls
