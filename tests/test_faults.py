"""Faults at the servers' level, on 127.0.0.1: slow and unterminated bodies, a worker killed, pre-fork workers.

The apps are ``tests/support/fault_apps.py`` under real gunicorn and uvicorn
processes, with the stand-in provider of this process signing the tokens.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import httpx
import pytest

from tests.support.provider import StubState
from tests.support.redis_server import RedisServer, redis_server
from tests.support.servers import serve_asgi, serve_wsgi
from tests.support.tokens import JWKS, id_token, logout_token

pytestmark = pytest.mark.servers

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def provider(stub: StubState) -> StubState:
    stub.jwks = JWKS
    return stub


def environment(stub: StubState, **more: str) -> dict[str, str]:
    return {"FAULT_ISSUER": stub.issuer, "PYTHONPATH": str(Path(__file__).resolve().parent.parent), **more}


def raw_exchange(base_url: str, head: bytes, body: bytes, *, wait: float) -> tuple[bytes, float]:
    """Send *head* and *body* and never the rest; return what the server answered, and when."""
    parts = urlsplit(base_url)
    started = time.monotonic()
    with socket.create_connection((parts.hostname, parts.port), timeout=wait) as connection:
        connection.sendall(head + body)
        answer = b""
        try:
            while chunk := connection.recv(4096):
                answer += chunk
        except TimeoutError:
            pass
    return answer, time.monotonic() - started


SLOW_HEAD = (
    b"POST /bc HTTP/1.1\r\nHost: app.example\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    b"Content-Length: 100\r\n\r\n"
)
ENDLESS_HEAD = (
    b"POST /bc HTTP/1.1\r\nHost: app.example\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
)


@pytest.mark.parametrize("serve", [serve_wsgi, serve_asgi], ids=["gunicorn", "uvicorn"])
def test_a_body_that_stops_coming_gets_408_and_the_worker_serves_on(provider: StubState, serve: object) -> None:
    spec = "tests.support.fault_apps:wsgi_app" if serve is serve_wsgi else "tests.support.fault_apps:asgi_app"
    with serve(spec, env=environment(provider, FAULT_BODY_TIMEOUT="1")) as base_url:  # type: ignore[operator]
        answer, took = raw_exchange(base_url, SLOW_HEAD, b"l", wait=8)
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
        assert b"connection: close" in answer.lower()
        assert 0.9 < took < 5, f"answered after {took:.1f} s"
        assert httpx.get(base_url + "/page", timeout=5).status_code == 200, "the worker is free again"


def test_an_endless_chunked_body_is_cut_short_on_uvicorn(provider: StubState) -> None:
    with serve_asgi("tests.support.fault_apps:asgi_app", env=environment(provider, FAULT_BODY_TIMEOUT="1")) as base:
        trickle = b"1\r\nx\r\n" * 5  # a few bytes, then nothing more, never the last chunk
        answer, took = raw_exchange(base, ENDLESS_HEAD, trickle, wait=8)
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
        assert took < 5


def test_a_revocation_survives_a_killed_worker_with_the_default_store(provider: StubState) -> None:
    """Under gunicorn with two workers and no store named: one kill -9, and the logout still holds everywhere."""
    with (
        serve_wsgi(
            "tests.support.fault_apps:wsgi_app", env=environment(provider), extra_args=["--workers=2", "--threads=1"]
        ) as base_url,
        httpx.Client(base_url=base_url, timeout=5) as client,
    ):
        cookie = f"id_token={id_token(provider.issuer, sid='gone')}; session=s"
        answer = client.post("/bc", headers=FORM, content=urlencode({"logout_token": logout_token(
            provider.issuer, sid="gone")}))  # fmt: skip
        assert answer.status_code == 200
        victim = int(answer.headers["X-Pid"])
        os.kill(victim, signal.SIGKILL)  # the worker that took the logout; gunicorn starts another
        seen: dict[int, set[str]] = {}
        deadline = time.monotonic() + 20
        while len(seen) < 2 and time.monotonic() < deadline:
            try:
                page = client.get("/page", headers={"Cookie": cookie})
            except httpx.TransportError:
                continue  # the killed worker's connection
            seen.setdefault(int(page.headers["X-Pid"]), set()).add(page.text.partition("cookie=")[2])
        assert victim not in seen and len(seen) == 2, f"both workers answered: {sorted(seen)}"
        assert all(texts == {""} for texts in seen.values()), seen


@pytest.fixture
def redis_for_workers(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(tmp_path / "redis") as server:
        yield server


@pytest.mark.parametrize("store", ["redis", "default"])
def test_preloaded_workers_each_open_their_own_store(
    provider: StubState, redis_for_workers: RedisServer, store: str
) -> None:
    """gunicorn --preload builds the app in the master: each worker must still hear every revocation."""
    extra = {"FAULT_STORE": redis_for_workers.url} if store == "redis" else {}
    with serve_wsgi(
        "tests.support.fault_apps:wsgi_app", env=environment(provider, **extra),
        extra_args=["--workers=2", "--preload"],
    ) as base_url, httpx.Client(base_url=base_url, timeout=5) as client:  # fmt: skip
        pids: set[int] = set()
        deadline = time.monotonic() + 10
        while len(pids) < 2 and time.monotonic() < deadline:  # each worker has answered once: its store is open
            pids.add(int(client.get("/page").headers["X-Pid"]))
        assert len(pids) == 2
        token = logout_token(provider.issuer, sid="preloaded")
        assert client.post("/bc", headers=FORM, content=urlencode({"logout_token": token})).status_code == 200
        cookie = f"id_token={id_token(provider.issuer, sid='preloaded')}; session=s"
        refused_by: set[int] = set()
        deadline = time.monotonic() + 10
        while len(refused_by) < 2 and time.monotonic() < deadline:
            page = client.get("/page", headers={"Cookie": cookie})
            if page.text.endswith("cookie="):
                refused_by.add(int(page.headers["X-Pid"]))
        assert refused_by == pids
