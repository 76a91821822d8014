"""Fixtures shared by the tests that run one scenario through both front doors."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator

import pytest

from tests.support.provider import StubState, provider_stub


@pytest.fixture(params=["wsgi", "asgi"])
def kind(request: pytest.FixtureRequest) -> str:
    """Which adapter a test goes through: every such test runs once for each."""
    return str(request.param)


@pytest.fixture
def stub() -> Iterator[StubState]:
    """A stand-in provider on 127.0.0.1 (see tests/provider_stub.py)."""
    with provider_stub() as state:
        yield state


@pytest.fixture(autouse=True)
def private_temporary_directory(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """A temporary directory of each test's own: the default revocation store lives there, and is never shared.

    The servers a test starts inherit it through TMPDIR.
    """
    directory = str(tmp_path_factory.mktemp("tmp"))
    monkeypatch.setattr(tempfile, "tempdir", directory)
    monkeypatch.setenv("TMPDIR", directory)
