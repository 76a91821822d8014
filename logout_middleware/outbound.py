"""Requests the core asks an adapter to send, and how the adapters run the core's steps.

The core never does I/O.  Where it needs the provider (discovery, token
revocation, keys) it *yields* an :class:`Outbound` request and receives an
:class:`Inbound` answer; each adapter sends it with its own client (a sync
one for WSGI, an async one for ASGI) through :func:`run_sync` or
:func:`run_async`.  Where it writes to the revocation store, which may wait
on Redis or on a SQLite lock, it yields a :class:`Blocking` call: the WSGI
driver just calls it, the ASGI driver runs it in a worker thread so that the
event loop never waits.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["Blocking", "Inbound", "Outbound", "Steps", "run_async", "run_sync"]

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


@dataclass(frozen=True, slots=True)
class Blocking:
    """A call that may block (a revocation store write); its result, or its exception, goes back."""

    call: Callable[[], Any]


Steps = Generator[Outbound | Blocking, Any, T]


def run_sync(steps: Steps[T], send: Callable[[Outbound], Inbound]) -> T:
    """Run the core's steps to the end, sending each request with a blocking *send*."""
    try:
        step = next(steps)
        while True:
            if isinstance(step, Outbound):
                step = steps.send(send(step))
                continue
            try:
                result = step.call()
            except Exception as exc:  # handed back to the core, which decides
                step = steps.throw(exc)
            else:
                step = steps.send(result)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


async def run_async(steps: Steps[T], send: Callable[[Outbound], Awaitable[Inbound]]) -> T:
    """Run the core's steps to the end, awaiting each request with an async *send*."""
    from anyio import to_thread  # noqa: PLC0415 - only the ASGI side has anyio

    try:
        step = next(steps)
        while True:
            if isinstance(step, Outbound):
                step = steps.send(await send(step))
                continue
            try:
                result = await to_thread.run_sync(step.call)
            except Exception as exc:  # handed back to the core, which decides
                step = steps.throw(exc)
            else:
                step = steps.send(result)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
