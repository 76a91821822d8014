"""Logout that starts at the provider: the back-channel and front-channel receivers.

Back-Channel Logout 1.0: the provider POSTs a signed logout token, which is
checked (section 2.6) and recorded in the revocation store.  Front-Channel
Logout 1.0: the provider's page loads ours in an iframe with ``iss`` and
``sid``.  Both ask the store for their writes by yielding them (see
:mod:`.values`); the per-request check does the rest.
"""

from __future__ import annotations

import math
import time
from urllib.parse import parse_qsl, urlsplit

from .. import events
from ..config import LogoutConfig
from ..errors import DiscoveryError, LogoutTokenError, Refusal, UnknownKeyError
from ..specs.discovery import RETRY_AFTER_FAILURE
from ..specs.logout_token import LogoutClaims, precheck_logout_token, validate_logout_token
from ..web.cookies import CookieDeletions
from ..web.query import query_params, single_param
from .allowance import SeenSessions, UnconfirmedAllowance
from .methods import method_not_allowed
from .provider_keys import ProviderKeys
from .session_check import SessionCheck
from .values import (
    LogoutRequest,
    RememberJti,
    Reply,
    RevokeSession,
    RevokeSubject,
    Steps,
    StoreOutcome,
    json_reply,
    plain_reply,
)

__all__ = ["MAX_BODY", "MAX_IDENTIFIER", "BackchannelLogout", "FrontchannelLogout"]

BACKCHANNEL_REFUSED = "back-channel logout refused: %s"
BACKCHANNEL_DONE = "back-channel logout: %s revoked"
BACKCHANNEL_UNAVAILABLE = "back-channel logout not recorded, the provider should retry: %s"
FRONTCHANNEL_DONE = "front-channel logout: %s"
FRONTCHANNEL_REFUSED = "front-channel logout refused: %s"
FRONTCHANNEL_DEFERRED = "front-channel logout recorded here, and in the shared store once it is back: %s"
FRONTCHANNEL_UNAVAILABLE = "front-channel logout not recorded: %s"
NOT_ADVERTISED = "the provider's discovery document does not say backchannel_logout_supported; check its setup"

#: The largest request body the back-channel receiver reads; a logout token is far smaller.
MAX_BODY = 64 * 1024
_MAX_FORM_FIELDS = 64
#: Anyone may call the receivers, and what they record is kept for max_token_lifetime:
#: identifiers longer than any provider issues are refused rather than stored.
MAX_IDENTIFIER = 255
_SIGNED_OUT_PAGE = b"<!DOCTYPE html><title>Signed out</title>"
# Seconds a provider is asked to wait before retrying a logout the store could not record.
_STORE_RETRY_AFTER = 5


