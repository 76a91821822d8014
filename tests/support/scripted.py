"""Running the core's steps in a test, with scripted answers: no socket, no thread, no server.

.. code-block:: python

    reply = drive(core.handle(request), provider=lambda outbound: Inbound(200, b"{...}"), store=MemoryStore())
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from logout_middleware.core.values import CallOnLogout, Inbound, LookUp, Outbound, Steps
from logout_middleware.stores import MemoryStore, RevocationStore
from logout_middleware.stores.base import look_up, perform

__all__ = ["drive"]

T = TypeVar("T")


def drive(
    steps: Steps[T],
    provider: Callable[[Outbound], Inbound] | None = None,
    *,
    store: RevocationStore | None = None,
    on_logout: Callable[[Any], object] | None = None,
) -> T:
    """Run *steps* to the end: the provider's answers come from *provider*, store operations go to *store*."""
    store = store if store is not None else MemoryStore()
    try:
        step = next(steps)
        while True:
            if isinstance(step, Outbound):
                if provider is None:
                    raise AssertionError(f"the core asked the provider {step.method} {step.url}, and none was scripted")
                answer: Any = provider(step)
            elif isinstance(step, LookUp):
                answer = look_up(store, step.refs)
            elif isinstance(step, CallOnLogout):
                answer = on_logout(step.claims) if on_logout is not None else None
            else:
                answer = perform(store, step)
            step = steps.send(answer)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
