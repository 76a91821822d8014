"""Fixtures shared by the tests: the adapter a case runs through, the stand-in provider, a private temp directory."""

from __future__ import annotations

import functools
import os
import ssl
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.provider import StubState, provider_stub


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


@functools.cache
def _default_tls_context(trust_env: bool, cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    import httpx

    return httpx.create_ssl_context(trust_env=trust_env)  # httpx's own, which the fixture below leaves alone


@pytest.fixture
def one_tls_context(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every httpx client of the test shares one default TLS context, rather than loading the CA bundle anew.

    The middleware makes a client for each request to the provider, and loading the bundle
    costs some 40 ms each time; the stand-in provider speaks plain HTTP, so the context is
    never used, and sharing it changes nothing else.  For the tables, whose rows each start afresh.
    """
    from httpx._transports import default

    made = default.create_ssl_context

    def shared(verify: Any = True, cert: Any = None, trust_env: bool = True) -> ssl.SSLContext:
        if verify is True and cert is None:
            return _default_tls_context(trust_env, os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
        return made(verify=verify, cert=cert, trust_env=trust_env)

    monkeypatch.setattr(default, "create_ssl_context", shared)


@pytest.fixture(autouse=True)
def private_temporary_directory(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """A temporary directory of each test's own: the default revocation store lives there, and is never shared.

    The servers a test starts inherit it through TMPDIR.
    """
    directory = str(tmp_path_factory.mktemp("tmp"))
    monkeypatch.setattr(tempfile, "tempdir", directory)
    monkeypatch.setenv("TMPDIR", directory)
