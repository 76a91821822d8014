"""The sans-I/O core: given a logout request as plain values, decide the response.

The adapters in :mod:`logout_middleware.wsgi` and :mod:`logout_middleware.asgi`
only translate a request into a call of :meth:`LogoutHandler.respond` and the
returned :class:`Reply` back into their protocol.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import parse_qsl, urlsplit

from .config import LogoutConfig
from .cookies import deletion_header, read_cookie
from .errors import ConfigError, LogoutError
from .tokens import is_compact_jwt
from .urls import build_logout_url

__all__ = ["LogoutHandler", "Reply"]

logger = logging.getLogger("logout_middleware")

# Log messages, kept here so that tests can check them.
LOGGED_OUT = "logout: %d cookie(s) deleted, redirecting to the end-session endpoint (id_token_hint: %s)"
NO_REDIRECT_WITHOUT_HINT = (
    "logout: no id_token cookie and no client_id configured, so post_logout_redirect_uri is not sent;"
    " the provider will show its own signed-out page"
)
MALFORMED_ID_TOKEN = "logout: the %r cookie does not hold a compact JWT; it is deleted but not sent as id_token_hint"
METHOD_REFUSED = "logout refused: method %s is not in the configured methods %s"
PREFETCH_REFUSED = "logout refused: the browser is only prefetching (%s)"
CROSS_SITE_REFUSED = "logout refused: cross-site request (%s)"
REDIRECT_REFUSED = "logout refused: %s %r is not an allowed post-logout redirect URI"
REDIRECT_REPEATED = "logout refused: %s is given %d times"
QUERY_REFUSED = "logout refused: the query string cannot be parsed (%s)"

_UNSAFE_METHODS_EXEMPT = frozenset(("GET", "HEAD"))
_MAX_QUERY_FIELDS = 64
_TEXT = ("Content-Type", "text/plain; charset=utf-8")


@dataclass(frozen=True, slots=True)
class Reply:
    """A complete HTTP response, as plain values."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""

    @property
    def status_line(self) -> str:
        """The status as a WSGI status line, such as ``'303 See Other'``."""
        return f"{self.status} {HTTPStatus(self.status).phrase}"


def _plain(status: int, message: str, *extra: tuple[str, str]) -> Reply:
    body = message.encode() + b"\n"
    headers = [_TEXT, ("Content-Length", str(len(body))), ("Cache-Control", "no-store"), *extra]
    return Reply(status, headers, body)


