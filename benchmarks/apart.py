"""Measurements made in a process of their own, so that its memory and its caches are theirs alone."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def process_size(field: str = "VmRSS") -> int:
    """A size of this process from /proc/self/status (VmRSS, or its peak VmHWM), in bytes."""
    line = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith(field + ":"))
    return int(line.split()[1]) * 1024


def measured_apart(function: Callable[..., T], *args: Any) -> T:
    """What ``function(*args)`` returns, called in a new interpreter (spawned: none of this process's memory).

    A call that takes more than 15 minutes is ended: the pool's process is terminated as the block ends.
    """
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        result: T = pool.apply_async(function, args).get(timeout=900)
        return result
