"""Seeing the package's events in a test: its log records at every level, and what its listeners are told.

.. code-block:: python

    with capturing(handler, handler.listener):
        send("GET", "/logout", {})
    assert [fields_of(record) for record in handler.records] == [...]
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from logout_middleware import events

__all__ = ["STANDARD", "capturing", "fields_of"]

#: The attributes every LogRecord has: anything else on a record came in ``extra=``.
STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


@contextmanager
def capturing(handler: logging.Handler, listener: events.Listener) -> Iterator[None]:
    """Give *handler* every record of the ``logout_middleware`` logger, and tell *listener* every event, meanwhile."""
    logger = logging.getLogger("logout_middleware")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    events.add_listener(listener)
    try:
        yield
    finally:
        events.remove_listener(listener)
        logger.removeHandler(handler)
        logger.setLevel(level)


def fields_of(record: logging.LogRecord) -> dict[str, object]:
    """The fields an event passed in ``extra=``, but its name."""
    return {name: value for name, value in record.__dict__.items() if name not in STANDARD and name != "event"}
