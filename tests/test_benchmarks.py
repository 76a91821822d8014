"""The benchmarks run in the test command (quick mode) so that they cannot rot.

The quick run must report every row the benchmarks promise, each target
met or missed (never how fast: speed is not asserted here), and its checks
must refuse a contestant that does not do what it is measured doing.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyperf
import pytest

from benchmarks import checks, contestants
from benchmarks.browser import ASGI, LOGOUT_PATH, WSGI, Adapter, signed_in
from tests.support.servers import REPO_ROOT

_KINDS = {"asgi": ("none", "anonymous", "cookie", "in-session", "signed-cookie", "revoked"),
          "wsgi": ("none", "anonymous", "cookie", "revoked")}  # fmt: skip
_PASS = {"asgi": ("bare", "function", "class", "trustedhost", "ours"), "wsgi": ("bare", "function", "class", "ours")}
#: Every figure a run reports, and those that carry a target.
IN_PROCESS = {
    *(f"{a}/{group}/{key}" for a, keys in _PASS.items() for group in ("pass", "pass-mounted") for key in keys),
    "asgi/pass/basehttp", "wsgi/pass/wsgify", "asgi/logout/ours", "asgi/logout/basehttp", "wsgi/logout/ours",
    "wsgi/logout/wsgify", "url/ours", "url/urlencode", "url/authing",
    *(f"{a}/session/{store}/{kind}" for a, kinds in _KINDS.items() for store in ("floor", "memory", "sqlite", "redis")
      for kind in kinds),
}  # fmt: skip
FIGURES = IN_PROCESS | {
    *(f"memory/asgi-{kind}/{figure}" for kind in ("returning-token", "forged-token", "returning-session",
                                                   "forged-session", "new-session") for figure in ("seconds", "peak")),
    *(f"memory/{a}-logout-{app}/peak" for a in ("asgi", "wsgi") for app in ("bare", "ours")),
    *(f"served/{server}/{app}" for server in ("uvicorn", "gunicorn") for app in ("bare", "ours", "ours-logout")),
    "gateway/anonymous", "gateway/signed-in", "gateway/revoked",
    *(f"scale/{store}/{figure}" for store in ("redis", "sqlite") for figure in ("sync", "rss-before", "rss-after",
                                                                                "check")),
    "scale/redis/check-small",
    *(f"scale/writes/{where}-{writers}" for where in ("redis", "cluster") for writers in ("one", "many")),
}  # fmt: skip
TARGETS = {
    "asgi/pass/ours", "asgi/pass-mounted/ours", "wsgi/pass/ours", "wsgi/pass-mounted/ours", "asgi/pass/basehttp",
    "asgi/logout/ours", "wsgi/logout/ours", "url/ours",
    *(f"{a}/session/{store}/{kind}" for a, kinds in (("asgi", ("cookie", "in-session", "signed-cookie")),
      ("wsgi", ("cookie",))) for store in ("memory", "sqlite", "redis") for kind in kinds),
    *(f"memory/asgi-{kind}/peak" for kind in ("forged-token", "forged-session", "new-session")),
    "memory/asgi-logout-ours/peak", "memory/wsgi-logout-ours/peak", "served/uvicorn/ours", "served/gunicorn/ours",
    "gateway/signed-in", "gateway/revoked", "scale/redis/sync", "scale/redis/rss-after", "scale/redis/check",
}  # fmt: skip


#: A token of the right shape: ours sends it as the hint without verifying it while checks are off.
TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJqYW5lIn0.c2lnbmF0dXJl"


@pytest.mark.servers
def test_the_quick_run_reports_every_row_and_target(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--out", str(tmp_path)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    document = json.loads((tmp_path / "latest.json").read_text())
    rows: list[dict[str, Any]] = document["rows"]
    assert {row["figure"] for row in rows} == FIGURES
    assert {row["figure"] for row in rows if row["target"]} == TARGETS
    for row in rows:
        assert math.isfinite(row["mean"]) and row["values"] >= 1, row
        assert row["met"] in ((True, False) if row["target"] else (None,)), row
        assert row["baseline"] is None or math.isfinite(row["result"]), row
    assert document["command"] == f"python -m benchmarks --quick --out {tmp_path}"
    assert document["git_commit"] and document["packages"]["pyperf"] and document["tools"]["wrk"]
    assert document["machine"]["cpu_count"] >= 1 and document["machine"]["python_version"]
    table = (tmp_path / "latest.md").read_text()
    assert result.stdout.startswith(table.split("\n\n")[0]) and table.count("\n| ") == len(rows)
    assert (tmp_path / "overhead.png").read_bytes().startswith(b"\x89PNG")
    suite = pyperf.BenchmarkSuite.load(str(tmp_path / "pyperf.json.gz"))  # what pyperf compare_to reads
    assert set(suite.get_benchmark_names()) == IN_PROCESS


def _strip_nothing(app: Any) -> Any:
    """A middleware said to check sessions that lets every request through untouched, logout included."""
    return app


def _drop_cookies(adapter: Adapter) -> Callable[[Any], Any]:
    """A pass-through that loses the Cookie header on the way."""

    def asgi(app: Any) -> Any:
        return lambda scope, receive, send: app(
            {**scope, "headers": [header for header in scope["headers"] if header[0] != b"cookie"]}, receive, send
        )

    return asgi if adapter is ASGI else lambda app: lambda environ, reply: app({**environ, "HTTP_COOKIE": ""}, reply)


def _half_logout(app: Any) -> Any:
    """Ours, deleting only the id_token cookie: a logout that leaves the session behind."""
    return contestants.OURS["wsgi"](app, clear_cookies=())


#: How each check judges the answer to a request for the app (sent with a signed-in browser's cookies) or for logout.
JUDGES = {"passes": checks.passes, "strips": checks.strips, "logs_out": checks.logs_out}


@pytest.mark.parametrize(
    ("adapter", "judge", "build"),
    [
        pytest.param(ASGI, "passes", _drop_cookies(ASGI), id="asgi-pass-through-loses-the-cookies"),
        pytest.param(WSGI, "passes", _drop_cookies(WSGI), id="wsgi-pass-through-loses-the-cookies"),
        pytest.param(WSGI, "strips", _strip_nothing, id="revoked-session-let-through"),
        pytest.param(WSGI, "logs_out", _half_logout, id="logout-leaves-a-login-cookie"),
        pytest.param(ASGI, "logs_out", _strip_nothing, id="logout-never-answered"),
    ],
)
def test_the_checks_refuse_a_contestant_that_misbehaves(
    adapter: Adapter, judge: str, build: Callable[[Any], Any]
) -> None:
    path = LOGOUT_PATH if judge == "logs_out" else "/items/42"
    answer = adapter.answer(build(contestants.ECHO[adapter.name]), path, signed_in(TOKEN))
    with pytest.raises(checks.MisbehavedError):
        JUDGES[judge]("broken", answer, signed_in(TOKEN))


@pytest.mark.parametrize("adapter", [ASGI, WSGI], ids=["asgi", "wsgi"])
def test_the_checks_accept_ours(adapter: Adapter) -> None:
    """The same checks pass ours: the refusals above are of the contestants, not of the checks."""
    ours = contestants.OURS[adapter.name](contestants.ECHO[adapter.name])
    checks.passes("ours", adapter.answer(ours, cookie=signed_in(TOKEN)), signed_in(TOKEN))
    checks.logs_out("ours", adapter.answer(ours, LOGOUT_PATH, signed_in(TOKEN)), signed_in(TOKEN))
