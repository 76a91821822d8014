"""OpenID Connect Discovery: the provider's metadata, checked and cached."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from .. import events
from ..core.values import Inbound, Outbound, Steps
from ..errors import DiscoveryError, LogoutError
from .end_session import check_absolute_url

__all__ = ["DiscoveryError", "MetadataCache", "ProviderMetadata", "discovery_url", "parse_metadata"]

DISCOVERY_FAILED = "discovery of %s failed: %s"
DISCOVERY_STALE = "discovery of %s failed (%s); using the metadata fetched %.0f s ago"
_MAX_DOCUMENT = 512 * 1024
#: After a failed fetch, for this many seconds the last good answer is used without asking again.
RETRY_AFTER_FAILURE = 10.0


@dataclass(frozen=True, slots=True)
class ProviderMetadata:
    """The parts of a discovery document that logout needs."""

    issuer: str
    end_session_endpoint: str | None = None
    revocation_endpoint: str | None = None
    jwks_uri: str | None = None
    id_token_signing_alg_values_supported: tuple[str, ...] = ()
    backchannel_logout_supported: bool = False
    backchannel_logout_session_supported: bool = False
    frontchannel_logout_supported: bool = False
    frontchannel_logout_session_supported: bool = False


def discovery_url(issuer: str) -> str:
    """``{issuer}/.well-known/openid-configuration``, as Discovery 1.0 section 4 builds it."""
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def parse_metadata(issuer: str, answer: Inbound) -> ProviderMetadata:
    """Check the provider's answer and return its metadata, or raise :class:`DiscoveryError`."""
    if answer.error is not None:
        raise DiscoveryError(answer.error, unavailable=True)
    if answer.status >= 500:
        raise DiscoveryError(f"the provider answered HTTP {answer.status}", unavailable=True)
    if answer.status != 200:
        raise DiscoveryError(f"the provider answered HTTP {answer.status}", unavailable=False)
    if len(answer.body) > _MAX_DOCUMENT:
        raise DiscoveryError("the discovery document is larger than 512 KiB", unavailable=False)
    try:
        document = json.loads(answer.body)
    except ValueError:
        raise DiscoveryError("the discovery document is not valid JSON", unavailable=False) from None
    if not isinstance(document, dict):
        raise DiscoveryError("the discovery document is not a JSON object", unavailable=False)
    if document.get("issuer") != issuer:
        # Discovery 1.0 section 4.3: a mismatch means the document may be an impostor's.
        raise DiscoveryError(
            f"the document's issuer {str(document.get('issuer'))[:100]!r} is not the configured issuer {issuer!r}",
            unavailable=False,
        )
    urls: dict[str, str | None] = {}
    for name in ("end_session_endpoint", "revocation_endpoint", "jwks_uri"):
        value = document.get(name)
        if value is not None:
            try:
                check_absolute_url(value, name)
            except LogoutError as exc:
                raise DiscoveryError(f"the discovery document's {exc}", unavailable=False) from None
        urls[name] = value
    algorithms = document.get("id_token_signing_alg_values_supported") or []
    flags = {
        name: document.get(name) is True
        for name in (
            "backchannel_logout_supported",
            "backchannel_logout_session_supported",
            "frontchannel_logout_supported",
            "frontchannel_logout_session_supported",
        )
    }
    return ProviderMetadata(
        issuer=issuer,
        end_session_endpoint=urls["end_session_endpoint"],
        revocation_endpoint=urls["revocation_endpoint"],
        jwks_uri=urls["jwks_uri"],
        id_token_signing_alg_values_supported=tuple(a for a in algorithms if isinstance(a, str)),
        **flags,
    )


class MetadataCache:
    """Holds the metadata of one issuer for ``ttl`` seconds, and fetches it again when stale.

    When a refresh fails, metadata that was once good keeps being used (the
    provider is more likely down than changed), without asking again for
    :data:`RETRY_AFTER_FAILURE` seconds; with none at all, the failure goes
    to the caller, and the next one asks again unless it asks for *patience*
    (the back-channel receiver does: anyone can call it).
    """

    def __init__(
        self, issuer: str, *, ttl: float, timeout: float, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.issuer = issuer
        self.ttl = ttl
        self.timeout = timeout
        self._monotonic = monotonic
        self._entry: tuple[ProviderMetadata, float] | None = None
        self._failed_at = float("-inf")

    def get(self, *, patient: bool = False) -> Steps[ProviderMetadata]:
        """Fresh metadata, fetched (by yielding the request) only when stale or missing.

        :param patient: with nothing at hand and a failure moments ago, fail
            at once instead of asking again.
        """
        entry = self._entry
        now = self._monotonic()
        if entry is not None and now - entry[1] < self.ttl:
            return entry[0]
        since_failure = now - self._failed_at
        if since_failure < RETRY_AFTER_FAILURE:
            if entry is not None:
                return entry[0]
            if patient:
                raise DiscoveryError(
                    "the provider failed moments ago", unavailable=True, retry_after=RETRY_AFTER_FAILURE - since_failure
                )
        return (yield from self.refresh(stale=entry))

    def refresh(self, stale: tuple[ProviderMetadata, float] | None = None) -> Steps[ProviderMetadata]:
        """Fetch the document now; raise DiscoveryError if that fails and nothing stale is at hand."""
        url = discovery_url(self.issuer)
        answer = yield Outbound("GET", url, (("Accept", "application/json"),), timeout=self.timeout)
        try:
            metadata = parse_metadata(self.issuer, answer)
        except DiscoveryError as exc:
            self._failed_at = self._monotonic()
            if stale is None:
                events.emit(
                    events.PROVIDER_FETCH_FAILED, DISCOVERY_FAILED, url, exc,
                    document="discovery", url=url, unavailable=exc.unavailable,
                )  # fmt: skip
                raise
            age = self._monotonic() - stale[1]
            events.emit(
                events.PROVIDER_FETCH_STALE, DISCOVERY_STALE, url, exc, age,
                document="discovery", url=url, unavailable=exc.unavailable, age=round(age, 1),
            )  # fmt: skip
            return stale[0]
        self._entry = (metadata, self._monotonic())
        return metadata
