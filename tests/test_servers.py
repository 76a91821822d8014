"""The shared behaviour table again, over the wire: the WSGI adapter under gunicorn, the ASGI one under uvicorn."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.support.servers import serve_asgi, serve_wsgi
from tests.support.transports import Raw, http_sender
from tests.test_behaviour import ROWS, Case, run_case

pytestmark = pytest.mark.servers


@pytest.fixture(scope="module", params=["gunicorn", "uvicorn"])
def base_url(request: pytest.FixtureRequest) -> Iterator[str]:
    serve = (
        serve_wsgi("tests.support.apps:wsgi_app")
        if request.param == "gunicorn"
        else serve_asgi("tests.support.apps:asgi_app")
    )
    with serve as url:
        yield url


@pytest.mark.parametrize(("case", "check"), ROWS)
def test_behaviour_over_the_wire(base_url: str, case: Case, check: Callable[[Raw], None]) -> None:
    check(run_case(http_sender(base_url), case, httpx.URL(base_url).netloc.decode()))


def test_the_server_survives_garbage(base_url: str) -> None:
    send = http_sender(base_url)
    for target in ("/logout?%", "/logout?redirect_uri=%%%", "/logout?" + "a" * 4000, "/logout?&&&=&="):
        assert send("GET", target, {"Cookie": "\x7f;;=" * 100}).status in (303, 400)
    assert send("GET", "/", {}).status == 200
