"""What both drivers do the same way: the store's and the app's parts of the core's steps."""

from __future__ import annotations

import functools
import logging
import os
import ssl
from collections.abc import Callable
from typing import Any

from ..core.values import CallOnLogout, LookUp, StoreWrite
from ..stores.base import RevocationStore, look_up, perform

__all__ = ["HOOK_FAILED", "perform_step", "tls_context"]

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


def tls_context() -> ssl.SSLContext:
    """The TLS context for requests to the provider: made once per CA bundle, not once per request.

    Loading the CA bundle costs tens of milliseconds of CPU; httpx would do it
    for every client.  ``SSL_CERT_FILE`` and ``SSL_CERT_DIR`` are honoured as
    httpx honours them, and read at each call, so a change takes effect.
    """
    return _tls_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@functools.lru_cache(maxsize=4)
def _tls_context(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    import httpx  # noqa: PLC0415 - an optional extra, needed only with discovery or revocation

    return httpx.create_ssl_context()