class _Refused(Exception):
    """A logout token or request the back-channel receiver refuses; the message says which check failed."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        #: The ``reason`` of the ``backchannel.refused`` event.
        self.reason = reason


class BackchannelLogout:
    """Back-Channel Logout 1.0 sections 2.5 to 2.8: validate the logout token, record the revocation.

    :param config: the options (issuer, client, leeway and lifetimes).
    :param keys: the provider's metadata and keys.
    :param algorithms: the algorithms the provider signs with.
    """

    def __init__(self, config: LogoutConfig, *, keys: ProviderKeys, algorithms: tuple[str, ...]) -> None:
        self.config = config
        self._keys = keys
        self._algorithms = algorithms
        self._time = time.time
        self._warned_not_advertised = False

    def __call__(self, request: LogoutRequest) -> Steps[Reply]:
        if request.method != "POST":
            return method_not_allowed("backchannel", request.method, "back-channel logout takes POST", "POST")
        content_type = (request.headers.get("content-type") or "").partition(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            _refused(f"content type {content_type[:60]!r}", "content_type")
            return plain_reply(415, "send application/x-www-form-urlencoded")
        body = request.body
        if body is None:
            _refused(f"the body did not arrive within {self.config.body_timeout:g} s", "body_timeout")
            return plain_reply(408, "the request body did not arrive in time", ("Connection", "close"))
        if len(body) > MAX_BODY:
            _refused("the request body is too large", "body_too_large")
            return plain_reply(413, "a logout token is never this large")
        try:
            claims = yield from self._validated_claims(body)
        except _Refused as refusal:
            _refused(str(refusal), refusal.reason)
            return json_reply(400, {"error": "invalid_request", "error_description": str(refusal)})
        except DiscoveryError as exc:
            return _retry_later(
                "keys unavailable", exc.retry_after or RETRY_AFTER_FAILURE, str(exc), "keys_unavailable"
            )
        expires_at = self._time() + self.config.max_token_lifetime
        # Revoke first, remember the jti last: a provider retrying after a 503 finds no replay.
        if claims.sid is not None:
            revoked: StoreOutcome = yield RevokeSession(claims.iss, claims.sid, expires_at)
        else:
            revoked = yield RevokeSubject(claims.iss, claims.sub or "", claims.iat, expires_at)
        if revoked.state != "written":
            return _retry_later("store unavailable", _STORE_RETRY_AFTER, revoked.error, _store_reason(revoked))
        remembered: StoreOutcome = yield RememberJti(claims.iss, claims.jti, expires_at)
        if remembered.state != "written":
            return _retry_later("store unavailable", _STORE_RETRY_AFTER, remembered.error, _store_reason(remembered))
        if not remembered.fresh:
            _refused("jti was seen before (replay)", "replay")
            return json_reply(400, {"error": "invalid_request", "error_description": "jti was already used"})
        if claims.sid:
            events.emit(events.BACKCHANNEL_ACCEPTED, BACKCHANNEL_DONE, "the session", scope="session")
        else:
            events.emit(events.BACKCHANNEL_ACCEPTED, BACKCHANNEL_DONE, "every session of the subject", scope="subject")
        return json_reply(200)

    def _validated_claims(self, body: bytes) -> Steps[LogoutClaims]:
        config = self.config
        try:
            params = parse_qsl(body.decode("ascii"), keep_blank_values=True, max_num_fields=_MAX_FORM_FIELDS)
        except ValueError:
            raise _Refused("the body is not a form of ASCII parameters", "form") from None
        tokens = [value for name, value in params if name == "logout_token"]
        if len(tokens) != 1 or not tokens[0]:
            raise _Refused("logout_token must be given exactly once", "form")
        try:
            # Everything that needs no key first: garbage costs no request to the provider.
            precheck_logout_token(tokens[0], algorithms=self._algorithms, client_secret=config.client_secret)
        except LogoutTokenError as exc:
            raise _Refused(str(exc), exc.reason) from None
        metadata = yield from self._keys.metadata(patient=True)
        if metadata is not None and not metadata.backchannel_logout_supported and not self._warned_not_advertised:
            self._warned_not_advertised = True
            events.emit(events.BACKCHANNEL_NOT_ADVERTISED, NOT_ADVERTISED)
        jwks_uri, keys = yield from self._keys.key_set()
        for attempt in range(2):
            try:
                return _bounded_identifiers(
                    validate_logout_token(
                        tokens[0],
                        jwks=keys,
                        issuer=config.issuer or "",
                        client_id=config.client_id or "",
                        now=self._time(),
                        algorithms=self._algorithms,
                        client_secret=config.client_secret,
                        leeway=config.logout_token_leeway,
                        accept_missing_exp_max_age=config.logout_token_max_age_without_exp,
                    )
                )
            except UnknownKeyError as exc:
                if attempt == 1:  # fetched again just now, and still not a key of the provider's
                    raise _Refused(str(exc), "unknown_key") from None
                # The provider may have rotated its keys; if they cannot be fetched now, it retries later.
                keys = yield from self._keys.refetch(jwks_uri)
            except LogoutTokenError as exc:
                raise _Refused(str(exc), exc.reason) from None
        raise AssertionError("unreachable")  # pragma: no cover


class FrontchannelLogout:
    """Front-Channel Logout 1.0 section 2: record the revocation, delete the cookies if they came.

    :param config: the options.
    :param keys: the provider's keys, to verify an id_token cookie that comes along.
    :param check: finds the session of the request's own cookies.
    :param deletions: the login cookies' deleting lines.
    :param seen: the sessions this process has seen in trusted requests.
    """

    def __init__(
        self,
        config: LogoutConfig,
        *,
        keys: ProviderKeys,
        check: SessionCheck,
        deletions: CookieDeletions,
        seen: SeenSessions,
    ) -> None:
        self.config = config
        self._keys = keys
        self._check = check
        self._deletions = deletions
        self._seen = seen
        self._time = time.time
        self._frame_ancestors = _origin(config.issuer or "")
        self._unconfirmed = UnconfirmedAllowance(lifetime=config.max_token_lifetime)

    def __call__(self, request: LogoutRequest) -> Steps[Reply]:
        config = self.config
        if request.method not in ("GET", "HEAD"):
            return method_not_allowed("frontchannel", request.method, "front-channel logout takes GET", "GET, HEAD")
        params = query_params(request.query_string, endpoint="frontchannel")
        iss = single_param(params, "iss", endpoint="frontchannel")
        sid = single_param(params, "sid", endpoint="frontchannel")
        if (iss is None) != (sid is None):
            _frame_refused("iss and sid do not come together", "parameters")
            raise Refusal(400, "iss and sid come together or not at all")
        if iss is not None and iss != config.issuer:
            _frame_refused("iss is not the configured issuer", "issuer")
            raise Refusal(400, "iss is not this app's provider")
        if sid is not None and len(sid) > MAX_IDENTIFIER:
            _frame_refused("sid is too long", "sid_too_long")
            raise Refusal(400, f"sid is longer than {MAX_IDENTIFIER} characters")
        if config.frontchannel_logout_session_required and sid is None:
            _frame_refused("iss and sid are required", "session_required")
            raise Refusal(400, "iss and sid are required")
        session = yield from self._check.trusted_claims(request)
        # Browsers that block third-party cookies send none in the provider's
        # frame, so the revocation is recorded by iss and sid regardless; but a
        # session this process never saw only within the unconfirmed allowance.
        if iss is not None and sid is not None:
            named = (iss, sid)
            revoked: tuple[str, str] | None = named
            confirmed = (session is not None and (session.iss, session.sid) == named) or named in self._seen
            if not confirmed and not self._unconfirmed.take():
                _frame_refused("too many logouts of sessions this process never saw", "unconfirmed_limit")
                return plain_reply(429, "too many logouts of unknown sessions; try again later", ("Retry-After", "1"))
        elif session is not None and session.sid is not None:
            revoked = (session.iss, session.sid)
        else:
            revoked = None
        if revoked is not None:
            outcome: StoreOutcome = yield RevokeSession(
                revoked[0], revoked[1], self._time() + config.max_token_lifetime
            )
            if outcome.state == "deferred":
                # Kept here, and written to the shared store when it is back: a frame is never retried.
                events.emit(events.FRONTCHANNEL_DEFERRED, FRONTCHANNEL_DEFERRED, outcome.error)
            elif outcome.state == "unavailable":
                events.emit(events.FRONTCHANNEL_UNAVAILABLE, FRONTCHANNEL_UNAVAILABLE, outcome.error)
                return plain_reply(503, "the logout could not be recorded; please try again")
        headers = [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Security-Policy", f"default-src 'none'; frame-ancestors {self._frame_ancestors}"),
            ("Cache-Control", "no-store"),
            ("Content-Length", str(len(_SIGNED_OUT_PAGE))),
        ]
        # Named by iss and sid, only that session's cookies go; named by nothing (session_required off),
        # whatever login cookies came.
        deleted = 0
        if sid is None or (session is not None and (session.iss, session.sid) == (iss, sid)):
            deletions = self._deletions.lines(request.secure)
            headers += deletions
            deleted = len(deletions)
        events.emit(
            events.FRONTCHANNEL_ACCEPTED, FRONTCHANNEL_DONE, "session revoked" if revoked else "cookies deleted",
            revoked=revoked is not None, cookies_deleted=deleted,
        )  # fmt: skip
        return Reply(200, headers, _SIGNED_OUT_PAGE)


def _bounded_identifiers(claims: LogoutClaims) -> LogoutClaims:
    for name in ("sid", "sub", "jti"):
        value = getattr(claims, name)
        if value is not None and len(value) > MAX_IDENTIFIER:
            raise _Refused(f"{name} is longer than {MAX_IDENTIFIER} characters", "identifier_too_long")
    return claims


def _refused(why: str, reason: str) -> None:
    events.emit(events.BACKCHANNEL_REFUSED, BACKCHANNEL_REFUSED, why, reason=reason)


def _frame_refused(why: str, reason: str) -> None:
    events.emit(events.FRONTCHANNEL_REFUSED, FRONTCHANNEL_REFUSED, why, reason=reason)


def _store_reason(outcome: StoreOutcome) -> str:
    return "store_deferred" if outcome.state == "deferred" else "store_unavailable"


def _retry_later(why: str, seconds: float, error: str, reason: str) -> Reply:
    """503 with ``Retry-After``: the provider retries a back-channel logout it got this for."""
    retry_after = max(1, math.ceil(seconds))
    events.emit(events.BACKCHANNEL_UNAVAILABLE, BACKCHANNEL_UNAVAILABLE, error, reason=reason, retry_after=retry_after)
    return json_reply(
        503,
        {"error": "temporarily_unavailable", "error_description": why},
        ("Retry-After", str(retry_after)),
    )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
