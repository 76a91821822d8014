"""The provider's signing keys (its ``jwks_uri`` document), cached and refetched on a new ``kid``."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from .discovery import DiscoveryError
from .outbound import Outbound, Steps

__all__ = ["JwksCache"]

logger = logging.getLogger("logout_middleware")

JWKS_FAILED = "fetching the provider's keys from %s failed: %s"
# A token with an unknown kid makes us fetch the keys again, but not more
# often than this: otherwise anyone could make us hammer the provider.
MIN_REFETCH_INTERVAL = 10.0


class JwksCache:
    """Holds one JWK Set for ``ttl`` seconds."""

    def __init__(self, *, ttl: float, timeout: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.timeout = timeout
        self._monotonic = monotonic
        self._entry: tuple[str, dict[str, Any], float] | None = None
        self._last_attempt = float("-inf")

    def current(self) -> dict[str, Any] | None:
        """The last key set fetched, however old; None while none was."""
        entry = self._entry
        return entry[1] if entry is not None else None

    def get(self, jwks_uri: str) -> Steps[dict[str, Any]]:
        """The key set, fetched when missing, stale, or from another URL."""
        entry = self._entry
        now = self._monotonic()
        if entry is not None and entry[0] == jwks_uri and now - entry[2] < self.ttl:
            return entry[1]
        if entry is None and now - self._last_attempt < MIN_REFETCH_INTERVAL:
            # The last try failed moments ago: answer at once rather than ask again.
            raise DiscoveryError("the provider's keys could not be fetched just now", unavailable=True)
        return (yield from self._fetch(jwks_uri))

    def refresh_for_unknown_key(self, jwks_uri: str) -> Steps[dict[str, Any] | None]:
        """Fetch the keys again after a token named an unknown ``kid``; None if tried too recently."""
        if self._monotonic() - self._last_attempt < MIN_REFETCH_INTERVAL:
            return None
        return (yield from self._fetch(jwks_uri))

    def _fetch(self, jwks_uri: str) -> Steps[dict[str, Any]]:
        # Counted before the request goes out, and whatever its outcome: concurrent
        # requests, and a provider that keeps failing, still get one fetch per interval.
        self._last_attempt = self._monotonic()
        answer = yield Outbound("GET", jwks_uri, (("Accept", "application/json"),), timeout=self.timeout)
        try:
            if answer.error is not None or answer.status >= 500:
                raise DiscoveryError(answer.error or f"HTTP {answer.status}", unavailable=True)
            if answer.status != 200:
                raise DiscoveryError(f"HTTP {answer.status}", unavailable=False)
            keys = json.loads(answer.body)
            if not isinstance(keys, dict) or not isinstance(keys.get("keys"), list):
                raise DiscoveryError("the document is not a JWK Set", unavailable=False)
        except ValueError as exc:
            if isinstance(exc, DiscoveryError):
                logger.error(JWKS_FAILED, jwks_uri, exc)
                raise
            logger.error(JWKS_FAILED, jwks_uri, "not valid JSON")
            raise DiscoveryError("the key set is not valid JSON", unavailable=False) from None
        self._entry = (jwks_uri, keys, self._monotonic())
        return keys
