"""Every exception of logout-middleware; all but :class:`Refusal` are ``ValueError`` subclasses.

Raised at construction: :class:`ConfigError`.  Raised by the public
functions for bad arguments: :class:`InvalidURLError`,
:class:`InvalidTokenError`, :class:`InvalidParameterError`.  The others
name what went wrong with the provider, a token or the store, and the
core turns them into short answers: no request ever sees one.
"""

from __future__ import annotations


class LogoutError(ValueError):
    """Root of every error raised by logout-middleware."""


class ConfigError(LogoutError):
    """A configuration option has a value that cannot work; the message names it."""


class InvalidURLError(LogoutError):
    """A URL argument is not an absolute http(s) URL, or has a part it must not have."""


class InvalidTokenError(LogoutError):
    """An id_token is not in the compact JWS or JWE serialization."""


class InvalidParameterError(LogoutError):
    """A logout parameter is empty, holds control characters or collides with another."""


class DiscoveryError(LogoutError):
    """The provider's discovery document, or its keys, could not be fetched or are not usable."""

    def __init__(self, reason: str, *, unavailable: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        #: True when the provider did not answer (503); False when it answered nonsense (502).
        self.unavailable = unavailable
        #: Seconds after which asking again may succeed, when known.
        self.retry_after = retry_after


class TokenError(LogoutError):
    """A JWT (a logout token, an id_token) failed a check; the message names the check."""


class UnknownKeyError(TokenError):
    """No key of the provider's JWK Set fits the token: fetch the set again, then check again."""


class LogoutTokenError(TokenError):
    """A logout token failed a check; the message names it and suits ``error_description``."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        #: Which check failed, from a fixed set (the ``reason`` of the ``backchannel.refused`` event).
        self.reason = reason


class StoreUnavailableError(LogoutError):
    """The revocation store cannot be reached: answer the provider 503 so that it retries."""


class StoreDeferredError(StoreUnavailableError):
    """The shared store cannot be reached: the revocation holds in this process, and is written there later."""


class Refusal(Exception):
    """Raised inside the core to answer at once with a short plain-text refusal; caught by the core."""

    def __init__(self, status: int, message: str, *headers: tuple[str, str]) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers
