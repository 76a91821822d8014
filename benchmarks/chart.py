"""The chart of a run: time per request in-process, ours against the floor and the alternatives, on a log scale."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: the chart only goes to a file
import matplotlib.pyplot as plt

#: The bars: the figures of the table's rows, by group.
FIGURES = (
    [f"asgi/pass/{key}" for key in ("bare", "function", "class", "trustedhost", "ours", "basehttp")],
    [f"wsgi/pass/{key}" for key in ("bare", "function", "class", "ours", "wsgify")],
    ["asgi/logout/ours", "asgi/logout/basehttp", "wsgi/logout/ours", "wsgi/logout/wsgify"],
    [f"asgi/session/{key}" for key in ("floor/cookie", "memory/cookie", "redis/cookie", "floor/in-session",
                                       "memory/in-session", "floor/signed-cookie", "memory/signed-cookie",
                                       "memory/revoked", "memory/new-cookie")],
    [f"wsgi/session/{key}" for key in ("floor/cookie", "memory/cookie", "redis/cookie", "memory/revoked",
                                       "memory/new-cookie")],
)  # fmt: skip


_KINDS = {"floor/cookie": "the floor, an id_token cookie", "cookie": "returning session, id_token cookie",
          "floor/in-session": "the floor inside SessionMiddleware", "floor/signed-cookie": "the floor around it",
          "in-session": "returning, id_token in scope['session']", "signed-cookie": "returning, signed session cookie",
          "revoked": "revoked session", "new-cookie": "new session: RS256 verified"}  # fmt: skip


def _label(row: dict[str, Any]) -> str:
    adapter, group, *rest = row["figure"].split("/")
    if group != "session":
        return f"{adapter.upper()} {'pass-through' if group == 'pass' else group}: {row['case']}"
    store, kind = rest if rest[0] != "floor" else ("", "/".join(rest))
    return f"{adapter.upper()} check{', ' + store if store else ''}: {_KINDS[kind]}"


def draw(evaluated: Sequence[dict[str, Any]], path: Path, title: str) -> None:
    rows = {row["figure"]: row for row in evaluated}
    bars = [rows[figure] for figures in FIGURES for figure in figures]
    # Ours: the contestants named so, and every per-request check but the floor's.
    ours = [row["figure"].endswith("/ours") or ("/session/" in row["figure"] and "/floor/" not in row["figure"])
            for row in bars]  # fmt: skip
    figure, axes = plt.subplots(figsize=(10, 0.28 * len(bars) + 1.4))
    positions = range(len(bars))[::-1]
    axes.barh(positions, [row["mean"] * 1e6 for row in bars], xerr=[(row["stdev"] or 0) * 1e6 for row in bars],
              color=["tab:green" if mine else "tab:gray" for mine in ours], capsize=2)  # fmt: skip
    axes.set_yticks(positions, [_label(row) for row in bars], fontsize=7)
    axes.set_xscale("log")
    axes.set_xlabel("µs per request, log scale: mean ± standard deviation (ours in green)", fontsize=8)
    axes.set_title(title, fontsize=8)
    axes.grid(axis="x", which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
