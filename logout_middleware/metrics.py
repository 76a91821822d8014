"""Prometheus metrics of the middleware, fed by its events; needs ``pip install 'logout-middleware[metrics]'``.

:class:`LogoutMetrics` listens to :mod:`logout_middleware.events` (the one
source of truth: a metric moves only when an event says so) and keeps the
counters below in a ``prometheus_client`` registry; the revocation store's
gauges are read from the store when the metrics are rendered, so nothing
runs between two scrapes.  With ``metrics=True`` (the gateway: whenever
prometheus-client is installed) the middleware serves :meth:`LogoutMetrics.render`
at ``metrics_path``.  ``docs/metrics.md`` says what each metric means.

Counters (each also ``*_created``, as prometheus-client writes them):

* ``logout_middleware_logouts_total{outcome}``: ``/logout`` answers, ``redirected``,
  ``form_post``, ``local``, ``refused`` or ``failed``;
* ``logout_middleware_logout_callbacks_total{outcome}``: ``returned`` or ``refused``;
* ``logout_middleware_backchannel_logouts_total{outcome}`` and
  ``logout_middleware_frontchannel_logouts_total{outcome}``: ``accepted``,
  ``refused`` or ``unavailable`` (answered 503, for the provider to retry);
* ``logout_middleware_refusals_total{endpoint, reason}``: every request
  answered with an error status, or stripped of its login cookies, by the
  path (or ``app``) and the ``reason`` of its event;
* ``logout_middleware_provider_fetch_failures_total{document}``: ``discovery`` or ``jwks``;
* ``logout_middleware_token_revocations_total{token_type, outcome}``: ``revoked`` or ``failed``;
* ``logout_middleware_store_reconnects_total{store}``.

Gauges, read from the store at each scrape (none before the store is opened):
``logout_middleware_store_lag_seconds{store}``,
``logout_middleware_store_revocations{store}`` and
``logout_middleware_store_pending_writes{store}``.

.. code-block:: python

    metrics = LogoutMetrics(store)  # counts every event of this process from now on
    body = metrics.render()          # the Prometheus text format, CONTENT_TYPE
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

from . import events
from .core.metrics_endpoint import CONTENT_TYPE  # the content type of LogoutMetrics.render()
from .stores.base import StoreStatus

__all__ = ["CONTENT_TYPE", "LogoutMetrics"]


_PREFIX = "logout_middleware_"
_OUTCOMES = {
    "logout": ("redirected", "form_post", "local", "refused", "failed"),
    "callback": ("returned", "refused"),
    "backchannel": ("accepted", "refused", "unavailable"),
    "frontchannel": ("accepted", "refused", "unavailable"),
}
# Each event that counts as a refusal: its endpoint and its reason (the field that holds it, or "=" and the value),
# and the outcome it is for the endpoint's own counter.
_REFUSALS: dict[str, tuple[str, str, str]] = {
    "logout.prefetch_declined": ("=logout", "=prefetch", "refused"),
    "logout.refused": ("=logout", "reason", "refused"),
    "logout.failed": ("=logout", "reason", "failed"),
    "callback.refused": ("=callback", "reason", "refused"),
    "backchannel.refused": ("=backchannel", "reason", "refused"),
    "backchannel.unavailable": ("=backchannel", "reason", "unavailable"),
    "frontchannel.refused": ("=frontchannel", "reason", "refused"),
    "frontchannel.unavailable": ("=frontchannel", "=store_unavailable", "unavailable"),
    "check.stripped": ("endpoint", "reason", "refused"),
    "check.unavailable": ("endpoint", "reason", "unavailable"),
    "request.method_refused": ("endpoint", "=method", "refused"),
    "query.refused": ("endpoint", "reason", "refused"),
}
_SUCCESSES = {
    "logout.redirected": ("logout", "redirected"),
    "logout.form_post": ("logout", "form_post"),
    "logout.local": ("logout", "local"),
    "callback.returned": ("callback", "returned"),
    "backchannel.accepted": ("backchannel", "accepted"),
    "frontchannel.accepted": ("frontchannel", "accepted"),
}
_FETCHES = ("provider.fetch_failed", "provider.fetch_stale")
_TOKEN_TYPES = ("refresh_token", "access_token")


class _HasStatus(Protocol):
    def status(self) -> StoreStatus | None: ...


class LogoutMetrics:
    """The counters and gauges of this process, kept in a registry of their own and fed by the events.

    Every event of the process counts, whichever middleware emitted it (the
    events are process-wide, as the logger is).  It counts for as long as its
    registry is kept (the registry holds it, the listener does not): in the
    driver's own registry, as long as the middleware lives; in
    ``prometheus_client.REGISTRY``, as long as the process.

    :param store: what the store gauges are read from at each scrape (anything with
        ``status()``, such as a :class:`~logout_middleware.stores.ProcessLocalStore`); None for no store.
    :param registry: where the metrics go; a new :class:`prometheus_client.CollectorRegistry` when None.
        With ``prometheus_client.REGISTRY``, the app's own exposition shows them too.
    """

    def __init__(self, store: _HasStatus | None = None, *, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        in_registry: dict[str, Any] = {"registry": self.registry}
        self._flows = {
            "logout": Counter(f"{_PREFIX}logouts", "Logouts at /logout, by outcome.", ["outcome"], **in_registry),
            "callback": Counter(
                f"{_PREFIX}logout_callbacks", "Returns to logout_callback_path, by outcome.", ["outcome"], **in_registry
            ),
            "backchannel": Counter(
                f"{_PREFIX}backchannel_logouts", "Back-channel logout requests, by outcome.", ["outcome"], **in_registry
            ),
            "frontchannel": Counter(
                f"{_PREFIX}frontchannel_logouts",
                "Front-channel logout requests, by outcome.",
                ["outcome"],
                **in_registry,
            ),
        }
        self._refusals = Counter(
            f"{_PREFIX}refusals",
            "Requests answered with an error status or stripped of their login cookies, by path and reason.",
            ["endpoint", "reason"],
            **in_registry,
        )
        self._fetch_failures = Counter(
            f"{_PREFIX}provider_fetch_failures",
            "Failed fetches of the provider's discovery document or keys.",
            ["document"],
            **in_registry,
        )
        self._token_revocations = Counter(
            f"{_PREFIX}token_revocations",
            "RFC 7009 revocations of the logout's tokens at the provider, by outcome.",
            ["token_type", "outcome"],
            **in_registry,
        )
        self._reconnects = Counter(
            f"{_PREFIX}store_reconnects", "Reconnections to the shared revocation store.", ["store"], **in_registry
        )
        self._store_gauges = _StoreCollector(store, self)
        self.registry.register(self._store_gauges)
        self._refused = self._start_at_zero()
        self._updates = self._updates_by_event()
        self._listener = _weak_listener(self)
        self._listening = False
        self.listen()

    def observe(self, name: str, fields: Mapping[str, object]) -> None:
        """Count one event (the listener calls this for every event of the process)."""
        update = self._updates.get(name)
        if update is not None:
            update(fields)

    def render(self) -> bytes:
        """Every metric in the Prometheus text format (:data:`CONTENT_TYPE`).

        With ``PROMETHEUS_MULTIPROC_DIR`` set (prometheus-client's multiprocess
        mode), the counters are those of every process that wrote there, summed;
        the store gauges are this process's.
        """
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            registry.register(self._store_gauges)
            return generate_latest(registry)
        return generate_latest(self.registry)

    def listen(self) -> None:
        """Count the process's events (again, after :meth:`close`: an ASGI app started a second time)."""
        if not self._listening:
            events.add_listener(self._listener)
            self._listening = True

    def close(self) -> None:
        """Stop counting, until :meth:`listen`."""
        events.remove_listener(self._listener)
        self._listening = False

    def _start_at_zero(self) -> dict[tuple[str, str], Any]:
        """Every series the events can move, at 0: a rate is defined before the first event, an alert can fire.

        Returns the refusal series by (endpoint, reason), so that counting one is a dict lookup.
        """
        for flow, outcomes in _OUTCOMES.items():
            for outcome in outcomes:
                self._flows[flow].labels(outcome)
        refused = {}
        for name, (endpoint_from, reason_from, _) in _REFUSALS.items():
            fields = events.EVENTS[name].fields
            for endpoint in _values(endpoint_from, fields):
                for reason in _values(reason_from, fields):
                    refused[endpoint, reason] = self._refusals.labels(endpoint, reason)
        for document in ("discovery", "jwks"):
            self._fetch_failures.labels(document)
        for token_type in _TOKEN_TYPES:
            for outcome in ("revoked", "failed"):
                self._token_revocations.labels(token_type, outcome)
        for store in _values("store", events.EVENTS["store.synced"].fields):
            self._reconnects.labels(store)
        return refused

    def _updates_by_event(self) -> dict[str, Callable[[Mapping[str, object]], None]]:
        updates: dict[str, Callable[[Mapping[str, object]], None]] = {}
        for name, (flow, outcome) in _SUCCESSES.items():
            updates[name] = self._counting(self._flows[flow].labels(outcome))
        for name, (endpoint_from, reason_from, outcome) in _REFUSALS.items():
            updates[name] = self._refusal(name, endpoint_from, reason_from, outcome)
        for name in _FETCHES:
            updates[name] = lambda fields: self._fetch_failures.labels(str(fields["document"])).inc()
        revocations = self._token_revocations
        updates["logout.token_revoked"] = lambda fields: revocations.labels(str(fields["token_type"]), "revoked").inc()
        updates["logout.token_not_revoked"] = lambda fields: revocations.labels(
            str(fields["token_type"]), "failed"
        ).inc()
        updates["store.synced"] = self._synced
        return updates

    @staticmethod
    def _counting(child: Any) -> Callable[[Mapping[str, object]], None]:
        return lambda fields: child.inc()

    def _refusal(
        self, name: str, endpoint_from: str, reason_from: str, outcome: str
    ) -> Callable[[Mapping[str, object]], None]:
        refused = self._refused
        # Only the endpoints this event can name: a series made here shows at 0 from the start.
        endpoints = _values(endpoint_from, events.EVENTS[name].fields)
        flows = {endpoint: self._flows[endpoint].labels(outcome) for endpoint in endpoints if endpoint in self._flows}

        def count(fields: Mapping[str, object]) -> None:
            endpoint = _value(endpoint_from, fields)
            series = refused.get((endpoint, _value(reason_from, fields)))
            if series is None:
                # A value the event's fields do not list: counted, but never as a label of its own, so
                # that no caller can grow the series without bound.
                series = self._refusals.labels("other", "other")
            series.inc()
            flow = flows.get(endpoint)
            if flow is not None:
                flow.inc()

        return count

    def _synced(self, fields: Mapping[str, object]) -> None:
        if fields["reconnect"]:
            self._reconnects.labels(str(fields["store"])).inc()


