"""Runs the core for the ASGI front door, on the event loop.

The core's requests to the provider go out with httpx's async client, so
they never block the loop; the per-request check fetches the provider's
keys when it needs them, one request at a time (the others wait for that
fetch and find the keys there).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ..config import LogoutConfig
from ..core.values import Inbound, LogoutRequest, LookUp, Outbound, Reply, Steps, Verdict
from ..specs.discovery import ProviderMetadata
from .performing import DriverBase, perform_step, tls_context

__all__ = ["AsyncDriver", "read_body", "run_async", "send"]

T = TypeVar("T")
_MAX_ANSWER = 1024 * 1024


class AsyncDriver(DriverBase):
    """The core of the ASGI front door, driven with async I/O; it owns the middleware's revocation store.

    Store writes and the app's ``on_logout`` hook may wait (on Redis, on an
    SQLite lock, on the app's own code): they run in a worker thread, so
    that the event loop never does.  A store lookup is a local read (the
    Redis store answers from its copy) and runs on the loop.

    :param config: the options.
    """

    def __init__(self, config: LogoutConfig) -> None:
        super().__init__(config)
        self._keys_lock: Any = None  # an anyio.Lock, made in the event loop that needs it

    async def answer(self, request: LogoutRequest) -> Reply:
        """The reply to a request for one of the core's endpoints."""
        return await self.run(self.core.handle(request))

    async def verdict(
        self, cookie_header: str, session: Any = None, app_id_token: str | None = None, *, secure: bool
    ) -> Verdict | None:
        """What the per-request check makes of a request: None lets it through untouched."""
        core = self.core
        inspection = core.inspect(cookie_header, session, app_id_token)
        if inspection.passes:
            return None
        if inspection.needs_keys:
            await self._fetch_keys(inspection.unknown_key)
            inspection = core.inspect(cookie_header, session, app_id_token, keys_fetched=True)
        return self.settle(inspection, cookie_header, secure)

    async def discover(self) -> ProviderMetadata | None:
        """Fetch the provider's discovery metadata now.

        :raises DiscoveryError: the provider did not answer, or not usably.
        """
        return await self.run(self.core.provider_metadata())

    async def run(self, steps: Steps[T]) -> T:
        """Run the core's steps to the end, awaiting each."""
        return await run_async(steps, send, self._perform)

    async def _perform(self, step: Any) -> Any:
        from anyio import to_thread  # noqa: PLC0415 - Starlette's own dependency

        if isinstance(step, LookUp):  # a local read: on the loop
            return perform_step(step, self.store, None)
        # A scrape reads prometheus-client's files in its multiprocess mode: in a thread, like the writes.
        return await to_thread.run_sync(perform_step, step, self.store, self.config.on_logout, self.metrics)

    async def _fetch_keys(self, unknown_key: bool) -> None:
        import anyio  # noqa: PLC0415 - Starlette's own dependency

        if self._keys_lock is None:
            self._keys_lock = anyio.Lock()
        # One fetch at a time: the requests that wait for it find the keys there.
        async with self._keys_lock:
            if unknown_key or self.core.keys.current() is None:
                await self.run(self.core.fetch_keys(unknown_key=unknown_key))


async def run_async(
    steps: Steps[T], send: Callable[[Outbound], Awaitable[Inbound]], perform: Callable[[Any], Awaitable[Any]]
) -> T:
    """Run steps to the end: each request to the provider is awaited from *send*, everything else from *perform*."""
    try:
        step = next(steps)
        while True:
            step = steps.send(await (send(step) if isinstance(step, Outbound) else perform(step)))
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


async def read_body(receive: Any, timeout: float, max_body: int) -> bytes | None:
    """At most *max_body* + 1 bytes of the body (enough to tell "too large"), or None if not in *timeout* seconds."""
    import anyio  # noqa: PLC0415 - Starlette's own dependency

    body = b""
    with anyio.move_on_after(timeout):
        while len(body) <= max_body:
            message = await receive()
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        return body[: max_body + 1]
    return None


# GETs on their way to the provider, by event loop and URL: requests for the same URL wait for them.
_flights: dict[tuple[int, str], tuple[Any, list[Inbound]]] = {}


async def send(outbound: Outbound) -> Inbound:
    """Send one request to the provider with an async client; never raise.

    A GET for a URL already on its way is not sent again: the caller waits
    for that answer (a fresh process asked for its keys by many logouts at
    once fetches them once, and none of them fails for want of them).
    """
    import anyio  # noqa: PLC0415 - Starlette's own dependency

    if outbound.method != "GET":
        return await _send(outbound)
    key = (_loop_id(), outbound.url)
    flight = _flights.get(key)
    if flight is not None:
        event, answers = flight
        with anyio.move_on_after(outbound.timeout + 1.0):
            await event.wait()
        return answers[0] if answers else Inbound(0, error=f"no answer from {outbound.url} in time")
    event, answers = anyio.Event(), list[Inbound]()
    _flights[key] = (event, answers)
    try:
        answers.append(await _send(outbound))
        return answers[0]
    finally:
        del _flights[key]
        event.set()


def _loop_id() -> int:
    """Which event loop runs: a request waits only for a fetch of its own loop."""
    try:
        return id(asyncio.get_running_loop())
    except RuntimeError:  # another event loop than asyncio's (trio): one per thread
        return threading.get_ident()


async def _send(outbound: Outbound) -> Inbound:
    import httpx  # noqa: PLC0415 - an optional extra, needed only with discovery or revocation

    try:
        async with (
            httpx.AsyncClient(timeout=outbound.timeout, verify=tls_context()) as client,
            client.stream(outbound.method, outbound.url, headers=outbound.headers, content=outbound.body) as answer,
        ):
            body = b""
            async for chunk in answer.aiter_bytes():
                body += chunk
                if len(body) > _MAX_ANSWER:
                    return Inbound(answer.status_code, error="the answer is larger than 1 MiB")
            return Inbound(answer.status_code, body, content_type=answer.headers.get("content-type", ""))
    except httpx.HTTPError as exc:
        return Inbound(0, error=f"{type(exc).__name__} from {outbound.url}: {exc}")
