"""What the flows need of the provider's metadata: its discovery document and its signing keys, cached.

One object for every flow, so that the logout, the receivers and the
per-request check share the same caches (and the same rules against
hammering a provider that is down, see :mod:`~logout_middleware.specs.jwks`).
"""

from __future__ import annotations

from typing import Any

from .. import events
from ..errors import DiscoveryError
from ..specs.discovery import MetadataCache, ProviderMetadata
from ..specs.jwks import JwksCache
from .values import Steps

__all__ = ["ProviderKeys"]

KEYS_UNAVAILABLE = "the provider's keys cannot be fetched, so id_token cookies cannot be verified: %s"


class ProviderKeys:
    """The provider's discovery metadata (when an issuer is known) and its JWK Set.

    :param discovery: the metadata cache, or None when discovery is not used.
    :param jwks: the key set cache.
    """

    def __init__(self, discovery: MetadataCache | None, jwks: JwksCache) -> None:
        self.discovery = discovery
        self.jwks = jwks

    def metadata(self, *, patient: bool = False) -> Steps[ProviderMetadata | None]:
        """Discovery metadata (fetched if stale), or None when discovery is not used.

        :param patient: fail at once after a failure moments ago, rather than ask again.
        :raises DiscoveryError: none at hand, and none could be fetched.
        """
        if self.discovery is None:
            return None
        return (yield from self.discovery.get(patient=patient))

    def current(self) -> dict[str, Any] | None:
        """The last key set fetched, however old; None while none was."""
        return self.jwks.current()

    def key_set(self) -> Steps[tuple[str, dict[str, Any]]]:
        """The ``jwks_uri`` and its key set, fetched if need be.

        :raises DiscoveryError: the keys could not be had.
        """
        jwks_uri = yield from self._jwks_uri()
        return jwks_uri, (yield from self.jwks.get(jwks_uri))

    def refetch(self, jwks_uri: str) -> Steps[dict[str, Any]]:
        """The key set fetched again after a token named an unknown ``kid``.

        :raises DiscoveryError: refetched moments ago (``retry_after`` says when to try again), or failed.
        """
        return (yield from self.jwks.refresh_for_unknown_key(jwks_uri))

    def fetch(self, *, unknown_key: bool = False) -> Steps[None]:
        """Fetch the keys (again, after an unknown ``kid``); a failure is logged, never raised."""
        try:
            jwks_uri = yield from self._jwks_uri()
            if unknown_key:
                yield from self.jwks.refresh_for_unknown_key(jwks_uri)
            else:
                yield from self.jwks.get(jwks_uri)
        except DiscoveryError as exc:
            if unknown_key and self.jwks.current() is not None:
                # The keys are at hand; only this token's kid is not among them.  A refetch refused because
                # one ran moments ago is no outage (and any client can ask for one), and a failed one was
                # reported by the fetch.
                return
            events.emit(events.PROVIDER_KEYS_UNAVAILABLE, KEYS_UNAVAILABLE, exc, unavailable=exc.unavailable)

    def _jwks_uri(self) -> Steps[str]:
        metadata = yield from self.metadata(patient=True)
        if metadata is None or metadata.jwks_uri is None:
            raise DiscoveryError("the discovery document has no jwks_uri", unavailable=False)
        return metadata.jwks_uri
