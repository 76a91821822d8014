"""Waiting for something that happens in another thread or process: poll, with a bound."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["eventually", "time_until"]


def eventually(check: Callable[[], bool], within: float) -> bool:
    """Poll *check* until it is true (True) or *within* seconds have passed (False)."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def time_until(check: Callable[[], bool], within: float) -> float:
    """Poll *check* until it is true and return how long that took; fail the test after *within* seconds."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < within, f"not within {within} s"
        time.sleep(0.05)
    return time.monotonic() - started
