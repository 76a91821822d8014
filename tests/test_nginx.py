"""The gateway for real: nginx in front of two apps and two logout-service processes sharing Redis.

The stack is ``examples/gateway/nginx.conf`` as users get it (with free
ports), the two example apps (WSGI under gunicorn, ASGI under uvicorn), two
``python -m logout_middleware`` processes configured only by environment
variables, one redis-server, and a provider on 127.0.0.1 that signs the
tokens.  The apps write down every Cookie header they receive, which is how
these tests show that a revoked session never reached them.
"""

from __future__ import annotations

import http.client
import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from logout_middleware.stores.redis import RedisStore

from .support.gateway import gateway_stack, refused_everywhere
from .support.load import Shot, run_load
from .support.nginx_server import Nginx, NginxError, nginx_binary
from .support.provider import StubState, provider_stub
from .support.redis_server import redis_server
from .support.servers import HOST

pytestmark = pytest.mark.servers

CLIENT_ID = "gateway-client"
END_SESSION = "https://op.example/end"
REDIRECT = "https://shop.example.test/"
COOKIE_DOMAIN = "example.test"
HOSTS = {"shop": "shop.example.test", "wiki": "wiki.example.test"}
#: The cookies every deletion must cover, and the Path each was set with.
LOGIN_COOKIES = {"id_token": "/", "session": "/", "csrftoken": "/", "shop_cart": "/cart"}


@dataclass(frozen=True)
class Session:
    """A signed-in browser: its id_token and the Cookie header it sends to every app of the domain."""

    sid: str
    sub: str
    id_token: str

    @property
    def cookie(self) -> str:
        return f"id_token={self.id_token}; session=s-{self.sid}; csrftoken=c-{self.sid}; shop_cart=3"


@dataclass(frozen=True)
class Gateway:
    nginx: Nginx
    provider: StubState
    redis_url: str
    #: The base URLs of the two logout-service processes, for asking them directly.
    services: tuple[str, ...]
    #: Where each app writes the Cookie headers it receives.
    cookie_logs: dict[str, Path]

    def get(self, app: str, path: str = "/", cookie: str | None = None) -> httpx.Response:
        headers = {"Host": HOSTS[app]} | ({"Cookie": cookie} if cookie else {})
        return httpx.get(self.nginx.base_url + path, headers=headers, timeout=10)

    def new_session(self) -> Session:
        sid, sub = secrets.token_hex(8), "user-" + secrets.token_hex(4)
        return Session(sid, sub, self.provider.id_token(sid=sid, sub=sub))

    def log_marks(self) -> dict[str, int]:
        return {app: path.stat().st_size for app, path in self.cookie_logs.items()}

    def seen_since(self, marks: dict[str, int]) -> str:
        """Every Cookie header the apps received since *marks*."""
        text = ""
        for app, path in self.cookie_logs.items():
            with path.open() as log:
                log.seek(marks[app])
                text += log.read()
        return text


# -- revoking a session: how the provider's logout reaches the gateway --------------


def revoke_in_store(gateway: Gateway, session: Session) -> None:
    """Write the revocation straight into the shared Redis store, as a third process would."""
    store = RedisStore(gateway.redis_url)
    try:
        store.revoke_session(gateway.provider.issuer, session.sid)
    finally:
        store.close()


def revoke_by_backchannel(gateway: Gateway, session: Session) -> None:
    """The provider's way: a signed logout token POSTed to /backchannel-logout, through nginx."""
    token = gateway.provider.logout_token(sid=session.sid, sub=session.sub)
    response = httpx.post(
        gateway.nginx.base_url + "/backchannel-logout",
        data={"logout_token": token},
        headers={"Host": HOSTS["shop"]},
        timeout=10,
    )
    assert response.status_code == 200, response.text


REVOKE: dict[str, Callable[[Gateway, Session], None]] = {
    "store": revoke_in_store,
    "backchannel": revoke_by_backchannel,
}


# -- the stack ----------------------------------------------------------------------


