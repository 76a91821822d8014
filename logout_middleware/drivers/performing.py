"""What both drivers do the same way: the store's and the app's parts of the core's steps."""

from __future__ import annotations

import functools
import os
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import events
from ..config import LogoutConfig
from ..core.handler import LogoutHandler
from ..core.session_check import Inspection
from ..core.values import CallOnLogout, CollectMetrics, LookUp, StoreWrite, Verdict
from ..stores.base import RevocationStore, generation_of, look_up, perform
from ..stores.opening import ProcessLocalStore, default_store_path, store_opener

if TYPE_CHECKING:
    from ..metrics import LogoutMetrics

__all__ = ["HOOK_FAILED", "DriverBase", "Settling", "metrics_for", "perform_step", "tls_context"]

# Cookie headers remembered as live at once: the bound keeps a flood of distinct ones from filling memory.
_LIVE_SIZE = 8192

HOOK_FAILED = "logout: the on_logout hook raised %s; the logout goes on"


def perform_step(
    step: StoreWrite | LookUp | CallOnLogout | CollectMetrics,
    store: RevocationStore | None,
    on_logout: Callable[[Any], object] | None,
    metrics: LogoutMetrics | None = None,
) -> Any:
    """Do what a step of the core asks that is not a request to the provider, and return the core's answer."""
    if isinstance(step, CollectMetrics):
        if metrics is None:  # pragma: no cover - the core asks for them only when metrics are on
            raise RuntimeError("the core asked for the metrics, and this middleware keeps none")
        return metrics.render()
    if isinstance(step, CallOnLogout):
        if on_logout is not None:
            try:
                on_logout(step.claims)
            except Exception as exc:  # the app's code: whatever it raises, the logout goes on
                name = type(exc).__name__
                events.emit(events.LOGOUT_HOOK_FAILED, HOOK_FAILED, name, exc_info=True, error_type=name)
        return None
    if store is None:  # pragma: no cover - the core asks for the store only while requests are checked
        raise RuntimeError("the core asked for a revocation store, and this middleware has none")
    if isinstance(step, LookUp):
        return look_up(store, step.refs)
    return perform(store, step)


class Settling:
    """Settles the per-request check of an inspection that needs no keys: a local lookup, then the core's verdict.

    A returning session is inspected into the very same (cached) inspection
    object: while the store's generation has not moved since its sessions
    were found live, they are still live (time only ends revocations), and
    the lookup is skipped.  Inspections are remembered by identity (the
    entry keeps the object alive, so its id cannot be another's), and
    bounded.
    """

    def __init__(self, core: LogoutHandler, local: ProcessLocalStore | None) -> None:
        self._verdict = core.verdict
        self._local = local
        self._live: dict[int, tuple[Inspection, int]] = {}
        self._store: RevocationStore | None = None  # the store last looked at, and whether it has a generation
        self._has_generation = False

    def __call__(self, inspection: Inspection, cookie_header: str, secure: bool) -> Verdict | None:
        local = self._local
        if not inspection.refs or local is None:
            return self._verdict(inspection, None, cookie_header, secure)
        store = local.opened or local.current()
        if store is not self._store:  # the first request, or the first after a fork
            self._store, self._has_generation = store, generation_of(store) is not None or hasattr(store, "generation")
            self._live.clear()
        generation = store.generation if self._has_generation else None  # type: ignore[attr-defined]
        if generation is not None:
            known = self._live.get(id(inspection))
            if known is not None and known[0] is inspection and known[1] == generation:
                return None
        lookup = look_up(store, inspection.refs)
        verdict = self._verdict(inspection, lookup, cookie_header, secure)
        if verdict is None and generation is not None and not lookup.revoked and lookup.unavailable is None:
            live = self._live
            if len(live) >= _LIVE_SIZE:
                del live[next(iter(live))]  # the oldest: dicts keep insertion order
            live[id(inspection)] = (inspection, generation)
        return verdict


class DriverBase:
    """What both drivers hold: the core, and the revocation store they own (opened per process)."""

    def __init__(self, config: LogoutConfig) -> None:
        self.config = config
        self.core = LogoutHandler(config)
        #: The revocation store, opened by the process that first uses it; None when requests are not checked.
        self.store: ProcessLocalStore | None = _store_for(config)
        #: Settles an inspection that needs no keys fetched (see :class:`Settling`).
        self.settle = Settling(self.core, self.store)
        #: The Prometheus metrics, when ``metrics`` is on.
        self.metrics = metrics_for(config, self.store)

    def open_store(self) -> None:
        """Open the revocation store in this process now, rather than at the first request that needs it.

        It may wait (on Redis, on an SQLite lock): under ASGI, call it in a worker thread.  The metrics
        count again if :meth:`close` stopped them (an ASGI app started again after its shutdown).
        """
        if self.store is not None:
            self.store.current()
        if self.metrics is not None:
            self.metrics.listen()

    def close(self) -> None:
        """Close the revocation store this process opened, if any (it may wait, as :meth:`open_store`),
        and stop counting events."""
        if self.store is not None:
            self.store.close()
        if self.metrics is not None:
            self.metrics.close()


def _store_for(config: LogoutConfig) -> ProcessLocalStore | None:
    """The store a middleware with *config* checks requests against, not yet opened; None when it checks none."""
    if not config.enforces_revocations:
        return None
    opener = store_opener(
        config.revocation_store,
        max_token_lifetime=config.max_token_lifetime,
        fail_open=config.revocation_store_fail_open,
        default_path=default_store_path(config.issuer, config.client_id),
    )
    return ProcessLocalStore(opener)


def metrics_for(config: LogoutConfig, store: ProcessLocalStore | None) -> LogoutMetrics | None:
    """The metrics a middleware with *config* keeps (fed by every event of the process from now on), or None."""
    if not config.metrics:
        return None
    from ..metrics import LogoutMetrics  # noqa: PLC0415 - prometheus-client is an optional extra

    return LogoutMetrics(store)


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
