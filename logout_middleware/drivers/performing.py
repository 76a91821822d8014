"""What both drivers do the same way: the store's and the app's parts of the core's steps."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ..core.values import CallOnLogout, LookUp, StoreWrite
from ..stores.base import RevocationStore, look_up, perform

__all__ = ["HOOK_FAILED", "perform_step"]

logger = logging.getLogger("logout_middleware")

HOOK_FAILED = "logout: the on_logout hook raised %s; the logout goes on"


def perform_step(
    step: StoreWrite | LookUp | CallOnLogout,
    store: RevocationStore | None,
    on_logout: Callable[[Any], object] | None,
) -> Any:
    """Do what a step of the core asks that is not a request to the provider, and return the core's answer."""
    if isinstance(step, CallOnLogout):
        if on_logout is not None:
            try:
                on_logout(step.claims)
            except Exception as exc:  # the app's code: whatever it raises, the logout goes on
                logger.exception(HOOK_FAILED, type(exc).__name__)
        return None
    if store is None:  # pragma: no cover - the core asks for the store only while requests are checked
        raise RuntimeError("the core asked for a revocation store, and this middleware has none")
    if isinstance(step, LookUp):
        return look_up(store, step.refs)
    return perform(store, step)