@contextmanager
def _without_logout_variables() -> Iterator[None]:
    """Keep the developer's own LOGOUT_MIDDLEWARE_* variables away from the service processes."""
    with pytest.MonkeyPatch.context() as patch:
        for name in [name for name in os.environ if name.upper().startswith("LOGOUT_MIDDLEWARE_")]:
            patch.delenv(name)
        yield


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    try:
        nginx_binary()
    except NginxError as exc:
        pytest.fail(str(exc))
    directory = tmp_path_factory.mktemp("gateway")
    with ExitStack() as stack:
        stack.enter_context(_without_logout_variables())
        redis = stack.enter_context(redis_server(directory / "redis"))
        provider = stack.enter_context(provider_stub(client_id=CLIENT_ID))
        # Environment variables only, as in a container.
        env = {
            "LOGOUT_MIDDLEWARE_ISSUER": provider.issuer,
            "LOGOUT_MIDDLEWARE_CLIENT_ID": CLIENT_ID,
            "LOGOUT_MIDDLEWARE_END_SESSION_ENDPOINT": END_SESSION,
            "LOGOUT_MIDDLEWARE_POST_LOGOUT_REDIRECT_URI": REDIRECT,
            "LOGOUT_MIDDLEWARE_COOKIE_DOMAIN": COOKIE_DOMAIN,
            "LOGOUT_MIDDLEWARE_CLEAR_COOKIES": "session,csrftoken,shop_cart:/cart:",
            "LOGOUT_MIDDLEWARE_REVOCATION_STORE": redis.url,
            "LOGOUT_MIDDLEWARE_BACKCHANNEL_LOGOUT_PATH": "/backchannel-logout",
        }
        logs = {app: directory / f"{app}-cookies.log" for app in HOSTS}
        running = stack.enter_context(gateway_stack(directory, env, cookie_logs=logs))
        yield Gateway(running.nginx, provider, redis.url, running.services, logs)


def wait_until_revoked_everywhere(gateway: Gateway, session: Session, within: float = 5.0) -> None:
    """Ask each service process directly until each stops the session; Redis tells them in milliseconds."""
    assert refused_everywhere(gateway.services, session.cookie, within), f"not every service refused it in {within} s"


def raw_set_cookie_lines(
    gateway: Gateway, app: str, path: str, cookie: str, method: str = "GET", body: bytes | None = None
) -> tuple[int, list[str]]:
    """The status and the Set-Cookie lines exactly as they came on the wire, one per header line."""
    connection = http.client.HTTPConnection(HOST, int(gateway.nginx.base_url.rsplit(":", 1)[1]), timeout=10)
    try:
        connection.request(method, path, body=body, headers={"Host": HOSTS[app], "Cookie": cookie})
        response = connection.getresponse()
        response.read()
        return response.status, [value for name, value in response.getheaders() if name.lower() == "set-cookie"]
    finally:
        connection.close()


def assert_deletes_every_login_cookie(lines: list[str]) -> None:
    assert sorted(line.partition("=")[0] for line in lines) == sorted(LOGIN_COOKIES), lines
    for line in lines:
        name, _, rest = line.partition("=")
        attributes = [part.strip() for part in rest.split(";")]
        assert attributes[0] == "", line  # the value is gone
        assert "Max-Age=0" in attributes, line
        assert f"Path={LOGIN_COOKIES[name]}" in attributes, line
        assert f"Domain={COOKIE_DOMAIN}" in attributes, line


# -- the tests ----------------------------------------------------------------------


@pytest.mark.parametrize("app", sorted(HOSTS))
def test_logout_clears_the_shared_domain_cookies_and_goes_to_the_provider(gateway: Gateway, app: str) -> None:
    session = gateway.new_session()
    marks = gateway.log_marks()
    status, lines = raw_set_cookie_lines(gateway, app, "/logout", session.cookie)
    assert status == 303
    assert_deletes_every_login_cookie(lines)
    response = gateway.get(app, "/logout", session.cookie)
    location = response.headers["location"]
    assert location.startswith(END_SESSION + "?post_logout_redirect_uri=https%3A%2F%2Fshop.example.test%2F&")
    assert f"id_token_hint={session.id_token}&" in location
    assert location.endswith(f"&client_id={CLIENT_ID}")
    assert gateway.seen_since(marks) == ""  # the apps never see /logout


@pytest.mark.parametrize("app", sorted(HOSTS))
def test_requests_without_cookies_reach_the_apps(gateway: Gateway, app: str) -> None:
    response = gateway.get(app, "/any/page?x=1")
    assert response.status_code == 200
    assert response.json() == {"app": app, "path": "/any/page", "cookie": ""}
    assert "set-cookie" not in response.headers


