"""From what the per-request check found, and what the store answered, to what reaches the app."""

from __future__ import annotations

from .. import events
from ..web.cookies import CookieDeletions, strip_cookies
from .session_check import Inspection
from .values import Lookup, Verdict, plain_reply

__all__ = ["Enforcement"]

CHECK_UNAVAILABLE = "sign-in state cannot be checked and checks fail closed: %s"
STRIPPED = "%s: the login cookies of a %s stopped"
_UNAVAILABLE_MESSAGE = "sign-in state cannot be checked right now; please try again"


class Enforcement:
    """Turns an inspection and the store's answer into a :class:`~logout_middleware.core.values.Verdict`.

    :param deletions: the login cookies' deleting lines.
    :param session_cookie: the framework's session cookie: stripped too when the revoked session is its.
    :param fail_open: let requests through when the provider's keys cannot be had to verify an id_token
        cookie, as the store does when Redis is away.
    """

    def __init__(self, deletions: CookieDeletions, *, session_cookie: str, fail_open: bool) -> None:
        self.deletions = deletions
        self._login_cookies = deletions.names
        self._with_session = deletions.names | {session_cookie}
        self._fail_open = fail_open

    def verdict(
        self, inspection: Inspection, lookup: Lookup | None, cookie_header: str, secure: bool, *, endpoint: str
    ) -> Verdict | None:
        """What becomes of the request: None lets it through untouched.

        :param lookup: the store's answer about the inspection's sessions (None: not asked, as for
            an inspection without any).
        :param endpoint: who asks, for the events: ``app`` (the app's paths) or ``forward_auth``.
        """
        revoked = lookup is not None and lookup.revoked
        if inspection.needs_keys and not revoked:
            if self._fail_open:
                return None
            return self._unavailable(cookie_header, "the provider's keys are not at hand", endpoint, "keys_unavailable")
        if not inspection.untrusted and not inspection.needs_keys:
            if lookup is None or not (lookup.revoked or lookup.unavailable):
                return None
            if lookup.unavailable is not None:
                return self._unavailable(cookie_header, lookup.unavailable, endpoint, "store_unavailable")
        if revoked:
            events.emit(
                events.CHECK_STRIPPED, STRIPPED, endpoint, "revoked session", endpoint=endpoint, reason="revoked"
            )
        else:
            events.emit(
                events.CHECK_STRIPPED, STRIPPED, endpoint, "request without a verified id_token",
                endpoint=endpoint, reason="untrusted",
            )  # fmt: skip
        with_session = inspection.in_session or inspection.signed_session
        stripped = strip_cookies(cookie_header, self._with_session if with_session else self._login_cookies)
        return Verdict(stripped, self.deletions.lines(secure), clear_session=inspection.in_session)

    def _unavailable(self, cookie_header: str, why: str, endpoint: str, reason: str) -> Verdict:
        events.emit(events.CHECK_UNAVAILABLE, CHECK_UNAVAILABLE, why, endpoint=endpoint, reason=reason)
        return Verdict(cookie_header, [], reply=plain_reply(503, _UNAVAILABLE_MESSAGE))
