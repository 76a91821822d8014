"""Running the core's steps in a test, with scripted answers: no socket, no thread, no server.

The core's flows yield what they need (see :mod:`logout_middleware.core.values`);
:func:`drive` answers each: a request to the provider from *provider* (a
:class:`ScriptedProvider`, the stand-in provider of :mod:`tests.support.provider`
without its socket), a store operation from *store*, or from *store_answers*
when the test scripts the store's outcomes too.  *taken* collects every value
the flow yielded, in order, so that a test can say exactly what the core asked for.

.. code-block:: python

    provider = ScriptedProvider("https://op.example")
    taken: list[object] = []
    reply = drive(core.handle(request), provider, taken=taken)
    assert [step.url for step in taken if isinstance(step, Outbound)] == [provider.discovery_url, provider.jwks_url]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from logout_middleware.core.values import (
    CallOnLogout,
    Inbound,
    LookUp,
    Lookup,
    Outbound,
    Steps,
    StoreOutcome,
    StoreWrite,
)
from logout_middleware.stores import MemoryStore, RevocationStore
from logout_middleware.stores.base import look_up, perform
from tests.support.provider import StubState, provider_answer

__all__ = ["ScriptedProvider", "drive"]

T = TypeVar("T")


class ScriptedProvider:
    """The stand-in provider, answering the core's :class:`Outbound` values directly.

    Its :attr:`state` is a :class:`~tests.support.provider.StubState`, the same one
    :func:`~tests.support.provider.provider_stub` serves: change its ``jwks``, ``mode`` or
    ``jwks_status`` between two requests as a test would change the stub's.  A request for
    another host gets a connection error, as it would on the wire.
    """

    def __init__(self, issuer: str = "https://op.example", **state: Any) -> None:
        self.state = StubState(issuer=issuer, **state)
        #: Every request the core sent, in order.
        self.asked: list[Outbound] = []

    @property
    def discovery_url(self) -> str:
        return self.state.issuer + "/.well-known/openid-configuration"

    @property
    def jwks_url(self) -> str:
        return self.state.issuer + "/jwks"

    def __call__(self, outbound: Outbound) -> Inbound:
        self.asked.append(outbound)
        parts, ours = urlsplit(outbound.url), urlsplit(self.state.issuer)
        if (parts.scheme, parts.netloc) != (ours.scheme, ours.netloc):
            return Inbound(0, error=f"ConnectError from {outbound.url}: no such host (scripted)")
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        status, body = provider_answer(self.state, outbound.method, path, dict(outbound.headers), outbound.body)
        return Inbound(status, body, content_type="application/json")


def drive(
    steps: Steps[T],
    provider: Callable[[Outbound], Inbound] | None = None,
    *,
    store: RevocationStore | None = None,
    store_answers: Callable[[StoreWrite | LookUp], StoreOutcome | Lookup] | None = None,
    on_logout: Callable[[Any], object] | None = None,
    taken: list[Any] | None = None,
) -> T:
    """Run *steps* to the end and return their answer.

    :param provider: answers each request to the provider; a request with none scripted fails the test.
    :param store: performs the store operations (a fresh :class:`MemoryStore` unless given).
    :param store_answers: answers the store operations instead, as a scripted store would.
    :param on_logout: called for :class:`CallOnLogout`.
    :param taken: collects every value the steps yielded, in order.
    """
    store = store if store is not None else MemoryStore()
    try:
        step = next(steps)
        while True:
            if taken is not None:
                taken.append(step)
            if isinstance(step, Outbound):
                if provider is None:
                    raise AssertionError(f"the core asked the provider {step.method} {step.url}, and none was scripted")
                answer: Any = provider(step)
            elif isinstance(step, CallOnLogout):
                answer = on_logout(step.claims) if on_logout is not None else None
            elif store_answers is not None:
                answer = store_answers(step)
            elif isinstance(step, LookUp):
                answer = look_up(store, step.refs)
            else:
                answer = perform(store, step)
            step = steps.send(answer)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