def test_an_unknown_host_gets_404_without_asking_the_service(gateway: Gateway) -> None:
    logged = len(gateway.nginx.access_lines())
    response = httpx.get(gateway.nginx.base_url + "/", headers={"Host": "other.example.test"})
    assert response.status_code == 404
    [line] = gateway.nginx.access_lines(until=lambda lines: len(lines) > logged)[logged:]
    assert ' other.example.test "GET / HTTP/1.1" 404 auth=- auth_by=- upstream=-' in line


@pytest.mark.parametrize("revoke", sorted(REVOKE))
def test_a_session_passes_until_it_is_revoked_then_stops_at_the_gateway(gateway: Gateway, revoke: str) -> None:
    session, bystander = gateway.new_session(), gateway.new_session()
    for app in HOSTS:
        response = gateway.get(app, "/orders", session.cookie)
        assert response.status_code == 200
        assert response.json()["cookie"] == session.cookie
    marks = gateway.log_marks()

    REVOKE[revoke](gateway, session)
    wait_until_revoked_everywhere(gateway, session)
    logged = len(gateway.nginx.access_lines())

    for app in HOSTS:
        for method, body in (("GET", None), ("HEAD", None), ("POST", b"quantity=1&" * 2000)):
            status, lines = raw_set_cookie_lines(gateway, app, "/orders", session.cookie, method, body)
            assert status == 401, method
            assert_deletes_every_login_cookie(lines)
        assert gateway.get(app, "/orders", bystander.cookie).json()["cookie"] == bystander.cookie
        assert gateway.get(app, "/orders").status_code == 200  # anonymous requests still pass
    seen = gateway.seen_since(marks)
    assert session.id_token not in seen
    assert seen.count(bystander.id_token) == len(HOSTS)

    # Each blocked request was decided by one process and answered by the next one in
    # turn: between them, both processes stopped the revoked session.
    def blocked(lines: list[str]) -> list[str]:
        return [line for line in lines[logged:] if " 401 auth=401 " in line]

    stopped = blocked(gateway.nginx.access_lines(until=lambda lines: len(blocked(lines)) >= 3 * len(HOSTS)))
    assert len(stopped) == 3 * len(HOSTS)
    deciders = {part.split("=", 1)[1] for line in stopped for part in line.split() if part.startswith("auth_by=")}
    answerers = {line.rsplit("upstream=", 1)[1] for line in stopped}
    assert deciders | answerers == {service.removeprefix("http://") for service in gateway.services}


def test_load_through_nginx_with_and_without_revocations(gateway: Gateway, capsys: pytest.CaptureFixture[str]) -> None:
    live = [gateway.new_session() for _ in range(2)]
    revoked = [gateway.new_session() for _ in range(2)]
    for session in revoked:
        revoke_in_store(gateway, session)
        wait_until_revoked_everywhere(gateway, session)
    marks = gateway.log_marks()

    def shot(label: str, app: str, session: Session | None) -> Shot:
        return Shot(label, "/page", {"Host": HOSTS[app]} | ({"Cookie": session.cookie} if session else {}))

    plain = [shot("anonymous", "shop", None), shot("anonymous", "wiki", None)]
    plain += [shot("signed-in", "shop", live[0]), shot("signed-in", "wiki", live[1])]
    without = run_load(gateway.nginx.base_url, plain, total=1000)
    mixed = [*plain, shot("revoked", "shop", revoked[0]), shot("revoked", "wiki", revoked[1])]
    with_revoked = run_load(gateway.nginx.base_url, mixed, total=1000)
    with capsys.disabled():
        print("\n" + without.summary("through nginx, no revoked session"))
        print(with_revoked.summary("through nginx, a third of the requests revoked"))

    assert without.statuses == {("anonymous", 200): 500, ("signed-in", 200): 500}
    assert with_revoked.requests == 1000
    assert set(with_revoked.statuses) == {("anonymous", 200), ("signed-in", 200), ("revoked", 401)}
    seen = gateway.seen_since(marks)
    assert all(session.id_token not in seen for session in revoked)
    assert all(session.id_token in seen for session in live)
