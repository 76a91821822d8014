"""Builds end-session URLs (OpenID Connect RP-Initiated Logout 1.0, section 2)."""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping
from functools import lru_cache
from urllib.parse import SplitResult, quote, urlsplit

from ..errors import InvalidParameterError, InvalidTokenError, InvalidURLError
from .token_shape import is_compact_jwt

__all__ = ["build_logout_url", "check_absolute_url", "encode_value"]

# RFC 3986 unreserved characters never need percent-encoding.
_UNRESERVED = string.ascii_letters + string.digits + "-._~"
# Anything but printable ASCII, and the backslash: spaces and controls break
# headers, and browsers read backslashes and raw Unicode differently.
_UNSAFE_IN_URL = re.compile(r"[^!-\[\]-~]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

_STANDARD_PARAMS = frozenset(
    ("post_logout_redirect_uri", "id_token_hint", "state", "client_id", "logout_hint", "ui_locales")
)

ExtraParams = Mapping[str, "str | None"] | Iterable[tuple[str, "str | None"]]


def check_absolute_url(value: object, argument: str, *, fragment_allowed: bool = False) -> SplitResult:
    """Return *value* split into parts if it is an absolute http(s) URL, else raise.

    Spaces, control characters and backslashes are refused outright: browsers
    and servers disagree on how to read them, which is how redirect checks are
    defeated.  So are user info (``https://user@host``) and, unless allowed, a
    fragment.
    """
    if not isinstance(value, str):
        raise InvalidURLError(f"{argument} must be a string, not {type(value).__name__}")
    if _UNSAFE_IN_URL.search(value):
        raise InvalidURLError(
            f"{argument} must be printable ASCII without spaces or backslashes:"
            " percent-encode the path and use the IDNA (xn--) form of the host name"
        )
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number in range
    except ValueError as exc:
        raise InvalidURLError(f"{argument} is not a valid URL: {exc}") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidURLError(f"{argument} must be an absolute http:// or https:// URL, got {value[:100]!r}")
    if "@" in parts.netloc:
        raise InvalidURLError(f"{argument} must not contain user information ('user@host')")
    if not fragment_allowed and "#" in value:
        raise InvalidURLError(f"{argument} must not contain a fragment ('#...')")
    return parts


def encode_value(value: object, argument: str) -> str:
    """Percent-encode one query value or name, refusing what cannot be sent."""
    if not isinstance(value, str):
        raise InvalidParameterError(f"{argument} must be a string, not {type(value).__name__}")
    # Fast path: the common values (tokens, random state) need no encoding.
    if value and not value.rstrip(_UNRESERVED):
        return value
    if not value:
        raise InvalidParameterError(f"{argument} must not be empty")
    if _CONTROL.search(value):
        raise InvalidParameterError(f"{argument} must not contain control characters")
    try:
        return quote(value, safe="")
    except UnicodeEncodeError:
        raise InvalidParameterError(f"{argument} is not valid Unicode text") from None


@lru_cache(maxsize=64)
def endpoint_and_separator(end_session_endpoint: str) -> tuple[str, str]:
    """The endpoint checked, and what joins our parameters to it: ``?``, ``&`` or nothing."""
    parts = check_absolute_url(end_session_endpoint, "end_session_endpoint")
    if not parts.query:
        return end_session_endpoint.rstrip("?"), "?"
    # The endpoint already carries a query string (some providers' do): keep it.
    return end_session_endpoint, "" if end_session_endpoint.endswith("&") else "&"


@lru_cache(maxsize=64)
def _redirect_pair(redirect_uri: str) -> str:
    check_absolute_url(redirect_uri, "redirect_uri")
    return "post_logout_redirect_uri=" + quote(redirect_uri, safe="")


def _id_token_pair(id_token: object) -> str:
    if not isinstance(id_token, str) or not is_compact_jwt(id_token):
        raise InvalidTokenError("id_token must be a compact JWS or JWE: three or five dot-separated base64url segments")
    # Every character of a compact JWT is unreserved: nothing to encode.
    return "id_token_hint=" + id_token


def _extra_pairs(extra_params: ExtraParams) -> list[str]:
    items = extra_params.items() if isinstance(extra_params, Mapping) else extra_params
    pairs = []
    for name, value in items:
        if name in _STANDARD_PARAMS:
            raise InvalidParameterError(
                f"extra_params must not set {name!r}: pass it as the keyword argument of that name"
            )
        if value is not None:
            key = encode_value(name, "extra_params name")
            pairs.append(key + "=" + encode_value(value, f"extra_params[{name!r}]"))
    return pairs


def build_logout_url(
    end_session_endpoint: str,
    *,
    redirect_uri: str | None = None,
    id_token: str | None = None,
    state: str | None = None,
    client_id: str | None = None,
    logout_hint: str | None = None,
    ui_locales: str | None = None,
    extra_params: ExtraParams | None = None,
) -> str:
    """Build the URL that ends the user's session at the OpenID provider.

    The parameters are those of OpenID Connect RP-Initiated Logout 1.0 and
    are emitted in this order: ``post_logout_redirect_uri``,
    ``id_token_hint``, ``state``, ``client_id``, ``logout_hint``,
    ``ui_locales``, then *extra_params* in their own order.  Every value is
    percent-encoded; a query string already in *end_session_endpoint* is kept.
    Arguments left as ``None`` are not sent.

    :param end_session_endpoint: the provider's ``end_session_endpoint``, an
        absolute http(s) URL.
    :param redirect_uri: where the provider sends the browser afterwards; it
        must be registered at the provider, and it needs *id_token* or
        *client_id* so that the provider can check it.
    :param id_token: the user's id_token, sent as ``id_token_hint``.
    :param state: an opaque value the provider hands back on the redirect.
    :param client_id: the client's id, for providers that need it or when no
        id_token is at hand.
    :param logout_hint: a hint of which user to sign out.
    :param ui_locales: preferred languages, space-separated BCP 47 tags.
    :param extra_params: more parameters, a mapping or pairs; a ``None``
        value is skipped.
    :raises InvalidURLError: the endpoint or redirect URI is not an absolute
        http(s) URL, or the redirect URI has a fragment.
    :raises InvalidTokenError: *id_token* is not a compact JWS or JWE.
    :raises InvalidParameterError: a value is empty or holds control
        characters, or *redirect_uri* comes without *id_token* and *client_id*.

    >>> build_logout_url("https://op.example/session/end",
    ...                  redirect_uri="https://app.example/bye", client_id="app")
    'https://op.example/session/end?post_logout_redirect_uri=https%3A%2F%2Fapp.example%2Fbye&client_id=app'
    """
    if not isinstance(end_session_endpoint, str):
        raise InvalidURLError(f"end_session_endpoint must be a string, not {type(end_session_endpoint).__name__}")
    endpoint, separator = endpoint_and_separator(end_session_endpoint)
    pairs = []
    if redirect_uri is not None:
        if id_token is None and client_id is None:
            raise InvalidParameterError(
                "redirect_uri needs id_token or client_id: without either the provider"
                " cannot check the redirect URI and will not redirect back"
            )
        if not isinstance(redirect_uri, str):
            raise InvalidURLError(f"redirect_uri must be a string, not {type(redirect_uri).__name__}")
        pairs.append(_redirect_pair(redirect_uri))
    if id_token is not None:
        pairs.append(_id_token_pair(id_token))
    if state is not None:
        pairs.append("state=" + encode_value(state, "state"))
    if client_id is not None:
        pairs.append("client_id=" + encode_value(client_id, "client_id"))
    if logout_hint is not None:
        pairs.append("logout_hint=" + encode_value(logout_hint, "logout_hint"))
    if ui_locales is not None:
        pairs.append("ui_locales=" + encode_value(ui_locales, "ui_locales"))
    if extra_params:
        pairs += _extra_pairs(extra_params)
    if not pairs:
        return endpoint
    return endpoint + separator + "&".join(pairs)
