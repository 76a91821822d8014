"""Bringing the user back to the page they logged out from, through the provider.

The provider only redirects to registered URIs, so the page to return to
travels in a short-lived cookie scoped to the callback path, keyed by a
random nonce that is also the ``state`` sent to the provider.  On the
callback the ``state`` must match the cookie, which is then deleted: a
forged or replayed ``state`` finds no cookie and gets a 400.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from urllib.parse import unquote

__all__ = ["is_local_path", "pack_state_cookie", "resolve_dot_segments", "unpack_state_cookie"]

_MAX_RETURN_TO = 2048
# A path on this origin: one leading slash, then printable ASCII without backslashes.
_LOCAL_PATH = re.compile(r"/(?![/\\])[!-\[\]-~]*")


def is_local_path(value: str) -> bool:
    """Whether *value* can only lead to a page of this same site.

    ``//host``, ``/\\host`` and their percent-encoded forms are refused: some
    browsers and servers read them as another host.  So is a path that
    becomes one once a browser resolves its dot segments (``/..//host``,
    ``/./x/..//host``, ``/%2e%2e//host``): the classic input to an app's own
    trailing-slash redirect.
    """
    if len(value) > _MAX_RETURN_TO or not _LOCAL_PATH.fullmatch(value):
        return False
    decoded = unquote(value)
    if not decoded.startswith("/") or decoded.startswith(("//", "/\\")) or "\\" in decoded:
        return False
    resolved = resolve_dot_segments(value.partition("?")[0].partition("#")[0])
    return not resolved.startswith("//") and not unquote(resolved).startswith("//")


def resolve_dot_segments(path: str) -> str:
    """The path as a browser resolves it (WHATWG URL: ``.``, ``..`` and their ``%2e`` spellings)."""
    segments = path.split("/")[1:]
    resolved: list[str] = []
    for index, segment in enumerate(segments):
        lowered = segment.lower()
        last = index == len(segments) - 1
        if lowered in ("..", ".%2e", "%2e.", "%2e%2e"):
            if resolved:
                resolved.pop()
            if last:
                resolved.append("")
        elif lowered in (".", "%2e"):
            if last:
                resolved.append("")
        else:
            resolved.append(segment)
    return "/" + "/".join(resolved)


def pack_state_cookie(nonce: str, return_to: str, issued_at: int) -> str:
    """The state cookie's value: nonce, issue time and the page, all cookie-safe."""
    page = base64.urlsafe_b64encode(return_to.encode()).rstrip(b"=").decode()
    return f"{nonce}.{issued_at}.{page}"


def unpack_state_cookie(value: str, state: str, *, now: int, max_age: int) -> str | None:
    """The page to return to, if the cookie is intact, fresh, and made for this *state*."""
    nonce, _, rest = value.partition(".")
    issued_at, _, page = rest.partition(".")
    # Query values that are not UTF-8 arrive with surrogates: they compare as bytes, and never equal.
    same = hmac.compare_digest(nonce.encode("utf-8", "surrogateescape"), state.encode("utf-8", "surrogateescape"))
    if not same or not (issued_at.isascii() and issued_at.isdigit()):
        return None
    if not 0 <= now - int(issued_at) <= max_age:
        return None
    try:
        return_to = base64.urlsafe_b64decode(page + "=" * (-len(page) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return return_to if is_local_path(return_to) else None
