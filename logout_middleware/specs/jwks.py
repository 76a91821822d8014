"""The provider's signing keys (its ``jwks_uri`` document), cached, and fetched again when a new ``kid`` shows up.

Three rules keep logouts from being lost and the provider from being hammered:

* a key set once fetched is used until a fresh one replaces it: a failed
  refresh keeps the last good set, and is not retried for
  :data:`~logout_middleware.specs.discovery.RETRY_AFTER_FAILURE` seconds;
* a token naming an unknown ``kid`` makes the set be fetched again (the
  provider may have rotated its keys at any moment, even right after the
  routine first fetch), unless such a refetch happened less than
  :data:`MIN_REFETCH_INTERVAL` seconds ago; then the caller is told when to
  ask again (``retry_after``), so that a provider can retry rather than lose
  the logout;
* requests that need the keys while a fetch is on its way ask for it too:
  the driver sends identical requests only once (see the drivers), so
  that concurrent requests in a fresh process all wait for the same fetch.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from .. import events
from ..core.values import Outbound, Steps
from ..errors import DiscoveryError
from .discovery import RETRY_AFTER_FAILURE

__all__ = ["MIN_REFETCH_INTERVAL", "JwksCache"]

JWKS_FAILED = "fetching the provider's keys from %s failed: %s"
JWKS_STALE = "fetching the provider's keys from %s failed (%s); using the set fetched %.0f s ago"
#: The least time between two fetches for an unknown ``kid``: otherwise anyone could make us hammer the provider.
MIN_REFETCH_INTERVAL = 10.0


class JwksCache:
    """Holds one JWK Set for ``ttl`` seconds, and the last good one for as long as no fresh one comes."""

    def __init__(self, *, ttl: float, timeout: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.timeout = timeout
        self._monotonic = monotonic
        self._entry: tuple[str, dict[str, Any], float] | None = None
        self._failed_at = float("-inf")
        self._refetched_at = float("-inf")
        self._refetching = False

    def current(self) -> dict[str, Any] | None:
        """The last key set fetched, however old; None while none was."""
        entry = self._entry
        return entry[1] if entry is not None else None

    def get(self, jwks_uri: str) -> Steps[dict[str, Any]]:
        """The key set: fetched when missing, stale or from another URL; the last good one when that fails.

        :raises DiscoveryError: no set at hand, and none could be fetched.
        """
        entry = self._entry
        now = self._monotonic()
        if entry is not None and entry[0] == jwks_uri and now - entry[2] < self.ttl:
            return entry[1]
        since_failure = now - self._failed_at
        if since_failure < RETRY_AFTER_FAILURE:
            if entry is not None:
                return entry[1]
            raise DiscoveryError(
                "the provider's keys could not be fetched moments ago",
                unavailable=True,
                retry_after=RETRY_AFTER_FAILURE - since_failure,
            )
        try:
            return (yield from self._fetch(jwks_uri, stale=entry is not None))
        except DiscoveryError as exc:
            if entry is None:
                raise
            self._report_stale(jwks_uri, exc, entry)
            return entry[1]

    def refresh_for_unknown_key(self, jwks_uri: str) -> Steps[dict[str, Any]]:
        """Fetch the set again after a token named an unknown ``kid``.

        :raises DiscoveryError: refetched too recently (``retry_after`` says
            when to try again), or the fetch failed.
        """
        since = self._monotonic() - self._refetched_at
        if not self._refetching and since < MIN_REFETCH_INTERVAL:
            raise DiscoveryError(
                "the provider's keys were fetched again moments ago",
                unavailable=True,
                retry_after=MIN_REFETCH_INTERVAL - since,
            )
        self._refetching = True
        entry = self._entry
        try:
            return (yield from self._fetch(jwks_uri, stale=entry is not None))
        except DiscoveryError as exc:
            if entry is not None:  # the set at hand still serves the tokens it has the keys of
                self._report_stale(jwks_uri, exc, entry)
            raise
        finally:
            self._refetching = False
            self._refetched_at = self._monotonic()

    def _report_stale(self, jwks_uri: str, exc: DiscoveryError, entry: tuple[str, dict[str, Any], float]) -> None:
        age = self._monotonic() - entry[2]
        events.emit(
            events.PROVIDER_FETCH_STALE, JWKS_STALE, jwks_uri, exc, age,
            document="jwks", url=jwks_uri, unavailable=exc.unavailable, age=round(age, 1),
        )  # fmt: skip

    def _fetch(self, jwks_uri: str, *, stale: bool = False) -> Steps[dict[str, Any]]:
        """Fetch the set; a failure is reported here unless the caller has a *stale* one to use instead."""
        answer = yield Outbound("GET", jwks_uri, (("Accept", "application/json"),), timeout=self.timeout)
        try:
            if answer.error is not None or answer.status >= 500:
                raise DiscoveryError(answer.error or f"HTTP {answer.status}", unavailable=True)
            if answer.status != 200:
                raise DiscoveryError(f"HTTP {answer.status}", unavailable=False)
            try:
                keys = json.loads(answer.body)
            except ValueError:
                raise DiscoveryError("the key set is not valid JSON", unavailable=False) from None
            if not isinstance(keys, dict) or not isinstance(keys.get("keys"), list):
                raise DiscoveryError("the document is not a JWK Set", unavailable=False)
        except DiscoveryError as exc:
            self._failed_at = self._monotonic()
            if not stale:
                events.emit(
                    events.PROVIDER_FETCH_FAILED, JWKS_FAILED, jwks_uri, exc,
                    document="jwks", url=jwks_uri, unavailable=exc.unavailable,
                )  # fmt: skip
            raise
        self._entry = (jwks_uri, keys, self._monotonic())
        return keys
