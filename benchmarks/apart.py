"""``python -m benchmarks.apart MODULE FUNCTION ARGS...``: a function's figures, measured in a process of its own."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def process_size(field: str = "VmRSS") -> int:
    """A size of this process from /proc/self/status (VmRSS, or its peak VmHWM), in bytes."""
    line = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith(field + ":"))
    return int(line.split()[1]) * 1024


def measured_apart(function: Callable[..., dict[str, Any]], *args: str) -> dict[str, Any]:
    """What ``function(*args)`` returns, called in an interpreter of its own."""
    command = [sys.executable, "-m", "benchmarks.apart", function.__module__, function.__name__, *args]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True, timeout=900)
    figures: dict[str, Any] = json.loads(done.stdout)
    return figures


if __name__ == "__main__":
    module, name, *arguments = sys.argv[1:]
    print(json.dumps(getattr(importlib.import_module(module), name)(*arguments)))
