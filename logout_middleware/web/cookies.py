"""Cookies: reading them from a Cookie header, stripping some, and the headers that delete them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import ConfigError

__all__ = ["CookieDeletions", "CookieSpec", "cookie_values", "deletion_header", "read_cookie", "strip_cookies"]

# RFC 6265 section 4.1.1: a cookie name is an RFC 7230 token.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Path and Domain attribute values: no ';', no controls, no spaces.
_ATTRIBUTE_VALUE = re.compile(r"[!-:<-~]+")
_DOMAIN = re.compile(r"\.?[A-Za-z0-9](?:[A-Za-z0-9\-.]*[A-Za-z0-9])?")

_EXPIRED = "Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT"


@dataclass(frozen=True, slots=True)
class CookieSpec:
    """A cookie to delete, with the Path and Domain it was set with.

    ``None`` for *path* or *domain* means "use the configuration's
    ``cookie_path`` / ``cookie_domain``".  A deletion only replaces a cookie
    with the same name, Path and Domain, so these must match what the app
    used when it set the cookie.
    """

    name: str
    path: str | None = None
    domain: str | None = None

    def __post_init__(self) -> None:
        check_cookie_name(self.name, "CookieSpec.name")
        if self.path is not None:
            check_cookie_path(self.path, f"CookieSpec({self.name!r}).path")
        if self.domain is not None:
            check_cookie_domain(self.domain, f"CookieSpec({self.name!r}).domain")


def check_cookie_name(name: object, option: str) -> None:
    """Raise ConfigError unless *name* is a valid cookie name."""
    if not isinstance(name, str) or not _TOKEN.fullmatch(name):
        raise ConfigError(f"{option} must be a cookie name (letters, digits and !#$%&'*+-.^_`|~), got {name!r}")


def check_cookie_path(path: object, option: str) -> None:
    """Raise ConfigError unless *path* is a usable Path attribute."""
    if not isinstance(path, str) or not path.startswith("/") or not _ATTRIBUTE_VALUE.fullmatch(path):
        raise ConfigError(f"{option} must start with '/' and hold no ';', spaces or control characters, got {path!r}")


def check_cookie_domain(domain: object, option: str) -> None:
    """Raise ConfigError unless *domain* is a usable Domain attribute."""
    if not isinstance(domain, str) or not _DOMAIN.fullmatch(domain):
        raise ConfigError(f"{option} must be a host name such as 'example.com', got {domain!r}")


def needs_secure(name: str) -> bool:
    """Whether browsers reject the cookie's headers unless they carry ``Secure``."""
    lowered = name[:9].lower()
    return lowered.startswith(("__secure-", "__host-"))


def deletion_header(name: str, *, path: str, domain: str | None, secure: bool, samesite: str) -> str:
    """Build a ``Set-Cookie`` value that makes browsers drop the cookie.

    The value is empty and both ``Max-Age=0`` and a past ``Expires`` are
    sent, for old and new browsers alike; Path and Domain must equal those
    the cookie was set with, or the browser keeps it.
    """
    parts = [f"{name}=", _EXPIRED, f"Path={path}"]
    if domain is not None:
        parts.append(f"Domain={domain}")
    if secure or needs_secure(name) or samesite == "None":
        parts.append("Secure")
    parts.append("HttpOnly")
    parts.append(f"SameSite={samesite}")
    return "; ".join(parts)


class CookieDeletions:
    """The ``Set-Cookie`` lines that delete a set of cookies, built once for plain and for secure requests."""

    def __init__(self, specs: tuple[CookieSpec, ...], *, samesite: str) -> None:
        #: The names of the cookies deleted.
        self.names = frozenset(spec.name for spec in specs)
        self._lines = {
            secure: [
                ("Set-Cookie", deletion_header(spec.name, path=spec.path or "/", domain=spec.domain, secure=secure,
                                               samesite=samesite))
                for spec in specs
            ]
            for secure in (False, True)
        }  # fmt: skip

    def lines(self, secure: bool) -> list[tuple[str, str]]:
        """The deleting lines for a request made over HTTPS (*secure*) or not."""
        return self._lines[secure]


def read_cookie(cookie_header: str, name: str) -> str | None:
    """Return the value of cookie *name* from a ``Cookie`` request header.

    Follows RFC 6265 section 5.4 as browsers send it: pairs separated by
    ``;``, optional spaces, and a value that may be wrapped in double
    quotes.  Malformed pairs are skipped; the first pair with the name wins
    (browsers send the cookie with the longest Path first).
    """
    start = cookie_header.find(name)
    if start == -1:
        return None
    # The common case without splitting the whole header: the name's first
    # occurrence opens a pair and is followed by '=', so it is that cookie.
    end = start + len(name)
    before = cookie_header[:start].rstrip()
    if cookie_header[end : end + 1] == "=" and (not before or before[-1] == ";"):
        stop = cookie_header.find(";", end)
        return _unquoted(cookie_header[end + 1 : None if stop == -1 else stop])
    for pair in cookie_header.split(";"):
        key, equals, value = pair.partition("=")
        if equals and key.strip() == name:
            return _unquoted(value)
    return None


def _unquoted(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        value = value[1:-1]
    return value


def cookie_values(cookie_header: str, name: str) -> list[str]:
    """Every value of cookie *name* in a Cookie header, in order, unquoted (RFC 6265 section 5.4)."""
    if name not in cookie_header:
        return []
    values = []
    for pair in cookie_header.split(";"):
        key, equals, value = pair.partition("=")
        if equals and key.strip() == name:
            value = _unquoted(value)
            if value:
                values.append(value)
    return values


def strip_cookies(cookie_header: str, names: frozenset[str]) -> str:
    """The Cookie header without the named cookies, so the app sees an anonymous request."""
    kept = [pair for pair in cookie_header.split(";") if pair.partition("=")[0].strip() not in names]
    return ";".join(kept).strip()
