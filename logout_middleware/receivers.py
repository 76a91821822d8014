"""Logout that starts at the provider: the back-channel and front-channel receivers, and forward-auth.

Each one records revocations in the store of a :class:`~logout_middleware.sessions.SessionGuard`,
or asks it about a session; the per-request check in the adapters does the rest.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from .allowance import UnconfirmedAllowance
from .discovery import RETRY_AFTER_FAILURE, DiscoveryError, ProviderMetadata
from .logout_token import (
    LogoutClaims,
    LogoutTokenError,
    UnknownKeyError,
    precheck_logout_token,
    validate_logout_token,
)
from .messages import LogoutRequest, Refusal, Reply, json_reply, plain_reply, query_params, single_param
from .outbound import Blocking, Steps
from .revocation import RevocationStore, StoreDeferredError, StoreUnavailableError

if TYPE_CHECKING:
    from .handler import LogoutHandler

__all__ = ["MAX_BODY", "ProviderLogout"]

logger = logging.getLogger("logout_middleware")

BACKCHANNEL_REFUSED = "back-channel logout refused: %s"
BACKCHANNEL_DONE = "back-channel logout: %s revoked"
BACKCHANNEL_UNAVAILABLE = "back-channel logout not recorded, the provider should retry: %s"
FRONTCHANNEL_DONE = "front-channel logout: %s"
FRONTCHANNEL_REFUSED = "front-channel logout refused: %s"
FRONTCHANNEL_DEFERRED = "front-channel logout recorded here, and in the shared store once it is back: %s"
NOT_ADVERTISED = "the provider's discovery document does not say backchannel_logout_supported; check its setup"

#: The largest request body the back-channel receiver reads; a logout token is far smaller.
MAX_BODY = 64 * 1024
_MAX_FORM_FIELDS = 64
# Anyone may call the receivers, and what they record is kept for max_token_lifetime:
# identifiers longer than any provider issues are refused rather than stored.
MAX_IDENTIFIER = 255
_SIGNED_OUT_PAGE = b"<!DOCTYPE html><title>Signed out</title>"
# Seconds a provider is asked to wait before retrying a logout the store could not record.
_STORE_RETRY_AFTER = 5


class BackchannelRefusal(Exception):
    """A logout token or request the back-channel receiver refuses; the message says which check failed."""


class ProviderLogout:
    """Answers the provider's logout requests and the reverse proxy's forward-auth checks."""

    def __init__(
        self,
        handler: LogoutHandler,
        *,
        deletions: Callable[[bool], list[tuple[str, str]]],
        metadata: Callable[..., Steps[ProviderMetadata | None]],
    ) -> None:
        self.config = handler.config
        self.handler = handler
        assert handler.store is not None  # noqa: S101 - made only while requests are checked
        self.store: RevocationStore = handler.store
        self._deletions = deletions
        self._metadata = metadata
        self._jwks = handler.jwks
        self._time = time.time
        self._frame_ancestors = _origin(self.config.issuer or "")
        self._unconfirmed = UnconfirmedAllowance(lifetime=self.config.max_token_lifetime)
        self._warned_not_advertised = False

    def backchannel(self, request: LogoutRequest) -> Steps[Reply]:
        """Back-Channel Logout 1.0 sections 2.5 to 2.8: validate the logout token, record the revocation."""
        if request.method != "POST":
            return plain_reply(405, "back-channel logout takes POST", ("Allow", "POST"))
        content_type = (request.headers.get("content-type") or "").partition(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            logger.warning(BACKCHANNEL_REFUSED, f"content type {content_type[:60]!r}")
            return plain_reply(415, "send application/x-www-form-urlencoded")
        body = request.body
        if body is None:
            logger.warning(BACKCHANNEL_REFUSED, f"the body did not arrive within {self.config.body_timeout:g} s")
            return plain_reply(408, "the request body did not arrive in time", ("Connection", "close"))
        if len(body) > MAX_BODY:
            logger.warning(BACKCHANNEL_REFUSED, "the request body is too large")
            return plain_reply(413, "a logout token is never this large")
        try:
            claims = yield from self._validated_claims(body)
        except BackchannelRefusal as refusal:
            logger.warning(BACKCHANNEL_REFUSED, refusal)
            return json_reply(400, {"error": "invalid_request", "error_description": str(refusal)})
        except DiscoveryError as exc:
            logger.error(BACKCHANNEL_UNAVAILABLE, exc)
            return _retry_later("keys unavailable", exc.retry_after or RETRY_AFTER_FAILURE)
        store = self.store
        expires_at = self._time() + self.config.max_token_lifetime
        try:
            # Revoke first, remember the jti last: a provider retrying after a 503 finds no replay.
            if claims.sid is not None:
                yield Blocking(lambda: store.revoke_session(claims.iss, claims.sid or "", expires_at))
            else:
                yield Blocking(lambda: store.revoke_subject(claims.iss, claims.sub or "", claims.iat, expires_at))
            fresh = yield Blocking(lambda: store.check_and_remember_jti(claims.iss, claims.jti, expires_at))
        except StoreUnavailableError as exc:
            logger.error(BACKCHANNEL_UNAVAILABLE, exc)
            return _retry_later("store unavailable", _STORE_RETRY_AFTER)
        if not fresh:
            logger.warning(BACKCHANNEL_REFUSED, "jti was seen before (replay)")
            return json_reply(400, {"error": "invalid_request", "error_description": "jti was already used"})
        logger.info(BACKCHANNEL_DONE, "the session" if claims.sid else "every session of the subject")
        return json_reply(200)

    def _validated_claims(self, body: bytes) -> Steps[LogoutClaims]:
        config = self.config
        try:
            params = parse_qsl(body.decode("ascii"), keep_blank_values=True, max_num_fields=_MAX_FORM_FIELDS)
        except ValueError:
            raise BackchannelRefusal("the body is not a form of ASCII parameters") from None
        tokens = [value for name, value in params if name == "logout_token"]
        if len(tokens) != 1 or not tokens[0]:
            raise BackchannelRefusal("logout_token must be given exactly once")
        # The registered algorithm (id_token_signed_response_alg, RS256 unless
        # changed), not every one the provider supports: a token signed with
        # another one is refused even if a provider key fits it.
        algorithms = self.handler.signing_algorithms
        try:
            # Everything that needs no key first: garbage costs no request to the provider.
            precheck_logout_token(tokens[0], algorithms=algorithms, client_secret=config.client_secret)
        except LogoutTokenError as exc:
            raise BackchannelRefusal(str(exc)) from None
        metadata = yield from self._metadata(patient=True)
        if metadata is None or metadata.jwks_uri is None:
            raise DiscoveryError("the discovery document has no jwks_uri", unavailable=False)
        if not metadata.backchannel_logout_supported and not self._warned_not_advertised:
            self._warned_not_advertised = True
            logger.warning(NOT_ADVERTISED)
        keys = yield from self._jwks.get(metadata.jwks_uri)
        for attempt in range(2):
            try:
                return self._checked(
                    validate_logout_token(
                        tokens[0],
                        jwks=keys,
                        issuer=config.issuer or "",
                        client_id=config.client_id or "",
                        now=self._time(),
                        algorithms=algorithms,
                        client_secret=config.client_secret,
                        leeway=config.logout_token_leeway,
                        accept_missing_exp_max_age=config.logout_token_max_age_without_exp,
                    )
                )
            except UnknownKeyError as exc:
                if attempt == 1:  # fetched again just now, and still not a key of the provider's
                    raise BackchannelRefusal(str(exc)) from None
                # The provider may have rotated its keys; if they cannot be fetched now, it retries later.
                keys = yield from self._jwks.refresh_for_unknown_key(metadata.jwks_uri)
            except LogoutTokenError as exc:
                raise BackchannelRefusal(str(exc)) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _checked(self, claims: LogoutClaims) -> LogoutClaims:
        for name in ("sid", "sub", "jti"):
            value = getattr(claims, name)
            if value is not None and len(value) > MAX_IDENTIFIER:
                raise BackchannelRefusal(f"{name} is longer than {MAX_IDENTIFIER} characters")
        return claims

    def frontchannel(self, request: LogoutRequest) -> Steps[Reply]:
        """Front-Channel Logout 1.0 section 2: record the revocation, delete the cookies if they came."""
        config = self.config
        if request.method not in ("GET", "HEAD"):
            return plain_reply(405, "front-channel logout takes GET", ("Allow", "GET, HEAD"))
        params = query_params(request.query_string)
        iss, sid = single_param(params, "iss"), single_param(params, "sid")
        if (iss is None) != (sid is None):
            raise Refusal(400, "iss and sid come together or not at all")
        if iss is not None and iss != config.issuer:
            logger.warning(FRONTCHANNEL_REFUSED, "iss is not the configured issuer")
            raise Refusal(400, "iss is not this app's provider")
        if sid is not None and len(sid) > MAX_IDENTIFIER:
            logger.warning(FRONTCHANNEL_REFUSED, "sid is too long")
            raise Refusal(400, f"sid is longer than {MAX_IDENTIFIER} characters")
        if config.frontchannel_logout_session_required and sid is None:
            raise Refusal(400, "iss and sid are required")
        session = yield from self.handler.trusted_claims(request)
        # Browsers that block third-party cookies send none in the provider's
        # frame, so the revocation is recorded by iss and sid regardless; but a
        # session this process never saw only within the unconfirmed allowance.
        if iss is not None and sid is not None:
            named = (iss, sid)
            revoked: tuple[str, str] | None = named
            confirmed = (session is not None and (session.iss, session.sid) == named) or named in self.handler.seen
            if not confirmed and not self._unconfirmed.take():
                logger.warning(FRONTCHANNEL_REFUSED, "too many logouts of sessions this process never saw")
                return plain_reply(429, "too many logouts of unknown sessions; try again later", ("Retry-After", "1"))
        elif session is not None and session.sid is not None:
            revoked = (session.iss, session.sid)
        else:
            revoked = None
        if revoked is not None:
            store, expires_at = self.store, self._time() + config.max_token_lifetime
            try:
                yield Blocking(lambda: store.revoke_session(revoked[0], revoked[1], expires_at))
            except StoreDeferredError as exc:
                # Kept here, and written to the shared store when it is back: a frame is never retried.
                logger.warning(FRONTCHANNEL_DEFERRED, exc)
            except StoreUnavailableError as exc:
                logger.error(FRONTCHANNEL_REFUSED, exc)
                return plain_reply(503, "the logout could not be recorded; please try again")
        headers = [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Security-Policy", f"default-src 'none'; frame-ancestors {self._frame_ancestors}"),
            ("Cache-Control", "no-store"),
            ("Content-Length", str(len(_SIGNED_OUT_PAGE))),
        ]
        cookie_is_that_session = session is not None and (sid is None or (session.iss, session.sid) == (iss, sid))
        if cookie_is_that_session or not config.frontchannel_logout_session_required:
            headers += self._deletions(request.scheme == "https")
        logger.info(FRONTCHANNEL_DONE, "session revoked" if revoked else "cookies deleted")
        return Reply(200, headers, _SIGNED_OUT_PAGE)

    def forward_auth(self, request: LogoutRequest) -> Steps[Reply]:
        """For nginx ``auth_request`` and Traefik ``ForwardAuth``: 204, or 401 for a revoked session."""
        if request.method not in ("GET", "HEAD"):
            return plain_reply(405, "forward auth takes GET", ("Allow", "GET, HEAD"))
        handler, secure = self.handler, request.scheme == "https"
        inspection = handler.check.inspect(request.cookie)
        if inspection.needs_keys:
            yield from handler.fetch_keys(unknown_key=inspection.unknown_key)
            inspection = handler.check.inspect(request.cookie, keys_fetched=True)
        verdict = handler.judge(inspection, request.cookie, secure)
        if verdict is None:
            return Reply(204, [("Cache-Control", "no-store")])
        if verdict.reply is not None:
            return verdict.reply
        return plain_reply(401, "this session was signed out", *verdict.deletions)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _retry_later(why: str, seconds: float) -> Reply:
    """503 with ``Retry-After``: the provider retries a back-channel logout it got this for."""
    reply = json_reply(503, {"error": "temporarily_unavailable", "error_description": why})
    reply.headers.append(("Retry-After", str(max(1, math.ceil(seconds)))))
    return reply
