"""The shared behaviour table again, over the wire: the WSGI adapter under gunicorn, the ASGI one under uvicorn."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.support.servers import serve_asgi, serve_wsgi
from tests.support.tables import Case, Values, run_case
from tests.support.transports import Raw, http_sender
from tests.test_behaviour import ROWS

pytestmark = pytest.mark.servers


@pytest.fixture(scope="module", params=["gunicorn", "uvicorn"])
def server(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """Which server, and its base URL."""
    serve = (
        serve_wsgi("tests.support.apps:wsgi_app")
        if request.param == "gunicorn"
        else serve_asgi("tests.support.apps:asgi_app")
    )
    with serve as url:
        yield str(request.param), url


@pytest.fixture(scope="module")
def base_url(server: tuple[str, str]) -> str:
    return server[1]


@pytest.mark.parametrize(("case", "check"), ROWS)
def test_behaviour_over_the_wire(base_url: str, case: Case, check: Callable[[Raw], None]) -> None:
    check(run_case(http_sender(base_url), case, Values(host=httpx.URL(base_url).netloc.decode())))


GARBAGE_COOKIE = {"Cookie": "\x7f;;=" * 100}


@pytest.mark.parametrize(
    ("target", "status"),
    [
        pytest.param("/logout?%", 303, id="lone-percent-is-another-param"),
        pytest.param("/logout?redirect_uri=%%%", 400, id="undecodable-redirect-is-not-allowed"),
        pytest.param("/logout?" + "a" * 4000, 303, id="long-query-of-another-param"),
        pytest.param("/logout?&&&=&=", 303, id="empty-pairs"),
    ],
)
def test_the_server_survives_garbage(server: tuple[str, str], target: str, status: int) -> None:
    """Garbage in the query gets the logout's own answer; a DEL in the Cookie header, gunicorn's refusal."""
    name, base_url = server
    send = http_sender(base_url)
    plain = send("GET", target, {})
    assert (plain.status, plain.get("Cache-Control")) == (status, "no-store"), plain.body
    garbled = send("GET", target, GARBAGE_COOKIE)
    if name == "gunicorn":  # the server refuses the header before the app sees the request
        assert garbled.status == 400
        assert b"Invalid HTTP Header: &#x27;COOKIE&#x27;" in garbled.body
    else:  # uvicorn hands it on, and the logout reads no id_token from it
        assert (garbled.status, garbled.get("Cache-Control")) == (status, "no-store"), garbled.body
    assert send("GET", "/", {}).status == 200
