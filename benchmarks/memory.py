"""Floods and long runs: what a request with a cookie never seen costs, and whether a process's memory stays bounded.

Each variant runs apart, one after another.  The floods go through ours with checks on (ASGI only: the check is
the core's), each request with a cookie never seen before: each thousand is timed, and the peak resident size
(VmHWM) is read after half the requests and at the end, since a process whose memory is bounded stops raising it.
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import contestants
from .apart import measured_apart, process_size
from .browser import LOGOUT_PATH, VISITOR_COOKIES, signed_in
from .contestants import HELLO, OURS, stack
from .drivers import ASGI, WSGI, Adapter, Request
from .provider import Setup
from .report import Figure, Row, at_most

VARIANTS = ("asgi-forged-token", "asgi-new-session", "asgi-forged-session", "asgi-none", "asgi-logout-bare",
            "asgi-logout-ours", "wsgi-logout-bare", "wsgi-logout-ours")  # fmt: skip
_FLOODS = {"forged-token": "a forged id_token cookie each: its RS256 signature checked (and refused)",
           "forged-session": "a forged signed session cookie each: its HMAC checked (and refused)",
           "new-session": "a new valid signed session each: its HMAC checked, the caches filled up"}  # fmt: skip


def _requests(adapter: Adapter, kind: str, setup: Setup) -> Iterator[Request]:
    """The requests, each made when it is due, so that no list of them takes memory."""
    if kind in ("none", "logout-bare", "logout-ours"):
        yield from itertools.repeat(adapter.request(LOGOUT_PATH, signed_in(setup.live_token)) if "logout" in kind
                                    else adapter.request())  # fmt: skip
    # Distinct tokens at no cost: the signature's tail replaced, so the signature no longer verifies.
    head, _, signature = setup.live_token.rpartition(".")
    # A real cookie's timestamp and signature after another payload: the HMAC fails.
    _, stamp, hmac = contestants.session_cookie({"id_token": "x"}).rsplit(".", 2)
    for index in itertools.count():
        token = f"{head}.{signature[:-10]}{index:08d}{signature[-2:]}"
        if kind == "forged-token":
            yield adapter.request(cookie=signed_in(token))
            continue
        if kind == "forged-session":
            session = f"{base64.b64encode(json.dumps({'id_token': token}).encode()).decode()}.{stamp}.{hmac}"
        else:  # a valid session holding a new token: trusted as it is, as the framework signed it
            session = contestants.session_cookie({"id_token": token})
        yield adapter.request(cookie=f"{VISITOR_COOKIES}; session={session}")


def _send(adapter: Adapter, app: Any, requests: Iterator[Request], count: int) -> list[float]:
    """Seconds a request, a thousand at a time, each thousand made (off the clock) when it is due."""
    chunks = (list(itertools.islice(requests, min(1000, count - start))) for start in range(0, count, 1000))
    return [adapter.run(app, chunk) / len(chunk) for chunk in chunks]


def measure(variant: str, setup: Setup) -> dict[str, Any]:
    """Run *variant* in this process: the seconds each request took, its peak RSS half-way and at the end.

    The peak only ever grows: a process that frees and reuses memory reaches the same peak again.
    """
    adapter, _, kind = variant.partition("-")
    driver, hello = (ASGI if adapter == "asgi" else WSGI), HELLO[adapter]
    if kind.startswith("logout"):
        app = OURS[adapter](hello) if kind == "logout-ours" else hello
    else:
        app = stack(driver, "signed-cookie" if "session" in kind else "cookie", setup, "memory")(hello)
        driver.run(app, [driver.request(cookie=signed_in(setup.live_token))])  # fetches the keys, in every flood alike
    count = setup.plan.logouts if kind.startswith("logout") else setup.plan.flood
    requests = _requests(driver, kind, setup)
    seconds = _send(driver, app, requests, count // 2)
    half = process_size("VmHWM")
    seconds += _send(driver, app, requests, count - count // 2)
    return {"seconds": seconds, "half": half, "peak": process_size("VmHWM")}


def run(setup: Setup, directory: Path) -> dict[str, Figure]:
    figures = {}
    for variant in VARIANTS:
        measured = measured_apart(measure, variant, setup)
        figures |= {f"memory/{variant}/seconds": Figure("s", tuple(measured["seconds"]))}
        figures |= {f"memory/{variant}/{name}": Figure("B", (float(measured[name]),)) for name in ("half", "peak")}
    return figures


def _peak(section: str, case: str, variant: str, *, bounded: bool = True) -> Row:
    """A variant's peak RSS; where it must be *bounded*, against its peak half-way."""
    if not bounded:
        return Row(section, case, f"memory/{variant}/peak")
    return Row(section, case, f"memory/{variant}/peak", f"memory/{variant}/half", "difference",
               target=at_most(2**20, "≤ +1 MiB over the second half"), versus="its peak half-way")  # fmt: skip


def rows(setup: Setup) -> list[Row]:
    section = f"Floods, ASGI, {setup.plan.flood:,} requests through the check, memory store"
    found = [Row(section + ": seconds a request", "no cookie", "memory/asgi-none/seconds")]
    found += [Row(section + ": seconds a request", case, f"memory/asgi-{kind}/seconds", "memory/asgi-none/seconds",
                  "difference") for kind, case in _FLOODS.items()]  # fmt: skip
    found += [_peak(section + ": peak RSS", "no cookie", "asgi-none", bounded=False)]
    found += [_peak(section + ": peak RSS", case, f"asgi-{kind}") for kind, case in _FLOODS.items()]
    for adapter in ("asgi", "wsgi"):
        section = f"Memory, {adapter.upper()}, {setup.plan.logouts:,} logouts: peak RSS"
        found += [_peak(section, "the bare app", f"{adapter}-logout-bare", bounded=False),
                  _peak(section, "ours, checks off", f"{adapter}-logout-ours")]  # fmt: skip
    return found
