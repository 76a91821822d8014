"""The plain values that cross the seam between the core and the drivers, in both directions.

Into the core: a :class:`LogoutRequest` (a request for one of the
middleware's paths), or, for the per-request check, the Cookie header and
the framework's session.  Out of it: a :class:`Reply`, or a
:class:`Verdict` for a request on its way to the app.

While the core works on a request it may need the outside world; it then
*yields* what it needs, as a value, and is sent back the answer, as a
value (the :data:`Steps` of a generator), never an exception:

==========================  ==========================  ==============================
the core yields             the driver                  and sends back
==========================  ==========================  ==============================
:class:`Outbound`           sends it to the provider    :class:`Inbound`
:class:`RevokeSession`,     writes to the revocation    :class:`StoreOutcome`
:class:`RevokeSubject`,     store it owns
:class:`RememberJti`
:class:`LookUp`             asks that store             :class:`Lookup`
:class:`CallOnLogout`       calls the app's hook        None
:class:`CollectMetrics`     renders the metrics it      the text, as bytes
                            keeps
==========================  ==========================  ==============================
"""

from __future__ import annotations

import json
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Literal, TypeVar

__all__ = [
    "CallOnLogout",
    "CollectMetrics",
    "Inbound",
    "LogoutRequest",
    "LookUp",
    "Lookup",
    "Outbound",
    "RememberJti",
    "Reply",
    "RevokeSession",
    "RevokeSubject",
    "SessionRef",
    "Steps",
    "StoreOutcome",
    "StoreWrite",
    "Verdict",
    "json_reply",
    "plain_reply",
]

T = TypeVar("T")

_TEXT = ("Content-Type", "text/plain; charset=utf-8")

#: A session as the revocation store knows it: (iss, session key, sub, iat); see specs.id_token.SessionClaims.
SessionRef = tuple[str, str, "str | None", "float | None"]


@dataclass(frozen=True, slots=True)
class LogoutRequest:
    """A request for one of the middleware's paths, as plain values."""

    #: The request method, upper case.
    method: str
    #: The path relative to where the app is mounted.
    path: str
    #: Whether the browser used HTTPS (decided once, by the front door: ``https`` or ``wss``).
    secure: bool
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
    #: The request body, read (up to the endpoint's ``max_body`` + 1 bytes) only for endpoints that read one;
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


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a request the per-request check stopped takes to the app instead, or the answer it gets."""

    #: The Cookie header the app gets: without the login cookies.
    cookie_header: str
    #: ``Set-Cookie`` lines that delete the login cookies, added to the app's response.
    deletions: list[tuple[str, str]]
    #: Empty the framework's session too (it belongs to the revoked session).
    clear_session: bool = False
    #: Answer this instead of calling the app: the check could not be made and fails closed.
    reply: Reply | None = None

    def deletions_except(self, names: set[str]) -> list[tuple[str, str]]:
        """The deletions, but none for a cookie the app's own response sets (a new sign-in wins)."""
        if not names:
            return self.deletions
        return [line for line in self.deletions if line[1].partition("=")[0] not in names]


# -- what the core asks for ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outbound:
    """An HTTP request to the provider."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    timeout: float = 5.0


@dataclass(frozen=True, slots=True)
class Inbound:
    """The provider's answer, or why there was none (``status`` is 0 then)."""

    status: int
    body: bytes = b""
    error: str | None = None
    content_type: str = ""


@dataclass(frozen=True, slots=True)
class RevokeSession:
    """Write to the store: the session *sid* at *iss* is revoked until *expires_at*."""

    iss: str
    sid: str
    expires_at: float


@dataclass(frozen=True, slots=True)
class RevokeSubject:
    """Write to the store: every session of *sub* at *iss* issued until *revoked_at* is revoked."""

    iss: str
    sub: str
    revoked_at: float
    expires_at: float


@dataclass(frozen=True, slots=True)
class RememberJti:
    """Write to the store: a logout token's ``jti``, to refuse its replay (``StoreOutcome.fresh`` says if new)."""

    iss: str
    jti: str
    expires_at: float


StoreWrite = RevokeSession | RevokeSubject | RememberJti


@dataclass(frozen=True, slots=True)
class StoreOutcome:
    """How a write went: written; held in this process and sent to the shared store later; or not at all."""

    state: Literal["written", "deferred", "unavailable"]
    #: For :class:`RememberJti`: False when the ``jti`` was seen before.
    fresh: bool = True
    #: Why it was not written, for the log.
    error: str = ""


@dataclass(frozen=True, slots=True)
class LookUp:
    """Ask the store whether any of these sessions is revoked."""

    refs: tuple[SessionRef, ...]


@dataclass(frozen=True, slots=True)
class Lookup:
    """The store's answer: revoked or not, or why it cannot tell (a store set to fail closed)."""

    revoked: bool
    unavailable: str | None = None


@dataclass(frozen=True, slots=True)
class CallOnLogout:
    """Call the app's ``on_logout`` hook with these claims (a ``SessionClaims``, or None)."""

    claims: Any


@dataclass(frozen=True, slots=True)
class CollectMetrics:
    """Render the metrics the driver keeps (see :mod:`logout_middleware.metrics`), in the Prometheus text format."""


#: What the core's flows are: generators that yield what they need and return their answer.
Steps = Generator[Outbound | StoreWrite | LookUp | CallOnLogout | CollectMetrics, Any, T]


def plain_reply(status: int, message: str, *extra: tuple[str, str]) -> Reply:
    """A short ``text/plain`` answer that is never cached."""
    body = f"{HTTPStatus(status).phrase}: {message}\n".encode()
    headers = [_TEXT, ("Content-Length", str(len(body))), ("Cache-Control", "no-store"), *extra]
    return Reply(status, headers, body)


def json_reply(status: int, document: dict[str, str] | None = None, *extra: tuple[str, str]) -> Reply:
    """A JSON answer (or an empty one) that is never cached, as Back-Channel Logout 1.0 wants."""
    body = json.dumps(document).encode() if document is not None else b""
    headers = [("Cache-Control", "no-store"), ("Content-Length", str(len(body))), *extra]
    if document is not None:
        headers.insert(0, ("Content-Type", "application/json"))
    return Reply(status, headers, body)
