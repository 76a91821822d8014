"""Forward-auth: a reverse proxy asks, before each request to the apps behind it, whether its session may pass.

nginx ``auth_request`` and Traefik ``ForwardAuth``: ``204`` lets the request
through, ``401`` with the deleting ``Set-Cookie`` lines stops a session that
was signed out (or login cookies without a verified id_token); ``503`` when
the check cannot be made and is set to fail closed.
"""

from __future__ import annotations

from .enforcement import Enforcement
from .methods import method_not_allowed
from .provider_keys import ProviderKeys
from .session_check import SessionCheck
from .values import LogoutRequest, LookUp, Lookup, Reply, Steps, plain_reply

__all__ = ["ForwardAuth"]


class ForwardAuth:
    """Answers a reverse proxy's questions about the sessions of the requests it holds."""

    def __init__(self, *, check: SessionCheck, keys: ProviderKeys, enforcement: Enforcement) -> None:
        self._check = check
        self._keys = keys
        self._enforcement = enforcement

    def __call__(self, request: LogoutRequest) -> Steps[Reply]:
        if request.method not in ("GET", "HEAD"):
            return method_not_allowed("forward_auth", request.method, "forward auth takes GET", "GET, HEAD")
        inspection = self._check.inspect(request.cookie)
        if inspection.needs_keys:
            yield from self._keys.fetch(unknown_key=inspection.unknown_key)
            inspection = self._check.inspect(request.cookie, keys_fetched=True)
        lookup: Lookup | None = (yield LookUp(inspection.refs)) if inspection.refs else None
        verdict = self._enforcement.verdict(inspection, lookup, request.cookie, request.secure, endpoint="forward_auth")
        if verdict is None:
            return Reply(204, [("Cache-Control", "no-store")])
        if verdict.reply is not None:
            return verdict.reply
        return plain_reply(401, "this session was signed out", *verdict.deletions)
