"""Fixtures shared by the tests: the adapter a case runs through, the stand-in provider, a private temp directory."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator

import pytest

from tests.support.provider import StubState, provider_stub
from tests.support.redis_server import RedisStores


@pytest.fixture(params=["wsgi", "asgi"])
def kind(request: pytest.FixtureRequest) -> str:
    """Which adapter a test goes through: every such test runs once for each.

    The one way to run a case against both adapters: take this fixture and build the
    sender with ``tests.support.transports.middleware_sender(kind, ...)`` (or, for the
    shared apps the servers serve too, ``tests.support.apps.shared_sender(kind)``).
    """
    return str(request.param)


@pytest.fixture
def stub() -> Iterator[StubState]:
    """A stand-in provider on 127.0.0.1 (see tests/support/provider.py)."""
    with provider_stub() as state:
        yield state


@pytest.fixture(scope="module")
def module_stub() -> Iterator[StubState]:
    """One stand-in provider for all the rows of a module's table; tests.support.tables.prepare_provider resets it."""
    with provider_stub() as state:
        yield state


@pytest.fixture
def redis_stores() -> Iterator[RedisStores]:
    """Opens Redis stores (``redis_stores.open(url, **options)``), each loaded from Redis; closed after the test."""
    stores = RedisStores()
    yield stores
    stores.close()


@pytest.fixture(autouse=True)
def private_temporary_directory(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """A temporary directory of each test's own: the default revocation store lives there, and is never shared.

    The servers a test starts inherit it through TMPDIR.
    """
    directory = str(tmp_path_factory.mktemp("tmp"))
    monkeypatch.setattr(tempfile, "tempdir", directory)
    monkeypatch.setenv("TMPDIR", directory)
