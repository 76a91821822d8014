"""Requests a browser sends without the user meaning to log out: prefetches and cross-site requests."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

__all__ = ["cross_site_reason", "not_same_origin_reason", "prefetch_reason"]

_EXEMPT_FROM_ORIGIN_CHECK = frozenset(("GET", "HEAD"))


def prefetch_reason(headers: Mapping[str, str]) -> str | None:
    """Why the request is a prefetch (Chrome, Firefox, Safari headers), or None."""
    sec_purpose = headers.get("sec-purpose")
    if sec_purpose and "prefetch" in sec_purpose.lower():
        return "Sec-Purpose: " + sec_purpose[:40]
    for name in ("purpose", "x-purpose", "x-moz"):
        value = headers.get(name)
        if value and value.lower() in ("prefetch", "preview"):
            return f"{name}: {value}"
    return None


def cross_site_reason(method: str, host: str | None, headers: Mapping[str, str]) -> str | None:
    """Why the request comes from another site (Fetch Metadata, or a foreign ``Origin``), or None."""
    if headers.get("sec-fetch-site") == "cross-site":
        return "Sec-Fetch-Site: cross-site"
    if method in _EXEMPT_FROM_ORIGIN_CHECK:
        return None
    origin = headers.get("origin")
    if origin is None or _same_origin(origin, host):
        return None
    return f"Origin {origin[:100]!r} is not the Host {(host or '')[:100]!r}"


def not_same_origin_reason(host: str | None, headers: Mapping[str, str]) -> str | None:
    """Why the request cannot be shown to come from this very origin, or None (the strict mode).

    Fetch Metadata must say ``same-origin`` or ``none`` (typed, bookmarked);
    sibling subdomains (``same-site``) are refused too.  A browser too old to
    send it must send an ``Origin`` or a ``Referer`` of this origin.
    """
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site is not None:
        return None if fetch_site in ("same-origin", "none") else f"Sec-Fetch-Site: {fetch_site[:20]}"
    origin = headers.get("origin")
    if origin is not None:
        return None if _same_origin(origin, host) else f"Origin {origin[:100]!r} is not the Host {(host or '')[:100]!r}"
    referer = headers.get("referer")
    if referer is None:
        return "neither Sec-Fetch-Site, nor Origin, nor Referer"
    try:
        parts = urlsplit(referer)
    except ValueError:
        return "a Referer that is not a URL"
    if _same_origin(f"{parts.scheme}://{parts.netloc}", host):
        return None
    return f"Referer from {parts.netloc[:100]!r}, not the Host {(host or '')[:100]!r}"


def _same_origin(origin: str, host: str | None) -> bool:
    """Whether an ``Origin`` header names the host and port the request was sent to.

    Both sides drop the default port of the Origin's scheme, so that
    ``https://app.example`` matches ``Host: app.example`` behind a proxy that
    ends TLS as well as ``Host: app.example:443``.
    """
    if not host or origin == "null":
        return False
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    default_port = ":443" if parts.scheme == "https" else ":80"
    return parts.netloc.lower().removesuffix(default_port) == host.lower().removesuffix(default_port)
