"""Runs the core for the front doors that block: WSGI, Flask and Django.

The core answers in plain values and asks for the provider's answers by
yielding requests; this driver sends them with httpx's blocking client,
reads request bodies from a WSGI environ, and runs the per-request check,
fetching the provider's keys when the check needs them (one thread at a
time: the others wait and find the keys there).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from ..config import LogoutConfig
from ..core.values import Inbound, LogoutRequest, Outbound, Reply, Steps, Verdict
from ..specs.discovery import ProviderMetadata
from .performing import DriverBase, perform_step, tls_context

__all__ = ["SyncDriver", "read_body", "run_sync", "send"]

T = TypeVar("T")
_MAX_ANSWER = 1024 * 1024


class SyncDriver(DriverBase):
    """The core of one front door, driven with blocking I/O; it owns the middleware's revocation store.

    :param config: the options.
    """

    def __init__(self, config: LogoutConfig) -> None:
        super().__init__(config)
        self._keys_lock = threading.Lock()

    def answer(self, request: LogoutRequest) -> Reply:
        """The reply to a request for one of the core's endpoints."""
        return self.run(self.core.handle(request))

    def verdict(
        self, cookie_header: str, session: Any = None, app_id_token: str | None = None, *, secure: bool
    ) -> Verdict | None:
        """What the per-request check makes of a request: None lets it through untouched."""
        core = self.core
        inspection = core.inspect(cookie_header, session, app_id_token)
        if inspection.passes:
            return None
        if inspection.needs_keys:
            # One fetch at a time: the threads that wait for it find the keys there.
            with self._keys_lock:
                if inspection.unknown_key or core.keys.current() is None:
                    self.run(core.fetch_keys(unknown_key=inspection.unknown_key))
            inspection = core.inspect(cookie_header, session, app_id_token, keys_fetched=True)
        return self.settle(inspection, cookie_header, secure)

    def discover(self) -> ProviderMetadata | None:
        """Fetch the provider's discovery metadata now.

        :raises DiscoveryError: the provider did not answer, or not usably.
        """
        return self.run(self.core.provider_metadata())

    def run(self, steps: Steps[T]) -> T:
        """Run the core's steps to the end, performing each with blocking I/O."""
        return run_sync(steps, send, lambda step: perform_step(step, self.store, self.config.on_logout, self.metrics))


def run_sync(steps: Steps[T], send: Callable[[Outbound], Inbound], perform: Callable[[Any], Any]) -> T:
    """Run steps to the end: each request to the provider goes to *send*, everything else to *perform*."""
    try:
        step = next(steps)
        while True:
            step = steps.send(send(step) if isinstance(step, Outbound) else perform(step))
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


def read_body(environ: Mapping[str, Any], timeout: float, max_body: int) -> bytes | None:
    """At most *max_body* + 1 bytes of a WSGI request's body, or None if they did not come within *timeout*.

    One byte more than allowed is enough for the core to tell "too large".  PEP 3333: never
    read past CONTENT_LENGTH, and without it only from a server that says the
    input ends (``wsgi.input_terminated``).

    A WSGI input has no deadline of its own: a client that announces 100
    bytes and sends one would hold a sync worker until the server kills it.
    So the body is read by a helper thread, waited for *timeout* seconds; on
    gunicorn, whose socket is at hand, a late read is then woken by shutting
    the connection's reading side down (the reply asks it closed in any case).
    """
    try:
        length = int(environ.get("CONTENT_LENGTH") or -1)
    except ValueError:
        length = -1
    if length < 0:
        if not environ.get("wsgi.input_terminated"):
            return b""
        length = max_body + 1
    stream, size = environ["wsgi.input"], min(length, max_body + 1)
    read: list[bytes] = []

    def read_it() -> None:
        with contextlib.suppress(Exception):  # the client went away: treated as a body that never came
            read.append(stream.read(size))

    reader = threading.Thread(target=read_it, name="logout-middleware-body", daemon=True)
    reader.start()
    reader.join(timeout)
    if reader.is_alive() or not read:
        connection = environ.get("gunicorn.socket")
        if connection is not None:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RD)  # the answer still goes out
        return None
    return read[0]


class _Flight:
    """A GET on its way to the provider, which threads asking for the same URL wait for."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.answer: Inbound | None = None


_flights: dict[str, _Flight] = {}
_flights_lock = threading.Lock()


def send(outbound: Outbound) -> Inbound:
    """Send one request to the provider with a blocking client; never raise.

    A GET for a URL already on its way is not sent again: the caller waits
    for that answer (a fresh process asked for its keys by many logouts at
    once fetches them once, and none of them fails for want of them).
    """
    if outbound.method != "GET":
        return _send(outbound)
    with _flights_lock:
        flight = _flights.get(outbound.url)
        leading = flight is None
        if flight is None:
            flight = _flights[outbound.url] = _Flight()
    if not leading:
        flight.done.wait(outbound.timeout + 1.0)
        return flight.answer or Inbound(0, error=f"no answer from {outbound.url} in time")
    try:
        flight.answer = _send(outbound)
        return flight.answer
    finally:
        with _flights_lock:
            del _flights[outbound.url]
        flight.done.set()


def _send(outbound: Outbound) -> Inbound:
    import httpx  # noqa: PLC0415 - an optional extra, needed only with discovery or revocation

    try:
        with (
            httpx.Client(timeout=outbound.timeout, verify=tls_context()) as client,
            client.stream(outbound.method, outbound.url, headers=outbound.headers, content=outbound.body) as answer,
        ):
            body = b""
            for chunk in answer.iter_bytes():
                body += chunk
                if len(body) > _MAX_ANSWER:
                    return Inbound(answer.status_code, error="the answer is larger than 1 MiB")
            return Inbound(answer.status_code, body, content_type=answer.headers.get("content-type", ""))
    except httpx.HTTPError as exc:
        return Inbound(0, error=f"{type(exc).__name__} from {outbound.url}: {exc}")