class LogoutHandler:
    """Answers requests to the logout path; shared by both adapters.

    All the work that does not depend on the request (the deleting
    ``Set-Cookie`` lines, the allowed redirect URIs, the fixed headers) is
    done once here.
    """

    def __init__(self, config: LogoutConfig) -> None:
        self.config = config
        self.logout_path = config.logout_path
        specs = config.cookies_to_delete()
        self._deletions = {
            secure: [
                (
                    "Set-Cookie",
                    deletion_header(
                        s.name, path=s.path or "/", domain=s.domain, secure=secure, samesite=config.cookie_samesite
                    ),
                )
                for s in specs
            ]
            for secure in (False, True)
        }
        self._fixed_headers = [("Cache-Control", "no-store"), ("Content-Length", "0")]
        if config.clear_site_data:
            self._fixed_headers.append(("Clear-Site-Data", '"cookies"'))
        self._allowed_redirects = frozenset((config.post_logout_redirect_uri, *config.allowed_redirect_uris)) - {None}
        self._allow_header = ("Allow", ", ".join(config.methods))
        try:  # fail at start-up, not on the first logout, if the parts cannot form a URL
            build_logout_url(
                config.end_session_endpoint,
                redirect_uri=config.post_logout_redirect_uri,
                state="s",
                client_id=config.client_id or "c",
                extra_params=config.extra_params,
            )
        except LogoutError as exc:
            raise ConfigError(str(exc)) from None

    def respond(
        self, *, method: str, scheme: str, host: str | None, query_string: str, headers: Mapping[str, str]
    ) -> Reply:
        """Decide the response to a request for the logout path.

        :param method: the request method, upper case.
        :param scheme: ``"http"`` or ``"https"``, as the browser used it.
        :param host: the ``Host`` the request was sent to, if known.
        :param query_string: the raw query string, bytes decoded as latin-1.
        :param headers: the request headers; ``get`` with lower-case names.
        """
        config = self.config
        if method not in config.methods:
            logger.info(METHOD_REFUSED, method[:20], config.methods)
            return _plain(405, "Method Not Allowed: log out with " + " or ".join(config.methods), self._allow_header)
        prefetch = _prefetch_reason(headers)
        if prefetch:
            logger.info(PREFETCH_REFUSED, prefetch)
            return _plain(503, "Service Unavailable: logout is not done for a prefetch")
        if config.block_cross_site:
            cross_site = _cross_site_reason(method, host, headers)
            if cross_site:
                logger.warning(CROSS_SITE_REFUSED, cross_site)
                return _plain(403, "Forbidden: logout must be requested from this site")
        redirect_uri = config.post_logout_redirect_uri
        if query_string and config.redirect_param:
            requested = self._requested_redirect(query_string)
            if isinstance(requested, Reply):
                return requested
            redirect_uri = requested or redirect_uri

        id_token = read_cookie(headers.get("cookie") or "", config.id_token_cookie) or None
        if id_token is not None and not is_compact_jwt(id_token):
            logger.warning(MALFORMED_ID_TOKEN, config.id_token_cookie)
            id_token = None
        if redirect_uri is not None and id_token is None and config.client_id is None:
            logger.info(NO_REDIRECT_WITHOUT_HINT)
            redirect_uri = None
        location = build_logout_url(
            config.end_session_endpoint,
            redirect_uri=redirect_uri,
            id_token=id_token,
            state=secrets.token_urlsafe(16) if redirect_uri else None,
            client_id=config.client_id,
            extra_params=config.extra_params,
        )
        deletions = self._deletions[scheme == "https"]
        logger.info(LOGGED_OUT, len(deletions), "sent" if id_token else "none")
        return Reply(303, [("Location", location), *self._fixed_headers, *deletions])

    def _requested_redirect(self, query_string: str) -> str | Reply | None:
        """The redirect URI the request asks for, None if none, or the refusal."""
        param = self.config.redirect_param
        try:
            # surrogateescape: bytes that are not UTF-8 survive, and so can never
            # equal an allowed URI, instead of failing the whole request.
            pairs = parse_qsl(
                query_string, keep_blank_values=True, errors="surrogateescape", max_num_fields=_MAX_QUERY_FIELDS
            )
        except ValueError as exc:
            logger.warning(QUERY_REFUSED, exc)
            return _plain(400, "Bad Request: the query string has too many parameters")
        values = [value for name, value in pairs if name == param and value]
        if not values:
            return None
        if len(values) > 1:
            logger.warning(REDIRECT_REPEATED, param, len(values))
            return _plain(400, f"Bad Request: {param} is given more than once")
        if values[0] not in self._allowed_redirects:
            logger.warning(REDIRECT_REFUSED, param, values[0][:200])
            return _plain(400, f"Bad Request: {param} is not an allowed post-logout redirect URI")
        return values[0]


def _prefetch_reason(headers: Mapping[str, str]) -> str | None:
    sec_purpose = headers.get("sec-purpose")
    if sec_purpose and "prefetch" in sec_purpose.lower():
        return "Sec-Purpose: " + sec_purpose[:40]
    for name in ("purpose", "x-purpose", "x-moz"):
        value = headers.get(name)
        if value and value.lower() in ("prefetch", "preview"):
            return f"{name}: {value}"
    return None


def _cross_site_reason(method: str, host: str | None, headers: Mapping[str, str]) -> str | None:
    if headers.get("sec-fetch-site") == "cross-site":
        return "Sec-Fetch-Site: cross-site"
    if method in _UNSAFE_METHODS_EXEMPT:
        return None
    origin = headers.get("origin")
    if origin is None or _same_origin(origin, host):
        return None
    return f"Origin {origin[:100]!r} is not the Host {(host or '')[:100]!r}"


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
