"""The exceptions this library raises; all of them are ``ValueError`` subclasses."""

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


class TokenError(LogoutError):
    """A JWT (a logout token, an id_token) failed a check; the message names the check."""


class UnknownKeyError(TokenError):
    """No key of the provider's JWK Set fits the token: fetch the set again, then check again."""


class LogoutTokenError(TokenError):
    """A logout token failed a check; the message names it and suits ``error_description``."""