def _values(source: str, fields: Mapping[str, type | tuple[str, ...]]) -> tuple[str, ...]:
    """The label values an event can give: a fixed one (``=value``), or those its field may hold."""
    if source.startswith("="):
        return (source[1:],)
    spec = fields[source]
    return spec if isinstance(spec, tuple) else ()


def _value(source: str, fields: Mapping[str, object]) -> str:
    return source[1:] if source.startswith("=") else str(fields[source])


def _weak_listener(metrics: LogoutMetrics) -> events.Listener:
    """A listener that counts for *metrics* while it lives, and removes itself once it is gone."""
    observe = weakref.WeakMethod(metrics.observe)

    def listener(name: str, fields: Mapping[str, object]) -> None:
        method = observe()
        if method is None:
            events.remove_listener(listener)
        else:
            method(name, fields)

    return listener


class _StoreCollector:
    """The store's gauges, read when the metrics are collected: nothing runs between two scrapes.

    It also keeps the metrics it belongs to alive for as long as their registry is.
    """

    def __init__(self, store: _HasStatus | None, metrics: LogoutMetrics) -> None:
        self._store = store
        self._metrics = metrics

    def describe(self) -> list[Metric]:
        return []  # so that registering does not collect

    def collect(self) -> Iterator[Metric]:
        lag = GaugeMetricFamily(
            f"{_PREFIX}store_lag_seconds",
            "How far this process's copy of the revocations may be behind the shared store; 0 while in step.",
            labels=["store"],
        )
        held = GaugeMetricFamily(
            f"{_PREFIX}store_revocations", "Revocations this process holds (its copy).", labels=["store"]
        )
        pending = GaugeMetricFamily(
            f"{_PREFIX}store_pending_writes",
            "Revocations held here until the shared store takes them.",
            labels=["store"],
        )
        status = self._store.status() if self._store is not None else None
        if status is not None:
            lag.add_metric([status.kind], status.lag)
            held.add_metric([status.kind], status.revocations)
            pending.add_metric([status.kind], status.pending)
        yield from (lag, held, pending)
