"""A method a path does not take: ``405`` with ``Allow``, reported the same way on every path of the middleware."""

from __future__ import annotations

from .. import events
from .values import Reply, plain_reply

__all__ = ["METHOD_NOT_ALLOWED", "method_not_allowed"]

METHOD_NOT_ALLOWED = "%s refused: method %s is not allowed"


def method_not_allowed(endpoint: str, method: str, message: str, allowed: str) -> Reply:
    """The ``405`` of *endpoint* (one of the ``endpoint`` values of ``request.method_refused``) for *method*.

    :param message: the answer's text, such as ``"forward auth takes GET"``.
    :param allowed: the methods the path takes, for ``Allow``: ``"GET, HEAD"``.
    """
    events.emit(events.REQUEST_METHOD_REFUSED, METHOD_NOT_ALLOWED, endpoint, method[:20], endpoint=endpoint)
    return plain_reply(405, message, ("Allow", allowed))
