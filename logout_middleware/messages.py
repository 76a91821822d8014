"""The plain values the core works on: a request for one of the middleware's paths, and a reply."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

__all__ = ["LogoutRequest", "Refusal", "Reply", "json_reply", "plain_reply", "query_params", "single_param"]

logger = logging.getLogger("logout_middleware")

PARAM_REPEATED = "refused: %s is given %d times"
QUERY_REFUSED = "refused: the query string cannot be parsed (%s)"

_MAX_QUERY_FIELDS = 64
_TEXT = ("Content-Type", "text/plain; charset=utf-8")


@dataclass(frozen=True, slots=True)
class LogoutRequest:
    """A request for one of the middleware's paths, as plain values."""

    #: The request method, upper case.
    method: str
    #: The path relative to where the app is mounted.
    path: str
    #: ``"http"`` or ``"https"``, as the browser used it.
    scheme: str
    #: The ``Host`` the request was sent to, if known.
    host: str | None
    #: The raw query string, bytes decoded as latin-1.
    query_string: str
    #: The request headers; ``get`` with lower-case names.
    headers: Mapping[str, str]
    #: Every Cookie header of the request, joined with ``"; "``.
    cookie: str = ""
    #: Where the app is mounted (``SCRIPT_NAME``, ASGI ``root_path``).
    root_path: str = ""
    #: The request body, read (up to ``MAX_BODY + 1`` bytes) only for the handler's ``body_paths``;
    #: None when it did not arrive within ``body_timeout``.
    body: bytes | None = b""
    #: The framework's session of this request (anything with ``get``), when the front door has one.
    session: Any = None
    #: The id_token the app's ``id_token_getter`` returned for this request.
    app_id_token: str | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    """A complete HTTP response, as plain values."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""
    #: The framework's session must be emptied (the logout ended it).
    clear_session: bool = False

    @property
    def status_line(self) -> str:
        """The status as a WSGI status line, such as ``'303 See Other'``."""
        return f"{self.status} {HTTPStatus(self.status).phrase}"


class Refusal(Exception):
    """Raised inside the core to answer at once with a short plain-text error."""

    def __init__(self, status: int, message: str, *headers: tuple[str, str]) -> None:
        super().__init__(message)
        self.reply = plain_reply(status, message, *headers)


def plain_reply(status: int, message: str, *extra: tuple[str, str]) -> Reply:
    """A short ``text/plain`` answer that is never cached."""
    body = f"{HTTPStatus(status).phrase}: {message}\n".encode()
    headers = [_TEXT, ("Content-Length", str(len(body))), ("Cache-Control", "no-store"), *extra]
    return Reply(status, headers, body)


def json_reply(status: int, document: dict[str, str] | None = None) -> Reply:
    """A JSON answer (or an empty one) that is never cached, as Back-Channel Logout 1.0 wants."""
    body = json.dumps(document).encode() if document is not None else b""
    headers = [("Cache-Control", "no-store"), ("Content-Length", str(len(body)))]
    if document is not None:
        headers.insert(0, ("Content-Type", "application/json"))
    return Reply(status, headers, body)


def query_params(query_string: str) -> list[tuple[str, str]]:
    """The query's pairs; bytes that are not UTF-8 are kept as surrogates, so they never equal a good value."""
    if not query_string:
        return []
    try:
        return parse_qsl(
            query_string, keep_blank_values=True, errors="surrogateescape", max_num_fields=_MAX_QUERY_FIELDS
        )
    except ValueError as exc:
        logger.warning(QUERY_REFUSED, exc)
        raise Refusal(400, "the query string has too many parameters") from None


def single_param(params: list[tuple[str, str]], name: str) -> str | None:
    """The one non-empty value of *name*; empty values are ignored, repeated ones refused."""
    values = [value for key, value in params if key == name and value]
    if len(values) > 1:
        logger.warning(PARAM_REPEATED, name, len(values))
        raise Refusal(400, f"{name} is given more than once")
    return values[0] if values else None
