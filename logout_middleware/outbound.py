"""Requests the core asks an adapter to send, and how the adapters run the core's steps.

The core never does I/O.  Where it needs the provider (discovery, token
revocation) it *yields* an :class:`Outbound` request and receives an
:class:`Inbound` answer; each adapter sends it with its own client (a sync
one for WSGI, an async one for ASGI) through :func:`run_sync` or
:func:`run_async`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["Inbound", "Outbound", "Steps", "run_async", "run_sync"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Outbound:
    """An HTTP request to the provider."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    timeout: float = 5.0


@dataclass(frozen=True, slots=True)
class Inbound:
    """The provider's answer, or why there was none (``status`` is 0 then)."""

    status: int
    body: bytes = b""
    error: str | None = None
    content_type: str = ""


Steps = Generator[Outbound, Inbound, T]


def run_sync(steps: Steps[T], send: Callable[[Outbound], Inbound]) -> T:
    """Run the core's steps to the end, sending each request with a blocking *send*."""
    try:
        request = next(steps)
        while True:
            request = steps.send(send(request))
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


async def run_async(steps: Steps[T], send: Callable[[Outbound], Awaitable[Inbound]]) -> T:
    """Run the core's steps to the end, awaiting each request with an async *send*."""
    try:
        request = next(steps)
        while True:
            request = steps.send(await send(request))
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
