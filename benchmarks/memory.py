"""Memory: the peak of a process serving logouts, and whether it stays flat as requests pile up.

Each variant runs in a fresh interpreter (``python -m benchmarks.memory``),
so that the peak RSS belongs to that variant alone and not to whatever the
rest of the benchmark imported.  The bare app answers the same requests, to
show what importing and running the middleware adds.  Growth is read with
tracemalloc between two checkpoints, both taken after warm-up caches are
full, so that only what every request leaves behind shows up.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import subprocess
import sys
import tracemalloc
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from . import served_apps
from .fixtures import LOGOUT_PATH, asgi_scope, wsgi_environ
from .minimal import Message

VARIANTS = ("asgi-bare", "asgi-ours", "wsgi-bare", "wsgi-ours")
_PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class MemoryResult:
    variant: str
    requests: int
    #: Peak resident set size of the whole process after importing and building the app, and at the end.
    rss_start_kib: int | None
    rss_peak_kib: int | None
    #: Memory held by Python objects, as tracemalloc counts it, at the two checkpoints.
    checkpoint_requests: tuple[int, int]
    traced_bytes: tuple[int, int]
    traced_peak_bytes: int
    #: Bytes retained per request between the checkpoints.
    growth_per_request: float


def _peak_rss_kib() -> int | None:
    """The process's peak resident set size so far.

    Linux's getrusage() carries the parent's peak across fork and exec, so a
    child started from a big benchmark process would report the parent's
    size; VmHWM belongs to this process's own memory map.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    try:
        import resource  # noqa: PLC0415 - Unix only
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak  # macOS counts bytes, Linux KiB


def _requester(variant: str) -> Callable[[int], None]:
    """A function that sends *n* logout requests through the variant's app."""
    if variant.startswith("asgi"):
        app = served_apps.ours_asgi() if variant == "asgi-ours" else served_apps.bare_asgi
        scope = asgi_scope(LOGOUT_PATH)
        loop = asyncio.new_event_loop()

        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Message) -> None:
            pass

        async def drive(n: int) -> None:
            for _ in range(n):
                await app(scope.copy(), receive, send)

        return lambda n: loop.run_until_complete(drive(n))

    wsgi_app = served_apps.ours_wsgi() if variant == "wsgi-ours" else served_apps.bare_wsgi
    environ = wsgi_environ(LOGOUT_PATH)

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: object = None) -> None:
        pass

    def drive_wsgi(n: int) -> None:
        for _ in range(n):
            b"".join(wsgi_app(environ.copy(), start_response))

    return drive_wsgi


def _traced_now() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def measure(variant: str, first: int, last: int) -> MemoryResult:
    """Run in this process: *last* requests, with traced memory read after *first* and after *last*."""
    send_requests = _requester(variant)
    rss_start = _peak_rss_kib()
    tracemalloc.start()
    send_requests(first)
    at_first = _traced_now()
    send_requests(last - first)
    at_last = _traced_now()
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return MemoryResult(
        variant=variant,
        requests=last,
        rss_start_kib=rss_start,
        rss_peak_kib=_peak_rss_kib(),
        checkpoint_requests=(first, last),
        traced_bytes=(at_first, at_last),
        traced_peak_bytes=traced_peak,
        growth_per_request=(at_last - at_first) / (last - first),
    )


def run(first: int, last: int, *, timeout: float = 600) -> dict[str, MemoryResult]:
    """Measure every variant, each in its own interpreter, two at a time.

    Running two at once is safe here: nothing in these figures is a time.
    """
    results = {}
    for pair in (VARIANTS[:2], VARIANTS[2:]):
        processes = {
            variant: subprocess.Popen(
                [sys.executable, "-m", "benchmarks.memory", variant, str(first), str(last)],
                stdout=subprocess.PIPE,
                text=True,
                cwd=_PROJECT_ROOT,
            )
            for variant in pair
        }
        for variant, process in processes.items():
            out, _ = process.communicate(timeout=timeout)
            if process.returncode != 0:
                raise RuntimeError(f"the memory benchmark for {variant} failed (exit status {process.returncode})")
            fields = json.loads(out)
            fields["checkpoint_requests"] = tuple(fields["checkpoint_requests"])
            fields["traced_bytes"] = tuple(fields["traced_bytes"])
            results[variant] = MemoryResult(**fields)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description="Measure one variant's memory; prints JSON.")
    parser.add_argument("variant", choices=VARIANTS)
    parser.add_argument("first", type=int, help="requests before the first reading")
    parser.add_argument("last", type=int, help="requests before the second reading")
    args = parser.parse_args()
    print(json.dumps(asdict(measure(args.variant, args.first, args.last))))


if __name__ == "__main__":
    main()
