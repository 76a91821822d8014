"""Every event the library reports: a stable name, a level, documented fields, and who is told.

Each log record of the ``logout_middleware`` logger is one of the events
below, with ``extra={"event": <name>, **fields}``: a formatter can read
``record.event`` and each field as attributes of the record.  The names are
dotted and lower-case (``logout.redirected``, ``backchannel.refused``); a
field holds a bounded, safe value, never a token, a secret, a cookie's value,
a ``state`` or text a client sent: reasons come from fixed sets, the rest are
counts, seconds, flags, the configured names of cookies, and provider URLs.
``docs/events.md`` lists them all, and a test keeps that table, this
registry and the code that emits them in agreement.

The same events go to *listeners*, functions of the event's name and
fields that the app adds with :func:`add_listener`: the hook for
OpenTelemetry, or any metrics library (:mod:`logout_middleware.metrics`
feeds Prometheus counters this way).  A listener is told whatever the
logger's level, in the thread that emits the event (a request's, or the
Redis store's listener thread, or an event loop): it must be quick and must
not block.  What it raises is logged (``events.listener_failed``), never
passed on.

.. code-block:: python

    from logout_middleware import events

    def count(name: str, fields: Mapping[str, object]) -> None:
        if name == "backchannel.refused":
            refused.add(1, {"reason": fields["reason"]})

    events.add_listener(count)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

__all__ = ["EVENTS", "FIELDS", "Event", "Listener", "add_listener", "emit", "remove_listener"]

logger = logging.getLogger("logout_middleware")

#: Told of every event: its name and its fields (a dict the listener must not change).
Listener = Callable[[str, Mapping[str, object]], object]

#: What each field is, for every event that has it.
FIELDS: dict[str, str] = {
    "endpoint": "where it happened: one of the middleware's paths (`logout`, `callback`, `backchannel`,"
    " `frontchannel`, `forward_auth`, `metrics`), or `app` for the per-request check of the app's own paths",
    "reason": "why, one of the values the event lists",
    "cookies_deleted": "how many login cookies the answer deletes (`Set-Cookie` lines)",
    "id_token_hint": "whether the end-session request carries `id_token_hint`",
    "url_length": "the length of the end-session URL, in characters",
    "session": "whether the request brought the app's session",
    "cookie_name": "the configured name of the cookie (never its value)",
    "token_type": "the RFC 7009 `token_type_hint`: `refresh_token` or `access_token`",
    "status": "the provider's HTTP status; `0` when it did not answer, or was not asked",
    "error_type": "the class name of the exception",
    "state_checked": "whether `state` came back and matched the browser's state cookie (false: the provider"
    " sent the user back on its own, with neither)",
    "scope": "what the logout token ends: `session` (it names a `sid`) or `subject` (every session of its `sub`)",
    "retry_after": "the seconds the provider is asked to wait before retrying (`Retry-After`)",
    "revoked": "whether a session was recorded as revoked",
    "document": "what was fetched from the provider: `discovery` (its metadata) or `jwks` (its signing keys)",
    "url": "the provider's URL that was fetched",
    "unavailable": "whether the provider did not answer (true), rather than answered something unusable (false)",
    "age": "the age of the document used instead, in seconds",
    "store": "the revocation store: `redis`",
    "revocations": "how many revocations",
    "seconds": "how long it took, in seconds",
    "reconnect": "whether the store was lost before (this is a reconnection, not the first connection)",
}

_LOG_RECORD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}

#: Every event, by name.
EVENTS: dict[str, Event] = {}


@dataclass(frozen=True, slots=True, eq=False)
class Event:
    """One kind of event: its name, level, meaning and fields."""

    #: Dotted and lower-case, stable across versions (see docs/versioning.md).
    name: str
    #: The level of its log record.
    level: int
    #: One line: what happened, and what it means for the operator.
    meaning: str
    #: Each field and its values: a type, or the fixed strings it may hold.
    fields: Mapping[str, type | tuple[str, ...]] = field(default_factory=dict)
    #: The level after the first time in a process, for a warning given once.
    repeat_level: int | None = None


def _event(
    name: str,
    level: int,
    meaning: str,
    fields: Mapping[str, type | tuple[str, ...]] | None = None,
    *,
    repeat_level: int | None = None,
) -> Event:
    for field_name in fields or {}:
        if field_name in _LOG_RECORD_ATTRIBUTES or field_name not in FIELDS or field_name == "event":
            raise ValueError(f"event {name}: the field {field_name!r} is not a documented, free field name")
    event = Event(name, level, meaning, dict(fields or {}), repeat_level)
    EVENTS[name] = event
    return event


_ENDPOINTS = ("logout", "callback", "backchannel", "frontchannel", "forward_auth", "metrics")
_CHECKED = ("app", "forward_auth")
_INFO, _WARNING, _ERROR = logging.INFO, logging.WARNING, logging.ERROR

# -- /logout ----------------------------------------------------------------------
LOGOUT_REDIRECTED = _event(
    "logout.redirected",
    _INFO,
    "The app's session ended and the browser was sent to the provider's end-session endpoint.",
    {"cookies_deleted": int, "id_token_hint": bool},
)
LOGOUT_FORM_POST = _event(
    "logout.form_post",
    _INFO,
    "As `logout.redirected`, but the end-session URL was too long: the parameters go by a self-submitting form.",
    {"cookies_deleted": int, "id_token_hint": bool, "url_length": int},
)
LOGOUT_LOCAL = _event(
    "logout.local",
    _INFO,
    "The app's session ended; the provider has no end-session endpoint, so the logout is local only.",
    {"cookies_deleted": int},
)
LOGOUT_PREFETCH_DECLINED = _event(
    "logout.prefetch_declined",
    _INFO,
    "A browser prefetched `/logout`: answered `503`, nobody was logged out.",
)
LOGOUT_REFUSED = _event(
    "logout.refused",
    _WARNING,
    "A logout request was refused (`403` or `400`): cross-site, a redirect or return path not allowed, or a"
    " mount path that cannot go into a cookie.",
    {"reason": ("cross_site", "not_same_origin", "redirect_uri", "return_to", "mount_path")},
)
LOGOUT_FAILED = _event(
    "logout.failed",
    _ERROR,
    "The provider's end-session endpoint could not be had (`503` or `502`); nothing was deleted, so that a"
    " retry can still send `id_token_hint`.",
    {"reason": ("provider_unavailable", "provider_unusable", "no_end_session_endpoint")},
)
LOGOUT_REDIRECT_OMITTED = _event(
    "logout.redirect_omitted",
    _INFO,
    "`post_logout_redirect_uri` was not sent: without an id_token the provider would refuse it; it shows its"
    " own signed-out page.",
    {"reason": ("no_client_id", "provider_needs_id_token")},
)
LOGOUT_NO_ID_TOKEN = _event(
    "logout.no_id_token",
    _WARNING,
    "No id_token was found for the logout, so the provider gets no `id_token_hint` and may keep its session;"
    " a warning the first time in a process (check `id_token_session_keys`), then informational.",
    {"session": bool},
    repeat_level=_INFO,
)
LOGOUT_ID_TOKEN_MALFORMED = _event(
    "logout.id_token_malformed",
    _WARNING,
    "The id_token found is not a compact JWT: it is deleted but not sent as `id_token_hint`.",
    {"cookie_name": str},
)
LOGOUT_SESSION_DEFERRED = _event(
    "logout.session_deferred",
    _WARNING,
    "The signed-out session is recorded as revoked in this process, and in the shared store once it is back.",
)
LOGOUT_SESSION_NOT_RECORDED = _event(
    "logout.session_not_recorded",
    _ERROR,
    "The signed-out session could not be recorded as revoked: a copy of its cookie stays valid.",
)
LOGOUT_TOKEN_REVOKED = _event(
    "logout.token_revoked",
    _INFO,
    "A token of the logout's cookies was revoked at the provider (RFC 7009).",
    {"token_type": ("refresh_token", "access_token")},
)
LOGOUT_TOKEN_NOT_REVOKED = _event(
    "logout.token_not_revoked",
    _WARNING,
    "A token could not be revoked at the provider; the logout goes on.",
    {
        "token_type": ("refresh_token", "access_token"),
        "reason": ("no_endpoint", "unreachable", "refused"),
        "status": int,
    },
)
LOGOUT_HOOK_FAILED = _event(
    "logout.hook_failed",
    _ERROR,
    "The app's `on_logout` hook raised (the traceback is in the record); the logout goes on.",
    {"error_type": str},
)

# -- the callback -------------------------------------------------------------------
CALLBACK_RETURNED = _event(
    "callback.returned",
    _INFO,
    "The provider sent the browser back to `logout_callback_path`, which sent it on to its page.",
    {"state_checked": bool},
)
CALLBACK_REFUSED = _event(
    "callback.refused",
    _WARNING,
    "The callback was refused (`400`): `state` or its cookie missing, expired, replayed or forged.",
    {"reason": ("no_state", "no_state_cookie", "state_mismatch", "mount_path")},
)

# -- back-channel logout ---------------------------------------------------------------
BACKCHANNEL_ACCEPTED = _event(
    "backchannel.accepted",
    _INFO,
    "A logout token was valid and its revocation recorded: answered `200`.",
    {"scope": ("session", "subject")},
)
BACKCHANNEL_REFUSED = _event(
    "backchannel.refused",
    _WARNING,
    "A back-channel request was refused (`400`, `408`, `413`, `415`): the check named by `reason` failed.",
    {
        "reason": (
            "content_type",
            "body_timeout",
            "body_too_large",
            "form",
            "malformed",
            "algorithm",
            "typ",
            "unknown_key",
            "signature",
            "issuer",
            "audience",
            "iat",
            "exp",
            "sid_sub",
            "events",
            "nonce",
            "jti",
            "identifier_too_long",
            "replay",
        )
    },
)
BACKCHANNEL_UNAVAILABLE = _event(
    "backchannel.unavailable",
    _ERROR,
    "A logout could not be recorded now: answered `503` with `Retry-After`, so that the provider retries.",
    {"reason": ("keys_unavailable", "store_deferred", "store_unavailable"), "retry_after": int},
)
BACKCHANNEL_NOT_ADVERTISED = _event(
    "backchannel.not_advertised",
    _WARNING,
    "The provider's discovery document does not say `backchannel_logout_supported`; once per process.",
)

# -- front-channel logout --------------------------------------------------------------
FRONTCHANNEL_ACCEPTED = _event(
    "frontchannel.accepted",
    _INFO,
    "A front-channel logout was answered `200`: a session revoked, or only the cookies that came deleted.",
    {"revoked": bool, "cookies_deleted": int},
)
FRONTCHANNEL_REFUSED = _event(
    "frontchannel.refused",
    _WARNING,
    "A front-channel request was refused (`400`, or `429` past the allowance for sessions this process never saw).",
    {"reason": ("parameters", "issuer", "sid_too_long", "session_required", "unconfirmed_limit")},
)
FRONTCHANNEL_DEFERRED = _event(
    "frontchannel.deferred",
    _WARNING,
    "The revocation is held in this process, and written to the shared store once it is back.",
)
FRONTCHANNEL_UNAVAILABLE = _event(
    "frontchannel.unavailable",
    _ERROR,
    "The revocation could not be recorded: answered `503`.",
)

# -- the per-request check and forward-auth ----------------------------------------------
CHECK_STRIPPED = _event(
    "check.stripped",
    _INFO,
    "A request lost its login cookies (on the app's paths) or got `401` (forward-auth): its session was"
    " revoked, or its login cookies came without a verified id_token.",
    {"endpoint": _CHECKED, "reason": ("revoked", "untrusted")},
)
CHECK_UNAVAILABLE = _event(
    "check.unavailable",
    _ERROR,
    "A checked request was answered `503`: the store or the provider's keys are not at hand, and checks fail closed.",
    {"endpoint": _CHECKED, "reason": ("keys_unavailable", "store_unavailable")},
)

# -- any of the middleware's paths -------------------------------------------------------
REQUEST_METHOD_REFUSED = _event(
    "request.method_refused",
    _INFO,
    "A request with a method the path does not take was answered `405`.",
    {"endpoint": _ENDPOINTS},
)
QUERY_REFUSED = _event(
    "query.refused",
    _WARNING,
    "A query string was refused (`400`): too many parameters, or one given more than once.",
    {"endpoint": ("logout", "callback", "frontchannel"), "reason": ("query_unparsable", "param_repeated")},
)

# -- the provider ---------------------------------------------------------------------
PROVIDER_FETCH_FAILED = _event(
    "provider.fetch_failed",
    _ERROR,
    "Fetching the provider's discovery document or keys failed, and none fetched before is at hand.",
    {"document": ("discovery", "jwks"), "url": str, "unavailable": bool},
)
PROVIDER_FETCH_STALE = _event(
    "provider.fetch_stale",
    _WARNING,
    "Fetching the provider's discovery document or keys failed; the last good one is used meanwhile.",
    {"document": ("discovery", "jwks"), "url": str, "unavailable": bool, "age": float},
)
PROVIDER_KEYS_UNAVAILABLE = _event(
    "provider.keys_unavailable",
    _WARNING,
    "The provider's keys cannot be had, so id_token cookies cannot be verified now (the fetch's own event says why).",
    {"unavailable": bool},
)

# -- the revocation store ----------------------------------------------------------------
_STORES = ("redis",)
STORE_SYNCED = _event(
    "store.synced",
    _INFO,
    "The store connected and this process's copy is in step with it again.",
    {"store": _STORES, "revocations": int, "seconds": float, "reconnect": bool},
)
STORE_LOST = _event(
    "store.lost",
    _WARNING,
    "The link to the shared store is lost (once per outage); it is retried, and the local copy answers meanwhile.",
    {"store": _STORES, "error_type": str},
)
STORE_LISTENER_ERROR = _event(
    "store.listener_error",
    _ERROR,
    "The store's listener hit an unexpected error (the traceback is in the record); it retries as for `store.lost`.",
    {"store": _STORES, "error_type": str},
)
STORE_WRITTEN_BACK = _event(
    "store.written_back",
    _WARNING,
    "The shared store had lost revocations (restarted empty, failed over): this process wrote them back.",
    {"store": _STORES, "revocations": int},
)
STORE_BAD_MESSAGE = _event(
    "store.bad_message",
    _WARNING,
    "A message on the store's revocation channel was not one of ours, and was ignored.",
    {"store": _STORES},
)

# -- this module -----------------------------------------------------------------
EVENTS_LISTENER_FAILED = _event(
    "events.listener_failed",
    _ERROR,
    "A listener added with `add_listener` raised (the traceback is in the record); the others were told.",
    {"error_type": str},
)
_LISTENER_FAILED = "an event listener raised %s; the others were told"


class _Listeners:
    """The listeners, as a tuple replaced whole: emit() reads it without a lock."""

    def __init__(self) -> None:
        self.all: tuple[Listener, ...] = ()
        self.lock = threading.Lock()


_listeners = _Listeners()


def add_listener(listener: Listener) -> None:
    """Tell *listener* of every event of this process, from now on: ``listener(name, fields)``.

    Process-wide, like the logger: every middleware of the process reports to it.
    """
    with _listeners.lock:
        _listeners.all = (*_listeners.all, listener)


def remove_listener(listener: Listener) -> None:
    """Stop telling *listener*; nothing happens if it was not added."""
    with _listeners.lock:
        _listeners.all = tuple(known for known in _listeners.all if known != listener)


def emit(
    event: Event, message: str, *args: object, exc_info: bool = False, quiet: bool = False, **fields: object
) -> None:
    """Report *event*: tell the listeners, and log *message* % *args* with the event's name and *fields*.

    :param quiet: log at the event's ``repeat_level`` (a warning already given once).
    :param exc_info: add the traceback of the exception being handled.
    """
    for listener in _listeners.all:
        try:
            listener(event.name, fields)
        except Exception as exc:  # the app's code: whatever it raises, the others are told
            logger.exception(
                _LISTENER_FAILED,
                type(exc).__name__,
                extra={"event": EVENTS_LISTENER_FAILED.name, "error_type": type(exc).__name__},
            )
    level = event.repeat_level if quiet and event.repeat_level is not None else event.level
    if logger.isEnabledFor(level):
        # stacklevel: the record names the line that emitted the event, not this one.
        logger.log(level, message, *args, exc_info=exc_info, extra={"event": event.name, **fields}, stacklevel=2)
